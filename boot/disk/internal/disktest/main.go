// Command disktest is the guest side of boot/disk's QEMU test. It runs as
// the initramfs's init (rdinit=/disktest), loads the modules the data
// partition needs, runs one scenario named on the kernel command line
// against /dev/vda with disk.Open, prints one result line
//
//	DISKTEST RESULT PASS <mode>
//	DISKTEST RESULT FAIL <mode>: <reason>
//
// and powers the machine off. Kernel command line parameters:
//
//	disktest.mode=first|second|crash|recover|nocrypt|keycheck
//	disktest.master=<64 hex digits>
//
// first: blank disk, FirstBoot: formats, mounts, writes a file.
// second: mounts without FirstBoot and reads the file back.
// crash: mounts, writes and fsyncs crashFiles files, prints the result and
// hangs without unmounting (the host kills QEMU).
// recover: mounts after the crash and reads every file back.
// nocrypt: without the dm_crypt module loaded, Open must fail with
// disk.ErrDeviceMapper naming the module and leave no mapping behind.
// keycheck: Open (with FirstBoot and a sealed blob) must fail with
// disk.ErrKeyCheck and leave nothing mapped.
package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cofferhsm/coffer/boot"
	"github.com/cofferhsm/coffer/boot/disk"
	"github.com/cofferhsm/coffer/hsm/key"
)

// Shared with the host test.
const (
	testFile    = "disktest.txt"
	testContent = "coffer data partition survives reboots\n"
	testSealed  = "disktest sealed blob"
	crashFiles  = 20
	device      = "/dev/vda"
)

var modules = []string{"virtio_pci", "virtio_blk", "dm_mod", "dm_crypt", "xts", "ecb", "crc32c_generic", "ext4"}

func main() {
	mode, err := run()
	if err != nil {
		fmt.Printf("DISKTEST RESULT FAIL %s: %v\n", mode, err)
	} else {
		fmt.Printf("DISKTEST RESULT PASS %s\n", mode)
	}
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

func run() (string, error) {
	for _, m := range []struct{ src, dst, fs string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}, {"devtmpfs", "/dev", "devtmpfs"},
	} {
		_ = os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.fs, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return "?", fmt.Errorf("mount %s: %w", m.dst, err)
		}
	}
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return "?", err
	}
	params := map[string]string{}
	for _, f := range strings.Fields(string(cmdline)) {
		if k, v, ok := strings.Cut(f, "="); ok && strings.HasPrefix(k, "disktest.") {
			params[strings.TrimPrefix(k, "disktest.")] = v
		}
	}
	mode := params["mode"]
	mb, err := hex.DecodeString(params["master"])
	if err != nil {
		return mode, fmt.Errorf("disktest.master: %w", err)
	}
	master, err := key.NewMaster(mb)
	if err != nil {
		return mode, err
	}
	defer master.Destroy()

	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return mode, err
	}
	release := unix.ByteSliceToString(uts.Release[:])
	mods := modules
	if mode == "nocrypt" {
		mods = []string{"virtio_pci", "virtio_blk", "dm_mod", "ext4"}
	}
	if _, err := boot.LoadModules(filepath.Join("/lib/modules", release), mods...); err != nil {
		return mode, err
	}
	if err := waitFor(device, 20*time.Second); err != nil {
		return mode, err
	}
	return mode, scenario(mode, master)
}

