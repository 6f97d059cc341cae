package kmiptest

import (
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// Bounds of the XML encoder: a message document, its nesting and its element
// count are capped before anything is built from them.
const (
	maxXMLSize     = 1 << 20
	maxXMLDepth    = 32
	maxXMLElements = 65536
)

// ErrBadXML is wrapped by every KMIP XML conversion failure.
var ErrBadXML = errors.New("kmiptest: invalid KMIP XML")

const (
	tagAttribute      ttlv.Tag = 0x420008
	tagAttributeName  ttlv.Tag = 0x42000A
	tagAttributeValue ttlv.Tag = 0x42000B
	tagAttributeIndex ttlv.Tag = 0x420009
)

// xmlField is a variable response field of an XML case: an element path such
// as "ResponseMessage/BatchItem/ResultMessage" and the raw value attribute
// ("" matches any value).
type xmlField struct {
	Path  string `json:"path"`
	Value string `json:"value"`
}

// converted is a KMIP XML message turned into TTLV, with the positions
// (keys, see childKey) of values that need run-time treatment.
type converted struct {
	item     ttlv.Item
	now      map[string]int64 // $NOW±n Date-Times: key → offset in seconds
	variable map[string]bool  // elements matching a variable field
}

// childKey is the position key of child i of the item at key parent. The
// root's key is "".
func childKey(parent string, i int) string { return parent + "/" + strconv.Itoa(i) }

// convertXML encodes one KMIP XML message (KMIP Additional Message Encodings
// v1.0 section 6) as a TTLV item. $NOW placeholders get a zero time and are
// listed in converted.now; $ASYNCHRONOUS_CORRELATION_VALUE in a Byte String
// becomes the bytes of the placeholder text itself; $UNIQUE_IDENTIFIER_n
// stays as text. Elements matching vars are listed in converted.variable.
func (r *registry) convertXML(src string, vars []xmlField) (converted, error) {
	if len(src) > maxXMLSize {
		return converted{}, fmt.Errorf("%w: document of %d bytes exceeds %d", ErrBadXML, len(src), maxXMLSize)
	}
	c := &xmlConv{
		reg:  r,
		dec:  xml.NewDecoder(strings.NewReader(src)),
		out:  converted{now: map[string]int64{}, variable: map[string]bool{}},
		vars: vars,
	}
	c.dec.Strict = true
	for {
		tok, err := c.dec.Token()
		if err != nil {
			return converted{}, fmt.Errorf("%w: no root element: %v", ErrBadXML, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			it, err := c.element(t, "", "", "", 1)
			if err != nil {
				return converted{}, err
			}
			if err := c.trailer(); err != nil {
				return converted{}, err
			}
			c.out.item = it
			return c.out, nil
		case xml.CharData:
			if strings.TrimSpace(string(t)) != "" {
				return converted{}, fmt.Errorf("%w: text before the root element", ErrBadXML)
			}
		case xml.ProcInst, xml.Comment, xml.Directive:
		default:
			return converted{}, fmt.Errorf("%w: unexpected %T before the root element", ErrBadXML, tok)
		}
	}
}

type xmlConv struct {
	reg      *registry
	dec      *xml.Decoder
	out      converted
	vars     []xmlField
	elements int
}

// trailer checks that only whitespace and comments follow the root element.
func (c *xmlConv) trailer() error {
	for {
		tok, err := c.dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadXML, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			if strings.TrimSpace(string(t)) != "" {
				return fmt.Errorf("%w: text after the root element", ErrBadXML)
			}
		case xml.Comment, xml.ProcInst:
		default:
			return fmt.Errorf("%w: content after the root element", ErrBadXML)
		}
	}
}

// element converts the element whose start tag is se. path is the element
// path of its parent, key its position key, attrName the Attribute Name of
// the enclosing Attribute (for Attribute Value enumerations and masks).
func (c *xmlConv) element(se xml.StartElement, parentPath, key, attrName string, depth int) (ttlv.Item, error) {
	c.elements++
	if c.elements > maxXMLElements {
		return ttlv.Item{}, fmt.Errorf("%w: more than %d elements", ErrBadXML, maxXMLElements)
	}
	if depth > maxXMLDepth {
		return ttlv.Item{}, fmt.Errorf("%w: nesting deeper than %d", ErrBadXML, maxXMLDepth)
	}
	name := se.Name.Local
	path := name
	if parentPath != "" {
		path = parentPath + "/" + name
	}
	fail := func(format string, a ...any) (ttlv.Item, error) {
		return ttlv.Item{}, fmt.Errorf("%w: %s: %s", ErrBadXML, path, fmt.Sprintf(format, a...))
	}
	var typ, value, tagAttr string
	hasValue := false
	for _, a := range se.Attr {
		switch a.Name.Local {
		case "type":
			typ = a.Value
		case "value":
			value, hasValue = a.Value, true
		case "tag":
			tagAttr = a.Value
		default:
			return fail("unknown attribute %q", a.Name.Local)
		}
	}
	var tag ttlv.Tag
	if name == "TTLV" {
		v, err := parseHex32(tagAttr)
		if err != nil || v > 0xFFFFFF {
			return fail("bad tag attribute %q", tagAttr)
		}
		tag = ttlv.Tag(v)
	} else {
		t, ok := c.reg.tagByXML[name]
		if !ok {
			return fail("unknown element name")
		}
		tag = t
	}
	for _, v := range c.vars {
		if v.Path == path && (v.Value == "" || !hasValue || sameValue(v.Value, value)) {
			c.out.variable[key] = true
		}
	}
	if typ == "" || typ == "Structure" {
		var kids []ttlv.Item
		an := "" // Attribute Name seen among the children so far
		for {
			tok, err := c.dec.Token()
			if err != nil {
				return fail("%v", err)
			}
			switch t := tok.(type) {
			case xml.StartElement:
				kid, err := c.element(t, path, childKey(key, len(kids)), an, depth+1)
				if err != nil {
					return ttlv.Item{}, err
				}
				if kid.Tag == tagAttributeName {
					an, _ = kid.Value.(string)
				}
				kids = append(kids, kid)
			case xml.EndElement:
				return ttlv.Struct(tag, kids...), nil
			case xml.CharData:
				if strings.TrimSpace(string(t)) != "" {
					return fail("text content in a structure")
				}
			case xml.Comment, xml.ProcInst:
			default:
				return fail("unexpected %T", tok)
			}
		}
	}
	if err := c.skipToEnd(); err != nil {
		return fail("%v", err)
	}
	it, err := c.primitive(tag, typ, value, key, attrName)
	if err != nil {
		return fail("%v", err)
	}
	return it, nil
}

// skipToEnd consumes the end tag of a primitive element, refusing content.
func (c *xmlConv) skipToEnd() error {
	for {
		tok, err := c.dec.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.CharData:
			if strings.TrimSpace(string(t)) != "" {
				return errors.New("text content in a primitive element")
			}
		case xml.Comment:
		default:
			return fmt.Errorf("unexpected %T in a primitive element", tok)
		}
	}
}

