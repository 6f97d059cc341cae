package object

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cofferhsm/coffer/hsm/key"
)

// goldenObject is the object of the golden record test.
func goldenObject(t *testing.T) *Object {
	t.Helper()
	m, err := key.NewMaterial([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	if err != nil {
		t.Fatal(err)
	}
	o := &Object{UID: "u1", Type: TypeSymmetricKey, Owner: "alice", Groups: []string{"ops"}, Secret: m, Format: FormatRaw}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(o.Set(AttrAlgorithm, AlgAES))
	must(o.Set(AttrLength, int32(128)))
	must(o.Set(AttrState, StatePreActive))
	must(o.Set(AttrInitialDate, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
	_, err = o.Add(AttrName, Name{Value: "k1", Type: NameText})
	must(err)
	_, err = o.Add("x-Vendor", "VMware")
	must(err)
	return o
}

// goldenBody is the record body of goldenObject, annotated. It is the
// compatibility gate of the record format: never edit it to make a test
// pass; add a new golden record for a new RecordVersion instead.
const goldenBody = `
a6                                    # map, 6 pairs (recordBody)
  01 02                               # 1 Type: 2 (Symmetric Key)
  02 65 616c696365                    # 2 Owner: "alice"
  03 81 63 6f7073                     # 3 Groups: ["ops"]
  04 86                               # 4 Attrs: array of 6, sorted by (name, index)
    a3                                #   map, 3 pairs (recordAttr; Index 0 omitted)
      01 77 43727970746f6772617068696320416c676f726974686d # 1 Name: "Cryptographic Algorithm"
      03 05                           #   3 Kind: 5 (Enumeration)
      08 81 03                        #   8 E: [3] (AES)
    a3
      01 74 43727970746f67726170686963204c656e677468 # 1 Name: "Cryptographic Length"
      03 02                           #   3 Kind: 2 (Integer)
      06 18 80                        #   6 I: 128
    a3
      01 6c 496e697469616c2044617465  #   1 Name: "Initial Date"
      03 08                           #   3 Kind: 8 (DateTime)
      06 1a 695735a5                  #   6 I: 1767323045 (2026-01-02T03:04:05Z)
    a4                                #   map, 4 pairs
      01 64 4e616d65                  #   1 Name: "Name"
      03 0a                           #   3 Kind: 10 (Name)
      04 62 6b31                      #   4 S: "k1"
      08 81 01                        #   8 E: [1] (Uninterpreted Text String)
    a3
      01 65 5374617465                #   1 Name: "State"
      03 05                           #   3 Kind: 5 (Enumeration)
      08 81 01                        #   8 E: [1] (Pre-Active)
    a3
      01 68 782d56656e646f72          #   1 Name: "x-Vendor"
      03 01                           #   3 Kind: 1 (Text)
      04 66 564d77617265              #   4 S: "VMware"
  05 50 000102030405060708090a0b0c0d0e0f # 5 Secret: 16 bytes (sealed on disk)
  07 01                               # 7 Format: 1 (Raw)
`

// unhex parses annotated hex: '#' starts a comment, whitespace is ignored.
func unhex(t *testing.T, s string) []byte {
	t.Helper()
	var clean strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		clean.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var cmpObject = cmp.Options{
	cmp.Comparer(func(a, b *key.Material) bool {
		if a == nil || b == nil {
			return a == b
		}
		return a.Equal(b)
	}),
	cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
}

func TestGoldenRecordBody(t *testing.T) {
	o := goldenObject(t)
	want := unhex(t, goldenBody)
	got, err := encodeBody(o)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("record body encoding changed:\n got %x\nwant %x", got, want)
	}
	back, err := decodeBody("u1", want)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(o, back, cmpObject); d != "" {
		t.Errorf("decoded golden body differs (-want +got):\n%s", d)
	}
}

// testSealer is a deterministic, insecure Sealer for encoding tests.
type testSealer struct{}

func (testSealer) Seal(pt, ad []byte) ([]byte, error) {
	return append(append([]byte{byte(len(ad))}, ad...), pt...), nil
}

func (testSealer) Open(ct, ad []byte) ([]byte, error) {
	if len(ct) < 1+len(ad) || int(ct[0]) != len(ad) || !bytes.Equal(ct[1:1+len(ad)], ad) {
		return nil, errors.New("bad ad")
	}
	return append([]byte(nil), ct[1+len(ad):]...), nil
}

func TestGoldenEnvelope(t *testing.T) {
	o := goldenObject(t)
	got, err := SealRecord(testSealer{}, o)
	if err != nil {
		t.Fatal(err)
	}
	body := unhex(t, goldenBody)
	ad := unhex(t, `
		636f666665722f7265636f7264  # "coffer/record"
		00 01                       # separator, version 1
		7531                        # UID "u1"`)
	want := unhex(t, `
		a3              # map, 3 pairs (envelope)
		  01 01         # 1 Version: 1
		  02 62 7531    # 2 UID: "u1"
		  03 58 bc      # 3 Sealed: byte string of 188 bytes (from the Sealer)`)
	want = append(append(append(want, byte(len(ad))), ad...), body...)
	if !bytes.Equal(got, want) {
		t.Fatalf("envelope changed:\n got %x\nwant %x", got, want)
	}
	back, err := OpenRecord(testSealer{}, "u1", got)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(o, back, cmpObject); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	if _, err := OpenRecord(testSealer{}, "u2", got); !errors.Is(err, ErrCorrupt) {
		t.Errorf("record opened under another UID: err = %v, want ErrCorrupt", err)
	}
}

func TestRecordEveryPrefixFails(t *testing.T) {
	full := unhex(t, goldenBody)
	for j := 0; j < len(full); j++ {
		if _, err := decodeBody("u1", full[:j]); err == nil {
			t.Fatalf("prefix of %d/%d bytes decoded", j, len(full))
		}
	}
}

func TestSealedRecordDetectsEveryFlippedByte(t *testing.T) {
	mk, err := key.GenerateMaster(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a, err := key.NewRecordAEAD(mk)
	if err != nil {
		t.Fatal(err)
	}
	o := goldenObject(t)
	rec, err := SealRecord(a, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenRecord(a, "u1", rec); err != nil {
		t.Fatal(err)
	}
	for i := range rec {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(rec)
			bad[i] ^= bit
			got, err := OpenRecord(a, "u1", bad)
			if !errors.Is(err, ErrCorrupt) || got != nil {
				t.Fatalf("byte %d ^ %#x: got %v, err %v; want nil, ErrCorrupt", i, bit, got, err)
			}
		}
	}
	// Another master key cannot open it either.
	mk2, _ := key.GenerateMaster(rand.Reader)
	a2, _ := key.NewRecordAEAD(mk2)
	if _, err := OpenRecord(a2, "u1", rec); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("foreign key: err = %v, want ErrCorrupt", err)
	}
}

// cborHead encodes a CBOR head of major type mt with argument n.
func cborHead(mt byte, n int) []byte {
	switch {
	case n < 24:
		return []byte{mt<<5 | byte(n)}
	case n < 256:
		return []byte{mt<<5 | 24, byte(n)}
	default:
		return []byte{mt<<5 | 25, byte(n >> 8), byte(n)}
	}
}

func nestedArrays(depth int) []byte {
	b := bytes.Repeat([]byte{0x81}, depth-1)
	return append(b, 0x80)
}

func TestStrictDecoding(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"valid", []byte{0xa1, 0x01, 0x02}, true},
		{"duplicate key", []byte{0xa2, 0x01, 0x02, 0x01, 0x02}, false},
		{"indefinite map", []byte{0xbf, 0x01, 0x02, 0xff}, false},
		{"indefinite byte string", []byte{0xa2, 0x01, 0x02, 0x05, 0x5f, 0x41, 0x00, 0xff}, false},
		{"tag", []byte{0xa1, 0x01, 0xc1, 0x02}, false},
		{"unknown field", []byte{0xa2, 0x01, 0x02, 0x18, 0x63, 0x00}, false},
		{"trailing bytes", []byte{0xa1, 0x01, 0x02, 0x00}, false},
		{"float", []byte{0xa1, 0x01, 0xf9, 0x3c, 0x00}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rb recordBody
			err := unmarshal(tt.in, &rb)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestDecodingLimits(t *testing.T) {
	var v any
	if err := unmarshal(nestedArrays(MaxNesting), &v); err != nil {
		t.Errorf("nesting at limit: %v", err)
	}
	if err := unmarshal(nestedArrays(MaxNesting-1), &v); err != nil {
		t.Errorf("nesting at limit-1: %v", err)
	}
	if err := unmarshal(nestedArrays(MaxNesting+1), &v); err == nil {
		t.Error("nesting above limit accepted")
	}
	arr := func(n int) []byte { return append(cborHead(4, n), bytes.Repeat([]byte{0}, n)...) }
	for _, n := range []int{MaxArray - 1, MaxArray} {
		if err := unmarshal(arr(n), &v); err != nil {
			t.Errorf("array of %d: %v", n, err)
		}
	}
	if err := unmarshal(arr(MaxArray+1), &v); err == nil {
		t.Error("array above limit accepted")
	}
	mp := func(n int) []byte {
		b := cborHead(5, n)
		for i := range n {
			b = append(b, cborHead(0, i)...)
			b = append(b, 0)
		}
		return b
	}
	for _, n := range []int{MaxMapPairs - 1, MaxMapPairs} {
		if err := unmarshal(mp(n), &v); err != nil {
			t.Errorf("map of %d: %v", n, err)
		}
	}
	if err := unmarshal(mp(MaxMapPairs+1), &v); err == nil {
		t.Error("map above limit accepted")
	}
	big := make([]byte, MaxRecordSize+1)
	if _, err := OpenRecord(testSealer{}, "u1", big); !errors.Is(err, ErrCorrupt) {
		t.Errorf("oversized record: err = %v, want ErrCorrupt", err)
	}
}

func TestRecordRoundTripAllKinds(t *testing.T) {
	o := &Object{UID: "u9", Type: TypeOpaqueObject, Owner: "bob", Format: FormatOpaque, SubType: 0x80000001, ExportFormat: FormatTransparentSymmetric, Retrieved: 1 << 40}
	vals := []any{"text", int32(-5), int64(1 << 40), new(big.Int).Neg(big.NewInt(1 << 62)), uint32(7), true, []byte{1, 2},
		time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC), 90 * time.Second,
		Name{Value: "n", Type: NameURI}, Link{Type: LinkReplaced, ID: "u8"},
		Digest{Algorithm: HashSHA256, Value: []byte{9}, Format: FormatRaw},
		RevocationReason{Code: RevokeSuperseded, Message: "m"},
		CryptoParams{BlockCipherMode: 1, PaddingMethod: 2, HashingAlgorithm: HashSHA256, KeyRoleType: 4},
		AppInfo{Namespace: "ns", Data: "d"}, UsageLimits{Total: 1000, Count: 400, Unit: UsageUnitByte},
		CertificateName{Name: []byte("CN=a"), Serial: []byte("01"), Alt: [][]byte{[]byte("b"), {}}},
		CertificateName{Name: []byte{0x30, 0}}}
	for i, v := range vals {
		if _, err := o.Add(fmt.Sprintf("x-%02d", i), v); err != nil {
			t.Fatalf("add %T: %v", v, err)
		}
	}
	rec, err := SealRecord(testSealer{}, o)
	if err != nil {
		t.Fatal(err)
	}
	back, err := OpenRecord(testSealer{}, "u9", rec)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(o, back, cmpObject, cmp.Comparer(func(a, b *big.Int) bool { return a.Cmp(b) == 0 })); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	again, _ := SealRecord(testSealer{}, back)
	if !bytes.Equal(rec, again) {
		t.Error("re-encoding is not byte-identical (encoding not deterministic)")
	}
}
