package appliancetest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/boot"
	"github.com/cofferhsm/coffer/firmware/admin"
	"github.com/cofferhsm/coffer/image"
	"github.com/cofferhsm/coffer/kmip"
	"github.com/cofferhsm/coffer/kmip/client"
	"github.com/cofferhsm/coffer/qemu"
	"github.com/u-root/mkuimage/cpio"
)

// memoryMiB is the guest memory of every test boot (the smallest that
// passes is reported with the figures).
var memoryMiB = 512

func init() {
	if v := os.Getenv("COFFER_TEST_MEMORY"); v != "" {
		fmt.Sscan(v, &memoryMiB)
	}
}

func needTools(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the image and boots VMs; skipped with -short")
	}
	for _, tool := range []string{"qemu-system-x86_64", "swtpm", "apt-get", "mke2fs"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: %v", tool, err)
		}
	}
	if _, err := exec.LookPath("depmod"); err != nil {
		if _, err := os.Stat("/usr/sbin/depmod"); err != nil {
			t.Skipf("depmod not found: %v", err)
		}
	}
}

// freeAddr returns a loopback address with a port that was free.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// box is one appliance under test: its image, state folder and ports.
type box struct {
	t         *testing.T
	imageDir  string
	dir       string
	kmipAddr  string
	adminAddr string
	append    string // extra kernel command line
	vm        *qemu.VM
}

func (b *box) config() qemu.Config {
	return qemu.Config{
		ImageDir:     b.imageDir,
		Dir:          b.dir,
		MemoryMiB:    memoryMiB,
		ReadyTimeout: 4 * time.Minute, // a hang guard: CI runs other VMs at the same time
		Append:       b.append,
		Forwards:     []qemu.Forward{{HostAddr: b.kmipAddr, GuestPort: 5696}, {HostAddr: b.adminAddr, GuestPort: 8443}},
	}
}

// boot starts the VM and waits for the ready marker; it returns the time
// from QEMU start to the marker.
func (b *box) boot() time.Duration {
	b.t.Helper()
	start := time.Now()
	vm, err := qemu.Start(context.Background(), b.config())
	if err != nil {
		if vm != nil {
			vm.Kill()
		}
		b.t.Fatalf("boot: %v\n%s", err, b.consoleLog())
	}
	b.vm = vm
	return time.Since(start)
}

// bootHalted starts the VM, expects it to halt and returns the halt line.
func (b *box) bootHalted() string {
	b.t.Helper()
	vm, err := qemu.Start(context.Background(), b.config())
	if !errors.Is(err, qemu.ErrHalted) {
		if vm != nil {
			vm.Kill()
		}
		b.t.Fatalf("boot: err = %v, want ErrHalted\n%s", err, b.consoleLog())
	}
	b.vm = vm
	return err.Error()
}

// stop powers the VM off cleanly (ACPI power button).
func (b *box) stop() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := b.vm.Stop(ctx)
	con := strings.Join(b.vm.Console(), "\n")
	b.vm = nil
	if err != nil {
		b.t.Fatalf("Stop: %v\n%s", err, con)
	}
	if !strings.Contains(con, boot.MarkerPowerOff+" (power button)") {
		b.t.Errorf("no clean power-off on the power button:\n%s", con)
	}
}

func (b *box) consoleLog() string {
	c, _ := os.ReadFile(filepath.Join(b.dir, qemu.ConsoleLog))
	return string(c)
}

func (b *box) kill() {
	if b.vm != nil {
		b.vm.Kill()
		b.vm = nil
	}
}

func fileSum(t *testing.T, name string) [32]byte {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var s [32]byte
	h.Sum(s[:0])
	return s
}

