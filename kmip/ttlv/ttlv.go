// Package ttlv is a strict, bounded codec for KMIP's Tag-Type-Length-Value
// encoding (KMIP 1.1 section 9.1). It uses only the standard library.
//
// Decoding is strict: fixed-size values must have their exact length,
// padding bytes must be zero, Booleans must be 0 or 1, text must be valid
// UTF-8, structure lengths must fit their parent, and nothing may follow the
// top-level item. It is bounded: the message size is checked against
// Limits.MaxMessageSize from the 8-byte header before anything is allocated,
// and nesting depth and item count are capped. Every decoding failure is a
// *DecodeError carrying the byte offset and tag.
//
// A successful Decode followed by Encode reproduces the input exactly.
package ttlv

import (
	"fmt"
	"time"
)

// Tag is a 3-byte KMIP tag such as 0x420069. Tags defined by the
// specification start with 0x42, extension tags with 0x54.
type Tag uint32

// String returns the tag in hex, e.g. "0x420069".
func (t Tag) String() string { return fmt.Sprintf("0x%06X", uint32(t)) }

// TagVendorExtension is the KMIP Vendor Extension structure (KMIP 1.1
// section 6.16). Its contents are defined by the vendor, so the items inside
// it may carry any 3-byte tag: the OASIS test cases 7.1 and 7.2 send tag
// 0x014242 there. Everywhere else tags must be in the 0x42 or 0x54 range.
const TagVendorExtension Tag = 0x42009C

// valid reports whether t is a 3-byte tag in the 0x42 or 0x54 range.
func (t Tag) valid() bool {
	return t <= 0xFFFFFF && (t>>16 == 0x42 || t>>16 == 0x54)
}

// Type is a TTLV item type.
type Type uint8

// Item types (KMIP 1.1 section 9.1.1.2).
const (
	TypeStructure   Type = 0x01
	TypeInteger     Type = 0x02
	TypeLongInteger Type = 0x03
	TypeBigInteger  Type = 0x04
	TypeEnumeration Type = 0x05
	TypeBoolean     Type = 0x06
	TypeTextString  Type = 0x07
	TypeByteString  Type = 0x08
	TypeDateTime    Type = 0x09
	TypeInterval    Type = 0x0A
)

var typeNames = [...]string{
	TypeStructure:   "Structure",
	TypeInteger:     "Integer",
	TypeLongInteger: "LongInteger",
	TypeBigInteger:  "BigInteger",
	TypeEnumeration: "Enumeration",
	TypeBoolean:     "Boolean",
	TypeTextString:  "TextString",
	TypeByteString:  "ByteString",
	TypeDateTime:    "DateTime",
	TypeInterval:    "Interval",
}

// String returns the type's name, e.g. "TextString".
func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(0x%02X)", uint8(t))
}

// fixedLen returns the exact value length of fixed-size types, or -1.
func (t Type) fixedLen() int {
	switch t {
	case TypeInteger, TypeEnumeration, TypeInterval:
		return 4
	case TypeLongInteger, TypeBoolean, TypeDateTime:
		return 8
	}
	return -1
}

// Item is one TTLV item. The Go type of Value depends on Type:
//
//	Structure    []Item
//	Integer      int32
//	LongInteger  int64
//	BigInteger   []byte    two's complement, big-endian, exactly as on the
//	                       wire (length a multiple of 8)
//	Enumeration  uint32
//	Boolean      bool
//	TextString   string    valid UTF-8
//	ByteString   []byte
//	DateTime     time.Time whole seconds; decoded values are in UTC
//	Interval     uint32
type Item struct {
	Tag   Tag
	Type  Type
	Value any
}

// Struct returns a Structure item holding items.
func Struct(tag Tag, items ...Item) Item { return Item{tag, TypeStructure, items} }

// Int returns an Integer item.
func Int(tag Tag, v int32) Item { return Item{tag, TypeInteger, v} }

// Long returns a Long Integer item.
func Long(tag Tag, v int64) Item { return Item{tag, TypeLongInteger, v} }

// BigInt returns a Big Integer item from its two's-complement big-endian
// wire form, whose length must be a multiple of 8.
func BigInt(tag Tag, twos []byte) Item { return Item{tag, TypeBigInteger, twos} }

// Enum returns an Enumeration item.
func Enum(tag Tag, v uint32) Item { return Item{tag, TypeEnumeration, v} }

// Bool returns a Boolean item.
func Bool(tag Tag, v bool) Item { return Item{tag, TypeBoolean, v} }

// Text returns a Text String item.
func Text(tag Tag, s string) Item { return Item{tag, TypeTextString, s} }

// Bytes returns a Byte String item.
func Bytes(tag Tag, b []byte) Item { return Item{tag, TypeByteString, b} }

// DateTime returns a Date-Time item; sub-second precision is dropped on
// encoding.
func DateTime(tag Tag, t time.Time) Item { return Item{tag, TypeDateTime, t} }

// Interval returns an Interval item (seconds).
func Interval(tag Tag, v uint32) Item { return Item{tag, TypeInterval, v} }

// Items returns the children of a Structure, or nil for any other item.
func (it Item) Items() []Item {
	if it.Type != TypeStructure {
		return nil
	}
	items, _ := it.Value.([]Item)
	return items
}

// Find returns the first direct child with the given tag.
func (it Item) Find(tag Tag) (Item, bool) {
	for _, c := range it.Items() {
		if c.Tag == tag {
			return c, true
		}
	}
	return Item{}, false
}

// FindAll returns every direct child with the given tag.
func (it Item) FindAll(tag Tag) []Item {
	var out []Item
	for _, c := range it.Items() {
		if c.Tag == tag {
			out = append(out, c)
		}
	}
	return out
}

// Equal reports whether it and o have the same tags, types and values,
// recursively. Date-Times compare by their encoded second.
func (it Item) Equal(o Item) bool {
	if it.Tag != o.Tag || it.Type != o.Type {
		return false
	}
	switch a := it.Value.(type) {
	case []Item:
		b, ok := o.Value.([]Item)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !a[i].Equal(b[i]) {
				return false
			}
		}
		return true
	case []byte:
		b, ok := o.Value.([]byte)
		return ok && string(a) == string(b)
	case time.Time:
		b, ok := o.Value.(time.Time)
		return ok && a.Unix() == b.Unix()
	default:
		return it.Value == o.Value
	}
}
