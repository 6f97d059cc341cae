package admin

import (
	"context"
	"strings"
	"testing"
)

// BenchmarkStatus measures one authenticated GET /v1/status over a kept-alive
// mTLS connection (admin certificate lookup, chain verification, JSON).
func BenchmarkStatus(b *testing.B) {
	e := newEnv(b, nil)
	c, err := Open(e.url, e.enroll("root"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Status(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckToken measures one enrollment token check (file read,
// SHA-256, constant-time compare): the cost of one guess.
func BenchmarkCheckToken(b *testing.B) {
	dir := b.TempDir()
	tok, err := InitEnrollment(dir, randReader{})
	if err != nil {
		b.Fatal(err)
	}
	typed := strings.ToLower(tok.Reveal())
	for b.Loop() {
		if err := checkToken(dir, typed); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzNormalizeToken(f *testing.F) {
	for _, s := range []string{"ABCD-EFGH-IJKL-MNOP-QRST-UVWX", "abcd efgh ijkl mnop qrst uvwx", "0000-1111-8888-2345-6723-4567", "", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		canon, ok := normalizeToken(s)
		if !ok {
			if canon != "" {
				t.Fatalf("normalizeToken(%q) failed but returned %q", s, canon)
			}
			return
		}
		if len(canon) != tokenChars {
			t.Fatalf("normalizeToken(%q) = %q: wrong length", s, canon)
		}
		if _, err := tokenEncoding.DecodeString(canon); err != nil {
			t.Fatalf("normalizeToken(%q) = %q: not base32: %v", s, canon, err)
		}
		if again, ok := normalizeToken(canon); !ok || again != canon {
			t.Fatalf("normalizeToken is not idempotent on %q: %q", canon, again)
		}
	})
}
