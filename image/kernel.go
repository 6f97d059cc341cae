package image

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// ErrHashMismatch is returned when a downloaded package does not have the
// SHA-256 recorded in apt's index.
var ErrHashMismatch = errors.New("image: sha256 mismatch")

// ErrNoKernelPackage is returned when the kernel meta package does not
// resolve to a concrete linux-image package.
var ErrNoKernelPackage = errors.New("image: no concrete kernel package")

// Kernel describes the Debian kernel package an image was built from.
type Kernel struct {
	Package string `json:"package"`  // e.g. linux-image-6.1.0-56-amd64
	Version string `json:"version"`  // Debian version, e.g. 6.1.192-2
	SHA256  string `json:"sha256"`   // of the .deb, as recorded by apt
	Release string `json:"release"`  // uname -r of the kernel
	Deb     string `json:"-"`        // path of the cached .deb
	Root    string `json:"-"`        // extracted tree (depmod already run)
	Size    int64  `json:"deb_size"` // of the .deb
}

// pkgName is what a Debian package name may contain.
var pkgName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]{0,127}$`)

// parseDepends returns the first dependency of meta (output of
// "apt-cache depends meta") that is a linux-image package.
func parseDepends(out []byte) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && (f[0] == "Depends:" || f[0] == "|Depends:") && strings.HasPrefix(f[1], "linux-image-") && pkgName.MatchString(f[1]) {
			return f[1], nil
		}
	}
	return "", ErrNoKernelPackage
}

// debInfo is the part of an "apt-cache show" stanza the builder needs.
type debInfo struct {
	Package, Version, Filename, SHA256 string
}

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// parseShow reads the first stanza of "apt-cache show --no-all-versions".
func parseShow(out []byte) (debInfo, error) {
	var d debInfo
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break // end of the first stanza
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		switch k {
		case "Package":
			d.Package = v
		case "Version":
			d.Version = v
		case "Filename":
			d.Filename = v
		case "SHA256":
			d.SHA256 = strings.ToLower(v)
		}
	}
	switch {
	case !pkgName.MatchString(d.Package):
		return d, fmt.Errorf("image: apt-cache show: bad package %q", d.Package)
	case d.Version == "" || strings.ContainsAny(d.Version, "/ "):
		return d, fmt.Errorf("image: apt-cache show: bad version %q", d.Version)
	case !hexSHA256.MatchString(d.SHA256):
		return d, fmt.Errorf("image: apt-cache show: no SHA256 for %s", d.Package)
	case !strings.HasSuffix(d.Filename, ".deb"):
		return d, fmt.Errorf("image: apt-cache show: bad filename %q", d.Filename)
	}
	return d, nil
}

func fileSHA256(name string) (string, int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// verifyFile checks that name has the given SHA-256 and returns its size.
func verifyFile(name, want string) (int64, error) {
	got, n, err := fileSHA256(name)
	if err != nil {
		return 0, fmt.Errorf("image: %w", err)
	}
	if got != want {
		return 0, fmt.Errorf("%w: %s: got %s, want %s", ErrHashMismatch, filepath.Base(name), got, want)
	}
	return n, nil
}

func run(ctx context.Context, dir string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("image: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// fetchKernel resolves meta to a concrete package, downloads it into
// cache/debs (reusing a verified copy), verifies its SHA-256 against apt's
// index, extracts it into cache/kernels and runs depmod there.
func fetchKernel(ctx context.Context, cache, meta string, progress func(string, ...any)) (*Kernel, error) {
	if !pkgName.MatchString(meta) {
		return nil, fmt.Errorf("image: bad package name %q", meta)
	}
	progress("resolving %s", meta)
	out, err := run(ctx, "", "apt-cache", "depends", meta)
	if err != nil {
		return nil, err
	}
	pkg, err := parseDepends(out)
	if err != nil {
		return nil, fmt.Errorf("%w (from %s)", err, meta)
	}
	out, err = run(ctx, "", "apt-cache", "show", "--no-all-versions", pkg)
	if err != nil {
		return nil, err
	}
	info, err := parseShow(out)
	if err != nil {
		return nil, err
	}
	progress("kernel package %s %s", info.Package, info.Version)

	debs := filepath.Join(cache, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	deb := filepath.Join(debs, path.Base(info.Filename))
	size, err := verifyFile(deb, info.SHA256)
	if err != nil {
		progress("downloading %s", path.Base(info.Filename))
		tmp, err := os.MkdirTemp(debs, "download-")
		if err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
		defer os.RemoveAll(tmp)
		if _, err := run(ctx, tmp, "apt-get", "download", "-q", info.Package+"="+info.Version); err != nil {
			return nil, err
		}
		got := filepath.Join(tmp, path.Base(info.Filename))
		if size, err = verifyFile(got, info.SHA256); err != nil {
			return nil, err
		}
		if err := os.Rename(got, deb); err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
	}
	progress("verified %s sha256 %s", path.Base(deb), info.SHA256)

	k := &Kernel{Package: info.Package, Version: info.Version, SHA256: info.SHA256, Deb: deb, Size: size}
	root := filepath.Join(cache, "kernels", info.SHA256)
	if _, err := os.Stat(filepath.Join(root, "ok")); err != nil {
		progress("extracting and running depmod")
		if err := extractKernel(ctx, deb, root); err != nil {
			return nil, err
		}
	}
	k.Root = root
	rels, err := os.ReadDir(filepath.Join(root, "lib", "modules"))
	if err != nil || len(rels) != 1 {
		return nil, fmt.Errorf("image: %s: want exactly one lib/modules release", root)
	}
	k.Release = rels[0].Name()
	return k, nil
}

// extractKernel extracts deb into root and runs depmod there. The tree is
// built in a private temporary directory and renamed into place, so
// concurrent builds sharing a cache never see a partial tree.
func extractKernel(ctx context.Context, deb, root string) error {
	parent := filepath.Dir(root)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "extract-")
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	defer os.RemoveAll(tmp)
	if _, err := run(ctx, "", "dpkg-deb", "-x", deb, tmp); err != nil {
		return err
	}
	rels, err := os.ReadDir(filepath.Join(tmp, "lib", "modules"))
	if err != nil || len(rels) != 1 {
		return fmt.Errorf("image: %s: want exactly one lib/modules release", deb)
	}
	if _, err := run(ctx, "", depmodPath(), "-b", tmp, rels[0].Name()); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "ok"), nil, 0o644); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	if _, err := os.Stat(filepath.Join(root, "ok")); err != nil {
		os.RemoveAll(root) // an incomplete tree from an older layout
	}
	if err := os.Rename(tmp, root); err != nil {
		if _, serr := os.Stat(filepath.Join(root, "ok")); serr == nil {
			return nil // another build finished first
		}
		return fmt.Errorf("image: %w", err)
	}
	return nil
}

func depmodPath() string {
	if p, err := exec.LookPath("depmod"); err == nil {
		return p
	}
	return "/usr/sbin/depmod"
}
