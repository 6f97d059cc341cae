package boot

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cofferhsm/coffer/boot/disk"
	"github.com/cofferhsm/coffer/boot/supervise"
	"github.com/cofferhsm/coffer/firmware/admin"
	"github.com/cofferhsm/coffer/firmware/release"
	"github.com/cofferhsm/coffer/hsm/auth"
	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/cofferhsm/coffer/hsm/seal"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// Appliance marker lines.
const (
	// MarkerReady follows "kmipd: listening on :5696": the box serves.
	MarkerReady = "coffer: ready"
	// MarkerHalted starts the line that says why the box stopped before
	// serving (refused unseal, failed key check, ...). A halted box waits
	// for a power-off request and never reformats its disk.
	MarkerHalted = "coffer: halted: "
	// MarkerFirstBoot is printed when a blank data disk is formatted.
	MarkerFirstBoot = "coffer: first boot: generating and sealing a new master key"
	// MarkerKMIP is the line kmipd prints (through the supervisor) once
	// the KMIP port accepts connections.
	MarkerKMIP = "kmipd: listening on "
)

// ApplianceConfig configures the appliance stage of Run: unseal the master
// key, open the data disk, start hsmd and kmipd.
type ApplianceConfig struct {
	// Disk is the data disk. Empty means /dev/vda.
	Disk string
	// TPM is the TPM device, or any seal.Open spec (tests use swtpm's
	// "tcp:HOST:PORT"). Empty means seal.DefaultDevice.
	TPM string
	// Root is the root of the image whose files are measured. Empty
	// means "/".
	Root string
	// Hsmd and Kmipd are the service programs. Empty means /bin/hsmd and
	// /bin/kmipd.
	Hsmd, Kmipd string
	// DataDir is where the data disk is mounted. Empty means /data.
	DataDir string
	// ReadyTimeout bounds the wait for both services to listen. Zero
	// means 2 minutes.
	ReadyTimeout time.Duration
}

func (c *ApplianceConfig) defaults() {
	if c.Disk == "" {
		c.Disk = "/dev/vda"
	}
	if c.TPM == "" {
		c.TPM = seal.DefaultDevice
	}
	if c.Root == "" {
		c.Root = "/"
	}
	if c.Hsmd == "" {
		c.Hsmd = "/bin/hsmd"
	}
	if c.Kmipd == "" {
		c.Kmipd = "/bin/kmipd"
	}
	if c.DataDir == "" {
		c.DataDir = disk.DefaultMountPoint
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 2 * time.Minute
	}
}

// HaltError is a failure that stops the box before it serves; Reason is
// the sentence printed after MarkerHalted.
type HaltError struct {
	Reason string
	Err    error
}

func (e *HaltError) Error() string { return e.Reason + ": " + e.Err.Error() }
func (e *HaltError) Unwrap() error { return e.Err }

func halt(err error, format string, args ...any) error {
	return &HaltError{Reason: fmt.Sprintf(format, args...), Err: err}
}

// appliance is the running appliance stage.
type appliance struct {
	vol    *disk.Volume
	master *key.Master
	sup    *supervise.Supervisor
}

