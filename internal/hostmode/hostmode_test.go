package hostmode

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cofferhsm/coffer/hsm/auth"
	"github.com/cofferhsm/coffer/hsm/seal"
	"github.com/cofferhsm/coffer/hsm/seal/sealtest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// sharedAuth holds a CA made once (RSA key generation is slow).
var sharedAuth string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hostmode-auth-*")
	if err == nil {
		sharedAuth = dir
		_, err = auth.Load(filepath.Join(dir, AuthDir), auth.Options{})
	}
	if err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newDir returns a data directory holding a copy of the shared CA.
func newDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, AuthDir, "apps"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca.crt", "ca.key"} {
		b, err := os.ReadFile(filepath.Join(sharedAuth, AuthDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, AuthDir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func open(t *testing.T, cfg Config) (*Host, error) {
	t.Helper()
	cfg.Logger = quiet
	if cfg.TPMDevice == "" {
		cfg.TPMDevice = filepath.Join(t.TempDir(), "no-tpm")
	}
	if cfg.SWTPM == "" {
		cfg.SWTPM = filepath.Join(t.TempDir(), "no-swtpm")
	}
	h, err := Open(cfg)
	if err == nil {
		t.Cleanup(func() { h.Close() })
	}
	return h, err
}

func mustOpen(t *testing.T, cfg Config) *Host {
	t.Helper()
	h, err := open(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestInsecureRestart: with no TPM the insecure sealer is chosen; a
// restart unseals the same master key (the audit log, keyed by it, opens).
func TestInsecureRestart(t *testing.T) {
	dir := newDir(t)
	h := mustOpen(t, Config{Dir: dir})
	if !h.Insecure || !h.Created || h.SealerName == "" {
		t.Fatalf("first start: insecure %v created %v sealer %q", h.Insecure, h.Created, h.SealerName)
	}
	blob, err := os.ReadFile(filepath.Join(dir, BlobInsecure))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	for _, sealer := range []string{"", SealerInsecure} {
		h = mustOpen(t, Config{Dir: dir, Sealer: sealer})
		if !h.Insecure || h.Created {
			t.Fatalf("restart (%q): insecure %v created %v", sealer, h.Insecure, h.Created)
		}
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, BlobInsecure)); !bytes.Equal(b, blob) {
		t.Error("sealed master key rewritten on restart")
	}
}

// TestFailClosed: a master key that cannot be unsealed stops Open and no
// new master key is ever written.
func TestFailClosed(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		cfg    Config
		is     error
	}{
		{"corrupt blob", func(t *testing.T, dir string) {
			p := filepath.Join(dir, BlobInsecure)
			b, _ := os.ReadFile(p)
			b[len(b)-1] ^= 1
			os.WriteFile(p, b, 0o600)
		}, Config{}, ErrUnseal},
		{"empty blob", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, BlobInsecure), nil, 0o600)
		}, Config{}, ErrUnseal},
		{"lost wrapping key", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, InsecureKeyFile))
		}, Config{}, seal.ErrWrongTPM},
		{"lost blob with a store", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, BlobInsecure))
		}, Config{}, ErrNoMasterKey},
		{"lost blob and store, audit log left", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, BlobInsecure))
			os.Remove(filepath.Join(dir, StoreFile))
		}, Config{}, ErrNoMasterKey},
		{"TPM asked for an insecure directory", func(*testing.T, string) {}, Config{Sealer: "tcp:127.0.0.1:1"}, ErrSealerMismatch},
		{"both blobs", func(t *testing.T, dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, BlobInsecure))
			os.WriteFile(filepath.Join(dir, BlobTPM), b, 0o600)
		}, Config{}, ErrSealerMismatch},
		{"TPM blob without a TPM", func(t *testing.T, dir string) {
			os.Rename(filepath.Join(dir, BlobInsecure), filepath.Join(dir, BlobTPM))
		}, Config{}, ErrSealerMismatch},
		{"TPM blob, insecure asked", func(t *testing.T, dir string) {
			os.Rename(filepath.Join(dir, BlobInsecure), filepath.Join(dir, BlobTPM))
		}, Config{Sealer: SealerInsecure}, ErrSealerMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := newDir(t)
			h := mustOpen(t, Config{Dir: dir})
			h.Close()
			tc.damage(t, dir)
			before := snapshot(t, dir)
			cfg := tc.cfg
			cfg.Dir = dir
			if _, err := open(t, cfg); !errors.Is(err, tc.is) {
				t.Fatalf("Open = %v, want %v", err, tc.is)
			}
			after := snapshot(t, dir)
			for _, f := range []string{BlobInsecure, BlobTPM} {
				if !bytes.Equal(before[f], after[f]) {
					t.Errorf("%s changed by a failed Open", f)
				}
			}
		})
	}
}

