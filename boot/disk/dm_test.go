package disk

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/cofferhsm/coffer/hsm/key"
)

// TestDMRequest pins the ioctl numbers against linux/dm-ioctl.h
// (_IOWR(0xfd, cmd, struct dm_ioctl), sizeof = 312).
func TestDMRequest(t *testing.T) {
	tests := []struct {
		cmd  uintptr
		want uintptr
	}{
		{dmVersionCmd, 0xc138fd00},
		{dmDevCreateCmd, 0xc138fd03},
		{dmDevRemoveCmd, 0xc138fd04},
		{dmDevSuspCmd, 0xc138fd06},
		{dmTableLoadCmd, 0xc138fd09},
	}
	for _, tt := range tests {
		if got := dmRequest(tt.cmd); got != tt.want {
			t.Errorf("dmRequest(%d) = %#x, want %#x", tt.cmd, got, tt.want)
		}
	}
}

func TestDMBuffer(t *testing.T) {
	b := dmBuffer(4096, "coffer-data", 7, 2)
	ne := binary.NativeEndian
	got := []uint32{ne.Uint32(b[0:]), ne.Uint32(b[4:]), ne.Uint32(b[8:]), ne.Uint32(b[12:]), ne.Uint32(b[16:]), ne.Uint32(b[20:]), ne.Uint32(b[28:])}
	want := []uint32{4, 0, 0, 4096, dmIoctlSize, 2, 7}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("word %d = %d, want %d", i, got[i], want[i])
		}
	}
	if name := string(bytes.TrimRight(b[48:48+dmNameLen], "\x00")); name != "coffer-data" {
		t.Errorf("name %q", name)
	}
	// The name field always keeps a terminating NUL.
	long := dmBuffer(dmIoctlSize, strings.Repeat("x", 300), 0, 0)
	if long[48+dmNameLen-1] != 0 || long[48+dmNameLen] != 0 {
		t.Errorf("overlong name not truncated with a NUL")
	}
}

func TestCryptTable(t *testing.T) {
	xts := bytes.Repeat([]byte{0xab, 0xcd}, XTSKeySize/2)
	b := cryptTable("coffer-data", xts, "/dev/vda", 2048, 129024)
	ne := binary.NativeEndian
	if int(ne.Uint32(b[12:])) != len(b) || ne.Uint32(b[16:]) != dmIoctlSize || ne.Uint32(b[20:]) != 1 {
		t.Errorf("header: data_size %d (len %d), data_start %d, targets %d", ne.Uint32(b[12:]), len(b), ne.Uint32(b[16:]), ne.Uint32(b[20:]))
	}
	if ne.Uint32(b[28:])&dmSecureDataFlag == 0 {
		t.Errorf("DM_SECURE_DATA_FLAG not set")
	}
	spec := b[dmIoctlSize:]
	if start, length := ne.Uint64(spec[0:]), ne.Uint64(spec[8:]); start != 0 || length != 129024 {
		t.Errorf("target at %d, length %d", start, length)
	}
	next := int(ne.Uint32(spec[20:]))
	if next%8 != 0 || next != len(spec) {
		t.Errorf("next %d, spec area %d bytes", next, len(spec))
	}
	if typ := string(bytes.TrimRight(spec[24:24+dmMaxTypeName], "\x00")); typ != "crypt" {
		t.Errorf("target type %q", typ)
	}
	params, _, ok := bytes.Cut(spec[dmSpecSize:], []byte{0})
	want := "aes-xts-plain64 " + hex.EncodeToString(xts) + " 0 /dev/vda 2048"
	if !ok || string(params) != want {
		t.Errorf("params %q, want %q", params, want)
	}
}

func TestOpenConfig(t *testing.T) {
	m := key.Master{}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no device", Config{Master: testMaster(t, 1)}},
		{"no master", Config{Device: "/dev/vda"}},
		{"destroyed master", Config{Device: "/dev/vda", Master: &m}},
		{"first boot without sealed", Config{Device: "/dev/vda", Master: testMaster(t, 1), FirstBoot: true}},
		{"first boot huge sealed", Config{Device: "/dev/vda", Master: testMaster(t, 1), FirstBoot: true, Sealed: make([]byte, MaxSealedSize+1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Open(context.Background(), tt.cfg); !errors.Is(err, ErrConfig) {
				t.Errorf("Open: %v, want ErrConfig", err)
			}
		})
	}
}

