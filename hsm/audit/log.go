package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Options configure Open. The zero value is ready to use.
type Options struct {
	// Key, if set, makes the chain HMAC-SHA-256 under Key (at least 16
	// bytes; derive it from the master key). Nil means plain SHA-256. A
	// log must always be opened with the key it was created with. Open
	// copies Key and Close zeroes the copy.
	Key []byte
	// Now gives the time of entries logged with a zero Time. Nil means
	// time.Now.
	Now func() time.Time
	// MaxBatch is the most Appends one group commit collects. Zero
	// means 64.
	MaxBatch int
}

// Recovery reports a torn tail that Open truncated.
type Recovery struct {
	Offset  int64 // where the torn tail began: the file's new size
	Dropped int64 // bytes removed
	Reason  error // what was wrong at Offset
}

func (r Recovery) String() string {
	return fmt.Sprintf("audit: truncated torn tail of %d bytes at offset %d: %v", r.Dropped, r.Offset, r.Reason)
}

// sink is where a Log writes: its file, or memory.
type sink interface {
	io.Writer
	Sync() error
	Close() error
}

// Log is an open audit log. Appends go through a single committer
// goroutine that writes every Append waiting at the time with one write
// and one fsync (group commit). After a failed write or fsync the Log
// fails closed: every later Append returns ErrFailed.
type Log struct {
	path     string // "" for a memory log
	mem      *bytes.Buffer
	now      func() time.Time
	c        chain
	maxBatch int
	recovery *Recovery

	mu     sync.RWMutex // guards closed; held (R) while sending on reqs
	closed bool
	reqs   chan *appendReq
	done   chan struct{}

	wmu    sync.Mutex // held while writing; guards the fields below
	w      sink
	buf    []byte
	seq    uint64
	head   [tagLen]byte
	failed error
}

type appendReq struct {
	e   Entry
	err chan error
}

// Open opens the audit log at path, creating it if needed, and recovers
// its chain head. A torn final write (a crash during Append) is truncated
// and reported by Recovery; any other inconsistency fails with a
// *VerifyError and leaves the file untouched. The file is locked against
// a second Open until Close.
//
// A torn tail is a region after the last good entry that is shorter than
// one group-commit write and holds no frame whose tag verifies. So a
// damaged last entry is dropped like a torn one (which is no worse than
// deleting it, and is reported), but a damaged entry followed by good ones
// is an error.
func Open(path string, opts Options) (*Log, error) {
	if opts.Key != nil && len(opts.Key) < minKeyLen {
		return nil, fmt.Errorf("%w: key of %d bytes, min %d", ErrInvalid, len(opts.Key), minKeyLen)
	}
	var key []byte
	if opts.Key != nil {
		key = bytes.Clone(opts.Key)
	}
	c := chain{key: key}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: locking %s: %w", path, err)
	}
	l, err := recoverFile(f, path, c)
	if err != nil {
		f.Close()
		clear(key)
		return nil, err
	}
	l.path = path
	l.start(opts)
	return l, nil
}

