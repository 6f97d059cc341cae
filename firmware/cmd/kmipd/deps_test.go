package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps checks that kmipd links neither the sealer, the disk code nor
// PID 1 (it must never be able to obtain the master key itself), nor test
// helpers or host-only packages.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list returned %d packages", len(deps))
	}
	forbidden := []string{
		"testing",
		"github.com/google/go-cmp/",
		"github.com/google/go-tpm/",
		"github.com/cofferhsm/coffer/hsm/seal",
		"github.com/cofferhsm/coffer/boot",
		"github.com/cofferhsm/coffer/image",
		"github.com/cofferhsm/coffer/qemu",
		"github.com/cofferhsm/coffer/cmd/",
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if d == strings.TrimSuffix(f, "/") || strings.HasSuffix(f, "/") && strings.HasPrefix(d, f) || strings.HasPrefix(d, f+"/") {
				t.Errorf("kmipd links forbidden package %s", d)
			}
		}
	}
}
