package admin

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps checks that the admin API, which runs on the appliance, links
// neither test helpers, host-only packages nor the KMIP stack.
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
		"github.com/google/go-cmp",
		"github.com/cofferhsm/coffer/kmip",
		"github.com/cofferhsm/coffer/image",
		"github.com/cofferhsm/coffer/qemu",
		"github.com/cofferhsm/coffer/cmd",
		"github.com/cofferhsm/coffer/internal/hostmode",
		"github.com/u-root/mkuimage",
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f+"/") {
				t.Errorf("firmware/admin links forbidden package %s", d)
			}
		}
	}
}
