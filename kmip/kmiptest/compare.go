package kmiptest

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// Tags the harness interprets.
const (
	tagAsyncCorrelation  ttlv.Tag = 0x420006
	tagBatchItem         ttlv.Tag = 0x42000F
	tagLinkedObjectID    ttlv.Tag = 0x42004C
	tagObjectType        ttlv.Tag = 0x420057
	tagOperation         ttlv.Tag = 0x42005C
	tagPrivateKeyUID     ttlv.Tag = 0x420066
	tagProtocolVersion   ttlv.Tag = 0x420069
	tagProtocolMajor     ttlv.Tag = 0x42006A
	tagProtocolMinor     ttlv.Tag = 0x42006B
	tagPublicKeyUID      ttlv.Tag = 0x42006F
	tagResponseHeader    ttlv.Tag = 0x42007A
	tagResponsePayload   ttlv.Tag = 0x42007C
	tagResultMessage     ttlv.Tag = 0x42007D
	tagResultReason      ttlv.Tag = 0x42007E
	tagResultStatus      ttlv.Tag = 0x42007F
	tagTimeStamp         ttlv.Tag = 0x420092
	tagUniqueIdentifier  ttlv.Tag = 0x420094
	tagRequestHeader     ttlv.Tag = 0x420077
	tagResponseMessage   ttlv.Tag = 0x42007B
	tagRequestMessage    ttlv.Tag = 0x420078
	tagUniqueBatchItemID ttlv.Tag = 0x420093
)

// Operations whose response payloads are compared by subset rules.
const (
	opLocate           uint32 = 0x08
	opGetAttributes    uint32 = 0x0B
	opGetAttributeList uint32 = 0x0C
	opQuery            uint32 = 0x18
	opDiscoverVersions uint32 = 0x1E
)

const resultSuccess uint32 = 0

// maxDiffs caps the differences reported for one step.
const maxDiffs = 20

// serverOptional names attributes a conforming server may not keep, so Get
// Attributes and Get Attribute List need not return them.
var serverOptional = []string{"Digest", "Lease Time", "Last Change Date"}

// isIDTag reports whether values of tag are server-assigned identifiers.
func isIDTag(t ttlv.Tag) bool {
	switch t {
	case tagUniqueIdentifier, tagPrivateKeyUID, tagPublicKeyUID, tagLinkedObjectID, tagAsyncCorrelation:
		return true
	}
	return false
}

// isPlaceholder reports whether v is an XML identifier placeholder.
func isPlaceholder(v string) bool {
	return strings.HasPrefix(v, "$UNIQUE_IDENTIFIER_") || v == "$ASYNCHRONOUS_CORRELATION_VALUE"
}

// session is the state of one case run: the identifier mapping learnt so
// far and the clock adjustments.
type session struct {
	reg   *registry
	ids   map[string]string // vector identifier → server identifier (Byte Strings as string)
	rev   map[string]string // server identifier → vector identifier
	shift time.Duration     // added to the vector's Date-Times (hex cases)
	now   time.Time         // XML $NOW
	tol   time.Duration     // accepted distance of a response $NOW
}

func newSession(reg *registry) *session {
	return &session{reg: reg, ids: map[string]string{}, rev: map[string]string{}}
}

// comparer compares one actual response with a step's expected response.
type comparer struct {
	s      *session
	st     *Step
	diffs  []string
	status []string // result status mismatches, reported first
}

func (c *comparer) diff(path, format string, a ...any) {
	if len(c.diffs) < maxDiffs {
		c.diffs = append(c.diffs, path+": "+fmt.Sprintf(format, a...))
	} else if len(c.diffs) == maxDiffs {
		c.diffs = append(c.diffs, "(further differences not shown)")
	}
}

// compareResponse returns the differences between the step's expected
// response and act, learning server identifiers on the way.
func (s *session) compareResponse(st *Step, act ttlv.Item) []string {
	c := &comparer{s: s, st: st}
	c.item(st.Response, act, "", s.reg.tagName(st.Response.Tag))
	if len(c.status) == 0 {
		return c.diffs
	}
	return append(c.status, slices.DeleteFunc(c.diffs, func(d string) bool { return slices.Contains(c.status, d) })...)
}

