package image

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cofferhsm/coffer/boot"
	"github.com/cofferhsm/coffer/firmware/release"
	"github.com/cofferhsm/coffer/hsm/seal"
	"github.com/u-root/gobusybox/src/pkg/golang"
	"github.com/u-root/mkuimage/cpio"
	"github.com/u-root/mkuimage/uimage"
	"github.com/u-root/mkuimage/uimage/builder"
	"github.com/u-root/mkuimage/uimage/initramfs"
	"github.com/u-root/uio/llog"
)

// InitPackage is the Go package built as /init.
const InitPackage = "firmware/cmd/init"

// ServicePackages are the Go packages of the supervised services, built
// into /bin.
var ServicePackages = []string{"firmware/cmd/hsmd", "firmware/cmd/kmipd"}

// hostFiles are host programs copied into the image with their shared
// libraries (found with ldd).
var hostFiles = []string{"/usr/sbin/mke2fs:sbin/mke2fs"}

type initramfsConfig struct {
	src     string // module root
	kernel  *Kernel
	modules []string
	out     string // compressed initramfs to write
	tmp     string // parent for temporary build dirs
	// release signs the boot policy; nil builds an unsigned image.
	release *ecdsa.PrivateKey
	// policyCache keeps signed policies by measurement, so that the same
	// inputs give the same (randomized ECDSA) signature: builds stay
	// reproducible.
	policyCache string
}

// initramfsResult is what buildInitramfs reports.
type initramfsResult struct {
	modules     []string
	measurement [sha256.Size]byte
	policy      []byte
}

// baseRecords returns the directories, device nodes and kernel modules of
// the image. It returns the module names included, in load order.
func baseRecords(k *Kernel, modules []string) ([]cpio.Record, []string, error) {
	recs := []cpio.Record{
		cpio.Directory("bin", 0o755),
		cpio.Directory("data", 0o700),
		cpio.Directory("dev", 0o755),
		cpio.Directory("etc", 0o755),
		cpio.Directory("lib", 0o755),
		cpio.Directory("proc", 0o555),
		cpio.Directory("run", 0o755),
		cpio.Directory("sbin", 0o755),
		cpio.Directory("sys", 0o555),
		cpio.Directory("tmp", 0o1777),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.CharDev("dev/null", 0o666, 1, 3),
	}
	modDir := filepath.Join(k.Root, "lib", "modules", k.Release)
	f, err := os.Open(filepath.Join(modDir, "modules.dep"))
	if err != nil {
		return nil, nil, fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	md, err := boot.ParseModulesDep(f)
	if err != nil {
		return nil, nil, err
	}
	order, err := md.LoadOrder(modules...)
	if err != nil {
		return nil, nil, fmt.Errorf("image: %w", err)
	}
	// A modules.dep covering exactly the included modules, same format.
	var dep strings.Builder
	sorted := append([]string(nil), order...)
	sort.Strings(sorted)
	dst := path.Join("lib/modules", k.Release)
	for _, n := range sorted {
		fmt.Fprintf(&dep, "%s:", md.Path[n])
		for _, d := range md.Deps[n] {
			fmt.Fprintf(&dep, " %s", md.Path[d])
		}
		dep.WriteString("\n")
		b, err := os.ReadFile(filepath.Join(modDir, filepath.FromSlash(md.Path[n])))
		if err != nil {
			return nil, nil, fmt.Errorf("image: %w", err)
		}
		recs = append(recs, cpio.StaticRecord(b, cpio.Info{Name: path.Join(dst, md.Path[n]), Mode: cpio.S_IFREG | 0o644}))
	}
	recs = append(recs, cpio.StaticFile(path.Join(dst, "modules.dep"), dep.String(), 0o644))
	return recs, order, nil
}

// buildInitramfs builds the init binary and the archive with mkuimage, then
// normalizes and compresses it into cfg.out.
func buildInitramfs(ctx context.Context, cfg initramfsConfig, progress func(string, ...any)) (*initramfsResult, error) {
	base, order, err := baseRecords(cfg.kernel, cfg.modules)
	if err != nil {
		return nil, err
	}
	if cfg.release != nil {
		pub, err := release.MarshalPublicKey(&cfg.release.PublicKey)
		if err != nil {
			return nil, err
		}
		base = append(base, cpio.Directory("etc/coffer", 0o755), cpio.StaticFile(release.ReleaseKeyPath, string(pub), 0o644))
	}
	progress("%d kernel modules: %s", len(order), strings.Join(order, " "))
	baseArchive, err := cpio.ArchiveFromRecords(base)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	tmp, err := os.MkdirTemp(cfg.tmp, ".build-")
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	defer os.RemoveAll(tmp)

	cmds := []string{filepath.Join(cfg.src, InitPackage)}
	for _, p := range ServicePackages {
		cmds = append(cmds, filepath.Join(cfg.src, p))
	}
	env := golang.Default(golang.DisableCGO(), golang.WithGOOS("linux"), golang.WithGOARCH("amd64"), golang.WithWorkingDir(cfg.src))
	buildOpts := &golang.BuildOpts{EnableInlining: true, ExtraArgs: []string{"-buildvcs=false"}}
	out := &initramfs.Archive{Archive: cpio.InMemArchive()}
	logger := llog.New(slog.LevelWarn, func(format string, args ...any) {
		progress("mkuimage: "+format, args...)
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	err = uimage.Create(logger,
		uimage.WithReplaceEnv(env),
		uimage.WithTempDir(tmp),
		uimage.WithBaseArchive(baseArchive),
		uimage.WithCommands(buildOpts, builder.Binary, cmds...),
		uimage.WithInit("init"),
		uimage.WithFiles(hostFiles...),
		uimage.WithOutput(out),
	)
	if err != nil {
		return nil, fmt.Errorf("image: mkuimage: %w", err)
	}
	res := &initramfsResult{modules: order}
	if res.measurement, err = measureArchive(out.Archive); err != nil {
		return nil, err
	}
	if cfg.release != nil {
		if res.policy, err = signedPolicy(cfg.policyCache, cfg.release, res.measurement); err != nil {
			return nil, err
		}
		if err := out.Archive.WriteRecord(cpio.StaticFile(release.PolicyPath, string(res.policy), 0o644)); err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
	}
	if err := writeNormalized(out.Archive, cfg.out); err != nil {
		return nil, err
	}
	return res, nil
}

// signedPolicy returns the policy for measurement signed by key, from the
// cache when a valid one is there, else freshly signed and cached.
func signedPolicy(cache string, key *ecdsa.PrivateKey, measurement [sha256.Size]byte) ([]byte, error) {
	name := filepath.Join(cache, fmt.Sprintf("policy-%x-%s.bin", measurement, release.KeyFingerprint(&key.PublicKey)[:16]))
	if b, err := os.ReadFile(name); err == nil {
		if p, err := seal.VerifyPolicy(b, &key.PublicKey); err == nil && len(p.PCRs) == 1 &&
			p.PCRs[0].Index == seal.DefaultBootPCR && bytes.Equal(p.PCRs[0].Value, seal.PredictPCR(measurement[:])) &&
			p.Version == release.PolicyVersion {
			return b, nil
		}
	}
	b, err := release.SignPolicy(rand.Reader, key, measurement[:])
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	if err := os.WriteFile(name+".tmp", b, 0o644); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	if err := os.Rename(name+".tmp", name); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	return b, nil
}

// measureArchive computes the image measurement (package firmware/release)
// of the archive's regular files and symlinks.
func measureArchive(a *cpio.Archive) ([sha256.Size]byte, error) {
	var entries []release.Entry
	for name, r := range a.Files {
		var kind release.Kind
		switch r.Mode & cpio.S_IFMT {
		case cpio.S_IFREG:
			kind = release.File
		case cpio.S_IFLNK:
			kind = release.Symlink
		default:
			continue
		}
		var b []byte
		if r.ReaderAt != nil {
			var err error
			if b, err = io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize))); err != nil {
				return [32]byte{}, fmt.Errorf("image: reading %s: %w", name, err)
			}
		}
		entries = append(entries, release.NewEntry(name, kind, b))
	}
	return release.Digest(entries)
}

