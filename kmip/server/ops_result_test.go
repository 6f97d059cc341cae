package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/object"
	"github.com/cofferhsm/coffer/kmip"
	"github.com/cofferhsm/coffer/kmip/ttlv"
)

func TestResultOf(t *testing.T) {
	_, decodeErr := ttlv.Decode([]byte{1, 2, 3})
	_, parseErr := kmip.ParseRequestMessage(nil)
	tests := []struct {
		name     string
		err      error
		status   kmip.ResultStatus
		reason   kmip.ResultReason
		internal bool
	}{
		{"nil", nil, kmip.ResultStatusSuccess, 0, false},
		{"not found", fmt.Errorf("hsm: object %q: %w", "k1", hsm.ErrNotFound), kmip.ResultStatusOperationFailed, kmip.ResultReasonItemNotFound, false},
		{"permission", fmt.Errorf("x: %w", hsm.ErrPermission), kmip.ResultStatusOperationFailed, kmip.ResultReasonPermissionDenied, false},
		{"check error", &hsm.CheckError{}, kmip.ResultStatusOperationFailed, kmip.ResultReasonPermissionDenied, false},
		{"wrong state", fmt.Errorf("x: %w", hsm.ErrWrongState), kmip.ResultStatusOperationFailed, kmip.ResultReasonPermissionDenied, false},
		{"invalid", fmt.Errorf("x: %w", hsm.ErrInvalid), kmip.ResultStatusOperationFailed, kmip.ResultReasonInvalidField, false},
		{"illegal", fmt.Errorf("x: %w", hsm.ErrIllegal), kmip.ResultStatusOperationFailed, kmip.ResultReasonIllegalOperation, false},
		{"not supported", fmt.Errorf("x: %w", hsm.ErrNotSupported), kmip.ResultStatusOperationFailed, kmip.ResultReasonFeatureNotSupported, false},
		{"corrupt", fmt.Errorf("x: %w", hsm.ErrCorrupt), kmip.ResultStatusOperationFailed, kmip.ResultReasonGeneralFailure, true},
		{"audit", fmt.Errorf("x: %w", hsm.ErrAudit), kmip.ResultStatusOperationFailed, kmip.ResultReasonGeneralFailure, true},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), kmip.ResultStatusOperationFailed, kmip.ResultReasonGeneralFailure, false},
		{"kmip error", &kmip.Error{Reason: kmip.ResultReasonInvalidField, Message: "field"}, kmip.ResultStatusOperationFailed, kmip.ResultReasonInvalidField, false},
		{"parse error", parseErr, kmip.ResultStatusOperationFailed, kmip.ResultReasonInvalidMessage, false},
		{"decode error", decodeErr, kmip.ResultStatusOperationFailed, kmip.ResultReasonInvalidMessage, false},
		{"op error", failf(kmip.ResultReasonKeyFormatTypeNotSupported, "nope"), kmip.ResultStatusOperationFailed, kmip.ResultReasonKeyFormatTypeNotSupported, false},
		{"unknown", errors.New("disk on fire at /dev/sda secret=42"), kmip.ResultStatusOperationFailed, kmip.ResultReasonGeneralFailure, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := resultOf(tt.err)
			if r.status != tt.status || r.reason != tt.reason || r.internal != tt.internal {
				t.Fatalf("got %+v, want status %s reason %s internal %v", r, tt.status, tt.reason, tt.internal)
			}
			if tt.err != nil && r.message == "" {
				t.Fatal("empty message")
			}
			if tt.internal && r.message != "internal error" {
				t.Fatalf("internal message %q", r.message)
			}
			if strings.Contains(r.message, "k1") || strings.Contains(r.message, "secret") {
				t.Fatalf("message leaks detail: %q", r.message)
			}
		})
	}
}

// failingCore is an hsm.API whose every method fails with err.
type failingCore struct {
	hsm.API
	err error
}

func (f failingCore) Create(context.Context, hsm.Identity, object.Type, []object.Attribute) (string, error) {
	return "", f.err
}

// TestInternalErrorLogged: an unclassified error becomes General Failure
// "internal error" for the client and its detail goes to the log only.
func TestInternalErrorLogged(t *testing.T) {
	detail := errors.New("bbolt: page 42 checksum mismatch")
	e := newTestEnv(t, func(c *OpsConfig) { c.Core = failingCore{API: c.Core, err: detail} })
	bi := e.fails(t, createReq(), kmip.ResultReasonGeneralFailure)
	if messageOf(bi) != "internal error" {
		t.Fatalf("message %q", messageOf(bi))
	}
	if !strings.Contains(e.logs.String(), detail.Error()) {
		t.Fatalf("detail not logged:\n%s", e.logs.String())
	}
}
