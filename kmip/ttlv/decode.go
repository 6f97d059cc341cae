package ttlv

import (
	"encoding/binary"
	"errors"
	"io"
	"time"
	"unicode/utf8"
)

// Default limits used by Decode and ReadMessage and by a zero Limits field.
const (
	DefaultMaxMessageSize = 1 << 20
	DefaultMaxDepth       = 32
	DefaultMaxItems       = 1 << 16
)

// headerLen is the size of an item's tag, type and length.
const headerLen = 8

// Limits bounds decoding. A zero field means its default.
type Limits struct {
	// MaxMessageSize is the largest encoded message accepted, in bytes,
	// header included. Zero means DefaultMaxMessageSize.
	MaxMessageSize int
	// MaxDepth is the deepest structure nesting accepted; the top-level
	// item is at depth 1. Zero means DefaultMaxDepth.
	MaxDepth int
	// MaxItems is the largest number of items in one message, all levels
	// counted. Zero means DefaultMaxItems.
	MaxItems int
}

func (l Limits) withDefaults() Limits {
	if l.MaxMessageSize <= 0 {
		l.MaxMessageSize = DefaultMaxMessageSize
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxItems <= 0 {
		l.MaxItems = DefaultMaxItems
	}
	return l
}

// Decode decodes exactly one top-level item from b with the default limits.
func Decode(b []byte) (Item, error) { return Limits{}.Decode(b) }

// Decode decodes exactly one top-level item from b. Any failure is a
// *DecodeError.
func (l Limits) Decode(b []byte) (Item, error) {
	l = l.withDefaults()
	if len(b) > l.MaxMessageSize {
		return Item{}, &DecodeError{Offset: 0, Err: ErrTooLarge}
	}
	d := decoder{b: b, limits: l}
	it, n, err := d.item(0, len(b), 1, false)
	if err != nil {
		return Item{}, err
	}
	if n != len(b) {
		return Item{}, &DecodeError{Offset: n, Err: ErrTrailingData}
	}
	return it, nil
}

type decoder struct {
	b      []byte
	limits Limits
	items  int
}

// item decodes the item at off, which must end by end. It returns the item
// and the offset just past it (padding included). Recursion is bounded by
// Limits.MaxDepth. anyTag allows tags outside the KMIP ranges (see
// TagVendorExtension).
func (d *decoder) item(off, end, depth int, anyTag bool) (Item, int, error) {
	fail := func(at int, tag Tag, err error) (Item, int, error) {
		return Item{}, 0, &DecodeError{Offset: at, Tag: tag, Err: err}
	}
	if end-off < headerLen {
		return fail(off, 0, ErrTruncated)
	}
	h := d.b[off : off+headerLen]
	tag := Tag(uint32(h[0])<<16 | uint32(h[1])<<8 | uint32(h[2]))
	typ := Type(h[3])
	n := int(binary.BigEndian.Uint32(h[4:8]))
	if !anyTag && !tag.valid() {
		return fail(off, tag, ErrBadTag)
	}
	if typ < TypeStructure || typ > TypeInterval {
		return fail(off, tag, ErrBadType)
	}
	d.items++
	if d.items > d.limits.MaxItems {
		return fail(off, tag, ErrTooManyItems)
	}
	if fl := typ.fixedLen(); fl >= 0 && n != fl {
		return fail(off, tag, ErrBadLength)
	}
	padded := n + pad(n)
	vstart := off + headerLen
	if n < 0 || padded > end-vstart {
		return fail(off, tag, ErrTruncated)
	}
	v := d.b[vstart : vstart+n]
	next := vstart + padded
	for _, p := range d.b[vstart+n : next] {
		if p != 0 {
			return fail(off, tag, ErrBadPadding)
		}
	}
	it := Item{Tag: tag, Type: typ}
	switch typ {
	case TypeStructure:
		if depth >= d.limits.MaxDepth {
			return fail(off, tag, ErrTooDeep)
		}
		var children []Item
		for p := vstart; p < vstart+n; {
			c, q, err := d.item(p, vstart+n, depth+1, anyTag || tag == TagVendorExtension)
			if err != nil {
				return Item{}, 0, err
			}
			children = append(children, c)
			p = q
		}
		it.Value = children
	case TypeInteger:
		it.Value = int32(binary.BigEndian.Uint32(v))
	case TypeLongInteger:
		it.Value = int64(binary.BigEndian.Uint64(v))
	case TypeBigInteger:
		if n == 0 || n%8 != 0 {
			return fail(off, tag, ErrBadLength)
		}
		it.Value = append([]byte(nil), v...)
	case TypeEnumeration:
		it.Value = binary.BigEndian.Uint32(v)
	case TypeBoolean:
		switch binary.BigEndian.Uint64(v) {
		case 0:
			it.Value = false
		case 1:
			it.Value = true
		default:
			return fail(off, tag, ErrBadBoolean)
		}
	case TypeTextString:
		if !utf8.Valid(v) {
			return fail(off, tag, ErrBadUTF8)
		}
		it.Value = string(v)
	case TypeByteString:
		it.Value = append([]byte(nil), v...)
	case TypeDateTime:
		it.Value = time.Unix(int64(binary.BigEndian.Uint64(v)), 0).UTC()
	case TypeInterval:
		it.Value = binary.BigEndian.Uint32(v)
	}
	return it, next, nil
}

// pad returns the number of zero bytes that follow a value of n bytes.
func pad(n int) int { return (8 - n%8) % 8 }

// ReadMessage reads exactly one top-level item from r with the default
// limits. See Limits.ReadMessage.
func ReadMessage(r io.Reader) ([]byte, error) { return Limits{}.ReadMessage(r) }

// ReadMessage reads exactly one top-level TTLV item from r and returns its
// bytes, without decoding the value. It checks the header (a known tag
// range, Structure type, a length that keeps the message within
// MaxMessageSize and is a multiple of 8) before allocating for the body.
// It returns io.EOF if r ends before the first byte, and a *DecodeError for
// a bad header or a body cut short (wrapping ErrTruncated).
func (l Limits) ReadMessage(r io.Reader) ([]byte, error) {
	l = l.withDefaults()
	var h [headerLen]byte
	if n, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.EOF) && n == 0 {
			return nil, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &DecodeError{Offset: n, Err: ErrTruncated}
		}
		return nil, err
	}
	tag := Tag(uint32(h[0])<<16 | uint32(h[1])<<8 | uint32(h[2]))
	if !tag.valid() {
		return nil, &DecodeError{Offset: 0, Tag: tag, Err: ErrBadTag}
	}
	if Type(h[3]) != TypeStructure {
		return nil, &DecodeError{Offset: 0, Tag: tag, Err: ErrBadType}
	}
	n := uint64(binary.BigEndian.Uint32(h[4:]))
	if n%8 != 0 {
		return nil, &DecodeError{Offset: 0, Tag: tag, Err: ErrBadLength}
	}
	if n+headerLen > uint64(l.MaxMessageSize) {
		return nil, &DecodeError{Offset: 0, Tag: tag, Err: ErrTooLarge}
	}
	msg := make([]byte, headerLen+int(n))
	copy(msg, h[:])
	if got, err := io.ReadFull(r, msg[headerLen:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &DecodeError{Offset: headerLen + got, Tag: tag, Err: ErrTruncated}
		}
		return nil, err
	}
	return msg, nil
}
