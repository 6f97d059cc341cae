package image

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cofferhsm/coffer/boot"
	"github.com/u-root/gobusybox/src/pkg/golang"
	"github.com/u-root/mkuimage/cpio"
	"github.com/u-root/mkuimage/uimage"
	"github.com/u-root/mkuimage/uimage/builder"
	"github.com/u-root/mkuimage/uimage/initramfs"
	"github.com/u-root/uio/llog"
)

// InitPackage is the Go package built as /init.
const InitPackage = "firmware/cmd/init"

// hostFiles are host programs copied into the image with their shared
// libraries (found with ldd).
var hostFiles = []string{"/usr/sbin/mke2fs:sbin/mke2fs"}

type initramfsConfig struct {
	src     string // module root
	kernel  *Kernel
	modules []string
	out     string // compressed initramfs to write
	tmp     string // parent for temporary build dirs
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
func buildInitramfs(ctx context.Context, cfg initramfsConfig, progress func(string, ...any)) ([]string, error) {
	base, order, err := baseRecords(cfg.kernel, cfg.modules)
	if err != nil {
		return nil, err
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
		uimage.WithCommands(buildOpts, builder.Binary, filepath.Join(cfg.src, InitPackage)),
		uimage.WithInit("init"),
		uimage.WithFiles(hostFiles...),
		uimage.WithOutput(out),
	)
	if err != nil {
		return nil, fmt.Errorf("image: mkuimage: %w", err)
	}
	if err := writeNormalized(out.Archive, cfg.out); err != nil {
		return nil, err
	}
	return order, nil
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