func strValue(it ttlv.Item) (string, bool) {
	switch v := it.Value.(type) {
	case string:
		return v, it.Type == ttlv.TypeTextString
	case []byte:
		return string(v), it.Type == ttlv.TypeByteString
	}
	return "", false
}

// learn records that the server's identifier for vector identifier ev is av.
func (c *comparer) learn(path string, e ttlv.Item, ev, av string) {
	if ev == "" {
		return // nothing to substitute later
	}
	if av == "" {
		c.diff(path, "empty identifier where the vector has %s", c.fmt(e))
		return
	}
	if prev, ok := c.s.rev[av]; ok && prev != ev {
		c.diff(path, "server returned identifier %s again, but the vector has a different object here (%s, earlier %s)", quote(e, av), quote(e, ev), quote(e, prev))
		return
	}
	c.s.ids[ev] = av
	c.s.rev[av] = ev
}

func quote(it ttlv.Item, v string) string {
	if it.Type == ttlv.TypeByteString {
		return hexShort([]byte(v))
	}
	return strconv.Quote(v)
}

func (c *comparer) item(e, a ttlv.Item, key, path string) {
	if e.Tag != a.Tag {
		c.diff(path, "expected tag %s, got %s", c.s.reg.tagName(e.Tag), c.s.reg.tagName(a.Tag))
		return
	}
	if e.Type != a.Type {
		c.diff(path, "expected type %v, got %v (%s)", e.Type, a.Type, c.fmt(a))
		return
	}
	if ev, ok := strValue(e); ok {
		av, _ := strValue(a)
		if mapped, ok := c.s.ids[ev]; ok {
			if av != mapped {
				c.diff(path, "wrong identifier: expected the server's %s (vector %s), got %s", quote(e, mapped), quote(e, ev), quote(e, av))
			}
			return
		}
		if (c.st.masked[key] && isIDTag(e.Tag)) || isPlaceholder(ev) {
			c.learn(path, e, ev, av)
			return
		}
	}
	if off, ok := c.st.respNow[key]; ok {
		want := c.s.now.Add(time.Duration(off) * time.Second)
		got, _ := a.Value.(time.Time)
		if d := got.Sub(want); d > c.s.tol || d < -c.s.tol {
			c.diff(path, "expected $NOW%+d (%s, within %v), got %s", off, want.UTC().Format(time.RFC3339), c.s.tol, got.UTC().Format(time.RFC3339))
		}
		return
	}
	if c.st.masked[key] {
		return
	}
	switch {
	case e.Type == ttlv.TypeStructure && e.Tag == tagBatchItem:
		c.batchItem(e, a, key, path)
	case e.Type == ttlv.TypeStructure && e.Tag == tagResponseHeader:
		// The Time Stamp is required but always the server's own.
		c.children(e, a, key, path, nil, map[ttlv.Tag]func(e, a ttlv.Item, key, path string){
			tagTimeStamp: func(e, a ttlv.Item, key, path string) {
				if a.Type != ttlv.TypeDateTime {
					c.diff(path, "expected type %v, got %v", ttlv.TypeDateTime, a.Type)
				}
			},
		})
	case e.Type == ttlv.TypeStructure:
		c.children(e, a, key, path, nil, nil)
	default:
		if !c.primitiveEqual(e, a) {
			c.diff(path, "expected %s, got %s", c.fmtShifted(e), c.fmt(a))
		}
	}
}

// primitiveEqual compares two primitive items of the same tag and type; the
// vector's Date-Times are shifted to the server's clock.
func (c *comparer) primitiveEqual(e, a ttlv.Item) bool {
	if e.Type == ttlv.TypeDateTime {
		et, _ := e.Value.(time.Time)
		at, _ := a.Value.(time.Time)
		return et.Add(c.s.shift).Unix() == at.Unix()
	}
	return e.Equal(a)
}

