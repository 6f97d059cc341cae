package hsm

import (
	"context"
	"errors"
	"strings"

	"github.com/cofferhsm/coffer/hsm/audit"
)

// EntryAppender is the part of *audit.Log that the core uses.
type EntryAppender interface {
	Append(ctx context.Context, e audit.Entry) error
}

// AuditLog adapts an audit log to Auditor: each Event becomes one
// audit.Entry with Object = the first UID, Result = audit.ResultSuccess
// or an error class (ResultClass), and Detail naming further UIDs and
// whether key material was exported.
func AuditLog(l EntryAppender) Auditor { return auditLog{l} }

type auditLog struct{ l EntryAppender }

func (a auditLog) Append(ctx context.Context, e Event) error {
	ent := audit.Entry{Time: e.Time, Identity: e.Identity, Operation: e.Op, Result: ResultClass(e.Err)}
	var detail []string
	if e.Export {
		detail = append(detail, "export")
	}
	for i, u := range e.UIDs {
		if u == "" {
			continue
		}
		if ent.Object == "" && i == 0 {
			ent.Object = u
			continue
		}
		detail = append(detail, "uid="+u)
	}
	ent.Detail = strings.Join(detail, " ")
	if len(ent.Identity) > audit.MaxIdentityLen {
		ent.Identity = ent.Identity[:audit.MaxIdentityLen]
	}
	return a.l.Append(ctx, ent)
}

// ResultClass names the class of an operation's error for audit records:
// "success", "not-found", "permission-denied", "wrong-state", "invalid",
// "illegal", "not-supported", "corrupt" or "error".
func ResultClass(err error) string {
	for _, c := range []struct {
		err  error
		name string
	}{
		{ErrNotFound, "not-found"}, {ErrWrongState, "wrong-state"}, {ErrPermission, "permission-denied"},
		{ErrInvalid, "invalid"}, {ErrIllegal, "illegal"}, {ErrNotSupported, "not-supported"}, {ErrCorrupt, "corrupt"},
	} {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	if err == nil {
		return audit.ResultSuccess
	}
	return "error"
}
