package disk

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/cofferhsm/coffer/hsm/key"
)

// ErrDeviceMapper is wrapped by every error of the device-mapper layer.
var ErrDeviceMapper = errors.New("disk: device-mapper")

// Device-mapper ioctl ABI (linux/dm-ioctl.h, version 4).
const (
	dmIoctlSize   = 312 // sizeof(struct dm_ioctl)
	dmSpecSize    = 40  // sizeof(struct dm_target_spec)
	dmNameLen     = 128
	dmMaxTypeName = 16

	dmVersionCmd   = 0
	dmDevCreateCmd = 3
	dmDevRemoveCmd = 4
	dmDevSuspCmd   = 6
	dmTableLoadCmd = 9

	dmSecureDataFlag = 1 << 15

	// XTSKeySize is the size of the dm-crypt key (AES-256-XTS).
	XTSKeySize = 64
	// sectorSize is the unit of device-mapper table lengths and offsets.
	sectorSize = 512
)

// dmRequest is _IOWR(0xfd, cmd, struct dm_ioctl).
func dmRequest(cmd uintptr) uintptr {
	return 3<<30 | dmIoctlSize<<16 | 0xfd<<8 | cmd
}

// dmBuffer returns a zeroed ioctl buffer of size bytes (≥ dmIoctlSize)
// whose struct dm_ioctl names the device and carries flags.
func dmBuffer(size int, name string, flags, targets uint32) []byte {
	b := make([]byte, size)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], 4) // version 4.0.0
	ne.PutUint32(b[12:], uint32(size))
	ne.PutUint32(b[16:], dmIoctlSize) // data_start
	ne.PutUint32(b[20:], targets)
	ne.PutUint32(b[28:], flags)
	copy(b[48:48+dmNameLen-1], name)
	return b
}

// cryptTable returns a DM_TABLE_LOAD buffer for one "crypt" target of
// length sectors over dev starting at offset sectors, with the key
// hex-encoded in place. The caller must clear the buffer after use.
func cryptTable(name string, xtsKey []byte, dev string, offset, length uint64) []byte {
	const cipher = "aes-xts-plain64 "
	tail := " 0 " + dev + " " + strconv.FormatUint(offset, 10)
	plen := len(cipher) + 2*len(xtsKey) + len(tail) + 1 // NUL-terminated
	next := (dmSpecSize + plen + 7) &^ 7
	b := dmBuffer(dmIoctlSize+next, name, dmSecureDataFlag, 1)
	spec := b[dmIoctlSize:]
	ne := binary.NativeEndian
	ne.PutUint64(spec[0:], 0) // sector_start
	ne.PutUint64(spec[8:], length)
	ne.PutUint32(spec[20:], uint32(next))
	copy(spec[24:24+dmMaxTypeName-1], "crypt")
	p := spec[dmSpecSize:]
	n := copy(p, cipher)
	hex.Encode(p[n:], xtsKey)
	n += 2 * len(xtsKey)
	copy(p[n:], tail)
	return b
}

// dmControl issues device-mapper ioctls; the real one is a
// /dev/mapper/control file descriptor, tests use a fake.
type dmControl interface {
	ioctl(cmd uintptr, b []byte) error
}

// dmFD is an open /dev/mapper/control.
type dmFD int

func (fd dmFD) ioctl(cmd uintptr, b []byte) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), dmRequest(cmd), uintptr(unsafe.Pointer(&b[0])))
	if errno != 0 {
		return errno
	}
	return nil
}

// mapping is an active dm-crypt mapping.
type mapping struct {
	name    string
	node    string // /dev/mapper/<name>
	dev     uint64 // encoded dev_t of the mapping
	madeDev bool   // whether we created node
}

// openControl opens /dev/mapper/control, explaining the usual failure.
func openControl(devDir string) (dmFD, error) {
	ctl := filepath.Join(devDir, "mapper", "control")
	fd, err := unix.Open(ctl, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		hint := ""
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) {
			hint = " (is the dm_mod module loaded and devtmpfs mounted?)"
		}
		return -1, fmt.Errorf("%w: open %s: %w%s", ErrDeviceMapper, ctl, err, hint)
	}
	if err := dmFD(fd).ioctl(dmVersionCmd, dmBuffer(dmIoctlSize, "", 0, 0)); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("%w: DM_VERSION: %w", ErrDeviceMapper, err)
	}
	return dmFD(fd), nil
}

