package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cofferhsm/coffer/hsm/key"
)

// Defaults for Config's zero values.
const (
	DefaultName       = "coffer-data"
	DefaultMountPoint = "/data"
	DefaultMke2fs     = "/sbin/mke2fs"
	DefaultDevDir     = "/dev"
)

// ErrConfig is returned by Open for an unusable Config.
var ErrConfig = errors.New("disk: invalid config")

// ErrMkfs is returned when mke2fs fails on first boot.
var ErrMkfs = errors.New("disk: mke2fs failed")

// ErrMount is returned when the filesystem cannot be mounted.
var ErrMount = errors.New("disk: mount failed")

// mke2fsArgs are the fixed mke2fs options used on first boot (the device
// is appended). MKE2FS_CONFIG points at a missing file so the built-in
// profile applies whatever the host or image holds in /etc.
var mke2fsArgs = []string{
	"-t", "ext4", "-q", "-F",
	"-b", "4096", "-I", "256", "-m", "0",
	"-L", "coffer-data",
	"-E", "lazy_itable_init=0,lazy_journal_init=0,nodiscard",
}

// Config configures Open.
type Config struct {
	// Device is the data disk, e.g. /dev/vda. Required.
	Device string
	// Master is the unsealed master key. Required. Open does not keep it.
	Master *key.Master
	// FirstBoot allows Open to format a blank disk (ErrNoHeader): mke2fs
	// inside a new mapping, then the header with Sealed. It never formats
	// a disk that has a header, valid or not. False means a blank disk is
	// an error (ErrNoHeader).
	FirstBoot bool
	// Sealed is the sealed master key written into the header on first
	// boot. Required with FirstBoot; ignored otherwise.
	Sealed []byte
	// MountPoint is where the filesystem is mounted. Empty means /data.
	MountPoint string
	// Name is the device-mapper name. Empty means "coffer-data".
	Name string
	// Mke2fs is the mke2fs program. Empty means /sbin/mke2fs.
	Mke2fs string
	// DevDir is where mapper/control lives and mapper nodes are made.
	// Empty means /dev.
	DevDir string
}

// Volume is the mounted, decrypted data partition. Close it to unmount it
// and remove the mapping.
type Volume struct {
	cfg       Config
	header    *Header
	dm        *mapping
	formatted bool
	closed    bool
}

