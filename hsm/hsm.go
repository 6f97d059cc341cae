// Package hsm is Coffer's crypto core: managed objects with their KMIP 1.1
// attributes and lifecycle, stored one sealed CBOR record per object (see
// package object) in a store.DB. It is independent of the KMIP wire
// format; a KMIP server maps each operation to one method of API (*Core
// in-process, rpc.Client over hsmd's socket).
//
// Every method takes the caller's Identity, which is recorded as the owner
// of new objects (with its groups).
//
// # Access control
//
// An object is visible and usable only by its owner (Identity.Name at
// creation) and by identities sharing one of the groups recorded on it
// (the owner's Identity.Groups at creation); see MayUse. Every operation
// on another's object fails with ErrPermission (KMIP Permission Denied,
// OASIS test cases 11.1 and 11.2); Locate silently skips such objects, so
// it never reveals them. Objects recorded without an owner are usable by
// nobody.
//
// # Mapping to KMIP 1.1
//
// Operations: Create, CreateKeyPair, Register, Get, GetAttributes,
// GetAttributeList, AddAttribute, ModifyAttribute, DeleteAttribute,
// Activate, Revoke, Destroy, Locate, ReKey, ReKeyKeyPair and Check map 1:1
// to the KMIP operations of the same names. Attribute names are the
// spec's; values are the Go types of object.Kind; enumerations carry the
// KMIP numbers. Template-Attributes that name a registered Template are
// resolved by the server (Locate + Get of the Template) before calling.
// GetUsageAllocation maps to Get Usage Allocation and consumes the Usage
// Limits attribute. Created keys: AES, 3DES (168 bits), HMAC-SHA*; RSA
// 2048-4096 and ECDSA P-256/384/521 pairs; keys below the strength
// policy (policy.go: DES, 2-key 3DES, SKIPJACK, RC2, RC4, RSA < 2048) are
// refused with a *WeakKeyError. Registered keys keep the Key Format Type
// they came in (Content.ExportFormat) as Get's default and the Digest's
// format; certificates get their derived attributes (Certificate Length,
// identifiers, subject, issuer, signature and key algorithm).
//
// Errors wrap one sentinel; the KMIP result reason to send is:
//
//	ErrNotFound      Item Not Found (also Get of a destroyed object)
//	ErrPermission    Permission Denied (another owner's object; *CheckError: Check's denied attributes)
//	ErrWrongState    Permission Denied (KMIP 1.1 has no lifecycle reason)
//	ErrInvalid       Invalid Field
//	ErrIllegal       Illegal Operation
//	ErrNotSupported  Feature Not Supported (or Invalid Field for an algorithm)
//	ErrCorrupt       General Failure, and alert the operator
//	ErrAudit         General Failure
//	anything else    General Failure "internal error" (detail to the log only)
//
// Dates have second precision (KMIP Date-Time). Date-driven transitions
// (Activation Date, Deactivation Date) are evaluated on every read and
// persisted on the next write.
package hsm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/cofferhsm/coffer/hsm/object"
	"github.com/cofferhsm/coffer/hsm/store"
)

// Sentinel errors (see package object for the KMIP result reason of each).
var (
	ErrNotFound     = object.ErrNotFound
	ErrPermission   = object.ErrPermission
	ErrWrongState   = object.ErrWrongState
	ErrInvalid      = object.ErrInvalid
	ErrIllegal      = object.ErrIllegal
	ErrNotSupported = object.ErrNotSupported
	ErrCorrupt      = object.ErrCorrupt
	// ErrAudit: the audit log refused the event. For Get no material is
	// returned; for changes the change was already committed.
	ErrAudit = errors.New("audit failed")
)

// Identity is the authenticated caller of an operation.
type Identity struct {
	Name   string   // client identity (e.g. certificate subject or app name); required
	Groups []string // groups the client belongs to
}

// Event is one audited operation.
type Event struct {
	Time     time.Time
	Identity string
	Op       string // "Create", "Get", …
	UIDs     []string
	Export   bool  // key material left the core (Get)
	Err      error // nil on success
}

// Auditor receives one Event per operation. Append must be safe for
// concurrent use; an error makes the operation fail with ErrAudit.
type Auditor interface {
	Append(ctx context.Context, e Event) error
}