// primitive parses one value attribute according to its type.
func (c *xmlConv) primitive(tag ttlv.Tag, typ, value, key, attrName string) (ttlv.Item, error) {
	// For Attribute Value, enumerations and masks come from the attribute.
	lookup := tag
	if tag == tagAttributeValue {
		if t, ok := c.reg.tagBySpec[attrName]; ok {
			lookup = t
		}
	}
	switch typ {
	case "Integer":
		if m, ok := c.reg.masks[lookup]; ok && value != "" && !isNumber(value) {
			var v uint32
			for _, f := range strings.Fields(value) {
				bit, ok := m[f]
				if !ok {
					return ttlv.Item{}, fmt.Errorf("unknown mask flag %q", f)
				}
				v |= bit
			}
			return ttlv.Int(tag, int32(v)), nil
		}
		v, err := parseInt(value, 32)
		return ttlv.Int(tag, int32(v)), err
	case "LongInteger":
		v, err := parseInt(value, 64)
		return ttlv.Long(tag, v), err
	case "BigInteger":
		b, err := hex.DecodeString(strings.TrimPrefix(value, "0x"))
		if err != nil {
			return ttlv.Item{}, fmt.Errorf("big integer: %v", err)
		}
		return ttlv.BigInt(tag, signExtend(b)), nil
	case "Enumeration":
		if strings.HasPrefix(value, "0x") {
			v, err := parseHex32(value)
			return ttlv.Enum(tag, v), err
		}
		v, ok := c.reg.enums[lookup][value]
		if !ok {
			return ttlv.Item{}, fmt.Errorf("unknown enumeration value %q for %s", value, c.reg.tagName(lookup))
		}
		return ttlv.Enum(tag, v), nil
	case "Boolean":
		switch value {
		case "true", "1":
			return ttlv.Bool(tag, true), nil
		case "false", "0":
			return ttlv.Bool(tag, false), nil
		}
		return ttlv.Item{}, fmt.Errorf("bad boolean %q", value)
	case "TextString":
		return ttlv.Text(tag, value), nil
	case "ByteString":
		if strings.HasPrefix(value, "$") {
			return ttlv.Bytes(tag, []byte(value)), nil
		}
		b, err := hex.DecodeString(value)
		if err != nil {
			return ttlv.Item{}, fmt.Errorf("byte string: %v", err)
		}
		return ttlv.Bytes(tag, b), nil
	case "DateTime":
		if rest, ok := strings.CutPrefix(value, "$NOW"); ok {
			var off int64
			if rest != "" {
				v, err := strconv.ParseInt(rest, 10, 64)
				if err != nil {
					return ttlv.Item{}, fmt.Errorf("bad $NOW offset %q", rest)
				}
				off = v
			}
			c.out.now[key] = off
			return ttlv.DateTime(tag, time.Unix(0, 0).UTC()), nil
		}
		tm, err := time.Parse(time.RFC3339, value)
		if err != nil {
			return ttlv.Item{}, fmt.Errorf("date-time: %v", err)
		}
		return ttlv.DateTime(tag, tm.UTC()), nil
	case "Interval":
		v, err := strconv.ParseUint(value, 10, 32)
		return ttlv.Interval(tag, uint32(v)), err
	}
	return ttlv.Item{}, fmt.Errorf("unknown type %q", typ)
}

