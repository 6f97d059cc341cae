// Package deptest checks from tests that a package does not link forbidden
// packages: the architecture's dependency rules (on-device binaries never
// link testing, test helpers or host-only packages; hsm never imports kmip).
package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

// Check fails t if pkg (an import path or a relative path such as ".")
// depends, directly or not, on any package in forbidden or below it.
func Check(t *testing.T, pkg string, forbidden ...string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 2 {
		t.Fatalf("go list -deps %s returned %d packages", pkg, len(deps))
	}
	for _, d := range deps {
		for _, f := range forbidden {
			f = strings.TrimSuffix(f, "/")
			if d == f || strings.HasPrefix(d, f+"/") {
				t.Errorf("%s links forbidden package %s", pkg, d)
			}
		}
	}
}
