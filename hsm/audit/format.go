package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/fxamacker/cbor/v2"
)

const (
	magic       = "COFFER-AUDIT\x00\x00\x00\x01"
	headerLen   = len(magic) + 1 + sha256.Size
	modeSHA256  = 0
	modeHMAC    = 1
	tagLen      = sha256.Size
	lenLen      = 4
	maxEntryLen = 16 << 10 // CBOR bytes of one entry
	maxFrameLen = lenLen + maxEntryLen + tagLen
	// maxWrite bounds the bytes written between two fsyncs, and so the
	// size of a torn tail that Open may truncate.
	maxWrite     = 1 << 20
	entryVersion = 1
	minKeyLen    = 16
)

// wireEntry is the CBOR form of an entry. Keys are integers; new fields
// must be added with omitempty.
type wireEntry struct {
	Version   uint64 `cbor:"1,keyasint"`
	Seq       uint64 `cbor:"2,keyasint"`
	Prev      []byte `cbor:"3,keyasint"`
	Time      int64  `cbor:"4,keyasint"`
	Identity  string `cbor:"5,keyasint"`
	Operation string `cbor:"6,keyasint"`
	Object    string `cbor:"7,keyasint,omitempty"`
	Result    string `cbor:"8,keyasint"`
	Detail    string `cbor:"9,keyasint,omitempty"`
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	if encMode, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   4,
		MaxArrayElements:  16,
		MaxMapPairs:       16,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// chain computes tags and the file header for one key (nil: SHA-256).
type chain struct{ key []byte }

func (c chain) tag(b []byte) [tagLen]byte {
	var t [tagLen]byte
	if c.key == nil {
		return sha256.Sum256(b)
	}
	m := hmac.New(sha256.New, c.key)
	m.Write(b)
	m.Sum(t[:0])
	return t
}

func (c chain) header() []byte {
	h := make([]byte, 0, headerLen)
	h = append(h, magic...)
	if c.key == nil {
		h = append(h, modeSHA256)
		return append(h, make([]byte, sha256.Size)...)
	}
	h = append(h, modeHMAC)
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("coffer audit key check v1"))
	return m.Sum(h)
}

func (c chain) checkHeader(h []byte) error {
	if len(h) != headerLen || !bytes.HasPrefix(h, []byte(magic[:12])) {
		return fmt.Errorf("%w: bad header", ErrKey)
	}
	if !bytes.HasPrefix(h, []byte(magic)) {
		return fmt.Errorf("%w: unsupported file version", ErrKey)
	}
	if !hmac.Equal(h, c.header()) {
		return ErrKey
	}
	return nil
}

// appendFrame encodes e as entry seq chained to prev, appends its frame to
// dst and returns the new dst and the entry's tag.
func (c chain) appendFrame(dst []byte, seq uint64, prev [tagLen]byte, e *Entry) ([]byte, [tagLen]byte, error) {
	w := wireEntry{
		Version:   entryVersion,
		Seq:       seq,
		Prev:      prev[:],
		Time:      e.Time.UnixNano(),
		Identity:  e.Identity,
		Operation: e.Operation,
		Object:    e.Object,
		Result:    e.Result,
		Detail:    e.Detail,
	}
	b, err := encMode.Marshal(&w)
	if err != nil {
		return dst, [tagLen]byte{}, fmt.Errorf("audit: encoding entry: %w", err)
	}
	if len(b) > maxEntryLen {
		return dst, [tagLen]byte{}, fmt.Errorf("%w: entry of %d bytes encoded", ErrInvalid, len(b))
	}
	t := c.tag(b)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	dst = append(dst, b...)
	return append(dst, t[:]...), t, nil
}

// frameReader reads frames after the header.
type frameReader struct {
	r   io.Reader
	off int64 // offset of the next frame in the file
	buf []byte
}

