package ttlv

import (
	"testing"

	"github.com/cofferhsm/coffer/internal/vectors"
)

func benchMessages(b *testing.B) [][]byte {
	var out [][]byte
	n := 0
	for _, m := range vectors.TC11(b) {
		out = append(out, m.Bytes)
		n += len(m.Bytes)
	}
	b.SetBytes(int64(n))
	return out
}

// BenchmarkDecode decodes all 520 OASIS vector messages per iteration.
func BenchmarkDecode(b *testing.B) {
	msgs := benchMessages(b)
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range msgs {
			if _, err := Decode(m); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkEncode encodes all 520 OASIS vector messages per iteration.
func BenchmarkEncode(b *testing.B) {
	msgs := benchMessages(b)
	var items []Item
	for _, m := range msgs {
		it, _ := Decode(m)
		items = append(items, it)
	}
	buf := make([]byte, 0, 1<<16)
	b.ReportAllocs()
	for b.Loop() {
		for _, it := range items {
			var err error
			if buf, err = AppendEncode(buf[:0], it); err != nil {
				b.Fatal(err)
			}
		}
	}
}