// createCrypt maps dev[offset:] (bytes, a multiple of 512) through dm-crypt
// AES-XTS with the key derived from m under key.LabelDiskXTS, and makes
// the /dev/mapper node. The hex key exists only inside the ioctl buffer,
// which is cleared before return (and the kernel is told to wipe its copy).
func createCrypt(devDir, name, dev string, offset int64, m *key.Master) (*mapping, error) {
	if name == "" || len(name) >= dmNameLen || filepath.Base(name) != name {
		return nil, fmt.Errorf("%w: bad mapping name %q", ErrDeviceMapper, name)
	}
	size, err := pathSize(dev)
	if err != nil {
		return nil, err
	}
	if offset <= 0 || offset%sectorSize != 0 || size-offset < MinDataSize {
		return nil, fmt.Errorf("%w: %s has %d bytes, data offset %d", ErrDeviceTooSmall, dev, size, offset)
	}
	k, err := m.Derive(key.LabelDiskXTS, XTSKeySize)
	if err != nil {
		return nil, fmt.Errorf("disk: deriving the XTS key: %w", err)
	}
	defer k.Destroy()
	kb, err := k.Bytes()
	if err != nil {
		return nil, fmt.Errorf("disk: deriving the XTS key: %w", err)
	}
	fd, err := openControl(devDir)
	if err != nil {
		return nil, err
	}
	defer unix.Close(int(fd))
	mp, err := setupCrypt(fd, name, kb, dev, uint64(offset)/sectorSize, uint64(size-offset)/sectorSize)
	if err != nil {
		return nil, err
	}
	if err := mp.makeNode(devDir); err != nil {
		if rerr := removeMapping(fd, name); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return nil, err
	}
	return mp, nil
}

// setupCrypt creates the device, loads the crypt table and resumes it
// (which activates the table). On failure it removes the device again.
func setupCrypt(ctl dmControl, name string, xtsKey []byte, dev string, offset, length uint64) (*mapping, error) {
	b := dmBuffer(4096, name, 0, 0)
	if err := ctl.ioctl(dmDevCreateCmd, b); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("%w: DM_DEV_CREATE %s: %w (mapping already exists)", ErrDeviceMapper, name, err)
		}
		return nil, fmt.Errorf("%w: DM_DEV_CREATE %s: %w", ErrDeviceMapper, name, err)
	}
	mp := &mapping{name: name, dev: binary.NativeEndian.Uint64(b[40:])}
	fail := func(err error) (*mapping, error) {
		if rerr := removeMapping(ctl, name); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return nil, err
	}
	tb := cryptTable(name, xtsKey, dev, offset, length)
	err := ctl.ioctl(dmTableLoadCmd, tb)
	clear(tb)
	if err != nil {
		return fail(fmt.Errorf("%w: DM_TABLE_LOAD crypt: %w%s", ErrDeviceMapper, err, cryptHint()))
	}
	if err := ctl.ioctl(dmDevSuspCmd, dmBuffer(4096, name, 0, 0)); err != nil {
		return fail(fmt.Errorf("%w: DM_DEV_SUSPEND (resume) %s: %w", ErrDeviceMapper, name, err))
	}
	return mp, nil
}

// removeMapping removes the named device, retrying briefly while it is busy.
func removeMapping(ctl dmControl, name string) error {
	var err error
	for i := 0; ; i++ {
		err = ctl.ioctl(dmDevRemoveCmd, dmBuffer(4096, name, 0, 0))
		if !errors.Is(err, unix.EBUSY) || i == 20 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("%w: DM_DEV_REMOVE %s: %w", ErrDeviceMapper, name, err)
	}
	return nil
}

// cryptHint names the modules a failed crypt table load usually lacks: the
// kernel reports a missing target or cipher only as EINVAL.
func cryptHint() string {
	if _, err := os.Stat("/sys/module/dm_crypt"); err != nil {
		return " (module dm_crypt not loaded)"
	}
	return " (aes-xts-plain64 unavailable? load the xts and ecb modules; see the kernel log)"
}

// makeNode creates devDir/mapper/<name> as a block device for the
// mapping's dev_t unless a node with that dev_t is already there.
func (mp *mapping) makeNode(devDir string) error {
	mp.node = filepath.Join(devDir, "mapper", mp.name)
	var st unix.Stat_t
	if err := unix.Stat(mp.node, &st); err == nil {
		if st.Mode&unix.S_IFMT == unix.S_IFBLK && st.Rdev == mp.dev {
			return nil
		}
		if err := os.Remove(mp.node); err != nil {
			return fmt.Errorf("%w: replacing stale %s: %w", ErrDeviceMapper, mp.node, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(mp.node), 0o755); err != nil {
		return fmt.Errorf("%w: %w", ErrDeviceMapper, err)
	}
	if err := unix.Mknod(mp.node, unix.S_IFBLK|0o600, int(mp.dev)); err != nil {
		return fmt.Errorf("%w: mknod %s (%d:%d): %w", ErrDeviceMapper, mp.node,
			unix.Major(mp.dev), unix.Minor(mp.dev), err)
	}
	mp.madeDev = true
	return nil
}

// remove removes the mapping and the node it created.
func (mp *mapping) remove(devDir string) error {
	fd, err := openControl(devDir)
	if err != nil {
		return err
	}
	defer unix.Close(int(fd))
	if err := removeMapping(fd, mp.name); err != nil {
		return err
	}
	if mp.madeDev {
		if err := os.Remove(mp.node); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %w", ErrDeviceMapper, err)
		}
	}
	return nil
}

// pathSize returns the size in bytes of the file or block device at path.
func pathSize(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("disk: %w", err)
	}
	defer f.Close()
	return deviceSize(f)
}

// deviceSize returns the size of an open file or block device.
func deviceSize(f *os.File) (int64, error) {
	n, err := f.Seek(0, 2)
	if err != nil {
		return 0, fmt.Errorf("disk: size of %s: %w", f.Name(), err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		return 0, fmt.Errorf("disk: %w", err)
	}
	return n, nil
}