// TestOpenRefuses runs Open's checks that come before device-mapper, on a
// disk file: none of them may write to the disk.
func TestOpenRefuses(t *testing.T) {
	m := testMaster(t, 1)
	formatted := func(t *testing.T) string {
		dev := blankDisk(t, testDiskSize)
		if err := Format(dev, []byte("sealed"), m); err != nil {
			t.Fatal(err)
		}
		return dev
	}
	tests := []struct {
		name string
		dev  func(t *testing.T) string
		cfg  Config
		want error
	}{
		{"blank without first boot", func(t *testing.T) string { return blankDisk(t, testDiskSize) }, Config{Master: m}, ErrNoHeader},
		{"blank too small", func(t *testing.T) string { return blankDisk(t, testDiskSize-4096) }, Config{Master: m, FirstBoot: true, Sealed: []byte("s")}, ErrDeviceTooSmall},
		{"wrong master", formatted, Config{Master: testMaster(t, 2), FirstBoot: true, Sealed: []byte("s")}, ErrKeyCheck},
		{"corrupt header", func(t *testing.T) string {
			dev := formatted(t)
			f, err := os.OpenFile(dev, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte{0xff}, 70); err != nil {
				t.Fatal(err)
			}
			return dev
		}, Config{Master: m, FirstBoot: true, Sealed: []byte("s")}, ErrCorruptHeader},
		{"foreign data", func(t *testing.T) string {
			dev := blankDisk(t, testDiskSize)
			f, err := os.OpenFile(dev, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte("not a coffer disk"), 1024); err != nil {
				t.Fatal(err)
			}
			return dev
		}, Config{Master: m, FirstBoot: true, Sealed: []byte("s")}, ErrCorruptHeader},
		// A valid header and key pass the checks; this host has no
		// device-mapper control node in DevDir.
		{"no device-mapper", formatted, Config{Master: m, DevDir: "/nonexistent"}, ErrDeviceMapper},
		{"no device-mapper on first boot", func(t *testing.T) string { return blankDisk(t, testDiskSize) }, Config{Master: m, FirstBoot: true, Sealed: []byte("s"), DevDir: "/nonexistent"}, ErrDeviceMapper},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev := tt.dev(t)
			before, err := os.ReadFile(dev)
			if err != nil {
				t.Fatal(err)
			}
			cfg := tt.cfg
			cfg.Device = dev
			cfg.MountPoint = filepath.Join(t.TempDir(), "data")
			v, err := Open(context.Background(), cfg)
			if !errors.Is(err, tt.want) || v != nil {
				t.Errorf("Open = %v, %v; want %v", v, err, tt.want)
			}
			after, _ := os.ReadFile(dev)
			if !bytes.Equal(before, after) {
				t.Errorf("refused Open changed the disk")
			}
		})
	}
}

func TestCreateCryptChecks(t *testing.T) {
	m := testMaster(t, 1)
	dev := blankDisk(t, testDiskSize)
	for _, tt := range []struct {
		name   string
		offset int64
		want   error
	}{
		{"bad name/", DefaultDataOffset, ErrDeviceMapper},
		{"", DefaultDataOffset, ErrDeviceMapper},
		{"coffer-data", 1000, ErrDeviceTooSmall},
		{"coffer-data", DefaultDataOffset + 4096, ErrDeviceTooSmall},
	} {
		if _, err := createCrypt("/nonexistent", tt.name, dev, tt.offset, m); !errors.Is(err, tt.want) {
			t.Errorf("createCrypt(%q, %d): %v, want %v", tt.name, tt.offset, err, tt.want)
		}
	}
}

// fakeDM records ioctls. On DM_DEV_CREATE it returns dev; it fails the
// command failCmd with failErr.
type fakeDM struct {
	cmds    []uintptr
	names   []string
	dev     uint64
	failCmd uintptr
	failErr error
	table   []byte // the DM_TABLE_LOAD buffer (aliased, to check it is cleared)
	params  string // its parameters at the time of the call
}

