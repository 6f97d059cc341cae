package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/hsm/auth"
	"github.com/cofferhsm/coffer/hsm/seal/sealtest"
	"github.com/cofferhsm/coffer/internal/hostmode"
	"github.com/cofferhsm/coffer/kmip"
	"github.com/cofferhsm/coffer/kmip/client"
)

type result struct {
	err            error
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), strings.NewReader(stdin), &out, &errb, args)
	code := exitCode(err, &errb)
	return result{err, code, out.String(), errb.String()}
}

func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := runCLI(t, "", args...)
	if r.code != 0 {
		t.Fatalf("coffer %s: exit %d: %v\n%s", strings.Join(args, " "), r.code, r.err, r.stderr)
	}
	return r
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sharedData is a data directory initialized once (the CA key is slow to
// generate); copyData gives each test its own copy.
var (
	sharedOnce sync.Once
	sharedDir  string
	sharedErr  error
)

func copyData(t *testing.T) string {
	t.Helper()
	sharedOnce.Do(func() {
		sharedDir, sharedErr = os.MkdirTemp("", "coffer-cli-*")
		if sharedErr == nil {
			_, sharedErr = auth.Load(authDir(sharedDir), auth.Options{})
		}
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	data := t.TempDir()
	if err := os.MkdirAll(filepath.Join(authDir(data), "apps"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca.crt", "ca.key"} {
		b, err := os.ReadFile(filepath.Join(authDir(sharedDir), f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(authDir(data), f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return data
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

func TestAppCreate(t *testing.T) {
	data := copyData(t)
	out := filepath.Join(t.TempDir(), "creds")
	// Flags before and after NAME both work.
	mustRun(t, "app", "create", "--data", data, "vcenter", "--out", out)
	fi, err := os.Stat(filepath.Join(out, "client.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("client.key: %v %v", fi, err)
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(out, "client.crt"), filepath.Join(out, "client.key")); err != nil {
		t.Fatalf("client.crt/client.key: %v", err)
	}
	leaf, ca := readCert(t, filepath.Join(out, "client.crt")), readCert(t, filepath.Join(out, "ca.crt"))
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("client.crt does not chain to ca.crt: %v", err)
	}
	a, err := auth.Load(authDir(data), auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if app, err := a.Identify(leaf, nil); err != nil || app.Name != "vcenter" {
		t.Fatalf("Identify = %+v, %v", app, err)
	}
	// ca.crt is the CA of the server certificate.
	srv, err := a.ServerCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "localhost"}); err != nil {
		t.Fatalf("server certificate does not chain to ca.crt: %v", err)
	}
	// Existing app or existing output files: refused, nothing overwritten.
	key, _ := os.ReadFile(filepath.Join(out, "client.key"))
	if r := runCLI(t, "", "app", "create", "vcenter", "--data", data, "--out", t.TempDir()); r.code != 1 || !errors.Is(r.err, auth.ErrAppExists) {
		t.Errorf("duplicate app: exit %d, %v", r.code, r.err)
	}
	if r := runCLI(t, "", "app", "create", "other", "--data", data, "--out", out); r.code != 1 {
		t.Errorf("existing files: exit %d, %v", r.code, r.err)
	}
	if key2, _ := os.ReadFile(filepath.Join(out, "client.key")); !bytes.Equal(key, key2) {
		t.Error("client.key overwritten")
	}
}

func TestAppSignCSR(t *testing.T) {
	data := copyData(t)
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "vc01"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr := filepath.Join(dir, "vc.csr")
	os.WriteFile(csr, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o644)
	out := filepath.Join(dir, "vc.crt")
	mustRun(t, "app", "sign-csr", "vcenter", "--data", data, "--csr", csr, "--out", out)
	c := readCert(t, out)
	if !c.PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) || c.Subject.CommonName != "vc01" {
		t.Errorf("certificate: %v %T", c.Subject, c.PublicKey)
	}
	a, err := auth.Load(authDir(data), auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if app, err := a.Identify(c, nil); err != nil || app.Name != "vcenter" {
		t.Fatalf("Identify = %+v, %v", app, err)
	}
	// Garbage CSR.
	garbage := filepath.Join(dir, "garbage.csr")
	os.WriteFile(garbage, []byte("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"), 0o644)
	r := runCLI(t, "", "app", "sign-csr", "vcenter", "--data", data, "--csr", garbage, "--out", filepath.Join(dir, "g.crt"))
	if r.code != 1 || !errors.Is(r.err, auth.ErrBadCSR) || !strings.Contains(r.stderr, "invalid certificate signing request") {
		t.Errorf("garbage CSR: exit %d, %v, %q", r.code, r.err, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "g.crt")); err == nil {
		t.Error("output written for a garbage CSR")
	}
	// Oversized CSR file.
	big := filepath.Join(dir, "big.csr")
	os.WriteFile(big, make([]byte, auth.MaxPEMSize+1), 0o644)
	if r := runCLI(t, "", "app", "sign-csr", "vcenter", "--data", data, "--csr", big, "--out", filepath.Join(dir, "b.crt")); r.code != 1 {
		t.Errorf("oversized CSR: exit %d, %v", r.code, r.err)
	}
}

func selfSignedPEM(t *testing.T) (*x509.Certificate, []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vcenter self-signed"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestAppTrustCert(t *testing.T) {
	data := copyData(t)
	c, p := selfSignedPEM(t)
	file := filepath.Join(t.TempDir(), "vc.pem")
	os.WriteFile(file, p, 0o644)
	mustRun(t, "app", "trust-cert", "vcenter", "--data", data, "--cert", file)
	a, err := auth.Load(authDir(data), auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if app, err := a.Identify(c, nil); err != nil || app.Name != "vcenter" || !app.Pinned {
		t.Fatalf("Identify = %+v, %v", app, err)
	}
	// A certificate for servers only needs --any-eku.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "server only"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	srvOnly := filepath.Join(t.TempDir(), "srv.pem")
	os.WriteFile(srvOnly, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	if r := runCLI(t, "", "app", "trust-cert", "vc2", "--data", data, "--cert", srvOnly); r.code != 1 || !errors.Is(r.err, auth.ErrBadCert) {
		t.Errorf("serverAuth-only without --any-eku: exit %d, %v", r.code, r.err)
	}
	mustRun(t, "app", "trust-cert", "vc2", "--data", data, "--cert", srvOnly, "--any-eku")
	srvCert, _ := x509.ParseCertificate(der)
	if app, err := a.Identify(srvCert, nil); err != nil || app.Name != "vc2" {
		t.Errorf("--any-eku pinned cert: %+v, %v", app, err)
	}

	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o644)
	if r := runCLI(t, "", "app", "trust-cert", "x", "--data", data, "--cert", bad); r.code != 1 || !errors.Is(r.err, auth.ErrBadCert) {
		t.Errorf("bad cert: exit %d, %v", r.code, r.err)
	}
	if r := runCLI(t, "", "app", "trust-cert", "x", "--data", data, "--cert", filepath.Join(t.TempDir(), "missing")); r.code != 1 {
		t.Errorf("missing file: exit %d, %v", r.code, r.err)
	}
}

func TestAppSetPassword(t *testing.T) {
	data := copyData(t)
	mustRun(t, "app", "create", "vcenter", "--data", data, "--out", t.TempDir())
	if r := runCLI(t, "s3cret\n", "app", "set-password", "vcenter", "--data", data); r.code != 0 {
		t.Fatalf("exit %d: %v", r.code, r.err)
	}
	a, err := auth.Load(authDir(data), auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.CheckPassword("vcenter", "s3cret"); err != nil {
		t.Error(err)
	}
	if r := runCLI(t, "\n", "app", "set-password", "vcenter", "--data", data); r.code != 1 {
		t.Errorf("empty password: exit %d", r.code)
	}
}

func TestUsageErrors(t *testing.T) {
	data := t.TempDir()
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"no command", nil, 2},
		{"unknown command", []string{"frobnicate"}, 2},
		{"app without subcommand", []string{"app"}, 2},
		{"unknown app subcommand", []string{"app", "delete", "x"}, 2},
		{"bad name", []string{"app", "create", "../etc", "--data", data, "--out", data}, 2},
		{"bad name space", []string{"app", "create", "a b", "--data", data, "--out", data}, 2},
		{"no name", []string{"app", "create", "--data", data, "--out", data}, 2},
		{"two names", []string{"app", "create", "a", "b", "--data", data, "--out", data}, 2},
		{"missing --data", []string{"app", "create", "a", "--out", filepath.Join(data, "o")}, 2},
		{"missing --out", []string{"app", "create", "a", "--data", data}, 2},
		{"unknown flag", []string{"app", "create", "a", "--data", data, "--bogus"}, 2},
		{"sign-csr missing --csr", []string{"app", "sign-csr", "a", "--data", data, "--out", "x"}, 2},
		{"trust-cert missing --cert", []string{"app", "trust-cert", "a", "--data", data}, 2},
		{"serve missing --data", []string{"serve"}, 2},
		{"serve extra argument", []string{"serve", "--data", data, "now"}, 2},
		{"serve unknown flag", []string{"serve", "--data", data, "--port", "1"}, 2},
		{"admin without subcommand", []string{"admin"}, 2},
		{"admin enroll missing flags", []string{"admin", "enroll", "--appliance", "https://127.0.0.1:8443"}, 2},
		{"remote app create missing --admin", []string{"app", "create", "a", "--appliance", "https://127.0.0.1:8443", "--out", filepath.Join(data, "o")}, 2},
		{"help", []string{"help"}, 0},
		{"-h", []string{"-h"}, 0},
		{"app create -h", []string{"app", "create", "-h"}, 0},
		{"app sign-csr -h", []string{"app", "sign-csr", "-h"}, 0},
		{"app trust-cert -h", []string{"app", "trust-cert", "-h"}, 0},
		{"app set-password -h", []string{"app", "set-password", "-h"}, 0},
		{"serve -h", []string{"serve", "-h"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "", tc.args...)
			if r.code != tc.want {
				t.Fatalf("exit %d, want %d (err %v)\nstderr: %s", r.code, tc.want, r.err, r.stderr)
			}
			if tc.want == 2 && !strings.Contains(r.stderr, "coffer help") {
				t.Errorf("usage error without a hint: %q", r.stderr)
			}
			if tc.want == 0 && !strings.Contains(r.stdout+r.stderr, "Usage: coffer") {
				t.Errorf("no usage printed: %q %q", r.stdout, r.stderr)
			}
			if tc.want == 0 && len(tc.args) > 1 && !errors.Is(r.err, flag.ErrHelp) {
				t.Errorf("-h returned %v", r.err)
			}
		})
	}
	if entries, _ := os.ReadDir(data); len(entries) != 0 {
		t.Errorf("usage errors created files: %v", entries)
	}
}

func TestServeBadArgs(t *testing.T) {
	noTPM(t)
	tests := []struct {
		name string
		args []string
		is   error
	}{
		{"bad SAN", []string{"--san", "bad name!"}, auth.ErrBadSAN},
		{"unknown sealer", []string{"--tpm", "tpm2:nowhere"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := copyData(t)
			r := runCLI(t, "", append([]string{"serve", "--data", data, "--kmip-addr", "127.0.0.1:0"}, tc.args...)...)
			if r.code != 1 || (tc.is != nil && !errors.Is(r.err, tc.is)) {
				t.Fatalf("exit %d, %v", r.code, r.err)
			}
			for _, f := range []string{hostmode.BlobInsecure, hostmode.BlobTPM, hostmode.StoreFile} {
				if _, err := os.Stat(filepath.Join(data, f)); err == nil {
					t.Errorf("%s created by a failed serve", f)
				}
			}
		})
	}
}

// noTPM makes serve's default TPM device and swtpm paths that do not
// exist, so that tests never touch a host TPM and get the insecure sealer
// by default.
func noTPM(t *testing.T) {
	oldDev, oldSW := tpmDevice, swtpmBinary
	tpmDevice = filepath.Join(t.TempDir(), "no-tpm")
	swtpmBinary = filepath.Join(t.TempDir(), "no-swtpm")
	t.Cleanup(func() { tpmDevice, swtpmBinary = oldDev, oldSW })
}

// startServe runs coffer serve in the background and returns its KMIP
// address, its stdout and stderr, and a stop function returning serve's
// error.
func startServe(t *testing.T, args ...string) (addr string, stdout, stderr *lineWaiter, stop func() error) {
	t.Helper()
	stdout = &lineWaiter{re: regexp.MustCompile(`(coffer app create)`), found: make(chan string, 1)}
	stderr = &lineWaiter{re: regexp.MustCompile(`kmip: listening"? addr=(\S+)`), found: make(chan string, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, strings.NewReader(""), stdout, stderr, append([]string{"serve", "--kmip-addr", "127.0.0.1:0"}, args...))
	}()
	select {
	case addr = <-stderr.found:
	case err := <-done:
		cancel()
		t.Fatalf("serve exited: %v\nstderr: %s", err, stderr.String())
	case <-time.After(time.Minute):
		cancel()
		t.Fatalf("serve did not log its address; stderr: %s", stderr.String())
	}
	var once sync.Once
	var serr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case serr = <-done:
			case <-time.After(time.Minute):
				serr = errors.New("serve did not stop within a minute")
			}
		})
		return serr
	}
	t.Cleanup(func() { stop() })
	return addr, stdout, stderr, stop
}

func clientTLS(t *testing.T, creds string) *tls.Config {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(creds, "client.crt"), filepath.Join(creds, "client.key"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, filepath.Join(creds, "ca.crt")))
	return &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: []tls.Certificate{pair}}
}

// TestServe runs serve on a new data directory (insecure sealer, as no TPM
// exists), creates a key over KMIP, restarts serve on the same directory
// and reads the same key back.
func TestServe(t *testing.T) {
	noTPM(t)
	data := copyData(t)
	creds := t.TempDir()
	mustRun(t, "app", "create", "vcenter", "--data", data, "--out", creds)

	addr, stdout, stderr, stop := startServe(t, "--data", data, "--san", "kms.example.com", "--san", "192.0.2.1")
	for _, want := range []string{"coffer app create NAME --data " + data, filepath.Join(data, "auth", "ca.crt"), "generated and sealed", "INSECURE"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("serve output lacks %q:\n%s", want, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "WARNING: INSECURE") {
		t.Errorf("no insecure-sealer warning on stderr:\n%s", stderr.String())
	}
	// The server certificate carries the extra names.
	c := readCert(t, filepath.Join(authDir(data), "server.crt"))
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, filepath.Join(authDir(data), "ca.crt")))
	for _, n := range []string{"localhost", "kms.example.com", "192.0.2.1"} {
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: n}); err != nil {
			t.Errorf("server certificate for %s: %v", n, err)
		}
	}

	ctx := context.Background()
	cl, err := client.Dial(ctx, addr, clientTLS(t, creds))
	if err != nil {
		t.Fatal(err)
	}
	uid, err := cl.Create(ctx, kmip.CryptographicAlgorithmAES, 256, kmip.CryptographicUsageMaskEncrypt|kmip.CryptographicUsageMaskDecrypt)
	if err != nil {
		t.Fatal(err)
	}
	g, err := cl.Get(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	want, err := client.SymmetricKey(g)
	if err != nil || len(want) != 32 {
		t.Fatalf("key of %d bytes, %v", len(want), err)
	}
	cl.Close()
	if err := stop(); err != nil {
		t.Fatalf("serve = %v after cancel", err)
	}

	// Restart: the same master key is unsealed and the key is still there.
	addr, stdout, _, stop = startServe(t, "--data", data)
	if !strings.Contains(stdout.String(), "master key unsealed") {
		t.Errorf("restart output:\n%s", stdout.String())
	}
	cl, err = client.Dial(ctx, addr, clientTLS(t, creds))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	g, err = cl.Get(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.SymmetricKey(g)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after restart: key differs (%v)", err)
	}
	cl.Close()
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// Asking for a TPM on a directory sealed by the insecure sealer fails
	// closed.
	if r := runCLI(t, "", "serve", "--data", data, "--kmip-addr", "127.0.0.1:0", "--tpm", "tcp:127.0.0.1:1"); r.code != 1 || !errors.Is(r.err, hostmode.ErrSealerMismatch) {
		t.Errorf("serve --tpm on an insecure directory: exit %d, %v", r.code, r.err)
	}
}

