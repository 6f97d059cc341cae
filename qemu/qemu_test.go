package qemu

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/boot"
	"github.com/cofferhsm/coffer/image"
)

func TestConfigErrors(t *testing.T) {
	tests := []Config{
		{},
		{ImageDir: t.TempDir()},
		{ImageDir: t.TempDir(), Dir: t.TempDir(), MemoryMiB: 16},
		{ImageDir: t.TempDir(), Dir: "/tmp/" + strings.Repeat("x", 120)},
	}
	for _, cfg := range tests {
		if _, err := Start(context.Background(), cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("Start(%+v) = %v, want ErrConfig", cfg, err)
		}
	}
}

func TestArgs(t *testing.T) {
	vm := &VM{cfg: Config{ImageDir: "/img", Dir: "/vm", MemoryMiB: 256, Accel: "tcg", Forwards: DefaultForwards, Append: "coffer.debug=1"}, qmp: "/vm/qmp.sock"}
	args := vm.args("/vm/data.img", "/vm/swtpm.sock")
	joined := strings.Join(args, " ")
	for _, want := range []string{
		"-accel tcg", "-m 256", "-kernel /img/vmlinuz", "-initrd /img/initramfs.cpio.gz",
		"hostfwd=tcp:127.0.0.1:5696-:5696", "hostfwd=tcp:127.0.0.1:8443-:8443",
		"virtio-rng-pci", "file=/vm/data.img,format=raw,if=virtio", "tpm-tis,tpmdev=tpm0",
		"socket,id=chrtpm,path=/vm/swtpm.sock", "unix:/vm/qmp.sock,server=on,wait=off",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("args lack %q:\n%s", want, joined)
		}
	}
	i := slices.Index(args, "-append")
	if i < 0 || !strings.Contains(args[i+1], "console=ttyS0") || !strings.Contains(args[i+1], "coffer.debug=1") {
		t.Errorf("kernel command line: %v", args)
	}
	if strings.Contains(strings.Join(vm.args("/d", ""), " "), "tpm") {
		t.Error("args without a TPM socket mention a TPM")
	}
}

func TestWaitFor(t *testing.T) {
	r, w := io.Pipe()
	log, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	vm := &VM{log: log, changed: make(chan struct{}), consoleDone: make(chan struct{})}
	go vm.readConsole(r)
	go func() {
		io.WriteString(w, "early line\r\nbooting\n")
		time.Sleep(10 * time.Millisecond)
		io.WriteString(w, "coffer: boot ok\n")
		w.Close()
	}()
	ctx := context.Background()
	if l, err := vm.WaitFor(ctx, "boot ok"); err != nil || l != "coffer: boot ok" {
		t.Fatalf("WaitFor = %q, %v", l, err)
	}
	if l, err := vm.WaitFor(ctx, "early"); err != nil || l != "early line" {
		t.Fatalf("WaitFor earlier line = %q, %v", l, err)
	}
	if l, err := vm.WaitFor(ctx, "never", "booting", "boot ok"); err != nil || l != "booting" {
		t.Fatalf("WaitFor any = %q, %v; want the first line matching any", l, err)
	}
	if _, err := vm.WaitFor(ctx, "never"); !errors.Is(err, ErrExited) {
		t.Fatalf("WaitFor after EOF = %v, want ErrExited", err)
	}
	<-vm.consoleDone
	b, _ := os.ReadFile(log.Name())
	if string(b) != "early line\r\nbooting\ncoffer: boot ok\n" {
		t.Errorf("console log %q", b)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestBoot builds the real image, boots it under TCG with swtpm, waits for
// the boot marker, checks that the kernel found the TPM and powers the VM
// off through QMP.
func TestBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM; skipped with -short")
	}
	for _, tool := range []string{"qemu-system-x86_64", "swtpm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: %v", tool, err)
		}
	}
	ctx := context.Background()
	imgDir := t.TempDir()
	start := time.Now()
	if _, err := image.Build(ctx, image.Config{Dir: imgDir, DataDiskSize: 64 << 20, Commit: "test"}); err != nil {
		t.Fatalf("image.Build: %v", err)
	}
	t.Logf("image built in %v", time.Since(start))

	vmDir, err := os.MkdirTemp("", "vm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(vmDir) })
	start = time.Now()
	vm, err := Start(ctx, Config{
		ImageDir: imgDir,
		Dir:      vmDir,
		Forwards: []Forward{{freeAddr(t), 5696}},
	})
	if err != nil {
		if vm != nil {
			vm.Kill()
		}
		b, _ := os.ReadFile(filepath.Join(vmDir, ConsoleLog))
		t.Fatalf("Start: %v\nconsole:\n%s", err, b)
	}
	t.Logf("boot to %q in %v", boot.MarkerReady, time.Since(start))
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := vm.WaitFor(wctx, "coffer: tpm "); err != nil {
		t.Fatal(err)
	}
	con := strings.Join(vm.Console(), "\n")
	if !strings.Contains(con, boot.MarkerTPM) {
		t.Errorf("guest did not find /dev/tpmrm0:\n%s", con)
	}
	if !strings.Contains(con, "coffer: tool mke2fs ") {
		t.Errorf("mke2fs does not run in the guest:\n%s", con)
	}
	if !strings.Contains(con, "coffer: rng seeded") {
		t.Errorf("guest did not seed its RNG:\n%s", con)
	}
	if _, err := vm.WaitFor(wctx, "coffer: watching power button"); err != nil {
		t.Fatalf("no power button: %v\n%s", err, strings.Join(vm.Console(), "\n"))
	}
	sctx, cancel2 := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel2()
	if err := vm.Stop(sctx); err != nil {
		t.Fatalf("Stop: %v\n%s", err, strings.Join(vm.Console(), "\n"))
	}
	con = strings.Join(vm.Console(), "\n")
	t.Logf("console:\n%s", con)
	if !strings.Contains(con, boot.MarkerPowerOff+" (power button)") {
		t.Errorf("guest did not power off on the power button:\n%s", con)
	}
	b, err := os.ReadFile(filepath.Join(vmDir, ConsoleLog))
	if err != nil || !strings.Contains(string(b), boot.MarkerBootOK) {
		t.Errorf("console log lacks the marker (%v)", err)
	}
}

