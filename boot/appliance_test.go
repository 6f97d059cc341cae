package boot

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofferhsm/coffer/boot/disk"
	"github.com/cofferhsm/coffer/firmware/release"
	"github.com/cofferhsm/coffer/hsm/seal"
	"github.com/cofferhsm/coffer/hsm/seal/sealtest"
)

func TestLineWatch(t *testing.T) {
	var con bytes.Buffer
	w := &lineWatch{w: &con, want: []string{"hsmd: ", MarkerKMIP}, seen: make(chan string, 4)}
	for _, l := range []string{
		"hsmd: started pid 3\n",
		"kmipd: admin API on :8443\n",
		"hsmd: 2026/11/26 10:00:00 hsmd: listening on /run/coffer/hsmd.sock\n",
		"other: listening on :1\n",
		"kmipd: listening on :5696\n",
	} {
		io.WriteString(w, l)
	}
	var got []string
	for len(w.seen) > 0 {
		got = append(got, <-w.seen)
	}
	if len(got) != 2 || got[1] != "kmipd: listening on :5696\n" {
		t.Errorf("seen %q", got)
	}
	if con.Len() == 0 || !bytes.Contains(con.Bytes(), []byte("other: listening")) {
		t.Errorf("console copy %q", con.String())
	}
}

func TestHaltError(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", halt(seal.ErrPCRMismatch, "refusing to unseal: %s", "reason"))
	var he *HaltError
	if !errors.As(err, &he) || he.Reason != "refusing to unseal: reason" {
		t.Fatalf("errors.As: %v", err)
	}
	if !errors.Is(err, seal.ErrPCRMismatch) {
		t.Errorf("HaltError does not unwrap to its cause")
	}
}

// TestUnsealMaster runs PID 1's TPM sequence against swtpm: first boot
// seals a new key, a later boot (PCRs reset) unseals the same key, the PCR
// is capped after each attempt, and a different image measurement or a
// damaged header halts without touching the disk.
func TestUnsealMaster(t *testing.T) {
	tpm := sealtest.Start(t)
	root := t.TempDir()
	rk, err := release.LoadOrCreateKey(filepath.Join(t.TempDir(), "release.pem"))
	if err != nil {
		t.Fatal(err)
	}
	meas := sha256.Sum256([]byte("image"))
	policy, err := release.SignPolicy(rand.Reader, rk, meas[:])
	if err != nil {
		t.Fatal(err)
	}
	pub, err := release.MarshalPublicKey(&rk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "etc/coffer"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{release.PolicyPath: policy, release.ReleaseKeyPath: pub} {
		if err := os.WriteFile(filepath.Join(root, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	diskPath := filepath.Join(t.TempDir(), "data.img")
	if err := os.WriteFile(diskPath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(diskPath, 32<<20); err != nil {
		t.Fatal(err)
	}
	cfg := ApplianceConfig{Disk: diskPath, TPM: tpm.Spec(), Root: root}
	cfg.defaults()
	var con bytes.Buffer
	say := func(f string, a ...any) { fmt.Fprintf(&con, f+"\n", a...) }

	m1, dc, err := unsealMaster(cfg, meas, say)
	if err != nil {
		t.Fatalf("first boot: %v\n%s", err, con.String())
	}
	defer m1.Destroy()
	if !dc.FirstBoot || len(dc.Sealed) == 0 || !strings.Contains(con.String(), MarkerFirstBoot) {
		t.Fatalf("first boot config %+v\n%s", dc, con.String())
	}
	if err := disk.Format(diskPath, dc.Sealed, m1); err != nil {
		t.Fatal(err)
	}

	// Same boot, PCR 11 capped: no second unseal.
	if _, _, err := unsealMaster(cfg, meas, say); !errors.Is(err, seal.ErrPCRMismatch) {
		t.Errorf("unseal after the cap: err = %v, want ErrPCRMismatch", err)
	}

	tpm.Restart(t)
	cfg.TPM = tpm.Spec()
	m2, dc2, err := unsealMaster(cfg, meas, say)
	if err != nil {
		t.Fatalf("second boot: %v\n%s", err, con.String())
	}
	defer m2.Destroy()
	if dc2.FirstBoot || !m1.Equal(m2) {
		t.Errorf("second boot: FirstBoot %v, same key %v", dc2.FirstBoot, m1.Equal(m2))
	}

	before, _ := os.ReadFile(diskPath)
	tpm.Restart(t)
	cfg.TPM = tpm.Spec()
	other := sha256.Sum256([]byte("tampered image"))
	_, _, err = unsealMaster(cfg, other, say)
	var he *HaltError
	if !errors.As(err, &he) || !errors.Is(err, seal.ErrPCRMismatch) || !strings.Contains(he.Reason, "refusing to unseal") {
		t.Errorf("tampered image: err = %v, want a HaltError for ErrPCRMismatch", err)
	}

	// A damaged header halts and is never rewritten.
	f, err := os.OpenFile(diskPath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0xff}, 40)
	f.Close()
	damaged, _ := os.ReadFile(diskPath)
	tpm.Restart(t)
	cfg.TPM = tpm.Spec()
	if _, _, err := unsealMaster(cfg, meas, say); !errors.Is(err, disk.ErrCorruptHeader) || !errors.As(err, &he) {
		t.Errorf("damaged header: err = %v, want a HaltError for ErrCorruptHeader", err)
	}
	after, _ := os.ReadFile(diskPath)
	if !bytes.Equal(after, damaged) || bytes.Equal(before, damaged) {
		t.Errorf("the disk was written")
	}
}