func isNumber(s string) bool {
	_, err := parseInt(s, 64)
	return err == nil
}

// parseInt parses a decimal or 0x-prefixed hex integer of the given size.
func parseInt(s string, bits int) (int64, error) {
	if h, ok := strings.CutPrefix(s, "0x"); ok {
		v, err := strconv.ParseUint(h, 16, bits)
		if bits == 32 {
			return int64(int32(uint32(v))), err
		}
		return int64(v), err
	}
	return strconv.ParseInt(s, 10, bits)
}

// signExtend pads a two's-complement big-endian integer to a multiple of 8
// bytes, as TTLV requires.
func signExtend(b []byte) []byte {
	if len(b)%8 == 0 && len(b) > 0 {
		return b
	}
	fill := byte(0)
	if len(b) > 0 && b[0]&0x80 != 0 {
		fill = 0xFF
	}
	n := (len(b) + 7) / 8 * 8
	if n == 0 {
		n = 8
	}
	out := make([]byte, n)
	for i := range n - len(b) {
		out[i] = fill
	}
	copy(out[n-len(b):], b)
	return out
}

// sameValue reports whether a variable field's recorded value names value.
// The vector files shorten long values to a prefix followed by "...".
func sameValue(recorded, value string) bool {
	if p, ok := strings.CutSuffix(recorded, "..."); ok {
		return strings.HasPrefix(strings.ToLower(value), strings.ToLower(p))
	}
	return recorded == value
}
