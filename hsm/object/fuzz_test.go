package object

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzDecodeBody: decoding arbitrary bytes never panics, and whatever
// decodes re-encodes to a body that decodes to the same object and
// re-encodes to the same bytes (the encoding is canonical).
func FuzzDecodeBody(f *testing.F) {
	f.Add(unhex(&testing.T{}, goldenBody))
	f.Add([]byte{0xa1, 0x01, 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := decodeBody("u", b)
		if err != nil {
			return
		}
		enc, err := encodeBody(o)
		if err != nil {
			t.Fatalf("decoded object does not encode: %v", err)
		}
		o2, err := decodeBody("u", enc)
		if err != nil {
			t.Fatalf("re-encoded body does not decode: %v", err)
		}
		if d := cmp.Diff(o, o2, cmpObject); d != "" {
			t.Fatalf("round trip differs:\n%s", d)
		}
		enc2, _ := encodeBody(o2)
		if string(enc) != string(enc2) {
			t.Fatal("encoding not canonical")
		}
	})
}
