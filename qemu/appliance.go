package qemu

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// Console prefixes of the enrollment banner (firmware/admin.EnrollmentBanner).
const (
	tokenPrefix       = "coffer: admin enrollment token (one use): "
	fingerprintPrefix = "coffer: appliance CA sha256: "
)

// QMPSocket is the QMP socket's name inside Config.Dir.
const QMPSocket = "qmp.sock"

// Enrollment is what an admin needs to enroll with a fresh appliance.
type Enrollment struct {
	// Token is the one-time admin enrollment token (secret).
	Token string
	// CAFingerprint is the SHA-256 (hex) of the appliance CA certificate.
	CAFingerprint string
}

// Enrollment returns the enrollment token and CA fingerprint the appliance
// printed on its console during this boot; ok is false when it printed no
// token (an admin is already enrolled). The token is kept out of the
// console log file.
func (vm *VM) Enrollment() (e Enrollment, ok bool) {
	for _, l := range vm.Console() {
		if i := strings.Index(l, tokenPrefix); i >= 0 {
			e.Token = strings.TrimSpace(l[i+len(tokenPrefix):])
		}
		if i := strings.Index(l, fingerprintPrefix); i >= 0 {
			e.CAFingerprint = strings.TrimSpace(l[i+len(fingerprintPrefix):])
		}
	}
	return e, e.Token != ""
}

// redactToken hides the enrollment token in a console line written to the
// log file.
func redactToken(line string) string {
	i := strings.Index(line, tokenPrefix)
	if i < 0 {
		return line
	}
	return line[:i+len(tokenPrefix)] + "REDACTED (shown on the terminal only)\n"
}

// PowerOff asks the VM whose state directory is dir (started by another
// process) to power off through its QMP socket (system_powerdown, the
// ACPI power button) and waits until QEMU exits, or ctx ends.
func PowerOff(ctx context.Context, dir string) error {
	sock := filepath.Join(dir, QMPSocket)
	q, err := dialQMP(ctx, sock)
	if err != nil {
		return fmt.Errorf("%w (is a VM running in %s?)", err, dir)
	}
	defer q.Close()
	if _, err := q.execute("system_powerdown"); err != nil {
		return err
	}
	// QEMU closes the socket when it exits; events arrive until then.
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(2 * time.Minute)
	}
	q.c.SetDeadline(dl)
	for {
		if _, err := q.read(); err != nil {
			if ctx.Err() != nil || time.Now().After(dl) {
				return fmt.Errorf("qemu: VM in %s did not power off: %w", dir, err)
			}
			return nil
		}
	}
}
