package kmip

import (
	"time"

	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// TagString returns the XML name of a known tag ("UniqueIdentifier"), or the
// tag in hex ("0x540001") otherwise.
func TagString(t ttlv.Tag) string {
	if n, ok := tagNames[t]; ok {
		return n
	}
	return t.String()
}

// reader consumes the children of one structure in specification order.
// Every accessor takes the next child only when it has the requested tag; a
// child with the right tag and the wrong type, a second occurrence of a
// single field, a missing required field, and (in done) any child left over
// are errors. The first error is kept in *err, shared by nested readers, and
// later calls become no-ops returning zero values.
type reader struct {
	tag   ttlv.Tag
	items []ttlv.Item
	i     int
	asked map[ttlv.Tag]bool
	err   *error
}

func newReader(it ttlv.Item) (*reader, error) {
	var err error
	r := &reader{err: &err}
	r.open(it)
	return r, err
}

func (r *reader) open(it ttlv.Item) {
	r.tag = it.Tag
	if it.Type != ttlv.TypeStructure {
		r.fail(errorf(ResultReasonInvalidMessage, ErrWrongType, "%s: is %s, want Structure", TagString(it.Tag), it.Type))
		return
	}
	r.items = it.Items()
}

// child returns a reader over it sharing r's error.
func (r *reader) child(it ttlv.Item) *reader {
	c := &reader{err: r.err}
	if *r.err == nil {
		c.open(it)
	}
	return c
}

func (r *reader) failed() bool { return *r.err != nil }

func (r *reader) fail(e *Error) {
	if *r.err == nil {
		*r.err = e
	}
}

func (r *reader) failf(reason ResultReason, cause error, field ttlv.Tag, format string, args ...any) {
	if *r.err != nil {
		return
	}
	msg := TagString(r.tag) + "." + TagString(field)
	if format != "" {
		msg += ": " + sprintf(format, args...)
	}
	r.fail(errorf(reason, cause, "%s", msg))
}

// peek reports whether the next child has tag.
func (r *reader) peek(tag ttlv.Tag) bool {
	return !r.failed() && r.i < len(r.items) && r.items[r.i].Tag == tag
}

func (r *reader) mark(tag ttlv.Tag) {
	if r.asked == nil {
		r.asked = make(map[ttlv.Tag]bool, 8)
	}
	r.asked[tag] = true
}

// next takes the next child if it has tag and type typ. With single set, a
// following child with the same tag is a duplicate.
func (r *reader) next(tag ttlv.Tag, typ ttlv.Type, required, single bool) (ttlv.Item, bool) {
	if r.failed() {
		return ttlv.Item{}, false
	}
	r.mark(tag)
	if !r.peek(tag) {
		if required {
			r.failf(ResultReasonInvalidMessage, ErrMissingField, tag, "")
		}
		return ttlv.Item{}, false
	}
	it := r.items[r.i]
	if it.Type != typ {
		r.failf(ResultReasonInvalidMessage, ErrWrongType, tag, "is %s, want %s", it.Type, typ)
		return ttlv.Item{}, false
	}
	r.i++
	if single && r.peek(tag) {
		r.failf(ResultReasonInvalidMessage, ErrDuplicateField, tag, "")
		return ttlv.Item{}, false
	}
	return it, true
}

// all takes every consecutive child with tag (each of type typ).
func (r *reader) all(tag ttlv.Tag, typ ttlv.Type) []ttlv.Item {
	var out []ttlv.Item
	r.mark(tag)
	for r.peek(tag) {
		it, ok := r.next(tag, typ, false, false)
		if !ok {
			return nil
		}
		out = append(out, it)
	}
	return out
}

// done fails if any child is left over: a field seen before is duplicated
// or misplaced (Invalid Message); any other is unknown here (Invalid Field).
func (r *reader) done() {
	if r.failed() || r.i >= len(r.items) {
		return
	}
	it := r.items[r.i]
	switch {
	case r.asked[it.Tag]:
		r.failf(ResultReasonInvalidMessage, ErrMisplacedField, it.Tag, "")
	default:
		r.failf(ResultReasonInvalidField, ErrUnknownField, it.Tag, "")
	}
}

// Typed accessors. req* fail when the field is absent; opt* return nil.

func (r *reader) reqText(tag ttlv.Tag) string {
	it, _ := r.next(tag, ttlv.TypeTextString, true, true)
	s, _ := it.Value.(string)
	return s
}

func (r *reader) optText(tag ttlv.Tag) *string {
	it, ok := r.next(tag, ttlv.TypeTextString, false, true)
	if !ok {
		return nil
	}
	s, _ := it.Value.(string)
	return &s
}

func (r *reader) texts(tag ttlv.Tag) []string {
	var out []string
	for _, it := range r.all(tag, ttlv.TypeTextString) {
		s, _ := it.Value.(string)
		out = append(out, s)
	}
	return out
}

// uid reads an optional Unique Identifier-like text field, where "" means
// absent; an empty string on the wire is therefore refused.
func (r *reader) uid(tag ttlv.Tag, required bool) string {
	it, ok := r.next(tag, ttlv.TypeTextString, required, true)
	if !ok {
		return ""
	}
	s, _ := it.Value.(string)
	if s == "" {
		r.failf(ResultReasonInvalidField, ErrInvalidValue, tag, "empty")
	}
	return s
}

func (r *reader) uids(tag ttlv.Tag) []string {
	out := r.texts(tag)
	for _, s := range out {
		if s == "" {
			r.failf(ResultReasonInvalidField, ErrInvalidValue, tag, "empty")
		}
	}
	return out
}

func (r *reader) reqInt(tag ttlv.Tag) int32 {
	it, _ := r.next(tag, ttlv.TypeInteger, true, true)
	v, _ := it.Value.(int32)
	return v
}

func (r *reader) optInt(tag ttlv.Tag) *int32 {
	it, ok := r.next(tag, ttlv.TypeInteger, false, true)
	if !ok {
		return nil
	}
	v, _ := it.Value.(int32)
	return &v
}

func (r *reader) reqLong(tag ttlv.Tag) int64 {
	it, _ := r.next(tag, ttlv.TypeLongInteger, true, true)
	v, _ := it.Value.(int64)
	return v
}

func (r *reader) optLong(tag ttlv.Tag) *int64 {
	it, ok := r.next(tag, ttlv.TypeLongInteger, false, true)
	if !ok {
		return nil
	}
	v, _ := it.Value.(int64)
	return &v
}

func (r *reader) reqBool(tag ttlv.Tag) bool {
	it, _ := r.next(tag, ttlv.TypeBoolean, true, true)
	v, _ := it.Value.(bool)
	return v
}

func (r *reader) optBool(tag ttlv.Tag) *bool {
	it, ok := r.next(tag, ttlv.TypeBoolean, false, true)
	if !ok {
		return nil
	}
	v, _ := it.Value.(bool)
	return &v
}

func (r *reader) reqBytes(tag ttlv.Tag) []byte {
	it, _ := r.next(tag, ttlv.TypeByteString, true, true)
	v, _ := it.Value.([]byte)
	if v == nil {
		v = []byte{}
	}
	return v
}

// optBytes returns nil when absent and a non-nil slice (possibly empty)
// when present.
func (r *reader) optBytes(tag ttlv.Tag) []byte {
	it, ok := r.next(tag, ttlv.TypeByteString, false, true)
	if !ok {
		return nil
	}
	v, _ := it.Value.([]byte)
	if v == nil {
		v = []byte{}
	}
	return v
}

func (r *reader) reqBig(tag ttlv.Tag) []byte {
	it, _ := r.next(tag, ttlv.TypeBigInteger, true, true)
	v, _ := it.Value.([]byte)
	return v
}

func (r *reader) optBig(tag ttlv.Tag) []byte {
	it, ok := r.next(tag, ttlv.TypeBigInteger, false, true)
	if !ok {
		return nil
	}
	v, _ := it.Value.([]byte)
	return v
}

func (r *reader) reqTime(tag ttlv.Tag) time.Time {
	it, _ := r.next(tag, ttlv.TypeDateTime, true, true)
	v, _ := it.Value.(time.Time)
	return v
}

func (r *reader) optTime(tag ttlv.Tag) *time.Time {
	it, ok := r.next(tag, ttlv.TypeDateTime, false, true)
	if !ok {
		return nil
	}
	v, _ := it.Value.(time.Time)
	return &v
}

func (r *reader) reqInterval(tag ttlv.Tag) uint32 {
	it, _ := r.next(tag, ttlv.TypeInterval, true, true)
	v, _ := it.Value.(uint32)
	return v
}

func (r *reader) optInterval(tag ttlv.Tag) *uint32 {
	it, ok := r.next(tag, ttlv.TypeInterval, false, true)
	if !ok {
		return nil
	}
	v, _ := it.Value.(uint32)
	return &v
}

// optStruct returns a child reader for an optional structure field, or nil.
func (r *reader) optStruct(tag ttlv.Tag) *reader {
	it, ok := r.next(tag, ttlv.TypeStructure, false, true)
	if !ok {
		return nil
	}
	return r.child(it)
}

// reqStruct returns a child reader for a required structure field; on
// failure the reader is empty and the error recorded.
func (r *reader) reqStruct(tag ttlv.Tag) *reader {
	it, ok := r.next(tag, ttlv.TypeStructure, true, true)
	if !ok {
		return &reader{err: r.err, tag: tag}
	}
	return r.child(it)
}

// structs returns child readers for a repeated structure field.
func (r *reader) structs(tag ttlv.Tag) []*reader {
	var out []*reader
	for _, it := range r.all(tag, ttlv.TypeStructure) {
		out = append(out, r.child(it))
	}
	return out
}

func reqEnum[E ~uint32](r *reader, tag ttlv.Tag) E {
	it, _ := r.next(tag, ttlv.TypeEnumeration, true, true)
	v, _ := it.Value.(uint32)
	return E(v)
}

func optEnum[E ~uint32](r *reader, tag ttlv.Tag) *E {
	it, ok := r.next(tag, ttlv.TypeEnumeration, false, true)
	if !ok {
		return nil
	}
	v, _ := it.Value.(uint32)
	e := E(v)
	return &e
}

func enums[E ~uint32](r *reader, tag ttlv.Tag) []E {
	var out []E
	for _, it := range r.all(tag, ttlv.TypeEnumeration) {
		v, _ := it.Value.(uint32)
		out = append(out, E(v))
	}
	return out
}

func optMask[M ~uint32](r *reader, tag ttlv.Tag) *M {
	p := r.optInt(tag)
	if p == nil {
		return nil
	}
	m := M(uint32(*p))
	return &m
}

// raw takes the next child with tag whatever its type.
func (r *reader) optRaw(tag ttlv.Tag) *ttlv.Item {
	if r.failed() {
		return nil
	}
	r.mark(tag)
	if !r.peek(tag) {
		return nil
	}
	it := r.items[r.i]
	r.i++
	if r.peek(tag) {
		r.failf(ResultReasonInvalidMessage, ErrDuplicateField, tag, "")
		return nil
	}
	return &it
}
