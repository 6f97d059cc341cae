package kmip

import (
	"time"

	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// builder collects the children of one structure in order. opt* methods
// skip nil (absent) values.
type builder struct{ items []ttlv.Item }

func (b *builder) add(it ttlv.Item) { b.items = append(b.items, it) }

func (b *builder) structure(tag ttlv.Tag) ttlv.Item { return ttlv.Struct(tag, b.items...) }

func (b *builder) text(tag ttlv.Tag, s string) { b.add(ttlv.Text(tag, s)) }

func (b *builder) optText(tag ttlv.Tag, s *string) {
	if s != nil {
		b.text(tag, *s)
	}
}

// uid writes a Unique Identifier-like field unless it is "" (absent).
func (b *builder) uid(tag ttlv.Tag, s string) {
	if s != "" {
		b.text(tag, s)
	}
}

func (b *builder) texts(tag ttlv.Tag, ss []string) {
	for _, s := range ss {
		b.text(tag, s)
	}
}

func (b *builder) int(tag ttlv.Tag, v int32) { b.add(ttlv.Int(tag, v)) }

func (b *builder) optInt(tag ttlv.Tag, v *int32) {
	if v != nil {
		b.int(tag, *v)
	}
}

func (b *builder) long(tag ttlv.Tag, v int64) { b.add(ttlv.Long(tag, v)) }

func (b *builder) optLong(tag ttlv.Tag, v *int64) {
	if v != nil {
		b.long(tag, *v)
	}
}

func (b *builder) bool(tag ttlv.Tag, v bool) { b.add(ttlv.Bool(tag, v)) }

func (b *builder) optBool(tag ttlv.Tag, v *bool) {
	if v != nil {
		b.bool(tag, *v)
	}
}

func (b *builder) bytes(tag ttlv.Tag, v []byte) { b.add(ttlv.Bytes(tag, v)) }

// optBytes writes v unless it is nil (an empty non-nil slice is written).
func (b *builder) optBytes(tag ttlv.Tag, v []byte) {
	if v != nil {
		b.bytes(tag, v)
	}
}

func (b *builder) big(tag ttlv.Tag, v []byte) { b.add(ttlv.BigInt(tag, v)) }

func (b *builder) optBig(tag ttlv.Tag, v []byte) {
	if v != nil {
		b.big(tag, v)
	}
}

func (b *builder) time(tag ttlv.Tag, t time.Time) { b.add(ttlv.DateTime(tag, t)) }

func (b *builder) optTime(tag ttlv.Tag, t *time.Time) {
	if t != nil {
		b.time(tag, *t)
	}
}

func (b *builder) interval(tag ttlv.Tag, v uint32) { b.add(ttlv.Interval(tag, v)) }

func (b *builder) optInterval(tag ttlv.Tag, v *uint32) {
	if v != nil {
		b.interval(tag, *v)
	}
}

func (b *builder) enum(tag ttlv.Tag, v uint32) { b.add(ttlv.Enum(tag, v)) }

func optEnumB[E ~uint32](b *builder, tag ttlv.Tag, v *E) {
	if v != nil {
		b.enum(tag, uint32(*v))
	}
}

func enumsB[E ~uint32](b *builder, tag ttlv.Tag, vs []E) {
	for _, v := range vs {
		b.enum(tag, uint32(v))
	}
}

func optMaskB[M ~uint32](b *builder, tag ttlv.Tag, v *M) {
	if v != nil {
		b.int(tag, int32(uint32(*v)))
	}
}

// sub builds a nested structure with fn and appends it.
func (b *builder) sub(tag ttlv.Tag, fn func(*builder)) {
	var c builder
	fn(&c)
	b.add(c.structure(tag))
}
