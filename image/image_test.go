package image

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofferhsm/coffer/firmware/release"
	"github.com/cofferhsm/coffer/hsm/seal"
	"github.com/google/go-cmp/cmp"
	"github.com/u-root/mkuimage/cpio"
)

func TestParseDepends(t *testing.T) {
	tests := []struct {
		out  string
		want string
		err  error
	}{
		{"linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n", "linux-image-6.1.0-56-amd64", nil},
		{"linux-image-amd64\n  Recommends: foo\n |Depends: linux-image-6.1.0-9-amd64\n", "linux-image-6.1.0-9-amd64", nil},
		{"linux-image-amd64\n  Depends: libc6\n", "", ErrNoKernelPackage},
		{"linux-image-amd64\n  Depends: linux-image-$(rm -rf)\n", "", ErrNoKernelPackage},
		{"", "", ErrNoKernelPackage},
	}
	for _, tt := range tests {
		got, err := parseDepends([]byte(tt.out))
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("parseDepends(%q) = %q, %v; want %q, %v", tt.out, got, err, tt.want, tt.err)
		}
	}
}

const showOut = `Package: linux-image-6.1.0-56-amd64
Source: linux-signed-amd64 (6.1.192+2)
Version: 6.1.192-2
Filename: pool/updates/main/l/linux-signed-amd64/linux-image-6.1.0-56-amd64_6.1.192-2_amd64.deb
Size: 70550672
SHA256: A86E2049672F52354C4536A089203B6C82639420424D31C91CF31A181FD4D8F1

Package: linux-image-6.1.0-56-amd64
Version: 6.1.0-old
SHA256: 0000000000000000000000000000000000000000000000000000000000000000
`

func TestParseShow(t *testing.T) {
	got, err := parseShow([]byte(showOut))
	if err != nil {
		t.Fatal(err)
	}
	want := debInfo{
		Package:  "linux-image-6.1.0-56-amd64",
		Version:  "6.1.192-2",
		Filename: "pool/updates/main/l/linux-signed-amd64/linux-image-6.1.0-56-amd64_6.1.192-2_amd64.deb",
		SHA256:   "a86e2049672f52354c4536a089203b6c82639420424d31c91cf31a181fd4d8f1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{
		strings.Replace(showOut, "SHA256: A86E", "SHA256: ZZZZ", 1),
		strings.Replace(showOut, "Version: 6.1.192-2", "Version: ../x", 1),
		strings.Replace(showOut, "_amd64.deb", "_amd64.tar", 1),
		"Package: x\n",
	} {
		if _, err := parseShow([]byte(bad)); err == nil {
			t.Errorf("parseShow accepted %.60q", bad)
		}
	}
}

func TestVerifyFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(name, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if n, err := verifyFile(name, abc); err != nil || n != 3 {
		t.Errorf("verifyFile = %d, %v", n, err)
	}
	if _, err := verifyFile(name, strings.Repeat("0", 64)); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("verifyFile with a wrong hash: %v, want ErrHashMismatch", err)
	}
}

func TestBuildConfigErrors(t *testing.T) {
	if _, err := Build(context.Background(), Config{}); !errors.Is(err, ErrConfig) {
		t.Errorf("Build without Dir: %v", err)
	}
	if _, err := Build(context.Background(), Config{Dir: t.TempDir(), DataDiskSize: -1}); !errors.Is(err, ErrConfig) {
		t.Errorf("Build with a negative disk: %v", err)
	}
}

func needTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"apt-get", "apt-cache", "dpkg-deb", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: %v", tool, err)
		}
	}
	if _, err := os.Stat(depmodPath()); err != nil {
		t.Skipf("depmod not found: %v", err)
	}
	if _, err := os.Stat("/usr/sbin/mke2fs"); err != nil {
		t.Skipf("mke2fs not found: %v", err)
	}
}

