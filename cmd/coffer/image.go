package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cofferhsm/coffer/image"
)

// Default folders of `coffer image` and `coffer vm`, inside the checkout
// (var/ is ignored by git).
const (
	defaultImageDir = "var/image"
	defaultVMDir    = "var/vm"
)

const imageUsage = `  image build [--dir DIR] [--cache DIR] [--release-key FILE] [--data-size MIB] [--if-stale]
        build the appliance image (kernel, initramfs with init, hsmd and kmipd,
        a signed boot policy, data disk, manifest.json) into DIR (default
        var/image); --if-stale skips the build when no Go source, go.mod or
        go.sum is newer than DIR/manifest.json
`

// runImage is `coffer image ...`.
func runImage(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 || args[0] != "build" {
		fmt.Fprint(stderr, "Usage:\n"+imageUsage)
		return usagef("image: want the build subcommand")
	}
	fs := newFlagSet("image build", "image build [flags]", stderr)
	dir := fs.String("dir", defaultImageDir, "output folder")
	cache := fs.String("cache", "", "kernel package cache and development release key (default $XDG_CACHE_HOME/coffer)")
	releaseKey := fs.String("release-key", "", "release signing key (ECDSA P-256 PKCS#8 PEM, generated if missing; default CACHE/release-key.pem)")
	dataMiB := fs.Int("data-size", 256, "data disk size in MiB")
	ifStale := fs.Bool("if-stale", false, "build only if the sources are newer than the image")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("image build: unexpected arguments %q", pos)
	}
	if *dataMiB < 16 || *dataMiB > 1<<20 {
		return usagef("image build: --data-size %d MiB out of range 16..1048576", *dataMiB)
	}
	if *ifStale {
		stale, why, err := imageStale(*dir, ".")
		if err != nil {
			return err
		}
		if !stale {
			fmt.Fprintf(stdout, "coffer: image in %s is up to date\n", *dir)
			return nil
		}
		fmt.Fprintf(stdout, "coffer: rebuilding the image: %s\n", why)
	}
	start := time.Now()
	m, err := image.Build(ctx, image.Config{Dir: *dir, CacheDir: *cache, ReleaseKey: *releaseKey, DataDiskSize: int64(*dataMiB) << 20, Progress: stdout})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "coffer: image %s (kernel %s) in %s, built in %v\n", m.Version, m.Kernel.Release, *dir, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// imageStale reports whether the image in dir is missing or older than any
// Go source, go.mod or go.sum under src (skipping var/, bin/, out/ and
// hidden folders).
func imageStale(dir, src string) (bool, string, error) {
	st, err := os.Stat(filepath.Join(dir, image.ManifestFile))
	if errors.Is(err, os.ErrNotExist) {
		return true, "no image yet", nil
	}
	if err != nil {
		return false, "", err
	}
	built := st.ModTime()
	var newer string
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != src && (strings.HasPrefix(name, ".") || p == filepath.Join(src, "var") || p == filepath.Join(src, "bin") || p == filepath.Join(src, "out") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") && name != "go.mod" && name != "go.sum" {
			return nil
		}
		if strings.HasSuffix(name, "_test.go") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.ModTime().After(built) {
			newer = p
			return fs.SkipAll
		}
		return nil
	})
	if err != nil {
		return false, "", err
	}
	if newer != "" {
		return true, newer + " is newer than the image", nil
	}
	return false, "", nil
}
