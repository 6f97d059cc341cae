package ttlv

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/internal/vectors"
)

// TestSpecExamples decodes and re-encodes the ten examples of KMIP 1.1
// section 9.1.2.
func TestSpecExamples(t *testing.T) {
	var doc struct {
		Examples []struct {
			Description string `json:"description"`
			Hex         string `json:"hex"`
			ItemType    string `json:"item_type"`
		} `json:"examples"`
	}
	vectors.ReadJSON(t, "spec11_9_1_2_ttlv_encoding_examples.json", &doc)
	bigWant, _ := new(big.Int).SetString("1234567890000000000000000000", 10)
	want := []Item{
		Int(0x420020, 8),
		Long(0x420020, 123456789000000000),
		BigInt(0x420020, padBig(bigWant)),
		Enum(0x420020, 255),
		Bool(0x420020, true),
		Text(0x420020, "Hello World"),
		Bytes(0x420020, []byte{1, 2, 3}),
		DateTime(0x420020, time.Date(2008, 3, 14, 11, 56, 40, 0, time.UTC)),
		Interval(0x420020, 10*24*3600),
		Struct(0x420020, Enum(0x420004, 254), Int(0x420005, 255)),
	}
	if len(doc.Examples) != len(want) {
		t.Fatalf("%d examples, want %d", len(doc.Examples), len(want))
	}
	for i, ex := range doc.Examples {
		t.Run(ex.Description, func(t *testing.T) {
			b, err := hex.DecodeString(ex.Hex)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !got.Equal(want[i]) {
				t.Errorf("Decode = %#v, want %#v", got, want[i])
			}
			enc, err := Encode(want[i])
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(enc, b) {
				t.Errorf("Encode = %X, want %X", enc, b)
			}
			checkPrefixes(t, b)
		})
	}
}

// padBig returns the two's-complement encoding of a positive x, sign
// extended to a multiple of 8 bytes.
func padBig(x *big.Int) []byte {
	b := x.Bytes()
	n := (len(b) + 1 + 7) / 8 * 8
	return append(make([]byte, n-len(b)), b...)
}

// checkPrefixes verifies that every strict prefix of b fails to decode
// with a *DecodeError.
func checkPrefixes(t *testing.T, b []byte) {
	t.Helper()
	for j := range len(b) {
		_, err := Decode(b[:j])
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("Decode(prefix %d of %d) err = %v, want *DecodeError", j, len(b), err)
		}
	}
}

// TestMalformed checks the NLnet Labs malformed vectors: every one but the
// positive control is rejected. They use tags outside KMIP's ranges, which
// a strict decoder rejects by itself, so each is checked a second time with
// the tags moved into the extension range, where it must fail for the
// reason the vector is about.
func TestMalformed(t *testing.T) {
	var doc struct {
		Examples []struct {
			Name string `json:"name"`
			Hex  string `json:"hex"`
		} `json:"examples"`
	}
	vectors.ReadJSON(t, "neg_malformed_ttlv_nlnetlabs.json", &doc)
	reason := map[string]error{
		"invalid_root_type":   ErrBadType,
		"wrong_root_type":     ErrBadLength,
		"length_overflow":     ErrTruncated,
		"wrong_value_length":  ErrBadLength,
		"wrong_boolean_value": ErrBadBoolean,
		"invalid_utf8":        ErrBadUTF8,
		"valid_utf8":          nil,
	}
	rejected := 0
	for _, ex := range doc.Examples {
		t.Run(ex.Name, func(t *testing.T) {
			want, ok := reason[ex.Name]
			if !ok {
				t.Fatalf("unexpected vector %q", ex.Name)
			}
			b, _ := hex.DecodeString(ex.Hex)
			_, err := Decode(b)
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, ErrBadTag) {
				t.Fatalf("raw vector: err = %v, want DecodeError with ErrBadTag", err)
			}
			fixed := []byte(strings.NewReplacer("AAAAAA", "540001", "BBBBBB", "540002", "CCCCCC", "540003").Replace(ex.Hex))
			b, _ = hex.DecodeString(string(fixed))
			it, err := Decode(b)
			if want == nil {
				if err != nil {
					t.Fatalf("positive control rejected: %v", err)
				}
				if s, _ := it.Items()[0].Value.(string); s != "\u03ba\u1f79\u03c3\u03bc\u03b5" {
					t.Fatalf("decoded %q", s)
				}
				return
			}
			if !errors.As(err, &de) || !errors.Is(err, want) {
				t.Fatalf("err = %v, want DecodeError wrapping %v", err, want)
			}
			rejected++
		})
	}
	t.Logf("malformed vectors rejected: %d of %d (plus the positive control accepted)", rejected, len(doc.Examples)-1)
}

