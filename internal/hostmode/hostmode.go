// Package hostmode runs Coffer's crypto core and KMIP operation layer on a
// host, from one data directory: what `coffer serve` and the end-to-end
// tests start. It is the same code path as the appliance's services, minus
// the disk encryption and the process split.
//
// Data directory layout (created 0700 on first start):
//
//	auth/              appliance CA, server certificate, apps (package hsm/auth)
//	master.tpm         the master key sealed by a TPM (swtpm or a host TPM), or
//	master.insecure    the master key sealed by the INSECURE file sealer
//	release-key.pem    host release key that signs the TPM boot policy (TPM only)
//	swtpm/             state of the managed swtpm (managed swtpm only)
//	insecure-seal.key  wrapping key of the insecure sealer (insecure only)
//	store.db           the object records (bbolt)
//	audit.log          the hash-chained audit log, keyed by HKDF(master)
//
// Master key contract (fail closed): the master key is generated only when
// the directory holds no sealed master key, no store and no audit log. A
// sealed key that does not unseal, or a store or audit log without a sealed
// key, stops Open with the reason; Open never creates a new master key then. The sealer kind is
// fixed on first start by the name of the blob file: a directory sealed by
// a TPM is never reopened with the insecure sealer or the reverse.
//
// Sealer choice (Config.Sealer): a TPM given as tcp:HOST:PORT (a running
// swtpm) or a device path; else /dev/tpmrm0 when it exists; else a managed
// swtpm when the swtpm binary is installed (Open runs it, with its state
// in DIR/swtpm, only while it seals or unseals); else the INSECURE file
// sealer, with a warning. A managed swtpm exercises the real TPM code path,
// but its state sits next to the blob, so it protects the key no better
// than the file sealer: both are for development.
//
// Host TPM mode: the TPM sealer needs a boot policy signed by a release
// key. On a host there is no release pipeline, so Open keeps a release key
// in release-key.pem and, on every start, signs a policy over the current
// values of seal.DefaultPCRs (seal.SignCurrentPolicy). The master key is
// then bound to this TPM (the blob does not open on another machine, or
// after the TPM is cleared), but anyone who can read release-key.pem and
// talk to the TPM can approve any boot state: host-mode protection is only
// as good as that key file's protection.
package hostmode

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/audit"
	"github.com/cofferhsm/coffer/hsm/auth"
	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/cofferhsm/coffer/hsm/seal"
	"github.com/cofferhsm/coffer/hsm/store"
	"github.com/cofferhsm/coffer/internal/atomicfile"
	"github.com/cofferhsm/coffer/kmip/server"
)

// File names inside the data directory.
const (
	AuthDir         = "auth"
	BlobTPM         = "master.tpm"
	BlobInsecure    = "master.insecure"
	ReleaseKeyFile  = "release-key.pem"
	InsecureKeyFile = "insecure-seal.key"
	StoreFile       = "store.db"
	AuditFile       = "audit.log"
)

// Config.Sealer values besides TPM specs.
const (
	// SealerInsecure explicitly chooses the INSECURE file sealer.
	SealerInsecure = "insecure"
	// SealerSWTPM chooses a managed swtpm: Open runs swtpm with its state
	// in DIR/swtpm while it seals or unseals, then stops it.
	SealerSWTPM = "swtpm"
)

// policyVersion is the security version of host-signed boot policies.
const policyVersion = 1

// maxBlobSize bounds the sealed master key file read.
const maxBlobSize = 64 << 10

// Errors wrapped by Open; check them with errors.Is.
var (
	// ErrSealerMismatch: the directory's master key is sealed by another
	// kind of sealer than the one asked for, or needs a TPM that is not
	// available.
	ErrSealerMismatch = errors.New("hostmode: data directory was sealed by another kind of sealer")
	// ErrNoMasterKey: the directory holds a store or an audit log but no
	// sealed master key.
	ErrNoMasterKey = errors.New("hostmode: data directory has a store or audit log but no sealed master key")
	// ErrUnseal: the sealed master key exists but did not unseal. The
	// underlying seal error is wrapped too.
	ErrUnseal = errors.New("hostmode: sealed master key did not unseal; refusing to start (no new key is ever created over an existing one)")
)