// next returns the body and tag of the next frame. It returns io.EOF at a
// clean end, ErrTruncated if the data ends inside a frame, ErrMalformed
// for a length out of range. body aliases an internal buffer.
func (fr *frameReader) next() (body []byte, tag [tagLen]byte, err error) {
	var l [lenLen]byte
	_, err = io.ReadFull(fr.r, l[:])
	if err == io.EOF {
		return nil, tag, io.EOF
	}
	if err == io.ErrUnexpectedEOF {
		return nil, tag, ErrTruncated
	}
	if err != nil {
		return nil, tag, err
	}
	size := binary.BigEndian.Uint32(l[:])
	if size == 0 || size > maxEntryLen {
		return nil, tag, fmt.Errorf("%w: entry length %d", ErrMalformed, size)
	}
	if cap(fr.buf) < int(size)+tagLen {
		fr.buf = make([]byte, int(size)+tagLen)
	}
	fr.buf = fr.buf[:int(size)+tagLen]
	if _, err := io.ReadFull(fr.r, fr.buf); err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil, tag, ErrTruncated
	} else if err != nil {
		return nil, tag, err
	}
	copy(tag[:], fr.buf[size:])
	return fr.buf[:size], tag, nil
}

// verifier checks frames in order against the chain.
type verifier struct {
	c    chain
	seq  uint64       // seq of the last good entry
	head [tagLen]byte // tag of the last good entry
}

// check verifies one frame as the successor of v's head and returns its
// record. It does not advance v.
func (v *verifier) check(body []byte, tag [tagLen]byte) (Record, error) {
	if t := v.c.tag(body); !hmac.Equal(t[:], tag[:]) {
		return Record{}, ErrTampered
	}
	var w wireEntry
	if err := decMode.Unmarshal(body, &w); err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if re, err := encMode.Marshal(&w); err != nil || !bytes.Equal(re, body) {
		return Record{}, fmt.Errorf("%w: not in canonical encoding", ErrMalformed)
	}
	if w.Version != entryVersion {
		return Record{}, fmt.Errorf("%w: entry version %d", ErrMalformed, w.Version)
	}
	if w.Seq != v.seq+1 {
		return Record{}, fmt.Errorf("%w: seq %d", ErrChain, w.Seq)
	}
	if !bytes.Equal(w.Prev, v.head[:]) {
		return Record{}, fmt.Errorf("%w: previous-entry tag mismatch", ErrChain)
	}
	e := Entry{
		Time:      time.Unix(0, w.Time).UTC(),
		Identity:  w.Identity,
		Operation: w.Operation,
		Object:    w.Object,
		Result:    w.Result,
		Detail:    w.Detail,
	}
	if w.Time < 0 {
		return Record{}, fmt.Errorf("%w: negative time", ErrMalformed)
	}
	if err := validateEntry(&e); err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return Record{Seq: w.Seq, Entry: e}, nil
}

// ReadAll verifies a whole log (header and every entry) read from r with
// key (nil for a SHA-256 log) and returns its records. On failure it
// returns the records verified before the failure and a *VerifyError.
func ReadAll(r io.Reader, key []byte) ([]Record, error) {
	var recs []Record
	err := readLog(r, key, func(rec Record) { recs = append(recs, rec) })
	return recs, err
}

// readLog verifies r and calls fn for each good record.
func readLog(r io.Reader, key []byte, fn func(Record)) error {
	c := chain{key: key}
	h := make([]byte, headerLen)
	if _, err := io.ReadFull(r, h); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return &VerifyError{Seq: 1, Err: fmt.Errorf("%w: short header", ErrKey)}
		}
		return err
	}
	if err := c.checkHeader(h); err != nil {
		return &VerifyError{Seq: 1, Err: err}
	}
	fr := &frameReader{r: r, off: int64(headerLen)}
	v := &verifier{c: c}
	for {
		body, tag, err := fr.next()
		if err == io.EOF {
			return nil
		}
		if err == nil {
			var rec Record
			if rec, err = v.check(body, tag); err == nil {
				v.seq, v.head = rec.Seq, tag
				fr.off += int64(lenLen + len(body) + tagLen)
				fn(rec)
				continue
			}
		}
		if !isFormatErr(err) {
			return fmt.Errorf("audit: reading log: %w", err)
		}
		return &VerifyError{Seq: v.seq + 1, Offset: fr.off, Err: err}
	}
}

func isFormatErr(err error) bool {
	for _, e := range []error{ErrTampered, ErrChain, ErrTruncated, ErrMalformed, ErrKey} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