// Config configures a Core.
type Config struct {
	// Store holds the records. Required. The Core does not close it.
	Store store.DB
	// Master is the master key; the record KEK is derived from it. Required.
	// The Core does not keep or destroy it.
	Master *key.Master
	// Rand is the source of symmetric key material (read with
	// io.ReadFull). Nil means crypto/rand.Reader. RSA and ECDSA keys come
	// from the standard library, which may use its own secure source.
	Rand io.Reader
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Audit receives every operation. Nil means no audit.
	Audit Auditor
}

// Core is the crypto core. Its methods are safe for concurrent use.
type Core struct {
	db    store.DB
	aead  *key.RecordAEAD
	rand  io.Reader
	now   func() time.Time
	audit Auditor

	seed  maphash.Seed
	locks [256]sync.Mutex // per-UID striped locks serializing read-modify-write

	stampMu sync.Mutex
	stamp   int64 // last retrieval stamp handed out (see object.Object.Retrieved)
}

// New returns a Core for cfg.
func New(cfg Config) (*Core, error) {
	if cfg.Store == nil || cfg.Master == nil {
		return nil, fmt.Errorf("hsm: Config.Store and Config.Master are required: %w", ErrInvalid)
	}
	a, err := key.NewRecordAEAD(cfg.Master)
	if err != nil {
		return nil, fmt.Errorf("hsm: %w", err)
	}
	c := &Core{db: cfg.Store, aead: a, rand: cfg.Rand, now: cfg.Now, audit: cfg.Audit, seed: maphash.MakeSeed()}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

func (c *Core) clock() time.Time { return c.now().UTC().Truncate(time.Second) }

// nextStamp returns a retrieval stamp: the current time in nanoseconds,
// made strictly greater than every stamp this Core handed out before.
func (c *Core) nextStamp() int64 {
	c.stampMu.Lock()
	defer c.stampMu.Unlock()
	c.stamp = max(c.now().UnixNano(), c.stamp+1)
	return c.stamp
}

// lock locks the stripes of uids in a fixed order and returns the unlock.
func (c *Core) lock(uids ...string) func() {
	var idx [4]int
	n := 0
	for _, u := range uids {
		i := int(maphash.String(c.seed, u) % uint64(len(c.locks)))
		dup := false
		for _, j := range idx[:n] {
			dup = dup || j == i
		}
		if !dup && n < len(idx) {
			idx[n] = i
			n++
		}
	}
	s := idx[:n]
	for a := 1; a < len(s); a++ { // insertion sort: at most 4 entries
		for b := a; b > 0 && s[b] < s[b-1]; b-- {
			s[b], s[b-1] = s[b-1], s[b]
		}
	}
	for _, i := range s {
		c.locks[i].Lock()
	}
	return func() {
		for _, i := range s {
			c.locks[i].Unlock()
		}
	}
}

// Identity limits.
const (
	MaxIdentityLen = 1024 // bytes in Identity.Name and in each group name
	MaxGroups      = 64
)

// Valid checks the identity's form: a non-empty, bounded, UTF-8 name and
// bounded groups. Failures wrap ErrPermission.
func (id Identity) Valid() error { return checkIdentity(id) }

func checkIdentity(id Identity) error {
	if id.Name == "" {
		return fmt.Errorf("hsm: empty identity: %w", ErrPermission)
	}
	if len(id.Name) > MaxIdentityLen || !utf8.ValidString(id.Name) || len(id.Groups) > MaxGroups {
		return fmt.Errorf("hsm: malformed identity: %w", ErrPermission)
	}
	for _, g := range id.Groups {
		if len(g) > MaxIdentityLen || !utf8.ValidString(g) {
			return fmt.Errorf("hsm: malformed identity group: %w", ErrPermission)
		}
	}
	return nil
}

// MayUse reports whether id may see and use o (the access policy of the
// package doc): id is o's owner, or id shares one of the groups recorded
// on o. An object without an owner is usable by nobody (fail closed).
func MayUse(id Identity, o *object.Object) bool {
	if o == nil || o.Owner == "" {
		return false
	}
	if o.Owner == id.Name {
		return true
	}
	for _, g := range id.Groups {
		if g != "" && slices.Contains(o.Groups, g) {
			return true
		}
	}
	return false
}

// finish audits an operation and returns err (or ErrAudit).
func (c *Core) finish(ctx context.Context, id Identity, op string, err error, export bool, uids ...string) error {
	if c.audit == nil {
		return err
	}
	e := Event{Time: c.clock(), Identity: id.Name, Op: op, UIDs: uids, Export: export, Err: err}
	if aerr := c.audit.Append(ctx, e); aerr != nil {
		if err != nil {
			return err
		}
		return fmt.Errorf("hsm: %s: %w: %v", op, ErrAudit, aerr)
	}
	return err
}

// load reads and opens the record of uid on behalf of id: an object id may
// not use (see MayUse) is ErrPermission.
func (c *Core) load(ctx context.Context, id Identity, uid string) (*object.Object, error) {
	o, err := c.loadRecord(ctx, uid)
	if err != nil {
		return nil, err
	}
	if !MayUse(id, o) {
		o.Destroy()
		return nil, fmt.Errorf("hsm: object %q belongs to another owner: %w", uid, ErrPermission)
	}
	return o, nil
}

// loadRecord reads and opens the record of uid, without access control.
func (c *Core) loadRecord(ctx context.Context, uid string) (*object.Object, error) {
	if uid == "" || len(uid) > 256 {
		return nil, fmt.Errorf("hsm: object %.64q: %w", uid, ErrNotFound)
	}
	data, err := c.db.Get(ctx, uid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("hsm: object %q: %w", uid, ErrNotFound)
	}
	if errors.Is(err, store.ErrCorrupt) {
		return nil, fmt.Errorf("hsm: object %q: %w: %v", uid, ErrCorrupt, err)
	}
	if err != nil {
		return nil, fmt.Errorf("hsm: reading %q: %w", uid, err)
	}
	o, err := object.OpenRecord(c.aead, uid, data)
	if err != nil {
		return nil, fmt.Errorf("hsm: object %q: %w", uid, err)
	}
	return o, nil
}

// save seals and writes objs atomically. Each object's Last Change Date
// is set to now.
func (c *Core) save(ctx context.Context, now time.Time, objs ...*object.Object) error {
	return c.put(ctx, now, true, objs...)
}

// put seals and writes objs atomically, setting their Last Change Date to
// now when touch is true (false: bookkeeping that is no attribute change).
func (c *Core) put(ctx context.Context, now time.Time, touch bool, objs ...*object.Object) error {
	recs := make([]store.Record, len(objs))
	for i, o := range objs {
		o.Settle(now)
		if touch {
			if err := o.Set(object.AttrLastChangeDate, now); err != nil {
				return err
			}
		}
		data, err := object.SealRecord(c.aead, o)
		if err != nil {
			return fmt.Errorf("hsm: sealing %q: %w", o.UID, err)
		}
		ts := object.IndexTerms(o, now)
		terms := make([]store.Term, len(ts))
		for j, t := range ts {
			terms[j] = store.Term{Name: t.Name, Value: t.Value}
		}
		recs[i] = store.Record{UID: o.UID, Data: data, Terms: terms}
	}
	if err := c.db.Put(ctx, recs...); err != nil {
		return fmt.Errorf("hsm: writing records: %w", err)
	}
	return nil
}

// update runs fn on the object, loaded for id, under its lock and saves it.
func (c *Core) update(ctx context.Context, id Identity, uid string, fn func(o *object.Object, now time.Time) error) error {
	return c.modify(ctx, id, uid, true, fn)
}

// modify is update with the choice of setting Last Change Date (touch).
func (c *Core) modify(ctx context.Context, id Identity, uid string, touch bool, fn func(o *object.Object, now time.Time) error) error {
	defer c.lock(uid)()
	o, err := c.load(ctx, id, uid)
	if err != nil {
		return err
	}
	defer o.Destroy()
	now := c.clock()
	o.Settle(now)
	if err := fn(o, now); err != nil {
		return fmt.Errorf("hsm: %q: %w", uid, err)
	}
	return c.put(ctx, now, touch, o)
}
