// Package store keeps Coffer's managed-object records: opaque byte records
// (CBOR, with secret material already AEAD-encrypted by the caller) keyed by
// UID, plus index terms for Locate. Backends: an in-memory DB for unit tests
// and a durable bbolt DB. Every backend passes storetest.Run.
package store

import (
	"context"
	"errors"
)

// Term is one index entry of a record, e.g. {"name", "vm-key-1"},
// {"type", "2"}, {"state", "1"}, {"group", "g1"}, {"attr:x-Vendor", "VMware"}.
// Names and values are opaque to the store.
type Term struct {
	Name  string
	Value string
}

// Record is one stored object.
type Record struct {
	UID  string
	Data []byte
	// Terms replace the record's previous index terms wholesale on Put.
	Terms []Term
}

// DB is a record store. All methods are safe for concurrent use.
type DB interface {
	// Put writes recs atomically: all or none. It returns only after the
	// write is durable (fsync'd for disk backends); concurrent Puts may
	// share one commit. A record's creation sequence is assigned on its
	// first Put and kept on later Puts.
	Put(ctx context.Context, recs ...Record) error
	// Get returns a copy of the record's data, or an error wrapping
	// ErrNotFound.
	Get(ctx context.Context, uid string) ([]byte, error)
	// Find returns the UIDs of records that carry every term in terms
	// (all records when terms is empty), newest first by creation
	// sequence, at most limit of them (limit <= 0: no limit).
	Find(ctx context.Context, terms []Term, limit int) ([]string, error)
	// NewUID returns a fresh identifier that this DB has never returned
	// before and never will again (also across restarts).
	NewUID(ctx context.Context) (string, error)
	// Close releases the DB. Later calls fail with ErrClosed.
	Close() error
}

var (
	// ErrNotFound: no record with that UID.
	ErrNotFound = errors.New("store: record not found")
	// ErrClosed: the DB was closed.
	ErrClosed = errors.New("store: closed")
	// ErrCorrupt: the on-disk data failed a consistency check.
	ErrCorrupt = errors.New("store: corrupt data")
)
