// Package boot is the appliance's PID 1: it mounts the kernel filesystems,
// loads the kernel modules the box needs, seeds the RNG, reports progress on
// the console with "coffer: …" marker lines and powers the machine off on
// request. Run never returns while the machine is up.
//
// Later stages (unsealing the master key, opening the dm-crypt data disk,
// starting hsmd and kmipd under boot/supervise) plug in between "modules
// loaded" and "boot ok".
package boot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cofferhsm/coffer/boot/supervise"
	"golang.org/x/sys/unix"
)

// Marker lines printed on the console. Host-side tests wait for them.
const (
	MarkerBootOK   = "coffer: boot ok"
	MarkerTPM      = "coffer: tpm /dev/tpmrm0 present"
	MarkerNoTPM    = "coffer: tpm absent"
	MarkerPowerOff = "coffer: powering off"
)

// DefaultModules are the kernel modules the appliance loads at boot (with
// their dependencies). The kernel cannot load modules on its own in the
// image, so crypto helpers such as xts, ecb and crc32c_generic are explicit.
var DefaultModules = []string{
	"virtio_pci", "virtio_blk", "virtio_net", "virtio_rng", "virtio_console",
	"dm_mod", "dm_crypt", "xts", "ecb", "crc32c_generic", "ext4",
	"button", "evdev",
}

// Config configures Run.
type Config struct {
	// Console receives the marker and status lines. Nil means os.Stdout,
	// which for PID 1 is /dev/console.
	Console io.Writer
	// Modules to load. Nil means DefaultModules.
	Modules []string
	// ModulesDir is the directory holding modules.dep. Empty means
	// /lib/modules/<running kernel release>.
	ModulesDir string
	// PowerOff turns the machine off. Nil means sync and reboot(2) with
	// LINUX_REBOOT_CMD_POWER_OFF.
	PowerOff func() error
}

// Run brings the appliance up and then waits for a power-off request:
// SIGTERM, SIGINT (Ctrl-Alt-Del), SIGUSR2 or the ACPI power button. It
// returns only if powering off failed.
func Run(cfg Config) error {
	con := cfg.Console
	if con == nil {
		con = os.Stdout
	}
	say := func(format string, args ...any) { fmt.Fprintf(con, format+"\n", args...) }
	say("coffer: init started (pid %d)", os.Getpid())

	// Signals first, so a power-off request during bring-up is not lost.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR2)
	if os.Getpid() == 1 {
		// Ctrl-Alt-Del sends SIGINT to PID 1 instead of rebooting.
		_ = unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF)
	}
	reaper, err := supervise.NewReaper(false, nil)
	if err != nil {
		say("coffer: error: %v", err)
	} else {
		defer reaper.Close()
	}

	var failed []string
	fail := func(err error) {
		say("coffer: error: %v", err)
		failed = append(failed, err.Error())
	}
	if err := MountKernelFS(); err != nil {
		fail(err)
	}
	dir := cfg.ModulesDir
	if dir == "" {
		var uts unix.Utsname
		if err := unix.Uname(&uts); err != nil {
			fail(err)
		}
		dir = filepath.Join("/lib/modules", unix.ByteSliceToString(uts.Release[:]))
	}
	mods := cfg.Modules
	if mods == nil {
		mods = DefaultModules
	}
	loaded, err := LoadModules(dir, mods...)
	if err != nil {
		fail(err)
	}
	say("coffer: modules loaded: %s", strings.Join(loaded, " "))

	if src, n, err := SeedRNG("/dev/hwrng", "/dev/urandom", 64, 5*time.Second); err != nil {
		fail(err)
	} else {
		say("coffer: rng seeded with %d bytes from %s (not credited)", n, src)
	}

	if reaper != nil {
		// The image carries mke2fs for the first-boot format of the data
		// disk; check that it and its libraries run.
		if out, err := RunTool(reaper, 10*time.Second, "/sbin/mke2fs", "-V"); err != nil {
			fail(err)
		} else {
			first, _, _ := strings.Cut(out, "\n")
			say("coffer: tool %s", first)
		}
	}

	if _, err := os.Stat("/dev/tpmrm0"); err == nil {
		say(MarkerTPM)
	} else {
		say(MarkerNoTPM)
	}

	power := make(chan string, 1)
	go watchPowerButton(power, say)

	if len(failed) == 0 {
		say(MarkerBootOK)
	} else {
		say("coffer: boot failed: %d errors", len(failed))
	}

	var reason string
	select {
	case s := <-sigs:
		reason = "signal " + s.String()
	case reason = <-power:
	}
	say("%s (%s)", MarkerPowerOff, reason)
	off := cfg.PowerOff
	if off == nil {
		off = powerOff
	}
	return off()
}