// appTLS loads the KMIP app bundle written by admin.Client.CreateApp.
func appTLS(t *testing.T, dir string) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, admin.ClientCertFile), filepath.Join(dir, admin.ClientKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, admin.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA in ca.crt")
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// vcenterKey does what vCenter does for one VM key, on the given client:
// empty Discover Versions, Query, Create (AES-256, usage 12), the x-*
// attributes, Get (Pre-Active), Activate. It returns the UID and the key.
func vcenterKey(ctx context.Context, c *client.Client, vm int) (string, []byte, error) {
	vs, err := c.DiscoverVersions(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("Discover Versions: %w", err)
	}
	if !containsVersion(vs, 1, 1) {
		return "", nil, fmt.Errorf("Discover Versions %v lacks 1.1", vs)
	}
	if _, err := c.Query(ctx, kmip.QueryFunctionQueryOperations, kmip.QueryFunctionQueryObjects, kmip.QueryFunctionQueryServerInformation); err != nil {
		return "", nil, fmt.Errorf("Query: %w", err)
	}
	uid, err := c.Create(ctx, kmip.CryptographicAlgorithmAES, 256, kmip.CryptographicUsageMask(12))
	if err != nil {
		return "", nil, fmt.Errorf("Create: %w", err)
	}
	for _, kv := range [][2]string{{"x-Vendor", "VMware, Inc."}, {"x-Product", "VMware vSphere"}, {"x-Name", fmt.Sprintf("vm-%d", vm)}} {
		if _, err := c.AddAttribute(ctx, uid, client.Attr(kv[0], kmip.TextString(kv[1]))); err != nil {
			return "", nil, fmt.Errorf("Add Attribute %s: %w", kv[0], err)
		}
	}
	g, err := c.Get(ctx, uid)
	if err != nil {
		return "", nil, fmt.Errorf("Get: %w", err)
	}
	material, err := client.SymmetricKey(g)
	if err != nil || len(material) != 32 {
		return "", nil, fmt.Errorf("Get: %d bytes, %v", len(material), err)
	}
	if err := c.Activate(ctx, uid); err != nil {
		return "", nil, fmt.Errorf("Activate: %w", err)
	}
	return uid, material, nil
}

func containsVersion(vs []kmip.ProtocolVersion, major, minor int32) bool {
	for _, v := range vs {
		if v.Major == major && v.Minor == minor {
			return true
		}
	}
	return false
}

func getKey(ctx context.Context, c *client.Client, uid string) ([]byte, error) {
	g, err := c.Get(ctx, uid)
	if err != nil {
		return nil, err
	}
	return client.SymmetricKey(g)
}

// tamperInitramfs appends a second compressed cpio archive with one extra
// file to the initramfs (the kernel unpacks both), as an attacker who
// edits the image on disk would.
func tamperInitramfs(t *testing.T, name string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	w := cpio.Newc.Writer(zw)
	if err := w.WriteRecord(cpio.StaticFile("etc/backdoor", "evil\n", 0o644)); err != nil {
		t.Fatal(err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// corruptKeyCheck flips a bit of the header's key-check value (offset 32)
// and recomputes the header checksum, so that only the key check fails
// (see boot/disk's layout).
func corruptKeyCheck(t *testing.T, name string) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hdr := make([]byte, 4096)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		t.Fatal(err)
	}
	if string(hdr[:8]) != "COFFERD1" {
		t.Fatalf("no header: %q", hdr[:8])
	}
	n := int(binary.BigEndian.Uint16(hdr[24:]))
	hdr[32] ^= 1
	sum := sha256.Sum256(hdr[:64+n])
	copy(hdr[64+n:], sum[:])
	if _, err := f.WriteAt(hdr[:64+n+32], 0); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAppliance runs the five appliance scenarios in order on one image
// and one VM state folder (TPM state and data disk carry over).
func TestAppliance(t *testing.T) {
	needTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	// COFFER_TEST_IMAGE names a folder to build the image in and reuse
	// while its manifest exists (for iterating on the tests).
	imageDir := os.Getenv("COFFER_TEST_IMAGE")
	start := time.Now()
	m, err := image.ReadManifest(imageDir)
	if imageDir == "" || err != nil {
		if imageDir == "" {
			imageDir = t.TempDir()
		}
		var progress bytes.Buffer
		m, err = image.Build(ctx, image.Config{Dir: imageDir, DataDiskSize: 64 << 20, Commit: "test", Progress: &progress})
		if err != nil {
			t.Fatalf("image.Build: %v\n%s", err, progress.String())
		}
	}
	buildTime := time.Since(start)
	kernel, _ := m.Artifact(image.KernelFile)
	initrd, _ := m.Artifact(image.InitramfsFile)
	t.Logf("FIGURE image build %v; kernel %.1f MiB; initramfs %.1f MiB; measurement %s",
		buildTime.Round(100*time.Millisecond), float64(kernel.Size)/(1<<20), float64(initrd.Size)/(1<<20), m.Boot.Measurement)
	if initrd.Size > 20<<20 {
		t.Errorf("initramfs is %d bytes, want under 20 MiB", initrd.Size)
	}

	// Unix sockets live in the VM folder: keep its path short.
	dir, err := os.MkdirTemp("", "cvm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b := &box{t: t, imageDir: imageDir, dir: dir, kmipAddr: freeAddr(t), adminAddr: freeAddr(t)}
	t.Cleanup(b.kill)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("console log:\n%s", b.consoleLog())
		}
	})
	work := t.TempDir()
	adminDir, appDir := filepath.Join(work, "admin"), filepath.Join(work, "app")
	uids := map[string][]byte{}
	var firstUID string

	ok := t.Run("1 first boot, enroll, vCenter conversation, clean power-off", func(t *testing.T) {
		b.t = t
		d := b.boot()
		t.Logf("FIGURE first boot (TCG, -m %d): QEMU start to %q in %v", memoryMiB, boot.MarkerReady, d.Round(100*time.Millisecond))
		con := strings.Join(b.vm.Console(), "\n")
		for _, want := range []string{boot.MarkerFirstBoot, "coffer: PCR 11 capped", "kmipd: listening on :5696", "coffer: network: hostname coffer, eth0 10.0.2.15/24 gw 10.0.2.2"} {
			if !strings.Contains(con, want) {
				t.Errorf("console lacks %q", want)
			}
		}
		enr, ok := b.vm.Enrollment()
		if !ok || enr.CAFingerprint == "" {
			t.Fatalf("no enrollment token on the console:\n%s", con)
		}
		if strings.Contains(b.consoleLog(), enr.Token) {
			t.Errorf("console log file contains the enrollment token")
		}
		url := "https://" + b.adminAddr
		if err := admin.Enroll(ctx, admin.EnrollOptions{URL: url, Token: enr.Token, Name: "lab-admin", CAFingerprint: enr.CAFingerprint, OutDir: adminDir}); err != nil {
			t.Fatalf("Enroll: %v", err)
		}
		ac, err := admin.Open(url, adminDir)
		if err != nil {
			t.Fatal(err)
		}
		defer ac.Close()
		if err := ac.CreateApp(ctx, "vcenter", appDir); err != nil {
			t.Fatalf("CreateApp: %v", err)
		}
		c, err := client.Dial(ctx, b.kmipAddr, appTLS(t, appDir))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for vm := range 2 {
			uid, key, err := vcenterKey(ctx, c, vm)
			if err != nil {
				t.Fatalf("vCenter conversation: %v", err)
			}
			uids[uid] = key
			if firstUID == "" {
				firstUID = uid
			}
		}
		found, err := c.Locate(ctx, client.Attr(kmip.AttributeObjectType, kmip.ObjectTypeSymmetricKey))
		if err != nil || len(found) != 2 {
			t.Errorf("Locate: %v, %v; want 2 keys", found, err)
		}
		c.Close()
		b.stop()
		log := b.consoleLog()
		for _, want := range []string{"coffer: data disk unmounted and mapping closed", "hsmd: exited 0, stopped"} {
			if !strings.Contains(log, want) {
				t.Errorf("shutdown: console lacks %q", want)
			}
		}
	})
	if !ok {
		t.FailNow()
	}

	ok = t.Run("2 second boot returns the same key material", func(t *testing.T) {
		b.t = t
		// This boot takes its address from QEMU's DHCP server instead of
		// the static default; the sealed key does not depend on it.
		b.append = "coffer.ip=dhcp"
		defer func() { b.append = "" }()
		d := b.boot()
		if !strings.Contains(strings.Join(b.vm.Console(), "\n"), "(DHCP)") {
			t.Errorf("no DHCP lease on the console:\n%s", b.consoleLog())
		}
		t.Logf("FIGURE later boot (TCG, -m %d): QEMU start to %q in %v", memoryMiB, boot.MarkerReady, d.Round(100*time.Millisecond))
		if _, ok := b.vm.Enrollment(); ok {
			t.Errorf("a new enrollment token was printed although an admin is enrolled")
		}
		if strings.Contains(strings.Join(b.vm.Console(), "\n"), boot.MarkerFirstBoot) {
			t.Errorf("second boot generated a new master key")
		}
		c, err := client.Dial(ctx, b.kmipAddr, appTLS(t, appDir))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for uid, want := range uids {
			got, err := getKey(ctx, c, uid)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("Get %s after reboot: %x, %v; want %x", uid, got, err, want)
			}
		}
		// Test 5's burst: acknowledged Creates, then a power cut.
		for range 20 {
			uid, err := c.Create(ctx, kmip.CryptographicAlgorithmAES, 256, kmip.CryptographicUsageMask(12))
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			key, err := getKey(ctx, c, uid)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			uids[uid] = key
		}
		c.Close()
		b.kill()
	})
	if !ok {
		t.FailNow()
	}

	ok = t.Run("5 after a power cut every acknowledged key is there", func(t *testing.T) {
		b.t = t
		b.boot()
		con := strings.Join(b.vm.Console(), "\n")
		if !strings.Contains(con, "coffer: data disk mounted at /data") {
			t.Errorf("filesystem did not mount:\n%s", con)
		}
		c, err := client.Dial(ctx, b.kmipAddr, appTLS(t, appDir))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for uid, want := range uids {
			got, err := getKey(ctx, c, uid)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("Get %s after power cut: %x, %v; want %x", uid, got, err, want)
			}
		}
		c.Close()
		b.stop()
	})
	if !ok {
		t.FailNow()
	}

	disk := filepath.Join(dir, image.DataDiskFile)
	t.Run("3 tampered initramfs refuses to unseal, disk untouched", func(t *testing.T) {
		b.t = t
		tampered := filepath.Join(t.TempDir(), "img")
		if err := os.MkdirAll(tampered, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{image.KernelFile, image.InitramfsFile, image.DataDiskFile, image.ManifestFile} {
			copyFile(t, filepath.Join(imageDir, f), filepath.Join(tampered, f))
		}
		tamperInitramfs(t, filepath.Join(tampered, image.InitramfsFile))
		before := fileSum(t, disk)
		good := b.imageDir
		b.imageDir = tampered
		line := b.bootHalted()
		b.imageDir = good
		b.stop()
		if !strings.Contains(line, "refusing to unseal") || !strings.Contains(line, "PCR") {
			t.Errorf("halt reason %q does not say why", line)
		}
		if fileSum(t, disk) != before {
			t.Errorf("the data disk changed")
		}
		// The untampered image still boots and serves the keys.
		b.boot()
		c, err := client.Dial(ctx, b.kmipAddr, appTLS(t, appDir))
		if err != nil {
			t.Fatal(err)
		}
		got, err := getKey(ctx, c, firstUID)
		c.Close()
		if err != nil || !bytes.Equal(got, uids[firstUID]) {
			t.Errorf("Get after the tampered boot: %v", err)
		}
		b.stop()
	})

	t.Run("4 corrupt key check refuses and does not reformat", func(t *testing.T) {
		b.t = t
		corruptKeyCheck(t, disk)
		before := fileSum(t, disk)
		line := b.bootHalted()
		b.stop()
		if !strings.Contains(line, "key check failed") || !strings.Contains(line, "refusing to reformat") {
			t.Errorf("halt reason %q", line)
		}
		if fileSum(t, disk) != before {
			t.Errorf("the data disk changed")
		}
	})
}