// Config configures Open.
type Config struct {
	// Dir is the data directory. Required; created 0700 if missing.
	Dir string
	// SANs are extra DNS names or IP addresses for the server certificate,
	// besides localhost and 127.0.0.1.
	SANs []string
	// Sealer chooses how the master key is sealed: "tcp:HOST:PORT" (a
	// running swtpm), an absolute TPM device path, SealerSWTPM or
	// SealerInsecure. Empty means: the kind the directory was sealed with;
	// on first start seal.DefaultDevice when it exists, else a managed
	// swtpm when swtpm is installed, else the insecure sealer (with a
	// warning).
	Sealer string
	// Logger receives logs and the insecure-sealer warning. Nil means
	// slog.Default().
	Logger *slog.Logger
	// Rand is the source of the master key and other randomness. Nil
	// means crypto/rand.Reader.
	Rand io.Reader
	// TPMDevice is the device probed when Sealer is empty. Empty means
	// seal.DefaultDevice; tests point it at a path that does not exist.
	TPMDevice string
	// SWTPM is the swtpm binary of a managed swtpm. Empty means "swtpm"
	// from PATH; a path that does not exist means none is available.
	SWTPM string
}

// Host is an opened data directory: the core and its KMIP handler.
type Host struct {
	// Dir is the data directory.
	Dir string
	// Authority identifies clients and issues credentials.
	Authority *auth.Authority
	// Certificate is the KMIP server certificate and its chain.
	Certificate tls.Certificate
	// Core is the crypto core.
	Core *hsm.Core
	// Handler is the KMIP operation layer over Core.
	Handler *server.Ops
	// SealerName describes the sealer (seal.Sealer.Name).
	SealerName string
	// Insecure reports that the master key is sealed by the INSECURE
	// file sealer.
	Insecure bool
	// SoftwareTPM reports that the master key is sealed by a managed
	// swtpm whose state is in the data directory (no better protected
	// than the directory).
	SoftwareTPM bool
	// Created reports that this Open generated the master key.
	Created bool

	log   *slog.Logger
	db    *store.Bolt
	audit *audit.Log
}

