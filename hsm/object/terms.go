package object

import (
	"strconv"
	"time"
)

// Index term names. Terms never contain secret material: only names,
// groups, owner, type, state and the values of text, integer and
// enumeration custom attributes.
const (
	TermType  = "type"
	TermState = "state"
	TermName  = "name"
	TermGroup = "group"
	TermOwner = "owner"
	// TermAttrPrefix prefixes custom attribute terms: "attr:x-Vendor".
	TermAttrPrefix = "attr:"
)

// MaxIndexedLen bounds the length of an indexed term value; longer names,
// groups and custom values are not indexed (Locate then filters them on
// the candidates).
const MaxIndexedLen = 1024

// Indexed reports whether the term value v is short enough to be indexed.
func Indexed(v string) bool { return len(v) <= MaxIndexedLen }

// Term is one index term (mirrors store.Term without importing it).
type Term struct {
	Name, Value string
}

// IndexTerms returns the index terms of o as of now.
func IndexTerms(o *Object, now time.Time) []Term {
	ts := []Term{
		{TermType, strconv.FormatUint(uint64(o.Type), 10)},
		{TermOwner, o.Owner},
	}
	if o.Type.Cryptographic() {
		ts = append(ts, Term{TermState, strconv.FormatUint(uint64(o.EffectiveState(now)), 10)})
	}
	for _, a := range o.Attrs {
		switch {
		case a.Name == AttrName:
			if v := a.Value.(Name).Value; Indexed(v) {
				ts = append(ts, Term{TermName, v})
			}
		case a.Name == AttrObjectGroup:
			if v := a.Value.(string); Indexed(v) {
				ts = append(ts, Term{TermGroup, v})
			}
		case IsCustom(a.Name):
			if v, ok := TermValue(a.Value); ok && Indexed(v) {
				ts = append(ts, Term{TermAttrPrefix + a.Name, v})
			}
		}
	}
	return ts
}

// TermValue returns the index form of a custom attribute value, for the
// kinds that are indexed (text, integers, enumerations, booleans).
func TermValue(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return "s:" + v, true
	case int32:
		return "i:" + strconv.FormatInt(int64(v), 10), true
	case int64:
		return "l:" + strconv.FormatInt(v, 10), true
	case bool:
		return "b:" + strconv.FormatBool(v), true
	}
	if e, ok := EnumValue(v); ok {
		return "e:" + strconv.FormatUint(uint64(e), 10), true
	}
	return "", false
}
