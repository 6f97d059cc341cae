package sealtest

import (
	"os/exec"
	"syscall"
)

// killWithParent makes the kernel kill swtpm when the test binary dies
// (a timeout panic or a crash skips t.Cleanup).
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
