package store

import (
	"bytes"
	"testing"
)

// FuzzDecodeRecord checks that decoding a record value read from disk
// never panics, and that whatever decodes re-encodes to exactly the input.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(1, nil, nil))
	f.Add(encodeRecord(7, []Term{{"name", "k"}, {"state", ""}}, []byte("data")))
	f.Add(encodeRecord(1<<40, []Term{{"a\x00b", "\xff"}}, bytes.Repeat([]byte{1}, 100)))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, v []byte) {
		h, err := decodeRecord(v)
		if err != nil {
			return
		}
		if got := encodeRecord(h.seq, h.terms, h.data); !bytes.Equal(got, v) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, v)
		}
	})
}

func TestDecodeRecordPrefixes(t *testing.T) {
	v := encodeRecord(3, []Term{{"name", "key"}, {"group", "g"}}, nil)
	// Without data, every proper prefix cuts a header or a term.
	for j := range len(v) {
		if _, err := decodeRecord(v[:j]); err == nil {
			t.Errorf("decodeRecord(v[:%d]) succeeded", j)
		}
	}
	if _, err := decodeRecord(v); err != nil {
		t.Fatal(err)
	}
}