// Open opens (on first start: initializes) the data directory cfg.Dir and
// returns the core and its handler. Close releases them.
func Open(cfg Config) (_ *Host, err error) {
	if cfg.Dir == "" {
		return nil, errors.New("hostmode: Config.Dir is required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	rnd := cfg.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("hostmode: %w", err)
	}
	h := &Host{Dir: cfg.Dir, log: log}
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	if h.Authority, err = auth.Load(filepath.Join(cfg.Dir, AuthDir), auth.Options{}); err != nil {
		return nil, err
	}
	if h.Certificate, err = h.Authority.ServerCertificate(cfg.SANs); err != nil {
		return nil, err
	}
	m, err := h.masterKey(cfg, rnd)
	if err != nil {
		return nil, err
	}
	defer m.Destroy()

	if h.db, err = store.Open(filepath.Join(cfg.Dir, StoreFile), nil); err != nil {
		return nil, err
	}
	mac, err := m.Derive(key.LabelAuditMAC, 32)
	if err != nil {
		return nil, err
	}
	macBytes, err := mac.Bytes()
	if err != nil {
		mac.Destroy()
		return nil, err
	}
	h.audit, err = audit.Open(filepath.Join(cfg.Dir, AuditFile), audit.Options{Key: macBytes})
	mac.Destroy()
	if err != nil {
		return nil, err
	}
	if r, ok := h.audit.Recovery(); ok {
		log.Warn("hostmode: audit log recovered", "recovery", r.String())
	}
	if h.Core, err = hsm.New(hsm.Config{Store: h.db, Master: m, Rand: cfg.Rand, Audit: hsm.AuditLog(h.audit)}); err != nil {
		return nil, err
	}
	if h.Handler, err = server.NewOps(server.OpsConfig{Core: h.Core, Logger: log, Passwords: h.Authority}); err != nil {
		return nil, err
	}
	return h, nil
}

// ServerConfig returns a KMIP server configuration for this host listening
// on addr (used by ListenAndServe only).
func (h *Host) ServerConfig(addr string) server.Config {
	return server.Config{
		Addr:        addr,
		Certificate: &h.Certificate,
		Identifier:  h.Authority,
		Handler:     h.Handler,
		Logger:      h.log,
	}
}

// Close closes the audit log and the store. Call it after the server has
// shut down.
func (h *Host) Close() error {
	var errs []error
	if h.audit != nil {
		errs = append(errs, h.audit.Close())
		h.audit = nil
	}
	if h.db != nil {
		errs = append(errs, h.db.Close())
		h.db = nil
	}
	return errors.Join(errs...)
}

// masterKey unseals the directory's master key or, on first start only,
// generates and seals one.
func (h *Host) masterKey(cfg Config, rnd io.Reader) (*key.Master, error) {
	dir := cfg.Dir
	tpmBlob, err := readBlob(filepath.Join(dir, BlobTPM))
	if err != nil {
		return nil, err
	}
	insBlob, err := readBlob(filepath.Join(dir, BlobInsecure))
	if err != nil {
		return nil, err
	}
	c, err := chooseSealer(cfg, tpmBlob != nil, insBlob != nil)
	if err != nil {
		return nil, err
	}
	blob := tpmBlob
	if c.insecure {
		blob = insBlob
	}
	if blob == nil && (exists(filepath.Join(dir, StoreFile)) || exists(filepath.Join(dir, AuditFile))) {
		return nil, ErrNoMasterKey
	}

	var s seal.Sealer
	switch {
	case c.insecure:
		h.Insecure = true
		h.log.Warn("hostmode: INSECURE: the master key is sealed by a plain key file, not a TPM; " +
			"anyone who can read the data directory has every key. For development only.")
		s, err = seal.Open("insecure-file:"+filepath.Join(dir, InsecureKeyFile), seal.Config{Logger: h.log, Rand: rnd})
	case c.swtpm != "":
		sw, serr := startSWTPM(c.swtpm, filepath.Join(dir, SWTPMDir))
		if serr != nil {
			return nil, serr
		}
		defer sw.Stop() // after the sealer's Close (deferred below)
		h.SoftwareTPM = true
		h.log.Warn("hostmode: the master key is sealed by a software TPM (swtpm) whose state is in the data directory: " +
			"the TPM code path runs, but the key is no better protected than the directory itself. For development only.")
		s, err = openTPM(sw.Spec(), dir, rnd, h.log)
	default:
		s, err = openTPM(c.spec, dir, rnd, h.log)
	}
	if err != nil {
		return nil, err
	}
	defer s.Close()
	h.SealerName = s.Name()
	if c.swtpm != "" {
		h.SealerName = "tpm:swtpm (state in " + filepath.Join(dir, SWTPMDir) + ")"
	}

	if blob != nil {
		m, err := s.Unseal(blob)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrUnseal, s.Name(), err)
		}
		return m, nil
	}
	m, err := key.GenerateMaster(rnd)
	if err != nil {
		return nil, err
	}
	blob, err = s.Seal(m)
	if err != nil {
		m.Destroy()
		return nil, fmt.Errorf("hostmode: sealing the new master key with %s: %w", s.Name(), err)
	}
	name := BlobTPM
	if c.insecure {
		name = BlobInsecure
	}
	if err := writeAtomic(filepath.Join(dir, name), blob); err != nil {
		m.Destroy()
		return nil, err
	}
	h.Created = true
	h.log.Info("hostmode: generated and sealed a new master key", "sealer", h.SealerName, "file", filepath.Join(dir, name))
	return m, nil
}

// sealerChoice is the sealer Open uses: the insecure file sealer, a
// managed swtpm (the binary to run), or the TPM at spec.
type sealerChoice struct {
	insecure bool
	swtpm    string
	spec     string
}

