package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/cofferhsm/coffer/internal/vectors"
)

// TestGeneratedUpToDate fails when the checked-in tables differ from what
// the generator makes from its inputs: run `go generate ./kmip`.
func TestGeneratedUpToDate(t *testing.T) {
	files, err := generate(filepath.Join(vectors.Dir(t), "kmip11_tags_enums.json"), "additions.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("generated %d files, want 2", len(files))
	}
	for name, src := range files {
		have, err := os.ReadFile(filepath.Join("..", "..", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(have, src) {
			t.Errorf("kmip/%s is stale: run go generate ./kmip", name)
		}
	}
}

func TestIdent(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SHA_256", "SHA256"},
		{"PKCS_1", "PKCS1"},
		{"X_509CertificateIdentifier", "X509CertificateIdentifier"},
		{"DES3", "DES3"},
		{"preActive", "PreActive"},
	}
	for _, tc := range tests {
		got, err := ident(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ident(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "3DES", "a-b", "a.b"} {
		if _, err := ident(bad); err == nil {
			t.Errorf("ident(%q) succeeded", bad)
		}
	}
}

func TestCollectRejectsDuplicates(t *testing.T) {
	_, err := collect(map[string]entry{
		"A": {Value: "0x00000001", XMLName: "A"},
		"B": {Value: "0x00000001", XMLName: "B"},
	})
	if err == nil {
		t.Error("duplicate value accepted")
	}
	_, err = collect(map[string]entry{"A": {Value: "0x01", XMLName: "A"}}, map[string]entry{"A2": {Value: "0x02", XMLName: "A"}})
	if err == nil {
		t.Error("duplicate identifier accepted")
	}
}
