package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// On-disk layout (schema version 1). Changing any of it needs a new schema
// version and a migration in Open.
//
//	bucket "meta":  "version" → u64 BE schema version (1)
//	                "seq"     → u64 BE last creation sequence assigned
//	                "uid"     → u64 BE UID counter high-water mark: every
//	                            counter value NewUID ever handed out is <= it
//	bucket "rec":   uid → recordValue
//	bucket "seq":   u64 BE seq → uid            (Find without terms)
//	bucket "idx":   termKey(name, value) ‖ u64 BE seq → uid
//
// recordValue: 0x01 ‖ u64 BE seq ‖ u16 BE nterms ‖ nterms × (u16 BE len ‖
// name ‖ u16 BE len ‖ value) ‖ data (the rest).
// termKey: u16 BE len ‖ name ‖ u16 BE len ‖ value. Length prefixes make
// termKeys prefix-free, so a key belongs to a term iff it starts with that
// term's termKey, and it must then be exactly 8 bytes longer.
var (
	bucketMeta = []byte("meta")
	bucketRec  = []byte("rec")
	bucketSeq  = []byte("seq")
	bucketIdx  = []byte("idx")

	metaVersion = []byte("version")
	metaSeq     = []byte("seq")
	metaUID     = []byte("uid")
)

const (
	schemaVersion = 1
	recVersion    = 1
	recHeaderLen  = 1 + 8 + 2
)

// Options configure Open. The zero value (or nil) is ready to use.
type Options struct {
	// LockTimeout bounds the wait for the file lock held by another
	// process. Zero means 5 seconds.
	LockTimeout time.Duration
	// MaxBatch is the most Put calls one group commit collects.
	// Zero means 128.
	MaxBatch int
	// UIDBlock is how many UIDs one durable reservation covers (at most
	// this many counter values are skipped by a restart). Zero means 1024.
	UIDBlock uint64
}

// Bolt is the durable DB on a bbolt file. Puts go through a single
// committer goroutine that collects every Put waiting at the time into one
// bbolt transaction (group commit), so concurrent callers share one fsync.
// If that shared transaction fails, each Put of the group is retried in a
// transaction of its own, so one Put's failure never fails another.
type Bolt struct {
	db       *bolt.DB
	maxBatch int
	uidBlock uint64

	mu     sync.RWMutex // guards closed; held (R) while a call uses db or reqs
	closed bool
	reqs   chan *putReq
	done   chan struct{} // closed when the committer has exited

	uidMu   sync.Mutex
	uidLast uint64 // last counter value handed out
	uidHigh uint64 // durable high-water mark
}

type putReq struct {
	recs []Record
	err  chan error
}

var _ DB = (*Bolt)(nil)

// Open opens (creating if needed) the bbolt store at path. It fails with
// ErrCorrupt if the file's metadata is inconsistent.
func Open(path string, opts *Options) (*Bolt, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = 5 * time.Second
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 128
	}
	if o.UIDBlock == 0 {
		o.UIDBlock = 1024
	}
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, fs.ErrNotExist)
	// The freelist is not written on each commit (one write and sync
	// fewer per Put); bbolt rebuilds it by scanning the file on Open.
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        o.LockTimeout,
		FreelistType:   bolt.FreelistMapType,
		NoFreelistSync: true,
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	var uidHigh uint64
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketRec, bucketSeq, bucketIdx} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		v := meta.Get(metaVersion)
		if v == nil {
			if k, _ := tx.Bucket(bucketRec).Cursor().First(); k != nil {
				return fmt.Errorf("%w: records without a schema version", ErrCorrupt)
			}
			if err := meta.Put(metaVersion, be64(schemaVersion)); err != nil {
				return err
			}
		} else if n, err := metaU64(meta, metaVersion); err != nil {
			return err
		} else if n != schemaVersion {
			return fmt.Errorf("%w: schema version %d, want %d", ErrCorrupt, n, schemaVersion)
		}
		if _, err := metaU64(meta, metaSeq); err != nil {
			return err
		}
		uidHigh, err = metaU64(meta, metaUID)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if created {
		// Make the new file's directory entry durable too.
		if err := syncDir(filepath.Dir(path)); err != nil {
			db.Close()
			return nil, err
		}
	}
	b := &Bolt{
		db:       db,
		maxBatch: o.MaxBatch,
		uidBlock: o.UIDBlock,
		reqs:     make(chan *putReq, o.MaxBatch),
		done:     make(chan struct{}),
		uidLast:  uidHigh,
		uidHigh:  uidHigh,
	}
	go b.commitLoop()
	return b, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: syncing %s: %w", dir, err)
	}
	return nil
}