func waitFor(name string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		_, err := os.Stat(name)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func scenario(mode string, master *key.Master) error {
	ctx := context.Background()
	cfg := disk.Config{Device: device, Master: master}
	switch mode {
	case "first":
		cfg.FirstBoot = true
		cfg.Sealed = []byte(testSealed)
		v, err := disk.Open(ctx, cfg)
		if err != nil {
			return err
		}
		if !v.Formatted() {
			v.Close()
			return errors.New("first boot did not format")
		}
		if err := checkExt4(v.MountPoint()); err != nil {
			v.Close()
			return err
		}
		if err := writeFile(filepath.Join(v.MountPoint(), testFile), []byte(testContent)); err != nil {
			v.Close()
			return err
		}
		return closeAndCheck(v)
	case "second":
		v, err := disk.Open(ctx, cfg)
		if err != nil {
			return err
		}
		if v.Formatted() {
			v.Close()
			return errors.New("second boot formatted")
		}
		if got := string(v.Header().Sealed()); got != testSealed {
			v.Close()
			return fmt.Errorf("sealed blob %q", got)
		}
		got, err := os.ReadFile(filepath.Join(v.MountPoint(), testFile))
		if err != nil || !bytes.Equal(got, []byte(testContent)) {
			v.Close()
			return fmt.Errorf("read back %q, %v", got, err)
		}
		return closeAndCheck(v)
	case "crash":
		v, err := disk.Open(ctx, cfg)
		if err != nil {
			return err
		}
		for i := range crashFiles {
			if err := writeFile(filepath.Join(v.MountPoint(), fmt.Sprintf("crash-%d", i)), []byte(fmt.Sprint(i))); err != nil {
				return err
			}
		}
		d, err := os.Open(v.MountPoint())
		if err != nil {
			return err
		}
		if err := d.Sync(); err != nil {
			return err
		}
		// Every write is acknowledged: report, then wait to be killed.
		fmt.Printf("DISKTEST RESULT PASS crash\n")
		select {}
	case "recover":
		v, err := disk.Open(ctx, cfg)
		if err != nil {
			return err
		}
		for i := range crashFiles {
			got, err := os.ReadFile(filepath.Join(v.MountPoint(), fmt.Sprintf("crash-%d", i)))
			if err != nil || string(got) != fmt.Sprint(i) {
				v.Close()
				return fmt.Errorf("crash-%d after the crash: %q, %v", i, got, err)
			}
		}
		if got, err := os.ReadFile(filepath.Join(v.MountPoint(), testFile)); err != nil || string(got) != testContent {
			v.Close()
			return fmt.Errorf("read back %q, %v", got, err)
		}
		return closeAndCheck(v)
	case "nocrypt":
		v, err := disk.Open(ctx, cfg)
		if err == nil {
			v.Close()
			return errors.New("Open succeeded without dm_crypt")
		}
		if !errors.Is(err, disk.ErrDeviceMapper) || !strings.Contains(err.Error(), "dm_crypt") {
			return fmt.Errorf("Open: %w, want ErrDeviceMapper naming dm_crypt", err)
		}
		fmt.Printf("disktest: refused as expected: %v\n", err)
		if dms, _ := filepath.Glob("/sys/block/dm-*"); len(dms) != 0 {
			return fmt.Errorf("mappings left behind: %v", dms)
		}
		return nil
	case "keycheck":
		cfg.FirstBoot = true
		cfg.Sealed = []byte("a different sealed blob")
		v, err := disk.Open(ctx, cfg)
		if err == nil {
			v.Close()
			return errors.New("Open succeeded")
		}
		if !errors.Is(err, disk.ErrKeyCheck) {
			return fmt.Errorf("Open: %w, want ErrKeyCheck", err)
		}
		fmt.Printf("disktest: refused as expected: %v\n", err)
		if _, err := os.Stat("/dev/mapper/" + disk.DefaultName); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("mapping node after a refused Open: %v", err)
		}
		return nil
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
}

func checkExt4(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return err
	}
	if st.Type != unix.EXT4_SUPER_MAGIC {
		return fmt.Errorf("%s is filesystem type %#x, want ext4", dir, st.Type)
	}
	return nil
}

func writeFile(name string, b []byte) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// closeAndCheck closes v and checks that the mapping is gone.
func closeAndCheck(v *disk.Volume) error {
	node := v.Device()
	if err := v.Close(); err != nil {
		return err
	}
	if _, err := os.Stat(node); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s after Close: %v", node, err)
	}
	return nil
}
