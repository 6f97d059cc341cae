package admin

import (
	"testing"

	"github.com/cofferhsm/coffer/internal/deptest"
)

// TestDeps checks that the admin API, which runs on the appliance, links
// neither test helpers, host-only packages nor the KMIP stack.
func TestDeps(t *testing.T) {
	deptest.Check(t, ".",
		"testing",
		"github.com/google/go-cmp",
		"github.com/cofferhsm/coffer/kmip",
		"github.com/cofferhsm/coffer/image",
		"github.com/cofferhsm/coffer/qemu",
		"github.com/cofferhsm/coffer/cmd",
		"github.com/cofferhsm/coffer/internal/hostmode",
		"github.com/u-root/mkuimage",
	)
}