// metaU64 reads an 8-byte counter from the meta bucket; absent means 0.
func metaU64(meta *bolt.Bucket, key []byte) (uint64, error) {
	v := meta.Get(key)
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: meta %q is %d bytes", ErrCorrupt, key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func be64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// Put implements DB.Put.
func (b *Bolt) Put(ctx context.Context, recs ...Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validatePut(recs); err != nil {
		return err
	}
	if len(recs) == 0 {
		b.mu.RLock()
		defer b.mu.RUnlock()
		if b.closed {
			return ErrClosed
		}
		return nil
	}
	// Copy so that callers may reuse their slices once Put returns, and so
	// that later mutation cannot race the committer.
	own := make([]Record, len(recs))
	for i, r := range recs {
		own[i] = Record{UID: r.UID, Data: bytes.Clone(r.Data), Terms: dedupTerms(r.Terms)}
	}
	req := &putReq{recs: own, err: make(chan error, 1)}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return ErrClosed
	}
	b.reqs <- req
	b.mu.RUnlock()
	return <-req.err
}

// commitLoop is the single committer. It exits when reqs is closed and
// drained.
func (b *Bolt) commitLoop() {
	defer close(b.done)
	batch := make([]*putReq, 0, b.maxBatch)
	for first := range b.reqs {
		batch = append(batch[:0], first)
	collect:
		for len(batch) < b.maxBatch {
			select {
			case r, ok := <-b.reqs:
				if !ok {
					break collect
				}
				batch = append(batch, r)
			default:
				break collect
			}
		}
		b.commit(batch)
	}
}

func (b *Bolt) commit(batch []*putReq) {
	err := b.db.Update(func(tx *bolt.Tx) error {
		for _, r := range batch {
			if err := putTx(tx, r.recs); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || len(batch) == 1 {
		for _, r := range batch {
			r.err <- wrapBoltErr(err)
		}
		return
	}
	for _, r := range batch {
		r.err <- wrapBoltErr(b.db.Update(func(tx *bolt.Tx) error { return putTx(tx, r.recs) }))
	}
}

func wrapBoltErr(err error) error {
	if err == nil || errors.Is(err, ErrCorrupt) {
		return err
	}
	return fmt.Errorf("store: %w", err)
}

// putTx writes recs in tx.
func putTx(tx *bolt.Tx, recs []Record) error {
	meta, rec, seqs, idx := tx.Bucket(bucketMeta), tx.Bucket(bucketRec), tx.Bucket(bucketSeq), tx.Bucket(bucketIdx)
	if meta == nil || rec == nil || seqs == nil || idx == nil {
		return fmt.Errorf("%w: missing bucket", ErrCorrupt)
	}
	last, err := metaU64(meta, metaSeq)
	if err != nil {
		return err
	}
	lastBefore := last
	for _, r := range recs {
		uid := []byte(r.UID)
		var seq uint64
		if old := rec.Get(uid); old != nil {
			h, err := decodeRecord(old)
			if err != nil {
				return fmt.Errorf("%w (record %q)", err, r.UID)
			}
			seq = h.seq
			for _, t := range h.terms {
				if err := idx.Delete(indexKey(t, seq)); err != nil {
					return err
				}
			}
		} else {
			if last == math.MaxUint64 {
				return fmt.Errorf("%w: sequence exhausted", ErrCorrupt)
			}
			last++
			seq = last
			if err := seqs.Put(be64(seq), bytes.Clone(uid)); err != nil {
				return err
			}
		}
		for _, t := range r.Terms {
			if err := idx.Put(indexKey(t, seq), bytes.Clone(uid)); err != nil {
				return err
			}
		}
		if err := rec.Put(bytes.Clone(uid), encodeRecord(seq, r.Terms, r.Data)); err != nil {
			return err
		}
	}
	if last != lastBefore {
		return meta.Put(metaSeq, be64(last))
	}
	return nil
}

func termKey(dst []byte, t Term) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(t.Name)))
	dst = append(dst, t.Name...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(t.Value)))
	return append(dst, t.Value...)
}

