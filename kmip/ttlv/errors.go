package ttlv

import (
	"errors"
	"fmt"
)

// Sentinel errors, wrapped in a *DecodeError (or returned by Encode).
var (
	ErrTruncated    = errors.New("truncated item")
	ErrTrailingData = errors.New("trailing data after the top-level item")
	ErrBadLength    = errors.New("invalid length")
	ErrBadPadding   = errors.New("non-zero padding")
	ErrBadType      = errors.New("invalid item type")
	ErrBadTag       = errors.New("invalid tag")
	ErrBadBoolean   = errors.New("boolean is neither 0 nor 1")
	ErrBadUTF8      = errors.New("text string is not valid UTF-8")
	ErrTooLarge     = errors.New("message exceeds the size limit")
	ErrTooDeep      = errors.New("structures nested too deeply")
	ErrTooManyItems = errors.New("too many items")
	ErrBadValue     = errors.New("value does not match the item type")
)

// DecodeError describes why input is not a valid TTLV message.
type DecodeError struct {
	Offset int // byte offset of the item (or header) at fault
	Tag    Tag // its tag, when it was read (0 otherwise)
	Err    error
}

func (e *DecodeError) Error() string {
	if e.Tag != 0 {
		return fmt.Sprintf("ttlv: offset %d, tag %v: %v", e.Offset, e.Tag, e.Err)
	}
	return fmt.Sprintf("ttlv: offset %d: %v", e.Offset, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// EncodeError describes an Item that cannot be encoded.
type EncodeError struct {
	Tag Tag
	Err error
}

func (e *EncodeError) Error() string { return fmt.Sprintf("ttlv: encoding tag %v: %v", e.Tag, e.Err) }

func (e *EncodeError) Unwrap() error { return e.Err }
