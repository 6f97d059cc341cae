// Package store keeps Coffer's managed-object records: opaque byte records
// (CBOR, with secret material already AEAD-encrypted by the caller) keyed by
// UID, plus index terms for Locate. Backends: an in-memory DB for unit tests
// (NewMemory) and a durable bbolt DB (Open). Every backend passes
// storetest.Run.
//
// UIDs handed out by NewUID are decimal strings of a per-DB counter that
// starts at 1 ("1", "2", …). A counter (rather than 128-bit random UIDs)
// keeps UIDs short for KMIP clients and makes "never reused" a checkable
// property: the disk backend persists a high-water mark before handing a
// UID out, so a restart never goes back, and NewUID skips any value that is
// already the UID of a stored record (callers may Put records under UIDs of
// their own choosing).
package store

import (
	"context"
	"errors"
	"fmt"
)

// Limits on what a Put may contain. They keep every on-disk length small
// enough to be validated before allocation. Exceeding one fails with an
// error wrapping ErrInvalid.
const (
	MaxUIDLen       = 256     // bytes in a UID (non-empty)
	MaxDataLen      = 1 << 20 // bytes of Data per record
	MaxTerms        = 256     // terms per record
	MaxTermNameLen  = 256     // bytes in a Term.Name (non-empty)
	MaxTermValueLen = 4096    // bytes in a Term.Value (may be empty)
	MaxPutRecords   = 1024    // records in one Put
)

// Term is one index entry of a record, e.g. {"name", "vm-key-1"},
// {"type", "2"}, {"state", "1"}, {"group", "g1"}, {"attr:x-Vendor", "VMware"}.
// Names and values are opaque byte strings to the store.
type Term struct {
	Name  string
	Value string
}

// Record is one stored object.
type Record struct {
	UID  string
	Data []byte
	// Terms replace the record's previous index terms wholesale on Put.
	// Duplicate terms are stored once.
	Terms []Term
}

// DB is a record store. All methods are safe for concurrent use.
// Every method first checks ctx and returns ctx.Err() if it is done.
type DB interface {
	// Put writes recs atomically: all or none. It returns only after the
	// write is durable (fsync'd for disk backends); concurrent Puts may
	// share one commit. A record's creation sequence is assigned on its
	// first Put and kept on later Puts. A Put of zero records is a no-op.
	// Records violating the limits above, or two records with the same UID
	// in one Put, fail with ErrInvalid and nothing is written. Once a disk
	// Put has been queued for commit it waits for the commit result even if
	// ctx is cancelled, so a returned error always means "not written".
	Put(ctx context.Context, recs ...Record) error
	// Get returns a copy of the record's data, or an error wrapping
	// ErrNotFound.
	Get(ctx context.Context, uid string) ([]byte, error)
	// Find returns the UIDs of records that carry every term in terms
	// (all records when terms is empty), newest first by creation
	// sequence, at most limit of them (limit <= 0: no limit).
	Find(ctx context.Context, terms []Term, limit int) ([]string, error)
	// NewUID returns a fresh identifier that this DB has never returned
	// before and never will again (also across restarts), and that is not
	// the UID of a stored record.
	NewUID(ctx context.Context) (string, error)
	// Close releases the DB. Later calls (including Close) fail with
	// ErrClosed.
	Close() error
}

var (
	// ErrNotFound: no record with that UID.
	ErrNotFound = errors.New("store: record not found")
	// ErrClosed: the DB was closed.
	ErrClosed = errors.New("store: closed")
	// ErrCorrupt: the on-disk data failed a consistency check.
	ErrCorrupt = errors.New("store: corrupt data")
	// ErrInvalid: the arguments of a call break a documented limit.
	ErrInvalid = errors.New("store: invalid argument")
)

// validatePut checks recs against the limits of Put.
func validatePut(recs []Record) error {
	if len(recs) > MaxPutRecords {
		return fmt.Errorf("%w: %d records in one Put, max %d", ErrInvalid, len(recs), MaxPutRecords)
	}
	seen := make(map[string]struct{}, len(recs))
	for i, r := range recs {
		if err := validateUID(r.UID); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		if _, dup := seen[r.UID]; dup {
			return fmt.Errorf("%w: UID %q twice in one Put", ErrInvalid, r.UID)
		}
		seen[r.UID] = struct{}{}
		if len(r.Data) > MaxDataLen {
			return fmt.Errorf("%w: record %q: %d bytes of data, max %d", ErrInvalid, r.UID, len(r.Data), MaxDataLen)
		}
		if err := validateTerms(r.Terms, MaxTerms); err != nil {
			return fmt.Errorf("record %q: %w", r.UID, err)
		}
	}
	return nil
}

func validateUID(uid string) error {
	if uid == "" || len(uid) > MaxUIDLen {
		return fmt.Errorf("%w: UID of %d bytes, want 1..%d", ErrInvalid, len(uid), MaxUIDLen)
	}
	return nil
}

func validateTerms(terms []Term, max int) error {
	if len(terms) > max {
		return fmt.Errorf("%w: %d terms, max %d", ErrInvalid, len(terms), max)
	}
	for _, t := range terms {
		if t.Name == "" || len(t.Name) > MaxTermNameLen {
			return fmt.Errorf("%w: term name of %d bytes, want 1..%d", ErrInvalid, len(t.Name), MaxTermNameLen)
		}
		if len(t.Value) > MaxTermValueLen {
			return fmt.Errorf("%w: term value of %d bytes, max %d", ErrInvalid, len(t.Value), MaxTermValueLen)
		}
	}
	return nil
}

// dedupTerms returns terms without duplicates, keeping first occurrences.
func dedupTerms(terms []Term) []Term {
	out := make([]Term, 0, len(terms))
	seen := make(map[Term]struct{}, len(terms))
	for _, t := range terms {
		if _, ok := seen[t]; ok {
			continue
		}
		seen[t] = struct{}{}
		out = append(out, t)
	}
	return out
}