func indexKey(t Term, seq uint64) []byte {
	k := termKey(make([]byte, 0, 4+len(t.Name)+len(t.Value)+8), t)
	return binary.BigEndian.AppendUint64(k, seq)
}

func encodeRecord(seq uint64, terms []Term, data []byte) []byte {
	n := recHeaderLen + len(data)
	for _, t := range terms {
		n += 4 + len(t.Name) + len(t.Value)
	}
	b := make([]byte, 0, n)
	b = append(b, recVersion)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint16(b, uint16(len(terms)))
	for _, t := range terms {
		b = termKey(b, t)
	}
	return append(b, data...)
}

// recordHeader is a decoded recordValue; data aliases the input.
type recordHeader struct {
	seq   uint64
	terms []Term
	data  []byte
}

// recordSeq decodes only the sequence of a recordValue.
func recordSeq(v []byte) (uint64, error) {
	if len(v) < recHeaderLen || v[0] != recVersion {
		return 0, fmt.Errorf("%w: bad record header", ErrCorrupt)
	}
	return binary.BigEndian.Uint64(v[1:9]), nil
}

// decodeRecord parses and validates a recordValue read from disk.
func decodeRecord(v []byte) (recordHeader, error) {
	var h recordHeader
	seq, err := recordSeq(v)
	if err != nil {
		return h, err
	}
	if seq == 0 {
		return h, fmt.Errorf("%w: record sequence 0", ErrCorrupt)
	}
	h.seq = seq
	n := int(binary.BigEndian.Uint16(v[9:11]))
	if n > MaxTerms {
		return h, fmt.Errorf("%w: record has %d terms", ErrCorrupt, n)
	}
	rest := v[recHeaderLen:]
	str := func(max int) (string, bool) {
		if len(rest) < 2 {
			return "", false
		}
		l := int(binary.BigEndian.Uint16(rest))
		if l > max || len(rest)-2 < l {
			return "", false
		}
		s := string(rest[2 : 2+l])
		rest = rest[2+l:]
		return s, true
	}
	h.terms = make([]Term, 0, n)
	for range n {
		name, ok1 := str(MaxTermNameLen)
		value, ok2 := str(MaxTermValueLen)
		if !ok1 || !ok2 || name == "" {
			return h, fmt.Errorf("%w: bad record term", ErrCorrupt)
		}
		h.terms = append(h.terms, Term{Name: name, Value: value})
	}
	if len(rest) > MaxDataLen {
		return h, fmt.Errorf("%w: record data of %d bytes", ErrCorrupt, len(rest))
	}
	h.data = rest
	return h, nil
}

// view runs fn in a read transaction unless the DB is closed.
func (b *Bolt) view(fn func(tx *bolt.Tx) error) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return ErrClosed
	}
	err := b.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketRec) == nil || tx.Bucket(bucketSeq) == nil || tx.Bucket(bucketIdx) == nil {
			return fmt.Errorf("%w: missing bucket", ErrCorrupt)
		}
		return fn(tx)
	})
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// Get implements DB.Get.
func (b *Bolt) Get(ctx context.Context, uid string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []byte
	err := b.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketRec).Get([]byte(uid))
		if v == nil {
			return fmt.Errorf("%w: %q", ErrNotFound, uid)
		}
		h, err := decodeRecord(v)
		if err != nil {
			return fmt.Errorf("%w (record %q)", err, uid)
		}
		out = bytes.Clone(h.data)
		if out == nil {
			out = []byte{}
		}
		return nil
	})
	return out, err
}

