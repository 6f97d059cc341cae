package hsm

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies enforces the architecture's dependency rules: the core
// never imports the KMIP, boot, image or qemu packages, and hsmd does not
// link the testing package or test helpers.
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	forbidden := map[string][]string{
		"github.com/cofferhsm/coffer/hsm/rpc": {"github.com/cofferhsm/coffer/kmip", "github.com/cofferhsm/coffer/boot",
			"github.com/cofferhsm/coffer/image", "github.com/cofferhsm/coffer/qemu"},
		"github.com/cofferhsm/coffer/firmware/cmd/hsmd": {"testing", "github.com/cofferhsm/coffer/hsm/hsmtest",
			"github.com/cofferhsm/coffer/hsm/store/storetest", "github.com/cofferhsm/coffer/kmip"},
	}
	// hsm/rpc depends on hsm, hsm/object and hsm/key.
	for pkg, bad := range forbidden {
		out, err := exec.Command(gotool, "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, b := range bad {
				if dep == b || strings.HasPrefix(dep, b+"/") {
					t.Errorf("%s depends on forbidden package %s", pkg, dep)
				}
			}
		}
	}
}
