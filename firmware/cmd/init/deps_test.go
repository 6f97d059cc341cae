package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps checks that PID 1 links neither test helpers nor host-only
// packages.
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
		"github.com/cofferhsm/coffer/image",
		"github.com/cofferhsm/coffer/qemu",
		"github.com/cofferhsm/coffer/cmd/",
		"github.com/u-root/mkuimage/",
		"github.com/u-root/gobusybox/",
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if d == strings.TrimSuffix(f, "/") || strings.HasPrefix(d, f) && strings.HasSuffix(f, "/") || d == f {
				t.Errorf("init links forbidden package %s", d)
			}
		}
	}
}