// Open reads the header of cfg.Device, checks the master key against it,
// maps the data area through dm-crypt and mounts the ext4 filesystem at
// cfg.MountPoint. On a blank disk with cfg.FirstBoot it formats first (see
// the package comment). Errors: ErrNoHeader (blank disk, no FirstBoot),
// ErrCorruptHeader, ErrVersion, ErrKeyCheck, ErrDeviceMapper, ErrMkfs,
// ErrMount, ErrConfig. On error nothing stays mapped or mounted, and a disk
// that had a header is never written to.
func Open(ctx context.Context, cfg Config) (*Volume, error) {
	if cfg.Device == "" || cfg.Master == nil {
		return nil, fmt.Errorf("%w: Device and Master are required", ErrConfig)
	}
	if _, err := cfg.Master.Bytes(); err != nil {
		return nil, fmt.Errorf("%w: master key: %w", ErrConfig, err)
	}
	if cfg.MountPoint == "" {
		cfg.MountPoint = DefaultMountPoint
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.Mke2fs == "" {
		cfg.Mke2fs = DefaultMke2fs
	}
	if cfg.DevDir == "" {
		cfg.DevDir = DefaultDevDir
	}
	if cfg.FirstBoot && (len(cfg.Sealed) == 0 || len(cfg.Sealed) > MaxSealedSize) {
		return nil, fmt.Errorf("%w: %w: %d bytes", ErrConfig, ErrSealed, len(cfg.Sealed))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v := &Volume{cfg: cfg}
	h, err := ReadHeader(cfg.Device)
	switch {
	case errors.Is(err, ErrNoHeader) && cfg.FirstBoot:
		if err := v.firstBoot(ctx); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		if err := h.Verify(cfg.Master); err != nil {
			return nil, err
		}
		v.header = h
		if v.dm, err = createCrypt(cfg.DevDir, cfg.Name, cfg.Device, h.DataOffset(), cfg.Master); err != nil {
			return nil, err
		}
	}
	if err := v.mount(); err != nil {
		if rerr := v.dm.remove(cfg.DevDir); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return nil, err
	}
	return v, nil
}

// firstBoot maps the blank disk, runs mke2fs inside the mapping and then
// writes the header (the commit point).
func (v *Volume) firstBoot(ctx context.Context) error {
	cfg := v.cfg
	h, err := newHeader(cfg.Sealed, cfg.Master, DefaultDataOffset)
	if err != nil {
		return err
	}
	f, err := os.Open(cfg.Device)
	if err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	err = checkBlank(f)
	f.Close()
	if err != nil {
		return err
	}
	if v.dm, err = createCrypt(cfg.DevDir, cfg.Name, cfg.Device, h.DataOffset(), cfg.Master); err != nil {
		return err
	}
	fail := func(err error) error {
		if rerr := v.dm.remove(cfg.DevDir); rerr != nil {
			err = errors.Join(err, rerr)
		}
		v.dm = nil
		return err
	}
	if err := mkfs(ctx, cfg.Mke2fs, v.dm.node); err != nil {
		return fail(err)
	}
	if err := Format(cfg.Device, cfg.Sealed, cfg.Master); err != nil {
		return fail(err)
	}
	v.header = h
	v.formatted = true
	return nil
}

// mkfs runs mke2fs with mke2fsArgs on dev.
func mkfs(ctx context.Context, prog, dev string) error {
	args := append(append([]string(nil), mke2fsArgs...), dev)
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = []string{"PATH=/sbin:/usr/sbin:/bin:/usr/bin", "MKE2FS_CONFIG=/nonexistent/coffer-mke2fs.conf"}
	var out limitedBuffer
	out.max = 4096
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s %s: %w: %s", ErrMkfs, prog, strings.Join(args, " "), err, bytes.TrimSpace(out.b))
	}
	return nil
}

// Mount options: the data partition holds no programs or devices.
const mountFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME

func (v *Volume) mount() error {
	if err := os.MkdirAll(v.cfg.MountPoint, 0o700); err != nil {
		return fmt.Errorf("%w: %w", ErrMount, err)
	}
	if err := unix.Mount(v.dm.node, v.cfg.MountPoint, "ext4", mountFlags, "errors=remount-ro"); err != nil {
		hint := ""
		if errors.Is(err, unix.ENODEV) {
			hint = " (module ext4 not loaded?)"
		}
		return fmt.Errorf("%w: %s on %s: %w%s", ErrMount, v.dm.node, v.cfg.MountPoint, err, hint)
	}
	return nil
}

// Header returns the disk's header.
func (v *Volume) Header() *Header { return v.header }

// Formatted reports whether this Open formatted the disk (first boot).
func (v *Volume) Formatted() bool { return v.formatted }

// MountPoint returns where the filesystem is mounted.
func (v *Volume) MountPoint() string { return v.cfg.MountPoint }

// Device returns the decrypted block device (/dev/mapper/<name>).
func (v *Volume) Device() string { return v.dm.node }

// Close syncs, unmounts the filesystem and removes the mapping. If the
// unmount fails Close returns the error and may be called again; once the
// unmount succeeded, later calls return nil (even if removing the mapping
// failed, which the first call reports).
func (v *Volume) Close() error {
	if v == nil || v.closed {
		return nil
	}
	unix.Sync()
	if err := unix.Unmount(v.cfg.MountPoint, 0); err != nil {
		return fmt.Errorf("disk: unmount %s: %w", v.cfg.MountPoint, err)
	}
	v.closed = true
	return v.dm.remove(v.cfg.DevDir)
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	b   []byte
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
