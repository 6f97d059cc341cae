package hsm

import (
	"testing"

	"github.com/cofferhsm/coffer/internal/deptest"
)

// TestDependencies enforces the architecture's dependency rules: the core
// never imports the KMIP, boot, image or qemu packages, and hsmd does not
// link the testing package or test helpers.
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	deptest.Check(t, "github.com/cofferhsm/coffer/hsm/rpc",
		"github.com/cofferhsm/coffer/kmip", "github.com/cofferhsm/coffer/boot",
		"github.com/cofferhsm/coffer/image", "github.com/cofferhsm/coffer/qemu")
	deptest.Check(t, "github.com/cofferhsm/coffer/firmware/cmd/hsmd",
		"testing", "github.com/cofferhsm/coffer/hsm/hsmtest",
		"github.com/cofferhsm/coffer/hsm/store/storetest", "github.com/cofferhsm/coffer/kmip")
}
