// Package boot is the appliance's PID 1. Run, in order:
//
//  1. measures the image: the SHA-256 listing of every file of the
//     unpacked initramfs except the signed policy (firmware/release),
//     before anything else can change it;
//  2. mounts /proc, /sys, /dev and /run, loads the kernel modules the box
//     needs (virtio, dm-crypt, xts, ecb, crc32c, ext4, ...) and seeds the
//     RNG from virtio-rng without crediting entropy;
//  3. sets the host name and the network from the kernel command line
//     (ParseCmdline: coffer.ip=ADDR/PREFIX,GATEWAY, coffer.hostname=NAME);
//  4. opens the TPM, extends PCR 11 with the measurement, unseals the
//     master key from the data disk header under the image's signed policy
//     (first boot, blank disk only: generates and seals a new key), and
//     caps PCR 11 on every path so nothing started later can unseal;
//  5. opens the dm-crypt data partition (boot/disk; first boot: mke2fs)
//     and mounts /data; loads the appliance CA and, while no admin is
//     enrolled, prints a one-time admin enrollment token;
//  6. starts hsmd (the master key on its stdin, from PID 1's memory: kmipd
//     never holds it) and kmipd under boot/supervise, and prints
//     MarkerReady once both listen;
//  7. on SIGTERM, SIGINT (Ctrl-Alt-Del), SIGUSR2 or the ACPI power button
//     (QMP system_powerdown) stops the services, unmounts /data, closes the
//     mapping, syncs and powers off.
//
// A failed unseal, a failed key check or a corrupt header prints
// MarkerHalted with the reason and halts (waits for power-off): the box
// never reformats a disk that has a header. Progress goes to the console
// as "coffer: ..." lines. Run never returns while the machine is up.
package boot

import (
	"context"
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
	"github.com/cofferhsm/coffer/firmware/release"
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
	// Appliance configures the appliance stage (steps 4 to 6 of the
	// package comment); its zero value is the appliance's layout.
	Appliance ApplianceConfig
	// NoAppliance skips the appliance stage and the network: Run only
	// brings the kernel up (hardware bring-up tests).
	NoAppliance bool
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
	bootStart := time.Now()

	// Measure first, before any other code runs or anything is mounted.
	root := cfg.Appliance.Root
	if root == "" {
		root = "/"
	}
	var measurement [32]byte
	var measureErr error
	if !cfg.NoAppliance {
		measurement, measureErr = release.MeasureDir(root)
		if measureErr == nil {
			say("coffer: image measurement %s (%v)", hexDigest(measurement), time.Since(bootStart).Round(time.Millisecond))
		}
	}

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
	if measureErr != nil {
		fail(measureErr)
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

	if !cfg.NoAppliance {
		cmdline, err := os.ReadFile("/proc/cmdline")
		if err != nil {
			fail(fmt.Errorf("boot: %w", err))
		} else if nc, err := ParseCmdline(strings.TrimSpace(string(cmdline))); err != nil {
			fail(err)
		} else if desc, err := ConfigureNetwork(nc, 5*time.Second); err != nil {
			fail(err)
		} else {
			say("coffer: network: %s", desc)
		}
	}

	_ = waitFile("/dev/tpmrm0", 2*time.Second)
	if _, err := os.Stat("/dev/tpmrm0"); err == nil {
		say(MarkerTPM)
	} else {
		say(MarkerNoTPM)
	}

	power := make(chan string, 1)
	go watchPowerButton(power, say)

	var app *appliance
	switch {
	case len(failed) > 0:
		say("%sboot failed: %d errors: %s", MarkerHalted, len(failed), strings.Join(failed, "; "))
	case cfg.NoAppliance:
		say(MarkerBootOK)
	default:
		if reaper == nil {
			say("%sno reaper", MarkerHalted)
			break
		}
		a, err := startAppliance(context.Background(), cfg.Appliance, reaper, con, measurement, say)
		var he *HaltError
		switch {
		case errors.As(err, &he):
			say("%s%s (%v)", MarkerHalted, he.Reason, he.Err)
		case err != nil:
			say("%s%v", MarkerHalted, err)
		default:
			app = a
			say(MarkerBootOK)
			say("%s (%v after init started)", MarkerReady, time.Since(bootStart).Round(time.Millisecond))
		}
	}

	var reason string
	select {
	case s := <-sigs:
		reason = "signal " + s.String()
	case reason = <-power:
	}
	if app != nil {
		say("coffer: shutting down (%s)", reason)
		app.stop(say)
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