// TestTC11RoundTrip decodes every request and response of the OASIS KMIP
// 1.1 test cases and re-encodes it to identical bytes; every strict prefix
// of each fails.
func TestTC11RoundTrip(t *testing.T) {
	msgs := vectors.TC11(t)
	if len(msgs) != 520 {
		t.Errorf("found %d messages, want 520", len(msgs))
	}
	for _, m := range msgs {
		it, err := Decode(m.Bytes)
		if err != nil {
			t.Errorf("%s: %v", m.Name(), err)
			continue
		}
		enc, err := Encode(it)
		if err != nil {
			t.Errorf("%s: Encode: %v", m.Name(), err)
			continue
		}
		if !bytes.Equal(enc, m.Bytes) {
			t.Errorf("%s: re-encoding differs", m.Name())
		}
		got, err := ReadMessage(bytes.NewReader(append(append([]byte(nil), m.Bytes...), 0x42)))
		if err != nil || !bytes.Equal(got, m.Bytes) {
			t.Errorf("%s: ReadMessage = %d bytes, %v", m.Name(), len(got), err)
		}
		checkPrefixes(t, m.Bytes)
	}
	t.Logf("round-tripped %d messages", len(msgs))
}

func TestStrict(t *testing.T) {
	h := func(s string) []byte {
		b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"padding not zero", h("420020 02 00000004 00000008 00000001"), ErrBadPadding},
		{"text padding not zero", h("420020 07 00000001 41 00000000000001"), ErrBadPadding},
		{"bad tag", h("430020 02 00000004 00000008 00000000"), ErrBadTag},
		{"bad type 0x0B", h("420020 0B 00000004 00000008 00000000"), ErrBadType},
		{"long integer length 4", h("420020 03 00000004 00000008 00000000"), ErrBadLength},
		{"date-time length 4", h("420020 09 00000004 00000008 00000000"), ErrBadLength},
		{"boolean 0x0100", h("420020 06 00000008 00000000 00000100"), ErrBadBoolean},
		{"big integer length 4", h("420020 04 00000004 00000008 00000000"), ErrBadLength},
		{"big integer empty", h("420020 04 00000000"), ErrBadLength},
		{"trailing byte", h("420020 02 00000004 00000008 00000000 00"), ErrTrailingData},
		{"trailing item", h("420020 02 00000004 00000008 00000000 420020 02 00000004 00000008 00000000"), ErrTrailingData},
		{"child overruns parent", h("420020 01 00000008 420004 02 00000004 00000001 00000000"), ErrTruncated},
		{"structure length 4", h("420020 01 00000004 00000000"), ErrTruncated},
		{"huge length", h("420020 08 FFFFFFF8 00"), ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.in)
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want DecodeError wrapping %v", err, tt.want)
			}
		})
	}
	// The offset and tag point at the item at fault.
	_, err := Decode(h("420020 01 00000010 420005 06 00000008 00000000 00000002"))
	var de *DecodeError
	if !errors.As(err, &de) || de.Offset != 8 || de.Tag != 0x420005 {
		t.Fatalf("err = %#v, want offset 8 tag 0x420005", err)
	}
}

func nest(depth int) Item {
	it := Int(0x420001, 1)
	for range depth - 1 {
		it = Struct(0x420002, it)
	}
	return it
}

func TestLimits(t *testing.T) {
	// Depth: limit accepted, limit+1 refused (the leaf counts as a level).
	l := Limits{MaxDepth: 5}
	ok, _ := Encode(nest(5))
	if _, err := l.Decode(ok); err != nil {
		t.Fatalf("depth at limit: %v", err)
	}
	deep, _ := Encode(nest(6))
	if _, err := l.Decode(deep); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("depth over limit: err = %v", err)
	}
	// Items: limit accepted, limit+1 refused.
	var kids []Item
	for range 9 {
		kids = append(kids, Int(0x420001, 1))
	}
	b, _ := Encode(Struct(0x420002, kids...)) // 10 items
	if _, err := (Limits{MaxItems: 10}).Decode(b); err != nil {
		t.Fatalf("items at limit: %v", err)
	}
	if _, err := (Limits{MaxItems: 9}).Decode(b); !errors.Is(err, ErrTooManyItems) {
		t.Fatalf("items over limit: err = %v", err)
	}
	// Size.
	if _, err := (Limits{MaxMessageSize: len(b)}).Decode(b); err != nil {
		t.Fatalf("size at limit: %v", err)
	}
	if _, err := (Limits{MaxMessageSize: len(b) - 1}).Decode(b); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("size over limit: err = %v", err)
	}
	// Default depth limit holds for hostile input built by hand.
	hostile := make([]byte, 8*100)
	for i := range 100 {
		h := hostile[8*i:]
		h[0], h[1], h[2], h[3] = 0x42, 0x00, 0x01, 0x01
		binary.BigEndian.PutUint32(h[4:], uint32(8*(99-i)))
	}
	if _, err := Decode(hostile); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("hostile nesting: err = %v", err)
	}
}