// children compares the children of two structures in order. Tags in
// optional may be absent on either side and are not compared; custom
// handles the children of the given tags itself.
func (c *comparer) children(e, a ttlv.Item, key, path string, optional map[ttlv.Tag]bool, custom map[ttlv.Tag]func(e, a ttlv.Item, key, path string)) {
	ek, ak := e.Items(), a.Items()
	counts := map[ttlv.Tag]int{}
	for _, k := range ek {
		counts[k.Tag]++
	}
	seen := map[ttlv.Tag]int{}
	name := func(t ttlv.Tag) string {
		n := path + "/" + c.s.reg.tagName(t)
		if counts[t] > 1 {
			n += "[" + strconv.Itoa(seen[t]) + "]"
		}
		return n
	}
	i, j := 0, 0
	for i < len(ek) || j < len(ak) {
		switch {
		case i < len(ek) && optional[ek[i].Tag] && (j >= len(ak) || ak[j].Tag != ek[i].Tag):
			seen[ek[i].Tag]++
			i++
		case j < len(ak) && optional[ak[j].Tag] && (i >= len(ek) || ek[i].Tag != ak[j].Tag):
			j++
		case i >= len(ek):
			c.diff(path+"/"+c.s.reg.tagName(ak[j].Tag), "unexpected item %s", c.fmt(ak[j]))
			j++
		case j >= len(ak):
			c.diff(name(ek[i].Tag), "missing (expected %s)", c.fmtShifted(ek[i]))
			seen[ek[i].Tag]++
			i++
		case ek[i].Tag != ak[j].Tag:
			c.diff(name(ek[i].Tag), "expected %s, got %s %s; rest of %s not compared",
				c.s.reg.tagName(ek[i].Tag), c.s.reg.tagName(ak[j].Tag), c.fmt(ak[j]), path)
			return
		default:
			k := childKey(key, i)
			if f := custom[ek[i].Tag]; f != nil {
				f(ek[i], ak[j], k, name(ek[i].Tag))
			} else if !optional[ek[i].Tag] {
				c.item(ek[i], ak[j], k, name(ek[i].Tag))
			}
			seen[ek[i].Tag]++
			i++
			j++
		}
	}
}

func enumOf(it ttlv.Item, tag ttlv.Tag) (uint32, bool) {
	f, ok := it.Find(tag)
	if !ok {
		return 0, false
	}
	v, ok := f.Value.(uint32)
	return v, ok
}

// batchItem compares one batch item: the result status first (a mismatch is
// reported with the server's reason and message and ends the comparison),
// then the other fields, with the Result Message optional and not compared
// (so is the Operation when the vector has none) and the payload of
// server-specific operations compared by subset rules.
func (c *comparer) batchItem(e, a ttlv.Item, key, path string) {
	reg := c.s.reg
	es, eok := enumOf(e, tagResultStatus)
	as, aok := enumOf(a, tagResultStatus)
	if eok && (!aok || es != as) {
		got := "no Result Status"
		if aok {
			got = reg.enumName(tagResultStatus, as)
		}
		if r, ok := enumOf(a, tagResultReason); ok {
			got += " / " + reg.enumName(tagResultReason, r)
		}
		if m, ok := a.Find(tagResultMessage); ok {
			got += fmt.Sprintf(" (%s)", c.fmt(m))
		}
		want := reg.enumName(tagResultStatus, es)
		if r, ok := enumOf(e, tagResultReason); ok {
			want += " / " + reg.enumName(tagResultReason, r)
		}
		if op, ok := enumOf(e, tagOperation); ok {
			path += " (" + reg.enumName(tagOperation, op) + ")"
		}
		c.diff(path+"/ResultStatus", "expected %s, got %s", want, got)
		if n := len(c.diffs); n > 0 && n <= maxDiffs {
			c.status = append(c.status, c.diffs[n-1])
		}
		return
	}
	custom := map[ttlv.Tag]func(e, a ttlv.Item, key, path string){}
	if op, ok := enumOf(e, tagOperation); ok && es == resultSuccess {
		switch op {
		case opLocate:
			custom[tagResponsePayload] = c.locate
		case opGetAttributes:
			custom[tagResponsePayload] = c.getAttributes
		case opGetAttributeList:
			custom[tagResponsePayload] = c.getAttributeList
		case opQuery:
			custom[tagResponsePayload] = c.query
		case opDiscoverVersions:
			custom[tagResponsePayload] = c.discoverVersions
		}
	}
	optional := map[ttlv.Tag]bool{tagResultMessage: true}
	if _, ok := e.Find(tagOperation); !ok {
		// 12.1 step 0 records a failed batch item without the Operation;
		// KMIP 1.1 lets a server echo it.
		optional[tagOperation] = true
	}
	c.children(e, a, key, path, optional, custom)
}