// BenchmarkBoot measures boot to the ready marker and a clean QMP power-off
// under TCG with swtpm (image built once, outside the timer).
func BenchmarkBoot(b *testing.B) {
	for _, tool := range []string{"qemu-system-x86_64", "swtpm"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s not found: %v", tool, err)
		}
	}
	ctx := context.Background()
	imgDir := b.TempDir()
	if _, err := image.Build(ctx, image.Config{Dir: imgDir, DataDiskSize: 64 << 20, Commit: "bench"}); err != nil {
		b.Fatal(err)
	}
	vmDir, err := os.MkdirTemp("", "vm")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(vmDir)
	b.ResetTimer()
	for b.Loop() {
		vm, err := Start(ctx, Config{ImageDir: imgDir, Dir: vmDir, Forwards: []Forward{}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := vm.WaitFor(ctx, "coffer: watching power button"); err != nil {
			b.Fatal(err)
		}
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		err = vm.Stop(sctx)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// TestAccelAuto boots with Accel "auto": KVM if a probe boot works, else TCG
// (KVM hangs on some hosts; the probe must not).
func TestAccelAuto(t *testing.T) {
	if testing.Short() {
		t.Skip("boots VMs; skipped with -short")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skipf("qemu-system-x86_64 not found: %v", err)
	}
	ctx := context.Background()
	imgDir := t.TempDir()
	if _, err := image.Build(ctx, image.Config{Dir: imgDir, DataDiskSize: 64 << 20, Commit: "test"}); err != nil {
		t.Fatalf("image.Build: %v", err)
	}
	vmDir, err := os.MkdirTemp("", "vm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(vmDir) })
	start := time.Now()
	// Without a TPM the appliance halts after reporting it; that line is
	// the ready marker here.
	vm, err := Start(ctx, Config{ImageDir: imgDir, Dir: vmDir, Accel: "auto", ProbeTimeout: 15 * time.Second, NoTPM: true, Forwards: []Forward{}, Ready: boot.MarkerNoTPM})
	if err != nil {
		if vm != nil {
			vm.Kill()
		}
		t.Fatal(err)
	}
	t.Logf("booted under %s in %v", vm.Accel(), time.Since(start))
	if a := vm.Accel(); a != "kvm" && a != "tcg" {
		t.Errorf("Accel() = %q", a)
	}
	if _, err := os.Stat(filepath.Join(vmDir, "probe")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("probe dir left behind: %v", err)
	}
	if !slices.Contains(vm.Console(), boot.MarkerNoTPM) {
		t.Errorf("NoTPM VM reported a TPM:\n%s", strings.Join(vm.Console(), "\n"))
	}
	if _, err := vm.WaitFor(ctx, "coffer: watching power button"); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := vm.Stop(sctx); err != nil {
		t.Fatal(err)
	}
}
