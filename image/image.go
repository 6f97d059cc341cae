// Package image builds the Coffer appliance image on the host: the Debian
// kernel (downloaded with apt-get, verified against apt's SHA-256 and cached
// outside the source tree), a compressed initramfs made with the mkuimage
// library (firmware/cmd/init as /init, firmware/cmd/hsmd and
// firmware/cmd/kmipd in /bin, the kernel modules the box needs, mke2fs; no
// shell), an empty data disk and a manifest with the hash of every
// artifact.
//
// Signed boot policy: the builder measures the initramfs (package
// firmware/release: every file except the policy itself), signs a policy
// expecting PCR 11 = PredictPCR(measurement) with the release key, and
// puts the policy and the release public key into the initramfs
// (etc/coffer/policy, etc/coffer/release.pub) and the manifest ("boot").
// The development release key is generated once into
// CacheDir/release-key.pem (outside git; Config.ReleaseKey overrides it).
//
// Builds are reproducible: the same source tree, kernel package, host
// tools and release key give a byte-identical initramfs (ECDSA signatures
// are randomized, so signed policies are cached by measurement in
// CacheDir/policies).
package image

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/cofferhsm/coffer/boot"
	"github.com/cofferhsm/coffer/firmware/release"
)

// Artifact file names inside Config.Dir.
const (
	KernelFile    = "vmlinuz"
	InitramfsFile = "initramfs.cpio.gz"
	DataDiskFile  = "data.img"
	ManifestFile  = "manifest.json"
)

// ManifestVersion is the manifest format version.
const ManifestVersion = 1

// ErrConfig is returned for an unusable Config.
var ErrConfig = errors.New("image: invalid config")

// Config configures Build.
type Config struct {
	// Dir is the output folder; it is created if needed. Required.
	Dir string
	// CacheDir holds downloaded and extracted kernel packages. Empty means
	// $XDG_CACHE_HOME/coffer (or ~/.cache/coffer).
	CacheDir string
	// SourceDir is the root of the coffer module. Empty means the nearest
	// directory at or above the working directory that holds go.mod.
	SourceDir string
	// KernelPackage is the Debian meta package to resolve. Empty means
	// "linux-image-amd64".
	KernelPackage string
	// Modules to include (with dependencies). Nil means boot.DefaultModules.
	Modules []string
	// DataDiskSize is the size of the empty data disk. Zero means 256 MiB.
	DataDiskSize int64
	// Version is the image version recorded in the manifest. Empty means
	// "dev".
	Version string
	// Commit is the source commit recorded in the manifest. Empty means
	// "git rev-parse HEAD" in SourceDir, or "unknown".
	Commit string
	// ReleaseKey is the release signing key file (ECDSA P-256, PKCS#8
	// PEM) that signs the image's boot policy; it is generated on first
	// use. Empty means CacheDir/release-key.pem (a development key, kept
	// outside git).
	ReleaseKey string
	// Progress receives one line per build step. Nil discards them.
	Progress io.Writer
}

// Manifest describes a built image. It holds no timestamps, so two builds
// of the same inputs have equal manifests.
type Manifest struct {
	Format    int        `json:"format"`
	Version   string     `json:"version"`
	Commit    string     `json:"source_commit"`
	Kernel    Kernel     `json:"kernel"`
	Modules   []string   `json:"modules"`
	Artifacts []Artifact `json:"artifacts"`
	// Boot is the signed boot policy of the image.
	Boot BootPolicy `json:"boot"`
}

// BootPolicy describes how the image unseals the master key (package
// firmware/release): PID 1 extends Measurement into PCR 11 and the TPM
// unseals only under Policy, signed by the release key.
type BootPolicy struct {
	// Measurement is the image measurement (hex SHA-256 of the initramfs
	// listing, see release.Digest).
	Measurement string `json:"measurement"`
	// PCRs are the PCRs the policy covers.
	PCRs []int `json:"pcrs"`
	// Version is the policy's security version.
	Version uint64 `json:"policy_version"`
	// ReleaseKey is the SHA-256 (hex) of the release public key.
	ReleaseKey string `json:"release_key_sha256"`
	// Policy is the signed policy (hex), also at release.PolicyPath in the
	// initramfs.
	Policy string `json:"signed_policy"`
}

// Artifact is one output file.
type Artifact struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Artifact returns the artifact called name, if present.
func (m *Manifest) Artifact(name string) (Artifact, bool) {
	for _, a := range m.Artifacts {
		if a.Name == name {
			return a, true
		}
	}
	return Artifact{}, false
}

// DefaultCacheDir returns $XDG_CACHE_HOME/coffer or ~/.cache/coffer.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("image: %w", err)
	}
	return filepath.Join(d, "coffer"), nil
}

