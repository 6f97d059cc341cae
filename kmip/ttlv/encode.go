package ttlv

import (
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf8"
)

// Encode returns the TTLV encoding of it. It fails with an *EncodeError when
// a tag is out of range, a Value's Go type does not match its Type, a text
// is not valid UTF-8, or a Big Integer's length is not a positive multiple
// of 8.
func Encode(it Item) ([]byte, error) { return AppendEncode(nil, it) }

// AppendEncode appends the TTLV encoding of it to dst.
func AppendEncode(dst []byte, it Item) ([]byte, error) {
	return appendItem(dst, it, 1, false)
}

// maxEncodeDepth bounds recursion when encoding caller-built items.
const maxEncodeDepth = 256

func appendItem(dst []byte, it Item, depth int, anyTag bool) ([]byte, error) {
	fail := func(err error) ([]byte, error) { return nil, &EncodeError{Tag: it.Tag, Err: err} }
	if !it.Tag.valid() && !(anyTag && it.Tag <= 0xFFFFFF) {
		return fail(ErrBadTag)
	}
	start := len(dst)
	dst = append(dst, byte(it.Tag>>16), byte(it.Tag>>8), byte(it.Tag), byte(it.Type), 0, 0, 0, 0)
	var ok bool
	switch it.Type {
	case TypeStructure:
		if depth > maxEncodeDepth {
			return fail(ErrTooDeep)
		}
		var items []Item
		if items, ok = it.Value.([]Item); ok || it.Value == nil {
			ok = true
			for _, c := range items {
				var err error
				if dst, err = appendItem(dst, c, depth+1, anyTag || it.Tag == TagVendorExtension); err != nil {
					return nil, err
				}
			}
		}
	case TypeInteger:
		var v int32
		if v, ok = it.Value.(int32); ok {
			dst = binary.BigEndian.AppendUint32(dst, uint32(v))
		}
	case TypeLongInteger:
		var v int64
		if v, ok = it.Value.(int64); ok {
			dst = binary.BigEndian.AppendUint64(dst, uint64(v))
		}
	case TypeBigInteger:
		var v []byte
		if v, ok = it.Value.([]byte); ok {
			if len(v) == 0 || len(v)%8 != 0 {
				return fail(ErrBadLength)
			}
			dst = append(dst, v...)
		}
	case TypeEnumeration, TypeInterval:
		var v uint32
		if v, ok = it.Value.(uint32); ok {
			dst = binary.BigEndian.AppendUint32(dst, v)
		}
	case TypeBoolean:
		var v bool
		if v, ok = it.Value.(bool); ok {
			var u uint64
			if v {
				u = 1
			}
			dst = binary.BigEndian.AppendUint64(dst, u)
		}
	case TypeTextString:
		var v string
		if v, ok = it.Value.(string); ok {
			if !utf8.ValidString(v) {
				return fail(ErrBadUTF8)
			}
			dst = append(dst, v...)
		}
	case TypeByteString:
		var v []byte
		if v, ok = it.Value.([]byte); ok || it.Value == nil {
			ok = true
			dst = append(dst, v...)
		}
	case TypeDateTime:
		var v time.Time
		if v, ok = it.Value.(time.Time); ok {
			dst = binary.BigEndian.AppendUint64(dst, uint64(v.Unix()))
		}
	default:
		return fail(ErrBadType)
	}
	if !ok {
		return fail(fmt.Errorf("%w: %s holds %T", ErrBadValue, it.Type, it.Value))
	}
	n := len(dst) - start - headerLen
	if uint64(n) > 0xFFFFFFFF {
		return fail(ErrTooLarge)
	}
	binary.BigEndian.PutUint32(dst[start+4:], uint32(n))
	for range pad(n) {
		dst = append(dst, 0)
	}
	return dst, nil
}