// recoverFile reads f, truncates a torn tail and returns a Log positioned
// at the end (not started).
func recoverFile(f *os.File, path string, c chain) (*Log, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	size := st.Size()
	l := &Log{c: c, w: f}
	if size < int64(headerLen) {
		// New file, or a crash while creating it.
		old := make([]byte, size)
		if _, err := io.ReadFull(f, old); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		h := c.header()
		if !bytes.HasPrefix(h, old) {
			return nil, &VerifyError{Seq: 1, Err: fmt.Errorf("%w: short header", ErrKey)}
		}
		if size > 0 {
			l.recovery = &Recovery{Dropped: size, Reason: fmt.Errorf("%w: short header", ErrTruncated)}
		}
		if _, err := f.WriteAt(h, 0); err != nil {
			return nil, fmt.Errorf("audit: writing header: %w", err)
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		if err := syncDir(filepath.Dir(path)); err != nil {
			return nil, err
		}
		if _, err := f.Seek(int64(headerLen), io.SeekStart); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		return l, nil
	}

	h := make([]byte, headerLen)
	if _, err := io.ReadFull(f, h); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if err := c.checkHeader(h); err != nil {
		return nil, &VerifyError{Seq: 1, Err: err}
	}
	fr := &frameReader{r: bufio.NewReaderSize(f, 64<<10), off: int64(headerLen)}
	v := &verifier{c: c}
	var bad error
	for {
		body, tag, err := fr.next()
		if err == io.EOF {
			break
		}
		if err == nil {
			var rec Record
			if rec, err = v.check(body, tag); err == nil {
				v.seq, v.head = rec.Seq, tag
				fr.off += int64(lenLen + len(body) + tagLen)
				continue
			}
		}
		if !isFormatErr(err) {
			return nil, fmt.Errorf("audit: reading %s: %w", path, err)
		}
		bad = err
		break
	}
	if bad != nil {
		verr := &VerifyError{Seq: v.seq + 1, Offset: fr.off, Err: bad}
		tail := size - fr.off
		if tail > maxWrite {
			return nil, verr
		}
		tb := make([]byte, tail)
		if _, err := io.ReadFull(io.NewSectionReader(f, fr.off, tail), tb); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		if hasTaggedFrame(tb, c) {
			return nil, verr
		}
		if err := f.Truncate(fr.off); err != nil {
			return nil, fmt.Errorf("audit: truncating torn tail: %w", err)
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		l.recovery = &Recovery{Offset: fr.off, Dropped: tail, Reason: verr}
	}
	if _, err := f.Seek(fr.off, io.SeekStart); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	l.seq, l.head = v.seq, v.head
	return l, nil
}

// hasTaggedFrame reports whether b holds, at any offset, a complete frame
// whose tag verifies. Scanning every offset (not just walking lengths)
// finds good frames behind a damaged length field. Only offsets whose
// bytes start like an entry (map of 7..9 pairs, {1: 1, 2: …}) are hashed.
func hasTaggedFrame(b []byte, c chain) bool {
	for o := 0; o+lenLen+4+tagLen <= len(b); o++ {
		p := b[o+lenLen:]
		if p[0] < 0xa7 || p[0] > 0xa9 || p[1] != 1 || p[2] != entryVersion || p[3] != 2 {
			continue
		}
		n := int(binary.BigEndian.Uint32(b[o:]))
		if n == 0 || n > maxEntryLen || o+lenLen+n+tagLen > len(b) {
			continue
		}
		body := b[o+lenLen : o+lenLen+n]
		if t := c.tag(body); bytes.Equal(t[:], b[o+lenLen+n:o+lenLen+n+tagLen]) {
			return true
		}
	}
	return false
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("audit: syncing %s: %w", dir, err)
	}
	return nil
}

type memSink struct{ b *bytes.Buffer }

func (m memSink) Write(p []byte) (int, error) { return m.b.Write(p) }
func (memSink) Sync() error                   { return nil }
func (memSink) Close() error                  { return nil }

// NewMemory returns a Log (SHA-256 chain, no key) kept in memory, for
// tests of other packages. Entries reads it back.
func NewMemory() *Log {
	mem := bytes.NewBuffer(chain{}.header())
	l := &Log{mem: mem, w: memSink{mem}}
	l.start(Options{})
	return l
}

func (l *Log) start(opts Options) {
	l.now = opts.Now
	if l.now == nil {
		l.now = time.Now
	}
	l.maxBatch = opts.MaxBatch
	if l.maxBatch <= 0 {
		l.maxBatch = 64
	}
	l.reqs = make(chan *appendReq, l.maxBatch)
	l.done = make(chan struct{})
	go l.commitLoop()
}

// Recovery returns what Open truncated, if anything.
func (l *Log) Recovery() (Recovery, bool) {
	if l.recovery == nil {
		return Recovery{}, false
	}
	return *l.recovery, true
}

// Head returns the seq and tag of the last entry (0 and zeros for an
// empty log). Keeping it elsewhere lets a later Verify detect removal of
// entries at the end.
func (l *Log) Head() (seq uint64, tag [32]byte) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return l.seq, l.head
}

// Append adds e to the log and returns once it is on disk (fsync'd).
// Concurrent Appends share one write and fsync. e.Time zero means now.
// Invalid entries fail with ErrInvalid. Once queued, Append waits for the
// commit even if ctx is cancelled, so an error always means "not logged".
func (l *Log) Append(ctx context.Context, e Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validateEntry(&e); err != nil {
		return err
	}
	req := &appendReq{e: e, err: make(chan error, 1)}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	l.reqs <- req
	l.mu.RUnlock()
	return <-req.err
}

