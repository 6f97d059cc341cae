// Package audit is Coffer's append-only, hash-chained audit log.
//
// Each Entry says who (Identity) did what (Operation) to which object
// (Object) with which outcome (Result). Entries never contain key
// material: the API takes only short descriptive strings, and callers must
// not put secrets in them.
//
// # File format (version 1)
//
//	header: "COFFER-AUDIT" 00 00 00 01 (16 bytes)
//	        mode (1 byte: 0 = SHA-256 chain, 1 = HMAC-SHA-256 chain)
//	        key check (32 bytes: zero for mode 0, HMAC(key, "coffer audit key check v1") for mode 1)
//	frames: u32 BE n ‖ n bytes of CBOR entry ‖ 32-byte tag
//
// The tag of an entry is SHA-256(cbor), or HMAC-SHA-256(key, cbor) when the
// log has a key. The CBOR entry is a map with integer keys in core
// deterministic encoding (see wireEntry): version, seq (1, 2, …), the tag
// of the previous entry (32 zero bytes for seq 1), time (Unix
// nanoseconds), identity, operation, object, result, detail. Decoding is
// strict (no duplicate keys, indefinite lengths, tags or unknown fields)
// and an entry must re-encode to exactly its bytes.
//
// Changing the format: add map keys with omitempty (old entries keep
// verifying); anything else needs a new entry version or file version.
//
// # What the chain proves
//
// A changed, removed, inserted or reordered entry breaks the chain and
// Verify names the seq where it broke. Removing entries at the end cannot
// be detected from the file alone: anchor Log.Head elsewhere for that.
// Without a key anyone who can write the file can also rewrite the whole
// chain; with a key (derived from the master key) they cannot.
package audit

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// ResultSuccess is the Result of an operation that succeeded. Failed
// operations carry an error class (e.g. "not-found", "permission-denied").
const ResultSuccess = "success"

// Limits on Entry fields, in bytes.
const (
	MaxIdentityLen  = 1024
	MaxOperationLen = 128
	MaxObjectLen    = 256
	MaxResultLen    = 128
	MaxDetailLen    = 4096
)

// Entry is one audited event.
type Entry struct {
	// Time of the event; the zero value means "when it is logged".
	// Stored with nanosecond precision in UTC; must lie in 1970..2262.
	Time time.Time
	// Identity of the caller (app or admin name, certificate subject).
	// May be empty for unauthenticated requests.
	Identity string
	// Operation, e.g. "Create", "Get", "Destroy". Required.
	Operation string
	// Object is the UID of the managed object, if any.
	Object string
	// Result is ResultSuccess or an error class. Required.
	Result string
	// Detail is optional free text. Never put secrets here.
	Detail string
}

// Record is an Entry read back from a log, with its sequence number.
type Record struct {
	Seq uint64
	Entry
}

var (
	// ErrClosed: the Log was closed.
	ErrClosed = errors.New("audit: closed")
	// ErrInvalid: an Entry or Option breaks a documented limit.
	ErrInvalid = errors.New("audit: invalid argument")
	// ErrFailed: a write or fsync failed earlier; the Log refuses further
	// appends (fail closed). Reopen it to recover.
	ErrFailed = errors.New("audit: log failed")
	// ErrKey: the file's header does not match the key (wrong key, or a
	// keyed log opened without one or the reverse), or is not an audit log.
	ErrKey = errors.New("audit: wrong key or not an audit log")
	// ErrTampered: an entry does not match its tag (it was changed).
	ErrTampered = errors.New("audit: entry does not match its tag")
	// ErrChain: an entry has the wrong seq or previous-entry tag (an entry
	// was removed, inserted or reordered, or its predecessor changed).
	ErrChain = errors.New("audit: entry out of chain")
	// ErrTruncated: the log ends inside an entry.
	ErrTruncated = errors.New("audit: log ends inside an entry")
	// ErrMalformed: an entry's framing or encoding is invalid.
	ErrMalformed = errors.New("audit: malformed entry")
)

// VerifyError locates a verification failure. Err is one of ErrTampered,
// ErrChain, ErrTruncated, ErrMalformed or ErrKey (possibly wrapped).
type VerifyError struct {
	Seq    uint64 // the seq expected at the failing position
	Offset int64  // byte offset of the failing frame in the file
	Err    error
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("audit: entry %d (offset %d): %v", e.Seq, e.Offset, e.Err)
}

func (e *VerifyError) Unwrap() error { return e.Err }

func validateEntry(e *Entry) error {
	fields := []struct {
		name, v  string
		max      int
		required bool
	}{
		{"identity", e.Identity, MaxIdentityLen, false},
		{"operation", e.Operation, MaxOperationLen, true},
		{"object", e.Object, MaxObjectLen, false},
		{"result", e.Result, MaxResultLen, true},
		{"detail", e.Detail, MaxDetailLen, false},
	}
	for _, f := range fields {
		if len(f.v) > f.max {
			return fmt.Errorf("%w: %s of %d bytes, max %d", ErrInvalid, f.name, len(f.v), f.max)
		}
		if f.required && f.v == "" {
			return fmt.Errorf("%w: empty %s", ErrInvalid, f.name)
		}
		if !utf8.ValidString(f.v) {
			return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, f.name)
		}
	}
	if !e.Time.IsZero() && !timeInRange(e.Time) {
		return fmt.Errorf("%w: time %v out of range", ErrInvalid, e.Time)
	}
	return nil
}

func timeInRange(t time.Time) bool {
	return !t.Before(time.Unix(0, 0)) && t.Equal(time.Unix(0, t.UnixNano()))
}