// MaxToolOutput bounds the output RunTool keeps.
const MaxToolOutput = 64 << 10

// RunTool runs a helper program through the reaper with a timeout and
// returns its combined output (at most MaxToolOutput bytes). A non-zero exit
// is an error.
func RunTool(r *supervise.Reaper, timeout time.Duration, path string, args ...string) (string, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return "", fmt.Errorf("boot: %w", err)
	}
	defer pr.Close()
	cmd := exec.Command(path, args...)
	cmd.Stdout = pw
	cmd.Stderr = pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	exited, err := r.Start(cmd)
	pw.Close()
	if err != nil {
		return "", fmt.Errorf("boot: %s: %w", path, err)
	}
	outc := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(pr, MaxToolOutput))
		io.Copy(io.Discard, pr)
		outc <- b
	}()
	var ws syscall.WaitStatus
	select {
	case ws = <-exited:
	case <-time.After(timeout):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		return "", fmt.Errorf("boot: %s: timeout after %v", path, timeout)
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	var out []byte
	select {
	case out = <-outc:
	case <-time.After(time.Second):
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return string(out), fmt.Errorf("boot: %s: exit status %#x", path, uint32(ws))
	}
	return string(out), nil
}

func powerOff() error {
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		return fmt.Errorf("boot: power off: %w", err)
	}
	return nil
}

// MountKernelFS mounts /proc, /sys, /dev (devtmpfs) and /run (tmpfs),
// creating the mount points. Already mounted file systems are left alone.
func MountKernelFS() error {
	mounts := []struct {
		fstype, target string
		flags          uintptr
		data           string
	}{
		{"proc", "/proc", unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV, ""},
		{"sysfs", "/sys", unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV, ""},
		{"devtmpfs", "/dev", unix.MS_NOSUID, "mode=0755"},
		{"tmpfs", "/run", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
	}
	var errs []error
	for _, m := range mounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			errs = append(errs, fmt.Errorf("boot: mkdir %s: %w", m.target, err))
			continue
		}
		err := unix.Mount(m.fstype, m.target, m.fstype, m.flags, m.data)
		if err != nil && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("boot: mount %s: %w", m.target, err))
		}
	}
	return errors.Join(errs...)
}

// SeedRNG reads n bytes from the hardware RNG src and writes them to dst
// (normally /dev/urandom), which mixes them into the kernel pool without
// crediting entropy. It gives up after timeout. It returns the name of the
// hardware RNG in use, when the kernel reports it.
func SeedRNG(src, dst string, n int, timeout time.Duration) (string, int, error) {
	name := src
	if b, err := os.ReadFile("/sys/class/misc/hw_random/rng_current"); err == nil {
		name = fmt.Sprintf("%s (%s)", src, strings.TrimSpace(string(b)))
	}
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		f, err := os.Open(src)
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer f.Close()
		b := make([]byte, n)
		_, err = io.ReadFull(f, b)
		ch <- result{b, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-time.After(timeout):
		return name, 0, fmt.Errorf("boot: seed rng: %s: timeout", src)
	}
	if r.err != nil {
		return name, 0, fmt.Errorf("boot: seed rng: %w", r.err)
	}
	defer clear(r.b)
	f, err := os.OpenFile(dst, os.O_WRONLY, 0)
	if err != nil {
		return name, 0, fmt.Errorf("boot: seed rng: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(r.b); err != nil {
		return name, 0, fmt.Errorf("boot: seed rng: %w", err)
	}
	return name, len(r.b), nil
}
