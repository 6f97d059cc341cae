// Package qemu boots a built Coffer image in QEMU on the host, with a
// software TPM (swtpm), virtio-rng, the data disk on virtio, user-mode
// networking that forwards the KMIP and admin ports to 127.0.0.1, a serial
// console copied to a log file and a QMP socket for a clean power-off.
//
// QEMU runs under TCG by default: KVM hangs on the lab machines.
package qemu

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cofferhsm/coffer/boot"
	"github.com/cofferhsm/coffer/image"
)

// ErrConfig is returned for an unusable Config.
var ErrConfig = errors.New("qemu: invalid config")

// ErrExited is returned while waiting for a console marker when the VM has
// already exited.
var ErrExited = errors.New("qemu: vm exited")

// ErrHalted is returned by Start when the appliance halts instead of
// serving (it printed boot.MarkerHalted: refused unseal, failed key
// check, ...). The VM keeps running so that the caller can read its
// console and Stop it.
var ErrHalted = errors.New("qemu: appliance halted")

// DefaultAppend is the appliance's kernel command line under QEMU user-mode
// networking: the static guest address and gateway.
const DefaultAppend = "coffer.ip=10.0.2.15/24,10.0.2.2"

// Console log file name inside Config.Dir.
const ConsoleLog = "console.log"

// maxConsoleLines bounds the console history kept in memory.
const maxConsoleLines = 20000

// Forward forwards a TCP port on the host's loopback to the guest.
type Forward struct {
	HostAddr  string // e.g. "127.0.0.1:5696"
	GuestPort int
}

// DefaultForwards are KMIP (5696) and the admin API (8443).
var DefaultForwards = []Forward{{"127.0.0.1:5696", 5696}, {"127.0.0.1:8443", 8443}}

// Config configures a VM.
type Config struct {
	// ImageDir holds the output of image.Build. Required.
	ImageDir string
	// Dir is the VM's state directory: swtpm state, data disk, console log,
	// sockets. Created if needed; its data disk and TPM state persist across
	// runs. Required. Keep the path short: unix sockets live in it.
	Dir string
	// MemoryMiB is the guest memory. Zero means 512.
	MemoryMiB int
	// Accel is the QEMU accelerator: "tcg", "kvm", or "auto", which boots a
	// short probe VM under KVM (no TPM, no network) and uses KVM only if the
	// probe reaches Ready within ProbeTimeout, else TCG. Empty means "tcg":
	// KVM hangs on some hosts.
	Accel string
	// ProbeTimeout bounds the KVM probe boot of Accel "auto". Zero means 20s.
	ProbeTimeout time.Duration
	// Ready is the console text that marks a booted VM. Empty means
	// boot.MarkerReady. A console line containing boot.MarkerHalted before
	// it fails Start with ErrHalted.
	Ready string
	// ReadyTimeout bounds the wait for Ready. Zero means 3 minutes.
	ReadyTimeout time.Duration
	// Console, if not nil, receives a copy of the serial console.
	Console io.Writer
	// Forwards lists port forwards. Nil means DefaultForwards.
	Forwards []Forward
	// NoTPM boots without swtpm.
	NoTPM bool
	// Append is added to the kernel command line, after DefaultAppend
	// (which a later coffer.ip= here overrides).
	Append string
	// QEMU and SWTPM are the programs. Empty means qemu-system-x86_64 and
	// swtpm from $PATH.
	QEMU, SWTPM string
}

// VM is a running virtual machine. Create it with Start.
type VM struct {
	cfg       Config
	qemu      *exec.Cmd
	swtpm     *exec.Cmd
	swtpmDone chan error
	qmp       string
	log       *os.File

	exited      chan struct{}
	exitErr     error
	consoleDone chan struct{}

	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced on each console line
	eof     bool
}