// Build builds the image into cfg.Dir and writes the manifest there.
func Build(ctx context.Context, cfg Config) (*Manifest, error) {
	start := time.Now()
	progress := func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "image: "+format+"\n", args...)
		}
	}
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: no output dir", ErrConfig)
	}
	if cfg.DataDiskSize < 0 {
		return nil, fmt.Errorf("%w: negative data disk size", ErrConfig)
	}
	if cfg.DataDiskSize == 0 {
		cfg.DataDiskSize = 256 << 20
	}
	if cfg.KernelPackage == "" {
		cfg.KernelPackage = "linux-image-amd64"
	}
	if cfg.Modules == nil {
		cfg.Modules = boot.DefaultModules
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	var err error
	if cfg.CacheDir == "" {
		if cfg.CacheDir, err = DefaultCacheDir(); err != nil {
			return nil, err
		}
	}
	if cfg.SourceDir == "" {
		if cfg.SourceDir, err = findModuleRoot(); err != nil {
			return nil, err
		}
	}
	if cfg.Commit == "" {
		cfg.Commit = "unknown"
		if out, err := run(ctx, cfg.SourceDir, "git", "rev-parse", "HEAD"); err == nil {
			cfg.Commit = strings.TrimSpace(string(out))
		}
	}
	// go build runs in SourceDir: every path handed to mkuimage is absolute.
	for _, p := range []*string{&cfg.Dir, &cfg.CacheDir, &cfg.SourceDir} {
		if *p, err = filepath.Abs(*p); err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}

	k, err := fetchKernel(ctx, cfg.CacheDir, cfg.KernelPackage, progress)
	if err != nil {
		return nil, err
	}
	vmlinuz := filepath.Join(k.Root, "boot", "vmlinuz-"+k.Release)
	if err := copyFile(vmlinuz, filepath.Join(cfg.Dir, KernelFile)); err != nil {
		return nil, err
	}

	if cfg.ReleaseKey == "" {
		cfg.ReleaseKey = filepath.Join(cfg.CacheDir, "release-key.pem")
	}
	rk, err := release.LoadOrCreateKey(cfg.ReleaseKey)
	if err != nil {
		return nil, err
	}
	progress("building initramfs (init, hsmd, kmipd from %s)", cfg.SourceDir)
	res, err := buildInitramfs(ctx, initramfsConfig{
		src:     cfg.SourceDir,
		kernel:  k,
		modules: cfg.Modules,
		out:     filepath.Join(cfg.Dir, InitramfsFile),
		tmp:     cfg.Dir,
		release: rk,
		// Policies are cached next to the release key they were signed with.
		policyCache: filepath.Join(filepath.Dir(cfg.ReleaseKey), "policies"),
	}, progress)
	if err != nil {
		return nil, err
	}
	mods := res.modules
	progress("measurement %x, policy signed by release key %s", res.measurement, cfg.ReleaseKey)

	progress("creating %d MiB data disk", cfg.DataDiskSize>>20)
	if err := createDisk(filepath.Join(cfg.Dir, DataDiskFile), cfg.DataDiskSize); err != nil {
		return nil, err
	}

	m := &Manifest{Format: ManifestVersion, Version: cfg.Version, Commit: cfg.Commit, Kernel: *k, Modules: mods,
		Boot: BootPolicy{
			Measurement: hex.EncodeToString(res.measurement[:]),
			PCRs:        release.QEMUPCRs,
			Version:     release.PolicyVersion,
			ReleaseKey:  release.KeyFingerprint(&rk.PublicKey),
			Policy:      hex.EncodeToString(res.policy),
		}}
	for _, name := range []string{KernelFile, InitramfsFile, DataDiskFile} {
		sum, size, err := fileSHA256(filepath.Join(cfg.Dir, name))
		if err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
		m.Artifacts = append(m.Artifacts, Artifact{Name: name, Size: size, SHA256: sum})
		progress("%-18s %9.1f MiB  sha256 %s", name, float64(size)/(1<<20), sum)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cfg.Dir, ManifestFile), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	progress("done in %v", time.Since(start).Round(100*time.Millisecond))
	return m, nil
}

// ReadManifest reads dir/manifest.json.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("image: manifest: %w", err)
	}
	if m.Format != ManifestVersion {
		return nil, fmt.Errorf("image: manifest format %d, want %d", m.Format, ManifestVersion)
	}
	return &m, nil
}

func findModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err == nil {
		if p := strings.TrimSpace(string(out)); p != "" && p != os.DevNull {
			return filepath.Dir(p), nil
		}
	}
	return "", fmt.Errorf("%w: cannot find the coffer module root; set SourceDir", ErrConfig)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("image: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	return os.Rename(tmp, dst)
}

// createDisk writes a sparse, all-zero disk image of size bytes.
func createDisk(name string, size int64) error {
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("image: %w", err)
	}
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return fmt.Errorf("image: %w", err)
	}
	return f.Close()
}
