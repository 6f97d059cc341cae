package disk_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/u-root/mkuimage/cpio"

	"github.com/cofferhsm/coffer/boot/disk"
	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/cofferhsm/coffer/image"
	"github.com/cofferhsm/coffer/qemu"
)

// Shared with internal/disktest.
const (
	resultMarker = "DISKTEST RESULT "
	testSealed   = "disktest sealed blob"
)

// modules are the kernel modules the guest loads (with dependencies).
var modules = []string{"virtio_pci", "virtio_blk", "dm_mod", "dm_crypt", "xts", "ecb", "crc32c_generic", "ext4"}

// TestQEMU runs dm-crypt, mke2fs and mount for real: the kernel here has
// no device-mapper, so it boots the appliance kernel and initramfs (from
// image.Build) with internal/disktest appended as /disktest and run as
// init, seven times over one data disk:
//
//  1. first boot: formats, mounts, writes a file;
//  2. same master: mounts, reads the file back;
//  3. crash: writes and fsyncs files, then QEMU is killed (no unmount);
//  4. recover: every acknowledged file is there and the filesystem mounts;
//  5. no dm_crypt module: ErrDeviceMapper naming it, disk bytes unchanged;
//  6. wrong master: ErrKeyCheck, disk bytes unchanged;
//  7. header's key-check value corrupted (checksum recomputed):
//     ErrKeyCheck, disk bytes unchanged.
func TestQEMU(t *testing.T) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skipf("qemu-system-x86_64 not found: %v", err)
	}
	// Hang guards only: CI builds other images and boots other VMs on the
	// same two cores at the same time, so a boot can take minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	imgDir := filepath.Join(tmp, "img")
	var progress bytes.Buffer
	start := time.Now()
	if _, err := image.Build(ctx, image.Config{Dir: imgDir, Commit: "disktest", DataDiskSize: 64 << 20, Modules: modules, Progress: &progress}); err != nil {
		t.Fatalf("image.Build: %v\n%s", err, progress.String())
	}
	appendDisktest(t, ctx, filepath.Join(imgDir, image.InitramfsFile))
	t.Logf("image built in %v", time.Since(start).Round(time.Second))

	vmDir := filepath.Join(tmp, "vm")
	diskFile := filepath.Join(vmDir, image.DataDiskFile)
	masterBytes := bytes.Repeat([]byte{0x42}, key.MasterSize)
	wrongBytes := bytes.Repeat([]byte{0x24}, key.MasterSize)

	boot := func(name, mode string, mb []byte, kill bool) {
		t.Helper()
		start := time.Now()
		var con bytes.Buffer
		vm, err := qemu.Start(ctx, qemu.Config{
			ImageDir:     imgDir,
			Dir:          vmDir,
			NoTPM:        true,
			Forwards:     []qemu.Forward{},
			Ready:        resultMarker,
			ReadyTimeout: 4 * time.Minute,
			Console:      &con,
			Append:       "rdinit=/disktest disktest.mode=" + mode + " disktest.master=" + hex.EncodeToString(mb),
		})
		if err != nil {
			t.Fatalf("%s: %v\nconsole:\n%s", name, err, con.String())
		}
		line, _ := vm.WaitFor(ctx, resultMarker)
		if kill {
			// Stop with an ended context kills QEMU at once.
			kctx, kcancel := context.WithCancel(ctx)
			kcancel()
			_ = vm.Stop(kctx)
		} else {
			select { // the guest powers itself off after the result line
			case <-vm.Exited():
			case <-time.After(30 * time.Second):
			}
			sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
			defer scancel()
			if err := vm.Stop(sctx); err != nil {
				t.Errorf("%s: stopping: %v", name, err)
			}
		}
		for _, l := range vm.Console() {
			if strings.HasPrefix(l, "disktest: ") {
				t.Logf("%s: %s", name, l)
			}
		}
		if !strings.Contains(line, resultMarker+"PASS "+mode) {
			t.Fatalf("%s: %s\nconsole:\n%s", name, line, con.String())
		}
		t.Logf("%s: %s (%v)", name, line, time.Since(start).Round(time.Second))
	}

	boot("first boot", "first", masterBytes, false)
	master, err := key.NewMaster(masterBytes)
	if err != nil {
		t.Fatal(err)
	}
	h, err := disk.ReadHeader(diskFile)
	if err != nil {
		t.Fatalf("host ReadHeader after first boot: %v", err)
	}
	if err := h.Verify(master); err != nil {
		t.Errorf("host Verify: %v", err)
	}
	if got := string(h.Sealed()); got != testSealed || h.DataOffset() != disk.DefaultDataOffset {
		t.Errorf("header: sealed %q, data offset %d", got, h.DataOffset())
	}

	boot("second boot", "second", masterBytes, false)
	boot("crash", "crash", masterBytes, true)
	boot("recover", "recover", masterBytes, false)

	before := hashFile(t, diskFile)
	boot("no dm_crypt", "nocrypt", masterBytes, false)
	if after := hashFile(t, diskFile); after != before {
		t.Errorf("failed dm-crypt setup changed the disk: %s → %s", before, after)
	}
	boot("wrong master", "keycheck", wrongBytes, false)
	if after := hashFile(t, diskFile); after != before {
		t.Errorf("wrong master changed the disk: %s → %s", before, after)
	}

	corruptKeyCheck(t, diskFile)
	if _, err := disk.ReadHeader(diskFile); err != nil {
		t.Fatalf("corrupted header should still parse: %v", err)
	}
	before = hashFile(t, diskFile)
	boot("corrupt key check", "keycheck", masterBytes, false)
	if after := hashFile(t, diskFile); after != before {
		t.Errorf("corrupt key check changed the disk: %s → %s", before, after)
	}
	if h, err := disk.ReadHeader(diskFile); err != nil || !errors.Is(h.Verify(master), disk.ErrKeyCheck) {
		t.Errorf("after refusal: ReadHeader %v; want a header failing the key check", err)
	}
}

// appendDisktest builds internal/disktest and appends it as /disktest to
// the gzip-compressed initramfs (the kernel unpacks concatenated archives).
func appendDisktest(t *testing.T, ctx context.Context, initramfs string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "disktest")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./internal/disktest")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building disktest: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(initramfs, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	w := cpio.Newc.Writer(zw)
	if err := w.WriteRecord(cpio.StaticRecord(b, cpio.Info{Name: "disktest", Mode: cpio.S_IFREG | 0o755})); err != nil {
		t.Fatal(err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func hashFile(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// corruptKeyCheck flips a bit of the key-check value in the header of the
// disk file and recomputes the checksum, so only the key check can tell.
func corruptKeyCheck(t *testing.T, name string) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, disk.HeaderSize)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	fixHeader(b, func(b []byte) { b[40] ^= 0x01 })
	if _, err := f.WriteAt(b, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// fixHeader applies edit to an encoded header and recomputes its checksum
// (the sealed length at offset 24 is read after the edit).
func fixHeader(b []byte, edit func([]byte)) {
	edit(b)
	n := int(binary.BigEndian.Uint16(b[24:]))
	end := 64 + n
	if end+sha256.Size > len(b) {
		return
	}
	sum := sha256.Sum256(b[:end])
	copy(b[end:], sum[:])
}