// lineWaiter is a writer that reports the first match of re.
type lineWaiter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	re    *regexp.Regexp
	found chan string
	once  sync.Once
}

func (w *lineWaiter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if m := w.re.FindStringSubmatch(w.buf.String()); m != nil {
		w.once.Do(func() { w.found <- m[1] })
	}
	return len(p), nil
}

func (w *lineWaiter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestServeSWTPM: serve seals the master key with swtpm when asked, and a
// restart of both swtpm (PCRs reset, as after a reboot) and serve on the
// same directory keeps the key.
func TestServeSWTPM(t *testing.T) {
	noTPM(t)
	sw := sealtest.Start(t)
	data := copyData(t)
	creds := t.TempDir()
	mustRun(t, "app", "create", "vcenter", "--data", data, "--out", creds)
	ctx := context.Background()

	addr, stdout, stderr, stop := startServe(t, "--data", data, "--tpm", sw.Spec())
	if !strings.Contains(stdout.String(), "generated and sealed by tpm:"+sw.Spec()) || strings.Contains(stderr.String(), "INSECURE") {
		t.Errorf("output:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	cl, err := client.Dial(ctx, addr, clientTLS(t, creds))
	if err != nil {
		t.Fatal(err)
	}
	uid, err := cl.Create(ctx, kmip.CryptographicAlgorithmAES, 256, kmip.CryptographicUsageMaskEncrypt)
	if err != nil {
		t.Fatal(err)
	}
	g, err := cl.Get(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := client.SymmetricKey(g)
	cl.Close()
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	sw.Restart(t)
	addr, stdout, _, stop = startServe(t, "--data", data, "--tpm", sw.Spec())
	if !strings.Contains(stdout.String(), "master key unsealed by tpm:") {
		t.Errorf("restart output:\n%s", stdout.String())
	}
	cl, err = client.Dial(ctx, addr, clientTLS(t, creds))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	g, err = cl.Get(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := client.SymmetricKey(g); err != nil || !bytes.Equal(got, want) || len(want) != 32 {
		t.Fatalf("after restart: key differs (%v)", err)
	}
	cl.Close()
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// Without --tpm and without a TPM device, the TPM-sealed directory is
	// refused rather than opened with the insecure sealer.
	if r := runCLI(t, "", "serve", "--data", data, "--kmip-addr", "127.0.0.1:0"); r.code != 1 || !errors.Is(r.err, hostmode.ErrSealerMismatch) {
		t.Errorf("serve without --tpm: exit %d, %v", r.code, r.err)
	}
	if r := runCLI(t, "", "serve", "--data", data, "--kmip-addr", "127.0.0.1:0", "--tpm", "insecure"); r.code != 1 || !errors.Is(r.err, hostmode.ErrSealerMismatch) {
		t.Errorf("serve --tpm insecure: exit %d, %v", r.code, r.err)
	}
}

// TestServeManagedSWTPM: with swtpm installed and no TPM, serve runs its
// own swtpm by default, and a restart unseals the same key.
func TestServeManagedSWTPM(t *testing.T) {
	noTPM(t)
	bin, err := exec.LookPath("swtpm")
	if err != nil {
		t.Skip("swtpm not installed")
	}
	swtpmBinary = bin
	data := copyData(t)
	creds := t.TempDir()
	mustRun(t, "app", "create", "vcenter", "--data", data, "--out", creds)
	ctx := context.Background()
	var want []byte
	var uid string
	for i := range 2 {
		addr, stdout, stderr, stop := startServe(t, "--data", data)
		if !strings.Contains(stdout.String(), "by tpm:swtpm") || !strings.Contains(stdout.String(), "software TPM") || strings.Contains(stderr.String(), "WARNING: INSECURE") {
			t.Errorf("start %d output:\n%s\nstderr:\n%s", i, stdout.String(), stderr.String())
		}
		cl, err := client.Dial(ctx, addr, clientTLS(t, creds))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if uid, err = cl.Create(ctx, kmip.CryptographicAlgorithmAES, 256, kmip.CryptographicUsageMaskEncrypt); err != nil {
				t.Fatal(err)
			}
		}
		g, err := cl.Get(ctx, uid)
		if err != nil {
			t.Fatal(err)
		}
		got, err := client.SymmetricKey(g)
		if err != nil || len(got) != 32 || (i == 1 && !bytes.Equal(got, want)) {
			t.Fatalf("start %d: key %x, %v", i, got, err)
		}
		want = got
		cl.Close()
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
}