// Find implements DB.Find. With terms, it walks each term's index in
// descending sequence order and leapfrogs the cursors (each seek jumps to
// the largest sequence not above the current candidate), so the cost grows
// with the smallest term's matches, not the store size, and stops at limit.
func (b *Bolt) Find(ctx context.Context, terms []Term, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validateTerms(terms, MaxTerms); err != nil {
		return nil, err
	}
	terms = dedupTerms(terms)
	out := []string{}
	err := b.view(func(tx *bolt.Tx) error {
		rec := tx.Bucket(bucketRec)
		emit := func(seq uint64, uid []byte) error {
			if len(uid) == 0 || len(uid) > MaxUIDLen {
				return fmt.Errorf("%w: index entry with a UID of %d bytes", ErrCorrupt, len(uid))
			}
			v := rec.Get(uid)
			if v == nil {
				return fmt.Errorf("%w: index points to missing record %q", ErrCorrupt, uid)
			}
			if s, err := recordSeq(v); err != nil || s != seq {
				return fmt.Errorf("%w: index sequence %d does not match record %q", ErrCorrupt, seq, uid)
			}
			out = append(out, string(uid))
			return nil
		}
		full := func() bool { return limit > 0 && len(out) >= limit }
		if len(terms) == 0 {
			c := tx.Bucket(bucketSeq).Cursor()
			for k, v := c.Last(); k != nil && !full(); k, v = c.Prev() {
				if len(k) != 8 {
					return fmt.Errorf("%w: sequence key of %d bytes", ErrCorrupt, len(k))
				}
				if err := emit(binary.BigEndian.Uint64(k), v); err != nil {
					return err
				}
			}
			return nil
		}
		curs := make([]*termCursor, len(terms))
		for i, t := range terms {
			curs[i] = &termCursor{c: tx.Bucket(bucketIdx).Cursor(), prefix: termKey(nil, t)}
		}
		target := uint64(math.MaxUint64)
		agree := 0
		for i := 0; !full(); i = (i + 1) % len(curs) {
			seq, uid, ok, err := curs[i].seekLE(target)
			if err != nil || !ok {
				return err
			}
			if seq == target {
				agree++
			} else {
				target, agree = seq, 1
			}
			if agree < len(curs) {
				continue
			}
			if err := emit(seq, uid); err != nil {
				return err
			}
			if target == 0 {
				return nil
			}
			target--
			agree = 0
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

type termCursor struct {
	c      *bolt.Cursor
	prefix []byte
	seek   []byte
}

// seekLE positions the cursor on the term's entry with the largest
// sequence <= max. ok is false if there is none.
func (tc *termCursor) seekLE(max uint64) (seq uint64, uid []byte, ok bool, err error) {
	tc.seek = binary.BigEndian.AppendUint64(append(tc.seek[:0], tc.prefix...), max)
	k, v := tc.c.Seek(tc.seek)
	switch {
	case k == nil:
		k, v = tc.c.Last()
	case !bytes.Equal(k, tc.seek):
		k, v = tc.c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, tc.prefix) {
		return 0, nil, false, nil
	}
	if len(k) != len(tc.prefix)+8 {
		return 0, nil, false, fmt.Errorf("%w: index key of %d bytes", ErrCorrupt, len(k))
	}
	return binary.BigEndian.Uint64(k[len(tc.prefix):]), v, true, nil
}

// NewUID implements DB.NewUID. Counter values are reserved durably in
// blocks of Options.UIDBlock before being handed out.
func (b *Bolt) NewUID(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return "", ErrClosed
	}
	b.uidMu.Lock()
	defer b.uidMu.Unlock()
	for {
		if b.uidLast >= b.uidHigh {
			if err := b.reserveUIDs(); err != nil {
				return "", err
			}
		}
		b.uidLast++
		uid := strconv.FormatUint(b.uidLast, 10)
		taken := false
		err := b.db.View(func(tx *bolt.Tx) error {
			rec := tx.Bucket(bucketRec)
			if rec == nil {
				return fmt.Errorf("%w: missing bucket", ErrCorrupt)
			}
			taken = rec.Get([]byte(uid)) != nil
			return nil
		})
		if err != nil {
			return "", wrapBoltErr(err)
		}
		if !taken {
			return uid, nil
		}
	}
}

func (b *Bolt) reserveUIDs() error {
	var high uint64
	err := b.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("%w: missing bucket", ErrCorrupt)
		}
		cur, err := metaU64(meta, metaUID)
		if err != nil {
			return err
		}
		cur = max(cur, b.uidHigh)
		if cur > math.MaxUint64-b.uidBlock {
			return fmt.Errorf("%w: UID counter exhausted", ErrCorrupt)
		}
		high = cur + b.uidBlock
		return meta.Put(metaUID, be64(high))
	})
	if err != nil {
		return wrapBoltErr(err)
	}
	b.uidHigh = high
	return nil
}

// Close implements DB.Close. It waits for queued Puts to commit.
func (b *Bolt) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.closed = true
	close(b.reqs)
	b.mu.Unlock()
	<-b.done
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}