func (f *fakeDM) ioctl(cmd uintptr, b []byte) error {
	f.cmds = append(f.cmds, cmd)
	f.names = append(f.names, string(bytes.TrimRight(b[48:48+dmNameLen], "\x00")))
	switch cmd {
	case dmDevCreateCmd:
		binary.NativeEndian.PutUint64(b[40:], f.dev)
	case dmTableLoadCmd:
		f.table = b
		p, _, _ := bytes.Cut(b[dmIoctlSize+dmSpecSize:], []byte{0})
		f.params = string(p)
	}
	if f.failErr != nil && cmd == f.failCmd {
		return f.failErr
	}
	return nil
}

func TestSetupCrypt(t *testing.T) {
	xts := bytes.Repeat([]byte{0x5a}, XTSKeySize)
	const none = ^uintptr(0)
	tests := []struct {
		name     string
		failCmd  uintptr
		failErr  error
		wantCmds []uintptr
		wantErr  error
	}{
		{"ok", none, nil, []uintptr{dmDevCreateCmd, dmTableLoadCmd, dmDevSuspCmd}, nil},
		{"create busy", dmDevCreateCmd, unix.EBUSY, []uintptr{dmDevCreateCmd}, unix.EBUSY},
		{"table load fails", dmTableLoadCmd, unix.EINVAL, []uintptr{dmDevCreateCmd, dmTableLoadCmd, dmDevRemoveCmd}, unix.EINVAL},
		{"resume fails", dmDevSuspCmd, unix.ENXIO, []uintptr{dmDevCreateCmd, dmTableLoadCmd, dmDevSuspCmd, dmDevRemoveCmd}, unix.ENXIO},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeDM{dev: uint64(unix.Mkdev(253, 0)), failCmd: tt.failCmd, failErr: tt.failErr}
			mp, err := setupCrypt(f, "coffer-data", xts, "/dev/vda", 2048, 4096)
			if tt.wantErr == nil {
				if err != nil || mp == nil || mp.dev != f.dev || mp.name != "coffer-data" {
					t.Fatalf("setupCrypt = %+v, %v", mp, err)
				}
			} else if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrDeviceMapper) || mp != nil {
				t.Fatalf("setupCrypt = %+v, %v; want %v", mp, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantCmds, f.cmds); diff != "" {
				t.Errorf("ioctls (-want +got):\n%s", diff)
			}
			for i, n := range f.names {
				if n != "coffer-data" {
					t.Errorf("ioctl %d names %q", i, n)
				}
			}
			if f.table != nil {
				if want := "aes-xts-plain64 " + hex.EncodeToString(xts) + " 0 /dev/vda 2048"; f.params != want {
					t.Errorf("table params %q, want %q", f.params, want)
				}
				if !isZero(f.table) {
					t.Errorf("the table buffer holding the hex key was not cleared")
				}
			}
		})
	}
}

func TestRemoveMappingBusy(t *testing.T) {
	f := &fakeDM{failCmd: dmDevRemoveCmd, failErr: unix.EBUSY}
	err := removeMapping(f, "coffer-data")
	if !errors.Is(err, unix.EBUSY) || !errors.Is(err, ErrDeviceMapper) || len(f.cmds) != 21 {
		t.Errorf("removeMapping = %v after %d tries", err, len(f.cmds))
	}
}

func TestMakeNode(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mknod needs root")
	}
	dir := t.TempDir()
	dev := uint64(unix.Mkdev(253, 7))
	mp := &mapping{name: "coffer-data", dev: dev}
	if err := mp.makeNode(dir); err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(dir, "mapper", "coffer-data"), &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFBLK || st.Rdev != dev || st.Mode&0o777 != 0o600 {
			t.Errorf("node mode %o rdev %d:%d", st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
	}
	check()
	if !mp.madeDev {
		t.Errorf("madeDev not set")
	}
	// An existing node for the same device is kept (devtmpfs or udev made it).
	again := &mapping{name: "coffer-data", dev: dev}
	if err := again.makeNode(dir); err != nil || again.madeDev {
		t.Errorf("second makeNode: %v, madeDev %v", err, again.madeDev)
	}
	// A stale file is replaced.
	node := filepath.Join(dir, "mapper", "coffer-data")
	if err := os.Remove(node); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(node, []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := mp.makeNode(dir); err != nil {
		t.Fatal(err)
	}
	check()
}
