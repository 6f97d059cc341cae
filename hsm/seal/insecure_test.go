package seal

import (
	"bytes"
	"crypto/rand"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newInsecure(t *testing.T, path string) (*InsecureFile, *bytes.Buffer) {
	t.Helper()
	var log bytes.Buffer
	s, err := NewInsecureFile(path, Config{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, &log
}

func TestInsecureRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seal.key")
	s, log := newInsecure(t, path)
	if !strings.Contains(s.Name(), "INSECURE") {
		t.Errorf("Name = %q, want it to say INSECURE", s.Name())
	}
	m := newMaster(t)
	blob, err := s.Seal(m)
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := m.Bytes(); bytes.Contains(blob, raw) {
		t.Error("blob holds the master key in the clear")
	}
	got, err := s.Unseal(blob)
	if err != nil {
		t.Fatal(err)
	}
	wantMaster(t, got, m)
	if n := strings.Count(log.String(), "INSECURE"); n != 3 { // open, seal, unseal
		t.Errorf("logged %d INSECURE warnings, want 3:\n%s", n, log)
	}
	if !strings.Contains(log.String(), "level=WARN") {
		t.Errorf("warnings not at WARN level:\n%s", log)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != kekSize {
		t.Errorf("key file mode %v size %d, want 0600 and %d", fi.Mode().Perm(), fi.Size(), kekSize)
	}

	// A new sealer over the same key file (a restart) unseals.
	s2, _ := newInsecure(t, path)
	got, err = s2.Unseal(blob)
	if err != nil {
		t.Fatalf("Unseal after reopen: %v", err)
	}
	wantMaster(t, got, m)
}

func TestInsecureErrors(t *testing.T) {
	dir := t.TempDir()
	s, _ := newInsecure(t, filepath.Join(dir, "a.key"))
	other, _ := newInsecure(t, filepath.Join(dir, "b.key"))
	blob, err := s.Seal(newMaster(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Unseal(blob); !errors.Is(err, ErrWrongTPM) {
		t.Errorf("other key file: %v, want ErrWrongTPM", err)
	}
	for j := range len(blob) {
		if _, err := s.Unseal(blob[:j]); !errors.Is(err, ErrFormat) {
			t.Fatalf("prefix %d: %v, want ErrFormat", j, err)
		}
	}
	for i := len(insecureMagic) + 1 + keyIDSize; i < len(blob); i++ {
		b := bytes.Clone(blob)
		b[i] ^= 0x80
		if _, err := s.Unseal(b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("byte %d flipped: %v, want ErrCorrupt", i, err)
		}
	}
	v2 := bytes.Clone(blob)
	v2[len(insecureMagic)] = 2
	if _, err := s.Unseal(v2); !errors.Is(err, ErrFormat) {
		t.Errorf("format 2: %v, want ErrFormat", err)
	}
	if _, err := s.Unseal(append(bytes.Clone(blob), 0)); !errors.Is(err, ErrFormat) {
		t.Errorf("trailing byte: %v, want ErrFormat", err)
	}

	bad := filepath.Join(dir, "short.key")
	if err := os.WriteFile(bad, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewInsecureFile(bad, Config{}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("short key file: %v, want ErrCorrupt", err)
	}
	if _, err := NewInsecureFile(filepath.Join(dir, "missing", "x.key"), Config{}); err == nil {
		t.Error("key file in a missing directory: no error")
	}

	m := newMaster(t)
	m.Destroy()
	if _, err := s.Seal(m); err == nil {
		t.Error("Seal of a destroyed key: no error")
	}
	s.Close()
	if _, err := s.Seal(newMaster(t)); err == nil {
		t.Error("Seal after Close: no error")
	}
}

func TestOpenSpecs(t *testing.T) {
	dir := t.TempDir()
	s, err := Open("insecure-file:"+filepath.Join(dir, "k"), Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.(*InsecureFile); !ok {
		t.Errorf("Open(insecure-file:) = %T", s)
	}
	for _, spec := range []string{
		"", "insecure-file:", "tpm", "tcp:", "tcp:127.0.0.1", "tcp:127.0.0.1:x", "tcp:127.0.0.1:65535",
		filepath.Join(dir, "no-such-tpm"),
	} {
		if s, err := Open(spec, Config{}); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", spec)
		}
	}
	if _, err := Open("tcp:127.0.0.1:1", Config{BootPCR: 99}); err == nil {
		t.Error("Open with BootPCR 99 succeeded")
	}
}

func BenchmarkInsecureUnseal(b *testing.B) {
	s, err := NewInsecureFile(filepath.Join(b.TempDir(), "k"), Config{Logger: slog.New(slog.DiscardHandler), Rand: rand.Reader})
	if err != nil {
		b.Fatal(err)
	}
	m, err := newMasterB()
	if err != nil {
		b.Fatal(err)
	}
	blob, err := s.Seal(m)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		got, err := s.Unseal(blob)
		if err != nil {
			b.Fatal(err)
		}
		got.Destroy()
	}
}
