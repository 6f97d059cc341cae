package kmip

import (
	"encoding/hex"
	"testing"
)

func vectorMessages(b *testing.B, responses bool) [][]byte {
	var out [][]byte
	n := 0
	for _, vf := range loadTC11(b) {
		for _, s := range vf.Steps {
			h := s.RequestHex
			if responses {
				h = s.ResponseHex
			}
			m, err := hex.DecodeString(h)
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, m)
			n += len(m)
		}
	}
	b.SetBytes(int64(n / len(out)))
	return out
}

// BenchmarkParseRequestMessage parses the 260 KMIP 1.1 test-case requests;
// one op is one message (ns/op is the mean per message).
func BenchmarkParseRequestMessage(b *testing.B) {
	msgs := vectorMessages(b, false)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := ParseRequestMessage(msgs[i%len(msgs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseResponseMessage parses the 260 test-case responses.
func BenchmarkParseResponseMessage(b *testing.B) {
	msgs := vectorMessages(b, true)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := ParseResponseMessage(msgs[i%len(msgs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeResponseMessage encodes the parsed test-case responses.
func BenchmarkEncodeResponseMessage(b *testing.B) {
	var parsed []*ResponseMessage
	for _, m := range vectorMessages(b, true) {
		p, err := ParseResponseMessage(m)
		if err != nil {
			b.Fatal(err)
		}
		parsed = append(parsed, p)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := parsed[i%len(parsed)].Encode(); err != nil {
			b.Fatal(err)
		}
	}
}
