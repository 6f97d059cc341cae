package release

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cofferhsm/coffer/hsm/seal"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestMeasureDirMatchesDigest(t *testing.T) {
	files := map[string]string{
		"init":             "pid1",
		"bin/hsmd":         "hsmd",
		ReleaseKeyPath:     "key",
		PolicyPath:         "policy, not measured",
		"dev/console":      "not measured",
		"proc/x":           "not measured",
		"lib/modules/a.ko": "mod",
	}
	root := writeTree(t, files)
	if err := os.Symlink("lib", filepath.Join(root, "lib64")); err != nil {
		t.Fatal(err)
	}
	got, err := MeasureDir(root)
	if err != nil {
		t.Fatal(err)
	}
	// The builder's view: every record, in another order, policy included.
	var entries []Entry
	for p, c := range files {
		entries = append(entries, NewEntry(p, File, []byte(c)))
	}
	entries = append(entries, NewEntry("./lib64", Symlink, []byte("lib")))
	want, err := Digest(entries)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("MeasureDir %x, Digest %x", got, want)
	}
}

func TestDigestDetectsChanges(t *testing.T) {
	base := []Entry{NewEntry("init", File, []byte("a")), NewEntry("bin/x", File, []byte("b"))}
	d0, err := Digest(base)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		entries []Entry
		same    bool
	}{
		{"reordered", []Entry{base[1], base[0]}, true},
		{"policy added", append([]Entry{NewEntry(PolicyPath, File, []byte("p"))}, base...), true},
		{"content changed", []Entry{NewEntry("init", File, []byte("A")), base[1]}, false},
		{"file added", append([]Entry{NewEntry("etc/evil", File, nil)}, base...), false},
		{"file removed", base[:1], false},
		{"kind changed", []Entry{NewEntry("init", Symlink, []byte("a")), base[1]}, false},
		{"renamed", []Entry{NewEntry("init2", File, []byte("a")), base[1]}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Digest(tt.entries)
			if err != nil {
				t.Fatal(err)
			}
			if (d == d0) != tt.same {
				t.Errorf("digest equal = %v, want %v", d == d0, tt.same)
			}
		})
	}
}

func TestDigestErrors(t *testing.T) {
	tests := []struct {
		name    string
		entries []Entry
	}{
		{"duplicate", []Entry{NewEntry("a", File, nil), NewEntry("./a", File, []byte("x"))}},
		{"bad kind", []Entry{{Path: "a", Kind: 'd'}}},
		{"newline", []Entry{{Path: "a\nb", Kind: File}}},
		{"root", []Entry{NewEntry("/", File, nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Digest(tt.entries); !errors.Is(err, ErrEntry) {
				t.Errorf("err = %v, want ErrEntry", err)
			}
		})
	}
}

func TestKeyAndPolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "release.pem")
	k, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !k.Equal(k2) {
		t.Fatal("reloaded key differs")
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi, err)
	}
	pub, err := MarshalPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ParsePublicKey(pub)
	if err != nil || !pk.Equal(&k.PublicKey) {
		t.Fatalf("ParsePublicKey: %v", err)
	}
	if _, err := ParsePublicKey(append(pub, pub...)); !errors.Is(err, ErrKey) {
		t.Errorf("two PEM blocks: err = %v, want ErrKey", err)
	}
	if err := os.WriteFile(path, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); !errors.Is(err, ErrKey) {
		t.Errorf("junk key: err = %v, want ErrKey", err)
	}

	m := make([]byte, 32)
	signed, err := SignPolicy(rand.Reader, k, m)
	if err != nil {
		t.Fatal(err)
	}
	p, err := seal.VerifyPolicy(signed, pk)
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != PolicyVersion || len(p.PCRs) != 1 || p.PCRs[0].Index != seal.DefaultBootPCR || string(p.PCRs[0].Value) != string(seal.PredictPCR(m)) {
		t.Errorf("policy = %+v", p)
	}
	if KeyFingerprint(pk) == "" {
		t.Error("empty fingerprint")
	}
}

// BenchmarkMeasureDir measures a tree shaped like the initramfs (three Go
// binaries of ~9 MiB and some small files); PID 1 pays this on every boot.
func BenchmarkMeasureDir(b *testing.B) {
	root := b.TempDir()
	big := make([]byte, 9<<20)
	for _, name := range []string{"init", "hsmd", "kmipd"} {
		if err := os.WriteFile(filepath.Join(root, name), big, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 50 {
		if err := os.WriteFile(filepath.Join(root, fmt.Sprintf("mod%d.ko", i)), big[:64<<10], 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(3*(9<<20) + 50*(64<<10))
	for b.Loop() {
		if _, err := MeasureDir(root); err != nil {
			b.Fatal(err)
		}
	}
}