// countingReader records how many bytes were asked for, to show that
// ReadMessage does not allocate from a hostile length.
type countingReader struct {
	r    io.Reader
	read int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

func TestReadMessage(t *testing.T) {
	msg, _ := Encode(Struct(0x420078, Int(0x420001, 7)))
	two := append(append([]byte(nil), msg...), msg...)
	r := bytes.NewReader(two)
	for i := range 2 {
		got, err := ReadMessage(r)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("message %d: %X, %v", i, got, err)
		}
	}
	if _, err := ReadMessage(r); err != io.EOF {
		t.Fatalf("at end: err = %v, want io.EOF", err)
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"oversized", []byte{0x42, 0, 0x78, 0x01, 0x7F, 0xFF, 0xFF, 0xF8}, ErrTooLarge},
		{"not a structure", []byte{0x42, 0, 0x78, 0x02, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0}, ErrBadType},
		{"bad tag", []byte{0x00, 0, 0x78, 0x01, 0, 0, 0, 0}, ErrBadTag},
		{"odd length", []byte{0x42, 0, 0x78, 0x01, 0, 0, 0, 3}, ErrBadLength},
		{"short header", []byte{0x42, 0, 0x78}, ErrTruncated},
		{"short body", msg[:len(msg)-1], ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr := &countingReader{r: bytes.NewReader(tt.in)}
			_, err := (Limits{MaxMessageSize: 4096}).ReadMessage(cr)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want == ErrTooLarge && cr.read != 8 {
				t.Fatalf("read %d bytes past an oversized header", cr.read)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		it   Item
		want error
	}{
		{"bad tag", Int(0x100001, 1), ErrBadTag},
		{"tag too wide", Struct(TagVendorExtension, Int(0x1000001, 1)), ErrBadTag},
		{"type mismatch", Item{0x420001, TypeInteger, int64(1)}, ErrBadValue},
		{"bad utf8", Text(0x420001, "\xff"), ErrBadUTF8},
		{"big int length", BigInt(0x420001, []byte{1, 2}), ErrBadLength},
		{"unknown type", Item{0x420001, 0x0B, nil}, ErrBadType},
		{"nested mismatch", Struct(0x420001, Item{0x420002, TypeBoolean, 1}), ErrBadValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Encode(tt.it)
			var ee *EncodeError
			if !errors.As(err, &ee) || !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want EncodeError wrapping %v", err, tt.want)
			}
		})
	}
}

func TestStrings(t *testing.T) {
	if got := TypeDateTime.String(); got != "DateTime" {
		t.Errorf("TypeDateTime.String() = %q", got)
	}
	if got := Type(0x0B).String(); got != "Type(0x0B)" {
		t.Errorf("Type(0x0B).String() = %q", got)
	}
	if got := Tag(0x420069).String(); got != "0x420069" {
		t.Errorf("Tag.String() = %q", got)
	}
}

// FuzzDecode checks that decoding is non-malleable: a successful decode
// re-encodes to exactly the input, and every failure is a *DecodeError.
func FuzzDecode(f *testing.F) {
	for _, m := range vectors.TC11(f) {
		f.Add(m.Bytes)
	}
	var doc struct {
		Examples []struct {
			Hex string `json:"hex"`
		} `json:"examples"`
	}
	vectors.ReadJSON(f, "spec11_9_1_2_ttlv_encoding_examples.json", &doc)
	for _, ex := range doc.Examples {
		b, _ := hex.DecodeString(ex.Hex)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		it, err := Decode(b)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error is %T, not *DecodeError: %v", err, err)
			}
			return
		}
		enc, err := Encode(it)
		if err != nil {
			t.Fatalf("re-encoding a decoded item: %v", err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding differs:\n in  %X\n out %X", b, enc)
		}
		if _, err := ReadMessage(bytes.NewReader(b)); err != nil && it.Type == TypeStructure {
			t.Fatalf("ReadMessage refused a decodable structure: %v", err)
		}
	})
}

func TestVendorExtensionTags(t *testing.T) {
	// Any 3-byte tag inside a Vendor Extension; a KMIP tag elsewhere.
	in := Struct(0x420078, Struct(TagVendorExtension, Text(0x014242, "na"), Struct(0x000001, Int(0x123456, 1))))
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil || !got.Equal(in) {
		t.Fatalf("Decode = %v, %v", got, err)
	}
	if _, err := Encode(Struct(0x420078, Text(0x014242, "na"))); !errors.Is(err, ErrBadTag) {
		t.Fatalf("out-of-range tag outside a vendor extension: err = %v", err)
	}
}