func (l *Log) commitLoop() {
	defer close(l.done)
	batch := make([]*appendReq, 0, l.maxBatch)
	for first := range l.reqs {
		batch = append(batch[:0], first)
	collect:
		for len(batch) < l.maxBatch {
			select {
			case r, ok := <-l.reqs:
				if !ok {
					break collect
				}
				batch = append(batch, r)
			default:
				break collect
			}
		}
		l.commit(batch)
	}
}

// commit writes batch, at most maxWrite bytes per write+fsync. Every
// request in batch gets exactly one answer.
func (l *Log) commit(batch []*appendReq) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	seq, head := l.seq, l.head
	buf := l.buf[:0]
	var pending []*appendReq
	// flush writes buf and answers pending; on failure it marks the log
	// failed and leaves pending unanswered.
	flush := func() {
		if len(pending) == 0 {
			return
		}
		_, err := l.w.Write(buf)
		if err == nil {
			err = l.w.Sync()
		}
		if err != nil {
			l.failed = err
			return
		}
		l.seq, l.head = seq, head
		for _, p := range pending {
			p.err <- nil
		}
		pending, buf = pending[:0], buf[:0]
	}
	fail := func(reqs []*appendReq) {
		for _, r := range reqs {
			r.err <- fmt.Errorf("%w: %w", ErrFailed, l.failed)
		}
	}
	for i, r := range batch {
		if l.failed != nil {
			fail(pending)
			fail(batch[i:])
			return
		}
		e := r.e
		if e.Time.IsZero() {
			e.Time = l.now()
			if !timeInRange(e.Time) {
				r.err <- fmt.Errorf("%w: clock time %v out of range", ErrInvalid, e.Time)
				continue
			}
		}
		n := len(buf)
		nb, tag, err := l.c.appendFrame(buf, seq+1, head, &e)
		if err != nil {
			r.err <- err
			continue
		}
		if len(nb) > maxWrite && n > 0 {
			// Write what came before, then start a new write with r.
			buf = nb[:n]
			flush()
			if l.failed != nil {
				fail(pending)
				fail(batch[i:])
				return
			}
			nb, tag, _ = l.c.appendFrame(buf, seq+1, head, &e)
		}
		buf, seq, head = nb, seq+1, tag
		pending = append(pending, r)
	}
	flush()
	if l.failed != nil {
		fail(pending)
	}
	l.buf = buf[:0]
}

// Entries reads back and verifies the whole log.
func (l *Log) Entries() ([]Record, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.mem != nil {
		return ReadAll(bytes.NewReader(l.mem.Bytes()), l.c.key)
	}
	f, err := os.Open(l.path)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	return ReadAll(bufio.NewReaderSize(f, 64<<10), l.c.key)
}

// Close waits for queued Appends, then closes the file. Later calls
// (including Close) fail with ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	close(l.reqs)
	l.mu.Unlock()
	<-l.done
	l.wmu.Lock()
	defer l.wmu.Unlock()
	clear(l.c.key)
	if err := l.w.Close(); err != nil {
		return fmt.Errorf("audit: close: %w", err)
	}
	return nil
}

// Verify checks the log file at path with key (nil for a SHA-256 log) and
// returns the number of good entries. A changed, removed, inserted or
// reordered entry, or a torn tail, fails with a *VerifyError naming the
// seq expected where the chain broke.
func Verify(path string, key []byte) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	n := 0
	err = readLog(bufio.NewReaderSize(f, 64<<10), key, func(Record) { n++ })
	return n, err
}

// String redacts Key.
func (o Options) String() string {
	return fmt.Sprintf("audit.Options{Key: %s, MaxBatch: %d}", redact(o.Key), o.MaxBatch)
}

// GoString redacts Key.
func (o Options) GoString() string { return o.String() }

func redact(k []byte) string {
	if k == nil {
		return "nil"
	}
	return "REDACTED"
}

// String describes l without its key.
func (l *Log) String() string {
	if l.path == "" {
		return "audit.Log(memory)"
	}
	return fmt.Sprintf("audit.Log(%s)", l.path)
}

// GoString describes l without its key.
func (l *Log) GoString() string { return l.String() }