// writeNormalized writes the archive's records sorted by name with
// reproducible metadata as a gzip-compressed newc cpio (gzip header without
// name or time).
func writeNormalized(a *cpio.Archive, name string) error {
	names := make([]string, 0, len(a.Files))
	for n := range a.Files {
		if n != cpio.Trailer {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	tmp := name + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	defer os.Remove(tmp)
	bw := bufio.NewWriterSize(f, 1<<20)
	zw, err := gzip.NewWriterLevel(bw, gzip.BestCompression)
	if err != nil {
		f.Close()
		return fmt.Errorf("image: %w", err)
	}
	w := cpio.Newc.Writer(zw)
	for _, n := range names {
		r := cpio.MakeReproducible(a.Files[n])
		if n == "." {
			// The root inherits the build temp dir's 0700; make it 0755.
			r.Mode = cpio.S_IFDIR | 0o755
		}
		if err := w.WriteRecord(r); err != nil {
			f.Close()
			return fmt.Errorf("image: write %s: %w", n, err)
		}
	}
	if err := cpio.WriteTrailer(w); err != nil {
		f.Close()
		return fmt.Errorf("image: %w", err)
	}
	for _, step := range []func() error{zw.Close, bw.Flush, f.Close} {
		if err := step(); err != nil {
			f.Close()
			return fmt.Errorf("image: %w", err)
		}
	}
	return os.Rename(tmp, name)
}

// ReadInitramfs returns the records of a gzip-compressed newc initramfs, in
// archive order, with their contents read into memory (for tests and
// inspection; bounded by limit bytes of uncompressed data).
func ReadInitramfs(name string, limit int64) ([]cpio.Record, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("image: initramfs larger than %d bytes", limit)
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(strings.NewReader(string(b))))
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	return recs, nil
}