// Start boots the VM and waits until the Ready marker appears on the
// console, ReadyTimeout passes or ctx ends. On failure the VM is killed.
func Start(ctx context.Context, cfg Config) (*VM, error) {
	if cfg.ImageDir == "" || cfg.Dir == "" {
		return nil, fmt.Errorf("%w: ImageDir and Dir are required", ErrConfig)
	}
	if cfg.MemoryMiB == 0 {
		cfg.MemoryMiB = 512
	}
	if cfg.MemoryMiB < 64 {
		return nil, fmt.Errorf("%w: %d MiB of memory", ErrConfig, cfg.MemoryMiB)
	}
	if cfg.Accel == "" {
		cfg.Accel = "tcg"
	}
	if cfg.ProbeTimeout == 0 {
		cfg.ProbeTimeout = 20 * time.Second
	}
	if cfg.Ready == "" {
		cfg.Ready = boot.MarkerReady
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 3 * time.Minute
	}
	if cfg.Forwards == nil {
		cfg.Forwards = DefaultForwards
	}
	if cfg.QEMU == "" {
		cfg.QEMU = "qemu-system-x86_64"
	}
	if cfg.SWTPM == "" {
		cfg.SWTPM = "swtpm"
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	cfg.Dir = dir
	if len(filepath.Join(dir, "swtpm.sock")) > 100 {
		return nil, fmt.Errorf("%w: Dir %q too long for unix sockets", ErrConfig, dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	disk, err := ensureDisk(cfg.ImageDir, dir)
	if err != nil {
		return nil, err
	}
	if cfg.Accel == "auto" {
		cfg.Accel = probeAccel(ctx, cfg)
	}

	vm := &VM{cfg: cfg, qmp: filepath.Join(dir, QMPSocket), exited: make(chan struct{}), consoleDone: make(chan struct{}), changed: make(chan struct{})}
	var tpmSock string
	if !cfg.NoTPM {
		if tpmSock, err = vm.startSWTPM(ctx); err != nil {
			return nil, err
		}
	}
	os.Remove(vm.qmp)
	vm.log, err = os.Create(filepath.Join(dir, ConsoleLog))
	if err != nil {
		vm.kill()
		return nil, fmt.Errorf("qemu: %w", err)
	}

	args := vm.args(disk, tpmSock)
	vm.qemu = exec.Command(cfg.QEMU, args...)
	vm.qemu.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// A pipe of our own: exec's StdoutPipe would be closed by Wait before
	// the last console lines are read.
	stdout, w, err := os.Pipe()
	if err != nil {
		vm.kill()
		return nil, fmt.Errorf("qemu: %w", err)
	}
	vm.qemu.Stdout = w
	var stderr strings.Builder
	vm.qemu.Stderr = &limitedWriter{w: &stderr, n: 64 << 10}
	err = vm.qemu.Start()
	w.Close()
	if err != nil {
		stdout.Close()
		close(vm.consoleDone)
		vm.kill()
		return nil, fmt.Errorf("qemu: %w", err)
	}
	go vm.readConsole(stdout)
	go func() {
		err := vm.qemu.Wait()
		if err != nil && stderr.Len() > 0 {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
		}
		vm.exitErr = err
		close(vm.exited)
		if vm.swtpm != nil {
			_ = vm.swtpm.Process.Signal(syscall.SIGTERM)
		}
	}()

	wctx, cancel := context.WithTimeout(ctx, cfg.ReadyTimeout)
	defer cancel()
	line, err := vm.WaitFor(wctx, cfg.Ready, boot.MarkerHalted)
	if err != nil {
		vm.kill()
		return nil, fmt.Errorf("qemu: waiting for %q: %w", cfg.Ready, err)
	}
	if !strings.Contains(line, cfg.Ready) {
		return vm, fmt.Errorf("%w: %s", ErrHalted, line)
	}
	return vm, nil
}

// probeAccel returns "kvm" if a probe VM boots to Ready under KVM within
// cfg.ProbeTimeout, else "tcg".
func probeAccel(ctx context.Context, cfg Config) string {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return "tcg"
	}
	f.Close()
	probe := cfg
	probe.Accel = "kvm"
	probe.Dir = filepath.Join(cfg.Dir, "probe")
	probe.NoTPM = true
	probe.Forwards = []Forward{}
	probe.Console = nil
	probe.ReadyTimeout = cfg.ProbeTimeout
	// PID 1 running is proof enough that KVM works.
	probe.Ready = "coffer: init started"
	defer os.RemoveAll(probe.Dir)
	vm, err := Start(ctx, probe)
	if err != nil {
		if vm != nil {
			vm.kill()
		}
		return "tcg"
	}
	vm.kill()
	return "kvm"
}

// Accel returns the accelerator the VM runs under.
func (vm *VM) Accel() string { return vm.cfg.Accel }

// Run boots the VM and keeps it running until ctx ends, then powers it off
// (QMP system_powerdown, then kill after a minute). It returns early with an
// error if the VM exits on its own.
func Run(ctx context.Context, cfg Config) error {
	vm, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return vm.Stop(sctx)
	case <-vm.exited:
		vm.cleanup()
		if vm.exitErr != nil {
			return fmt.Errorf("qemu: vm exited: %w", vm.exitErr)
		}
		return ErrExited
	}
}

func (vm *VM) args(disk, tpmSock string) []string {
	cfg := vm.cfg
	cmdline := "console=ttyS0 panic=-1 quiet " + DefaultAppend
	if cfg.Append != "" {
		cmdline += " " + cfg.Append
	}
	var fwd []string
	for _, f := range cfg.Forwards {
		fwd = append(fwd, fmt.Sprintf("hostfwd=tcp:%s-:%d", f.HostAddr, f.GuestPort))
	}
	netdev := "user,id=net0"
	if len(fwd) > 0 {
		netdev += "," + strings.Join(fwd, ",")
	}
	args := []string{
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-machine", "q35", "-accel", cfg.Accel, "-smp", "1",
		"-m", fmt.Sprint(cfg.MemoryMiB),
		"-kernel", filepath.Join(cfg.ImageDir, image.KernelFile),
		"-initrd", filepath.Join(cfg.ImageDir, image.InitramfsFile),
		"-append", cmdline,
		"-chardev", "stdio,id=con0,signal=off",
		"-serial", "chardev:con0",
		"-qmp", "unix:" + vm.qmp + ",server=on,wait=off",
		"-object", "rng-random,id=rng0,filename=/dev/urandom",
		"-device", "virtio-rng-pci,rng=rng0",
		"-drive", "file=" + disk + ",format=raw,if=virtio,cache=unsafe",
		"-netdev", netdev,
		"-device", "virtio-net-pci,netdev=net0",
	}
	if tpmSock != "" {
		args = append(args,
			"-chardev", "socket,id=chrtpm,path="+tpmSock,
			"-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
			"-device", "tpm-tis,tpmdev=tpm0")
	}
	return args
}

// ensureDisk returns the VM's data disk, creating an empty sparse one the
// size of the image's data disk on first use.
func ensureDisk(imageDir, dir string) (string, error) {
	disk := filepath.Join(dir, image.DataDiskFile)
	if _, err := os.Stat(disk); err == nil {
		return disk, nil
	}
	st, err := os.Stat(filepath.Join(imageDir, image.DataDiskFile))
	if err != nil {
		return "", fmt.Errorf("qemu: image: %w", err)
	}
	f, err := os.Create(disk)
	if err != nil {
		return "", fmt.Errorf("qemu: %w", err)
	}
	if err := f.Truncate(st.Size()); err != nil {
		f.Close()
		return "", fmt.Errorf("qemu: %w", err)
	}
	return disk, f.Close()
}

func (vm *VM) startSWTPM(ctx context.Context) (string, error) {
	state := filepath.Join(vm.cfg.Dir, "tpm")
	if err := os.MkdirAll(state, 0o700); err != nil {
		return "", fmt.Errorf("qemu: %w", err)
	}
	sock := filepath.Join(vm.cfg.Dir, "swtpm.sock")
	os.Remove(sock)
	vm.swtpm = exec.Command(vm.cfg.SWTPM, "socket", "--tpm2",
		"--tpmstate", "dir="+state,
		"--ctrl", "type=unixio,path="+sock,
		"--log", "file="+filepath.Join(vm.cfg.Dir, "swtpm.log")+",level=1",
		"--terminate")
	vm.swtpm.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := vm.swtpm.Start(); err != nil {
		return "", fmt.Errorf("qemu: swtpm: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- vm.swtpm.Wait() }()
	vm.swtpmDone = done
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			return sock, nil
		}
		select {
		case err := <-done:
			vm.swtpmDone = nil
			return "", fmt.Errorf("qemu: swtpm exited: %v", err)
		case <-ctx.Done():
			vm.kill()
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if i > 500 {
			vm.kill()
			return "", errors.New("qemu: swtpm socket did not appear")
		}
	}
}

func (vm *VM) readConsole(r io.ReadCloser) {
	defer close(vm.consoleDone)
	defer r.Close()
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			vm.log.WriteString(redactToken(line))
			if vm.cfg.Console != nil {
				io.WriteString(vm.cfg.Console, line)
			}
			vm.mu.Lock()
			vm.lines = append(vm.lines, strings.TrimRight(line, "\r\n"))
			if len(vm.lines) > maxConsoleLines {
				vm.lines = vm.lines[len(vm.lines)-maxConsoleLines:]
			}
			close(vm.changed)
			vm.changed = make(chan struct{})
			vm.mu.Unlock()
		}
		if err != nil {
			vm.mu.Lock()
			vm.eof = true
			close(vm.changed)
			vm.changed = make(chan struct{})
			vm.mu.Unlock()
			return
		}
	}
}

