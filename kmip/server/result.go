package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/kmip"
	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// opError is an error raised by the operation layer itself. Its message is
// written for the client: it never holds key material or internal detail.
type opError struct {
	reason kmip.ResultReason
	msg    string
}

func (e *opError) Error() string { return "server: " + e.msg }

// failf returns an *opError with a client-safe message.
func failf(reason kmip.ResultReason, format string, args ...any) error {
	return &opError{reason: reason, msg: fmt.Sprintf(format, args...)}
}

// result is the outcome of one batch item as the client sees it.
type result struct {
	status  kmip.ResultStatus
	reason  kmip.ResultReason
	message string
	// internal is true when the error was not classified: the client gets
	// General Failure "internal error" and the detail goes to the log.
	internal bool
}

// resultOf is THE mapping of an error to a KMIP Result Status, Reason and
// Message. nil is Success. The message never contains the text of an
// unclassified error (that is logged only). Errors of the core are mapped
// by their sentinel (see package hsm/object):
//
//	hsm.ErrNotFound      Item Not Found
//	hsm.ErrPermission    Permission Denied
//	hsm.ErrWrongState    Permission Denied (KMIP 1.1 has no lifecycle reason)
//	hsm.ErrInvalid       Invalid Field
//	hsm.ErrIllegal       Illegal Operation
//	hsm.ErrNotSupported  Feature Not Supported
//	hsm.ErrCorrupt, hsm.ErrAudit, anything else   General Failure
//
// *hsm.WeakKeyError is Invalid Field with its client-safe Reason.
// *kmip.Error (parse and validation failures) carries its own reason and a
// message that names fields only; *opError likewise; a *ttlv.DecodeError is
// Invalid Message.
func resultOf(err error) result {
	if err == nil {
		return result{status: kmip.ResultStatusSuccess}
	}
	fail := func(r kmip.ResultReason, msg string) result {
		return result{status: kmip.ResultStatusOperationFailed, reason: r, message: msg}
	}
	var oe *opError
	if errors.As(err, &oe) {
		return fail(oe.reason, oe.msg)
	}
	var ke *kmip.Error
	if errors.As(err, &ke) {
		return fail(ke.Reason, ke.Message)
	}
	var we *hsm.WeakKeyError
	if errors.As(err, &we) {
		return fail(kmip.ResultReasonInvalidField, we.Reason)
	}
	var de *ttlv.DecodeError
	if errors.As(err, &de) {
		return fail(kmip.ResultReasonInvalidMessage, "malformed TTLV")
	}
	switch {
	case errors.Is(err, hsm.ErrCorrupt), errors.Is(err, hsm.ErrAudit):
		r := fail(kmip.ResultReasonGeneralFailure, "internal error")
		r.internal = true
		return r
	case errors.Is(err, hsm.ErrNotFound):
		return fail(kmip.ResultReasonItemNotFound, "object not found")
	case errors.Is(err, hsm.ErrWrongState):
		return fail(kmip.ResultReasonPermissionDenied, "operation not allowed in the object's state")
	case errors.Is(err, hsm.ErrPermission):
		return fail(kmip.ResultReasonPermissionDenied, "permission denied")
	case errors.Is(err, hsm.ErrInvalid):
		return fail(kmip.ResultReasonInvalidField, "invalid field value")
	case errors.Is(err, hsm.ErrIllegal):
		return fail(kmip.ResultReasonIllegalOperation, "illegal operation")
	case errors.Is(err, hsm.ErrNotSupported):
		return fail(kmip.ResultReasonFeatureNotSupported, "feature not supported")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fail(kmip.ResultReasonGeneralFailure, "request cancelled")
	}
	r := fail(kmip.ResultReasonGeneralFailure, "internal error")
	r.internal = true
	return r
}
