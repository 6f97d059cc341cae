package main

import (
	"testing"

	"github.com/cofferhsm/coffer/internal/deptest"
)

// TestDeps checks that PID 1 links neither test helpers nor host-only
// packages.
func TestDeps(t *testing.T) {
	deptest.Check(t, ".",
		"testing",
		"github.com/google/go-cmp",
		"github.com/cofferhsm/coffer/image",
		"github.com/cofferhsm/coffer/qemu",
		"github.com/cofferhsm/coffer/cmd",
		"github.com/u-root/mkuimage",
		"github.com/u-root/gobusybox",
	)
}