// WaitFor waits until a console line containing s (or any of more)
// appears, including lines seen before the call, and returns that line.
func (vm *VM) WaitFor(ctx context.Context, s string, more ...string) (string, error) {
	want := append([]string{s}, more...)
	seen := 0
	for {
		vm.mu.Lock()
		for ; seen < len(vm.lines); seen++ {
			for _, w := range want {
				if strings.Contains(vm.lines[seen], w) {
					l := vm.lines[seen]
					vm.mu.Unlock()
					return l, nil
				}
			}
		}
		ch, eof := vm.changed, vm.eof
		vm.mu.Unlock()
		if eof {
			return "", ErrExited
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// Console returns the console lines seen so far (at most the last 20000).
func (vm *VM) Console() []string {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return append([]string(nil), vm.lines...)
}

// Kill ends QEMU at once, without a clean shutdown (as a power cut), and
// then swtpm.
func (vm *VM) Kill() { vm.kill() }

// Exited is closed when QEMU has exited.
func (vm *VM) Exited() <-chan struct{} { return vm.exited }

// Stop asks the guest to power off with QMP system_powerdown (the ACPI power
// button) and waits for QEMU to exit; if ctx ends first, QEMU is killed and
// ctx.Err() returned. It returns QEMU's exit error, if any.
func (vm *VM) Stop(ctx context.Context) error {
	select {
	case <-vm.exited:
		vm.cleanup()
		return vm.exitErr
	default:
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	q, err := dialQMP(qctx, vm.qmp)
	if err == nil {
		_, err = q.execute("system_powerdown")
		q.Close()
	}
	cancel()
	if err != nil {
		vm.kill()
		return err
	}
	select {
	case <-vm.exited:
		vm.cleanup()
		return vm.exitErr
	case <-ctx.Done():
		vm.kill()
		return ctx.Err()
	}
}

// kill ends QEMU and swtpm at once and waits for them.
func (vm *VM) kill() {
	if vm.qemu != nil && vm.qemu.Process != nil {
		_ = syscall.Kill(-vm.qemu.Process.Pid, syscall.SIGKILL)
		<-vm.exited
	}
	vm.cleanup()
}

func (vm *VM) cleanup() {
	if vm.swtpm != nil && vm.swtpmDone != nil {
		_ = vm.swtpm.Process.Signal(syscall.SIGTERM)
		select {
		case <-vm.swtpmDone:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-vm.swtpm.Process.Pid, syscall.SIGKILL)
			<-vm.swtpmDone
		}
		vm.swtpmDone = nil
	}
	if vm.log != nil {
		select {
		case <-vm.consoleDone:
		case <-time.After(5 * time.Second):
		}
		vm.log.Close()
	}
}

type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n <= 0 {
		return len(p), nil
	}
	q := p
	if len(q) > l.n {
		q = q[:l.n]
	}
	l.n -= len(q)
	l.w.Write(q)
	return len(p), nil
}
