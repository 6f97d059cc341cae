// Package vectors locates the shared KMIP test material (../shared/kmip/vectors
// beside the checkout) for tests. It is imported by tests only.
package vectors

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the path of shared/kmip/vectors. The test fails (it does not
// skip) when the folder is missing: CI always has it.
func Dir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("COFFER_VECTORS"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			v := filepath.Join(d, "..", "shared", "kmip", "vectors")
			if _, err := os.Stat(v); err != nil {
				t.Fatalf("KMIP vectors not found at %s (set COFFER_VECTORS): %v", v, err)
			}
			return v
		}
		if filepath.Dir(d) == d {
			t.Fatal("go.mod not found above " + wd)
		}
	}
}