func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	for _, f := range []string{BlobInsecure, BlobTPM} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
			m[f] = b
		}
	}
	return m
}

func TestBadConfig(t *testing.T) {
	if _, err := Open(Config{}); err == nil {
		t.Error("Open without Dir succeeded")
	}
	if _, err := open(t, Config{Dir: newDir(t), Sealer: "tpm2:x"}); err == nil {
		t.Error("unknown sealer accepted")
	}
	if _, err := open(t, Config{Dir: newDir(t), SANs: []string{"bad name!"}}); !errors.Is(err, auth.ErrBadSAN) {
		t.Errorf("bad SAN: %v", err)
	}
}

// TestSWTPM seals under swtpm with a host-signed policy, unseals after
// the TPM restarts (PCRs reset), and fails closed on another TPM.
func TestSWTPM(t *testing.T) {
	sw := sealtest.Start(t)
	dir := newDir(t)
	h := mustOpen(t, Config{Dir: dir, Sealer: sw.Spec()})
	if h.Insecure || !h.Created {
		t.Fatalf("first start: insecure %v created %v", h.Insecure, h.Created)
	}
	h.Close()
	for _, f := range []string{BlobTPM, ReleaseKeyFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, fi, err)
		}
	}
	sw.Restart(t)
	h = mustOpen(t, Config{Dir: dir, Sealer: sw.Spec()})
	if h.Created {
		t.Fatal("restart created a new master key")
	}
	h.Close()

	other := sealtest.Start(t)
	if _, err := open(t, Config{Dir: dir, Sealer: other.Spec()}); !errors.Is(err, ErrUnseal) || !errors.Is(err, seal.ErrWrongTPM) {
		t.Errorf("another TPM: %v", err)
	}
	if _, err := open(t, Config{Dir: dir}); !errors.Is(err, ErrSealerMismatch) {
		t.Errorf("no TPM given: %v", err)
	}
}

// TestManagedSWTPM: with swtpm installed and no TPM, Open runs its own
// swtpm (state in DIR/swtpm) to seal, and again to unseal on restart.
func TestManagedSWTPM(t *testing.T) {
	bin, err := exec.LookPath("swtpm")
	if err != nil {
		t.Skip("swtpm not installed")
	}
	dir := newDir(t)
	h := mustOpen(t, Config{Dir: dir, SWTPM: bin})
	if !h.SoftwareTPM || h.Insecure || !h.Created {
		t.Fatalf("first start: software TPM %v insecure %v created %v (%s)", h.SoftwareTPM, h.Insecure, h.Created, h.SealerName)
	}
	h.Close()
	for _, f := range []string{BlobTPM, ReleaseKeyFile, SWTPMDir} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	// Restarts (the first swtpm has stopped and released its state).
	for _, sealer := range []string{"", SealerSWTPM} {
		h = mustOpen(t, Config{Dir: dir, SWTPM: bin, Sealer: sealer})
		if h.Created || !h.SoftwareTPM {
			t.Fatalf("restart (%q): created %v software TPM %v", sealer, h.Created, h.SoftwareTPM)
		}
		h.Close()
	}
	// Without swtpm, or with the insecure sealer, it fails closed.
	if _, err := open(t, Config{Dir: dir}); !errors.Is(err, ErrSealerMismatch) {
		t.Errorf("no swtpm: %v", err)
	}
	if _, err := open(t, Config{Dir: dir, SWTPM: bin, Sealer: SealerInsecure}); !errors.Is(err, ErrSealerMismatch) {
		t.Errorf("insecure asked: %v", err)
	}
	// The swtpm state is the TPM: without it the blob does not unseal.
	if err := os.RemoveAll(filepath.Join(dir, SWTPMDir, "tpm2-00.permall")); err != nil {
		t.Fatal(err)
	}
	if _, err := open(t, Config{Dir: dir, SWTPM: bin}); !errors.Is(err, ErrUnseal) {
		t.Errorf("lost swtpm state: %v", err)
	}
}