// chooseSealer applies Config.Sealer's rules, given which kind of sealed
// master key the directory already holds.
func chooseSealer(cfg Config, haveTPM, haveInsecure bool) (sealerChoice, error) {
	spec := cfg.Sealer
	switch {
	case spec == "", spec == SealerInsecure, spec == SealerSWTPM, strings.HasPrefix(spec, "tcp:"), strings.HasPrefix(spec, "/"):
	default:
		return sealerChoice{}, fmt.Errorf("hostmode: unknown sealer %q (want tcp:HOST:PORT, a TPM device path, %q or %q)", spec, SealerSWTPM, SealerInsecure)
	}
	device := cfg.TPMDevice
	if device == "" {
		device = seal.DefaultDevice
	}
	swtpm := func() (sealerChoice, error) {
		bin, err := swtpmBinary(cfg.SWTPM)
		if err != nil {
			return sealerChoice{}, fmt.Errorf("%w: the master key is sealed by (or was asked of) a managed swtpm, but %v", ErrSealerMismatch, err)
		}
		return sealerChoice{swtpm: bin}, nil
	}
	switch {
	case haveTPM && haveInsecure:
		return sealerChoice{}, fmt.Errorf("%w: both %s and %s exist", ErrSealerMismatch, BlobTPM, BlobInsecure)
	case haveTPM && spec == SealerInsecure:
		return sealerChoice{}, fmt.Errorf("%w: the master key is sealed by a TPM, not the insecure sealer", ErrSealerMismatch)
	case haveInsecure && spec != "" && spec != SealerInsecure:
		return sealerChoice{}, fmt.Errorf("%w: the master key is sealed by the insecure file sealer, not %s", ErrSealerMismatch, spec)
	case haveInsecure, spec == SealerInsecure:
		return sealerChoice{insecure: true}, nil
	case spec == SealerSWTPM:
		return swtpm()
	case spec != "":
		return sealerChoice{spec: spec}, nil
	case haveTPM && swtpmState(cfg.Dir):
		return swtpm()
	case haveTPM:
		if !exists(device) {
			return sealerChoice{}, fmt.Errorf("%w: the master key is sealed by a TPM and %s does not exist; pass the TPM (e.g. --tpm tcp:127.0.0.1:2321)", ErrSealerMismatch, device)
		}
		return sealerChoice{spec: device}, nil
	case exists(device):
		return sealerChoice{spec: device}, nil
	}
	if c, err := swtpm(); err == nil {
		return c, nil
	}
	return sealerChoice{insecure: true}, nil
}

// swtpmBinary returns the swtpm to run: path, or "swtpm" from PATH when
// path is empty.
func swtpmBinary(path string) (string, error) {
	if path == "" {
		return exec.LookPath("swtpm")
	}
	if _, err := os.Stat(path); err != nil {
		return "", err
	}
	return path, nil
}

// openTPM opens the TPM sealer at spec with a boot policy over the current
// PCR values, signed by the directory's release key. swtpm serves one
// connection at a time, so the first connection (to read the PCRs) is
// closed before the sealer's own is opened.
func openTPM(spec, dir string, rnd io.Reader, log *slog.Logger) (seal.Sealer, error) {
	rk, err := releaseKey(filepath.Join(dir, ReleaseKeyFile), rnd)
	if err != nil {
		return nil, err
	}
	cfg := seal.Config{ReleaseKey: &rk.PublicKey, Logger: log}
	probe, err := seal.Open(spec, cfg)
	if err != nil {
		return nil, err
	}
	tpm, ok := probe.(*seal.TPM)
	if !ok {
		probe.Close()
		return nil, fmt.Errorf("hostmode: %s is not a TPM sealer", spec)
	}
	policy, err := seal.SignCurrentPolicy(rnd, tpm.Transport(), rk, policyVersion, seal.DefaultPCRs)
	probe.Close()
	if err != nil {
		return nil, fmt.Errorf("hostmode: signing the host boot policy: %w", err)
	}
	cfg.Policy = policy
	return seal.Open(spec, cfg)
}

// releaseKey loads the host release key (ECDSA P-256, PKCS#8 PEM), creating
// it 0600 on first use.
func releaseKey(path string, rnd io.Reader) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		if err := writeAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
			return nil, err
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("hostmode: release key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("hostmode: release key %s: no PRIVATE KEY PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("hostmode: release key %s: %w", path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("hostmode: release key %s is not ECDSA P-256", path)
	}
	return ek, nil
}

// readBlob reads a sealed master key file; nil, nil when it does not exist.
func readBlob(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("hostmode: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxBlobSize+1))
	if err != nil {
		return nil, fmt.Errorf("hostmode: %w", err)
	}
	if len(b) == 0 || len(b) > maxBlobSize {
		return nil, fmt.Errorf("%w: %s is %d bytes", ErrUnseal, path, len(b))
	}
	return b, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// writeAtomic writes data to path (mode 0600) with atomicfile.WriteFile.
// path must not exist: a sealed key or release key is never replaced.
func writeAtomic(path string, data []byte) error {
	if exists(path) {
		return fmt.Errorf("hostmode: %s already exists; not overwriting", path)
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("hostmode: %w", err)
	}
	return nil
}