// locate checks a Locate payload: every expected identifier is returned, and
// no identifier of another object of this case is. Expected identifiers the
// case has not seen yet (15.1 finds a fresh object) are matched, in order,
// with returned identifiers that are not the case's own objects.
func (c *comparer) locate(e, a ttlv.Item, key, path string) {
	var got []string
	for _, it := range a.FindAll(tagUniqueIdentifier) {
		v, _ := strValue(it)
		got = append(got, v)
	}
	used := make([]bool, len(got))
	want := map[string]bool{}
	var fresh []ttlv.Item
	for _, it := range e.FindAll(tagUniqueIdentifier) {
		ev, _ := strValue(it)
		mapped, ok := c.s.ids[ev]
		if !ok {
			fresh = append(fresh, it)
			continue
		}
		want[mapped] = true
		i := slices.Index(got, mapped)
		if i < 0 {
			c.diff(path, "Locate result lacks %q (vector %q); got %q", mapped, ev, got)
			continue
		}
		used[i] = true
	}
	for i, g := range got {
		if v, ok := c.s.rev[g]; ok && !want[g] {
			c.diff(path, "Locate returned %q (the case's object %q), which the vector does not", g, v)
			used[i] = true
		}
	}
	for _, it := range fresh {
		ev, _ := strValue(it)
		i := slices.Index(used, false)
		if i < 0 {
			c.diff(path, "Locate result lacks a new identifier for vector %q; got %q", ev, got)
			continue
		}
		used[i] = true
		c.learn(path, it, ev, got[i])
	}
}

type attrKey struct {
	name  string
	index int32
}

func attributeKey(it ttlv.Item) attrKey {
	var k attrKey
	if n, ok := it.Find(tagAttributeName); ok {
		k.name, _ = n.Value.(string)
	}
	if x, ok := it.Find(tagAttributeIndex); ok {
		k.index, _ = x.Value.(int32)
	}
	return k
}

// mayBeAbsent reports whether a server may leave attribute name out of Get
// Attributes and Get Attribute List: it is server-optional, or not a KMIP
// 1.1 attribute (the 1.2-era X.509 attributes) and not a custom one.
func (c *comparer) mayBeAbsent(name string) bool {
	if slices.Contains(serverOptional, name) {
		return true
	}
	if strings.HasPrefix(name, "x-") || strings.HasPrefix(name, "y-") {
		return false
	}
	_, known := c.s.reg.tagBySpec[name]
	return !known
}

// getAttributes checks a Get Attributes payload: the same object, and every
// expected attribute (by name and index) with an equal value; extra
// attributes and order are not checked.
func (c *comparer) getAttributes(e, a ttlv.Item, key, path string) {
	c.payloadUID(e, a, key, path)
	actual := map[attrKey]ttlv.Item{}
	for _, it := range a.FindAll(tagAttribute) {
		actual[attributeKey(it)] = it
	}
	for i, it := range e.Items() {
		if it.Tag != tagAttribute {
			continue
		}
		k := attributeKey(it)
		p := fmt.Sprintf("%s/Attribute[%q,%d]", path, k.name, k.index)
		got, ok := actual[k]
		if !ok {
			if !c.mayBeAbsent(k.name) {
				c.diff(p, "missing attribute")
			}
			continue
		}
		ev, eok := it.Find(tagAttributeValue)
		av, aok := got.Find(tagAttributeValue)
		switch {
		case eok && aok:
			c.item(ev, av, childKey(childKey(key, i), slices.IndexFunc(it.Items(), func(x ttlv.Item) bool { return x.Tag == tagAttributeValue })), p+"/AttributeValue")
		case eok != aok:
			c.diff(p, "attribute value present: expected %v, got %v", eok, aok)
		}
	}
}