// TestBuildReproducible builds the real image twice (downloading the kernel
// package into the user cache once) and checks the artifacts.
func TestBuildReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the image; skipped with -short")
	}
	needTools(t)
	ctx := context.Background()
	var log bytes.Buffer
	var ms [2]*Manifest
	var dirs [2]string
	for i := range ms {
		dirs[i] = t.TempDir()
		m, err := Build(ctx, Config{Dir: dirs[i], Progress: &log, Commit: "test", DataDiskSize: 1 << 20})
		if err != nil {
			t.Fatalf("Build %d: %v\n%s", i, err, log.String())
		}
		ms[i] = m
	}
	t.Logf("build log:\n%s", log.String())
	if diff := cmp.Diff(ms[0], ms[1]); diff != "" {
		t.Errorf("manifests differ (-first +second):\n%s", diff)
	}
	a, _ := os.ReadFile(filepath.Join(dirs[0], InitramfsFile))
	b, _ := os.ReadFile(filepath.Join(dirs[1], InitramfsFile))
	if !bytes.Equal(a, b) || len(a) == 0 {
		t.Errorf("initramfs not reproducible: %d and %d bytes", len(a), len(b))
	}
	if !strings.Contains(log.String(), "image: verified ") {
		t.Errorf("no verification in progress output")
	}

	m, err := ReadManifest(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ms[0], m, cmp.FilterPath(func(p cmp.Path) bool {
		return p.String() == "Kernel.Deb" || p.String() == "Kernel.Root"
	}, cmp.Ignore())); diff != "" {
		t.Errorf("ReadManifest (-built +read):\n%s", diff)
	}
	for _, name := range []string{KernelFile, InitramfsFile, DataDiskFile} {
		art, ok := m.Artifact(name)
		if !ok {
			t.Fatalf("manifest lacks %s", name)
		}
		sum, size, err := fileSHA256(filepath.Join(dirs[0], name))
		if err != nil || sum != art.SHA256 || size != art.Size {
			t.Errorf("%s: manifest %+v, file %s %d %v", name, art, sum, size, err)
		}
	}
	if !strings.HasPrefix(m.Kernel.Package, "linux-image-") || m.Kernel.Release == "" || len(m.Kernel.SHA256) != 64 {
		t.Errorf("kernel %+v", m.Kernel)
	}

	recs, err := ReadInitramfs(filepath.Join(dirs[0], InitramfsFile), 512<<20)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]cpio.Record{}
	for _, r := range recs {
		files[r.Name] = r
		if r.MTime != 0 || r.UID != 0 || r.Ino != 0 {
			t.Errorf("%s: not normalized: %v", r.Name, r.Info)
		}
	}
	if r, ok := files["."]; !ok || r.Mode != cpio.S_IFDIR|0o755 {
		t.Errorf("root directory record %v", r.Info)
	}
	modDir := "lib/modules/" + m.Kernel.Release + "/"
	// The boot policy: signed over the measurement of the archive as built.
	arch := cpio.InMemArchive()
	for _, r := range recs {
		if err := arch.WriteRecord(r); err != nil {
			t.Fatal(err)
		}
	}
	meas, err := measureArchive(arch)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(meas[:]); got != m.Boot.Measurement {
		t.Errorf("measurement of the archive %s, manifest %s", got, m.Boot.Measurement)
	}
	if r, ok := files[release.PolicyPath]; !ok {
		t.Errorf("initramfs lacks %s", release.PolicyPath)
	} else {
		pol, _ := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
		if hex.EncodeToString(pol) != m.Boot.Policy {
			t.Errorf("policy in the initramfs differs from the manifest's")
		}
		kr := files[release.ReleaseKeyPath]
		kb, _ := io.ReadAll(io.NewSectionReader(kr.ReaderAt, 0, int64(kr.FileSize)))
		pk, err := release.ParsePublicKey(kb)
		if err != nil {
			t.Fatal(err)
		}
		p, err := seal.VerifyPolicy(pol, pk)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.PCRs) != 1 || !bytes.Equal(p.PCRs[0].Value, seal.PredictPCR(meas[:])) {
			t.Errorf("policy %+v does not expect PCR 11 = measurement", p)
		}
	}
	for _, want := range []string{"init", "bin/init", "bin/hsmd", "bin/kmipd", "sbin/mke2fs", "dev/console", modDir + "modules.dep", modDir + "kernel/fs/ext4/ext4.ko", modDir + "kernel/drivers/md/dm-crypt.ko"} {
		if _, ok := files[want]; !ok {
			t.Errorf("initramfs lacks %s", want)
		}
	}
	for _, banned := range []string{"bin/sh", "bin/defaultsh", "bin/bash", "bbin/bb"} {
		if _, ok := files[banned]; ok {
			t.Errorf("release initramfs contains %s", banned)
		}
	}
	if r, ok := files[modDir+"modules.dep"]; ok {
		dep, _ := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
		if !strings.Contains(string(dep), "kernel/fs/ext4/ext4.ko: ") || !strings.Contains(string(dep), "jbd2.ko") {
			t.Errorf("modules.dep:\n%s", dep)
		}
	}
}
