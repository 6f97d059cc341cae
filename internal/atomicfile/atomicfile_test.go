package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	for _, content := range []string{"one", "two, longer"} {
		if err := WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != content {
			t.Fatalf("content = %q, %v; want %q", got, err, content)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode = %v", fi.Mode())
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "f"), []byte("x"), 0o600); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := WriteFile(p, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(p, true, 5); err != nil || string(b) != "12345" {
		t.Fatalf("ReadFile at limit = %q, %v", b, err)
	}
	if _, err := ReadFile(p, true, 4); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("over limit: err = %v, want ErrUnsafe", err)
	}
	if err := os.Chmod(p, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(p, true, 5); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("group-readable private file: err = %v, want ErrUnsafe", err)
	}
	if _, err := ReadFile(p, false, 5); err != nil {
		t.Fatalf("group-readable public file: %v", err)
	}
	if _, err := ReadFile(dir, false, 5); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("directory: err = %v, want ErrUnsafe", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing"), false, 5); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: err = %v", err)
	}
}