// payloadUID compares the Unique Identifier of a payload, if expected.
func (c *comparer) payloadUID(e, a ttlv.Item, key, path string) {
	for i, it := range e.Items() {
		if it.Tag != tagUniqueIdentifier {
			continue
		}
		got, ok := a.Find(tagUniqueIdentifier)
		if !ok {
			c.diff(path+"/UniqueIdentifier", "missing (expected %s)", c.fmt(it))
			return
		}
		c.item(it, got, childKey(key, i), path+"/UniqueIdentifier")
		return
	}
}

// getAttributeList checks a Get Attribute List payload: the same object, and
// every expected attribute name that a server must keep.
func (c *comparer) getAttributeList(e, a ttlv.Item, key, path string) {
	c.payloadUID(e, a, key, path)
	var got []string
	for _, it := range a.FindAll(tagAttributeName) {
		v, _ := it.Value.(string)
		got = append(got, v)
	}
	for _, it := range e.FindAll(tagAttributeName) {
		v, _ := it.Value.(string)
		if !slices.Contains(got, v) && !c.mayBeAbsent(v) {
			c.diff(path, "attribute name %q missing from the list %q", v, got)
		}
	}
}

// query checks a Query payload. Its values are server-specific, and Vendor
// Identification, Server Information, Extension Information and Application
// Namespaces may be empty, but a server supports some operation and some
// object type: when the vector lists Operations or Object Types, at least one
// of each must be returned.
func (c *comparer) query(e, a ttlv.Item, key, path string) {
	for _, k := range []ttlv.Tag{tagOperation, tagObjectType} {
		if _, ok := e.Find(k); !ok {
			continue
		}
		if _, ok := a.Find(k); !ok {
			c.diff(path, "Query response has no %s item", c.s.reg.tagName(k))
		}
	}
}

// discoverVersions checks that the server lists 1.1 when the vector does,
// and lists nothing when the vector lists nothing (no common version).
func (c *comparer) discoverVersions(e, a ttlv.Item, key, path string) {
	versions := func(it ttlv.Item) []string {
		var out []string
		for _, pv := range it.FindAll(tagProtocolVersion) {
			maj, _ := pv.Find(tagProtocolMajor)
			mn, _ := pv.Find(tagProtocolMinor)
			out = append(out, fmt.Sprintf("%v.%v", maj.Value, mn.Value))
		}
		return out
	}
	ev, av := versions(e), versions(a)
	switch {
	case len(ev) == 0 && len(av) != 0:
		c.diff(path, "expected no protocol version, got %v", av)
	case slices.Contains(ev, "1.1") && !slices.Contains(av, "1.1"):
		c.diff(path, "expected 1.1 among the versions, got %v", av)
	}
}

// fmt renders an item's value for a difference report.
func (c *comparer) fmt(it ttlv.Item) string {
	switch v := it.Value.(type) {
	case []ttlv.Item:
		return fmt.Sprintf("%s{%d items}", c.s.reg.tagName(it.Tag), len(v))
	case string:
		return strconv.Quote(v)
	case []byte:
		return hexShort(v)
	case time.Time:
		return v.UTC().Format(time.RFC3339)
	case uint32:
		if it.Type == ttlv.TypeEnumeration {
			return c.s.reg.enumName(it.Tag, v)
		}
		return strconv.FormatUint(uint64(v), 10)
	case nil:
		return "<nil>"
	}
	return fmt.Sprint(it.Value)
}

// fmtShifted renders an expected value as the server should return it.
func (c *comparer) fmtShifted(it ttlv.Item) string {
	if tm, ok := it.Value.(time.Time); ok && c.s.shift != 0 {
		return fmt.Sprintf("%s (vector %s shifted by %v)", tm.Add(c.s.shift).UTC().Format(time.RFC3339), tm.UTC().Format(time.RFC3339), c.s.shift)
	}
	return c.fmt(it)
}

func hexShort(b []byte) string {
	if len(b) > 32 {
		return fmt.Sprintf("%s… (%d bytes)", hex.EncodeToString(b[:32]), len(b))
	}
	return "0x" + hex.EncodeToString(b)
}