// waitFile waits up to d for path to exist.
func waitFile(path string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		_, err := os.Stat(path)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// unsealMaster measures the image into the boot PCR, unseals the master key
// from the disk header (first boot: generates and seals one), caps the PCR
// on every path, and returns the key with the disk configuration.
func unsealMaster(cfg ApplianceConfig, measurement [32]byte, say func(string, ...any)) (*key.Master, disk.Config, error) {
	dc := disk.Config{Device: cfg.Disk, MountPoint: cfg.DataDir}
	policy, err := os.ReadFile(cfg.Root + "/" + release.PolicyPath)
	if err != nil {
		return nil, dc, halt(err, "image has no signed boot policy")
	}
	pubPEM, err := os.ReadFile(cfg.Root + "/" + release.ReleaseKeyPath)
	if err != nil {
		return nil, dc, halt(err, "image has no release key")
	}
	pub, err := release.ParsePublicKey(pubPEM)
	if err != nil {
		return nil, dc, halt(err, "image release key unusable")
	}
	if strings.HasPrefix(cfg.TPM, "/") {
		if err := waitFile(cfg.TPM, 5*time.Second); err != nil {
			return nil, dc, halt(err, "no TPM")
		}
	}
	s, err := seal.Open(cfg.TPM, seal.Config{PCRs: release.QEMUPCRs, Policy: policy, ReleaseKey: pub})
	if err != nil {
		return nil, dc, halt(err, "cannot open the TPM")
	}
	defer s.Close()
	tpm := s.(*seal.TPM).Transport()
	if err := seal.ExtendPCR(tpm, seal.DefaultBootPCR, measurement[:]); err != nil {
		return nil, dc, halt(err, "cannot measure the image into PCR %d", seal.DefaultBootPCR)
	}
	m, dc, err := unsealOrCreate(s, tpmRand(tpm), dc, say)
	if cerr := seal.CapPCR(tpm, seal.DefaultBootPCR); cerr != nil {
		if m != nil {
			m.Destroy()
		}
		return nil, dc, halt(cerr, "cannot cap PCR %d", seal.DefaultBootPCR)
	}
	say("coffer: PCR %d capped", seal.DefaultBootPCR)
	return m, dc, err
}

// tpmRand returns a reader whose bytes are getrandom(2) output XORed with
// the TPM's RNG output, so that a new master key is as strong as the better
// of the two sources. It fails (never falls back) if either fails.
func tpmRand(t transport.TPM) io.Reader {
	return readerFunc(func(p []byte) (int, error) {
		if _, err := io.ReadFull(rand.Reader, p); err != nil {
			return 0, err
		}
		for off := 0; off < len(p); {
			n := min(len(p)-off, 32)
			rsp, err := tpm2.GetRandom{BytesRequested: uint16(n)}.Execute(t)
			if err != nil {
				return 0, fmt.Errorf("TPM GetRandom: %w", err)
			}
			b := rsp.RandomBytes.Buffer
			if len(b) == 0 || len(b) > n {
				return 0, errors.New("TPM GetRandom: bad length")
			}
			for i, x := range b {
				p[off+i] ^= x
			}
			off += len(b)
		}
		return len(p), nil
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func unsealOrCreate(s seal.Sealer, rnd io.Reader, dc disk.Config, say func(string, ...any)) (*key.Master, disk.Config, error) {
	if err := waitFile(dc.Device, 5*time.Second); err != nil {
		return nil, dc, halt(err, "no data disk")
	}
	h, err := disk.ReadHeader(dc.Device)
	switch {
	case errors.Is(err, disk.ErrNoHeader):
		say(MarkerFirstBoot)
		m, err := key.GenerateMaster(rnd)
		if err != nil {
			return nil, dc, halt(err, "cannot generate the master key")
		}
		if dc.Sealed, err = s.Seal(m); err != nil {
			m.Destroy()
			return nil, dc, halt(err, "cannot seal the master key")
		}
		dc.FirstBoot = true
		say("coffer: master key sealed by %s", s.Name())
		return m, dc, nil
	case err != nil:
		return nil, dc, halt(err, "data disk header unreadable; refusing to reformat")
	}
	m, err := s.Unseal(h.Sealed())
	if err != nil {
		switch {
		case errors.Is(err, seal.ErrPCRMismatch):
			return nil, dc, halt(err, "refusing to unseal: this image's measurement differs from the one the release key signed")
		case errors.Is(err, seal.ErrPolicy), errors.Is(err, seal.ErrRollback):
			return nil, dc, halt(err, "refusing to unseal: image not allowed by the boot policy")
		case errors.Is(err, seal.ErrWrongTPM):
			return nil, dc, halt(err, "refusing to unseal: master key sealed by another TPM")
		default:
			return nil, dc, halt(err, "cannot unseal the master key")
		}
	}
	say("coffer: master key unsealed by %s", s.Name())
	return m, dc, nil
}

// startAppliance runs the appliance stage. On error nothing is left
// mounted or running.
func startAppliance(ctx context.Context, cfg ApplianceConfig, reaper *supervise.Reaper, con io.Writer, measurement [32]byte, say func(string, ...any)) (*appliance, error) {
	cfg.defaults()
	m, dc, err := unsealMaster(cfg, measurement, say)
	if err != nil {
		return nil, err
	}
	a := &appliance{master: m}
	dc.Master = m
	start := time.Now()
	if a.vol, err = disk.Open(ctx, dc); err != nil {
		m.Destroy()
		if errors.Is(err, disk.ErrKeyCheck) {
			return nil, halt(err, "key check failed: the unsealed key does not open this disk; refusing to reformat")
		}
		return nil, halt(err, "cannot open the data disk")
	}
	if a.vol.Formatted() {
		say("coffer: data disk formatted and mounted at %s in %v", a.vol.MountPoint(), time.Since(start).Round(time.Millisecond))
	} else {
		say("coffer: data disk mounted at %s", a.vol.MountPoint())
	}
	fail := func(err error, reason string) (*appliance, error) {
		a.stop(say)
		return nil, halt(err, "%s", reason)
	}
	authDir, adminDir := cfg.DataDir+"/auth", cfg.DataDir+"/admin"
	ca, err := auth.Load(authDir, auth.Options{})
	if err != nil {
		return fail(err, "cannot load the appliance CA")
	}
	if tok, err := admin.InitEnrollment(adminDir, rand.Reader); err == nil {
		io.WriteString(con, admin.EnrollmentBanner(tok, ca))
		tok.Destroy()
	} else if errors.Is(err, admin.ErrEnrolled) {
		say("coffer: admin enrolled; appliance CA sha256: %s", admin.CAFingerprint(ca))
	} else {
		return fail(err, "cannot prepare admin enrollment")
	}
	if err := os.MkdirAll("/run/coffer", 0o700); err != nil {
		return fail(err, "cannot create /run/coffer")
	}

	watch := &lineWatch{w: con, want: []string{"hsmd: ", MarkerKMIP}, seen: make(chan string, 4)}
	a.sup = supervise.New(supervise.Config{
		Status: func(l string) { say("%s", l) },
		Reaper: reaper,
		Backoff: supervise.Backoff{
			Initial: 500 * time.Millisecond,
			Max:     30 * time.Second,
		},
	})
	masterBytes := func() (*os.File, error) {
		b, err := m.Bytes()
		if err != nil {
			return nil, err
		}
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		_, err = w.Write(b)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			r.Close()
			return nil, err
		}
		return r, nil
	}
	sock := "/run/coffer/hsmd.sock"
	hh, err := a.sup.Start(supervise.Service{
		Name: "hsmd", Path: cfg.Hsmd, Output: watch, Stdin: masterBytes,
		Args: []string{"-socket", sock, "-db", cfg.DataDir + "/coffer.db", "-audit", cfg.DataDir + "/audit.log"},
	})
	if err != nil {
		return fail(err, "cannot start hsmd")
	}
	kh, err := a.sup.Start(supervise.Service{
		Name: "kmipd", Path: cfg.Kmipd, Output: watch,
		Args: []string{"-hsm", sock, "-auth", authDir, "-admin-dir", adminDir},
	})
	if err != nil {
		return fail(err, "cannot start kmipd")
	}
	timeout := time.After(cfg.ReadyTimeout)
	for need := map[string]bool{"hsmd: listening": true, MarkerKMIP: true}; len(need) > 0; {
		select {
		case l := <-watch.seen:
			for k := range need {
				if strings.Contains(l, k) {
					delete(need, k)
				}
			}
		case <-hh.Done():
			return fail(errors.New("hsmd exited for good (see its log above)"), "services did not start")
		case <-kh.Done():
			return fail(errors.New("kmipd exited for good (see its log above)"), "services did not start")
		case <-timeout:
			return fail(errors.New("timeout"), "services did not start")
		}
	}
	return a, nil
}

// stop stops the services, unmounts the data disk, closes the mapping and
// forgets the master key.
func (a *appliance) stop(say func(string, ...any)) {
	if a.sup != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := a.sup.Stop(ctx); err != nil {
			say("coffer: stopping services: %v", err)
		}
		cancel()
	}
	if a.vol != nil {
		if err := a.vol.Close(); err != nil {
			say("coffer: closing data disk: %v", err)
		} else {
			say("coffer: data disk unmounted and mapping closed")
		}
	}
	if a.master != nil {
		a.master.Destroy()
	}
}

// lineWatch copies service log lines to w and reports those containing
// "listening on" (from the services in want) on seen.
type lineWatch struct {
	mu   sync.Mutex
	w    io.Writer
	want []string
	seen chan string
}

func (l *lineWatch) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.w.Write(p)
	if bytes.Contains(p, []byte("listening on")) {
		for _, w := range l.want {
			if bytes.HasPrefix(p, []byte(w)) {
				select {
				case l.seen <- string(p):
				default:
				}
			}
		}
	}
	return n, err
}

func hexDigest(d [32]byte) string { return hex.EncodeToString(d[:]) }
