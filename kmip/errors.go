package kmip

import (
	"errors"
	"fmt"
)

// Error is a failure to decode or validate a KMIP message or one of its parts.
// Reason is the Result Reason a server should return for it (for example
// ResultReasonInvalidMessage for a malformed or duplicated field,
// ResultReasonInvalidField for an unknown field or a value of the wrong type,
// ResultReasonOperationNotSupported for an operation without a payload model).
// Message is safe to send to a client: it names fields and tags, never values.
// Err, when set, is the underlying cause (for example a *ttlv.DecodeError).
type Error struct {
	Reason  ResultReason
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return "kmip: " + e.Message + ": " + e.Err.Error()
	}
	return "kmip: " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Sentinel causes wrapped in Error.Err; test them with errors.Is.
var (
	ErrUnknownField     = errors.New("unknown field")
	ErrDuplicateField   = errors.New("duplicated field")
	ErrMisplacedField   = errors.New("misplaced field")
	ErrMissingField     = errors.New("missing required field")
	ErrWrongType        = errors.New("wrong item type")
	ErrInvalidValue     = errors.New("invalid value")
	ErrUnknownOperation = errors.New("operation not supported")
	ErrUnknownAttribute = errors.New("unknown attribute")
)

func errorf(reason ResultReason, cause error, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...), Err: cause}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
