package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	templateOnce sync.Once
	templateDir  string
	templateErr  error
)

// newAuthority returns an Authority in a fresh directory. The CA (an
// RSA-3072 key, slow to generate) is made once per test binary and copied.
func newAuthority(t *testing.T, opts Options) *Authority {
	t.Helper()
	templateOnce.Do(func() {
		templateDir, templateErr = os.MkdirTemp("", "auth-template-*")
		if templateErr == nil {
			_, templateErr = Load(templateDir, Options{})
		}
	})
	if templateErr != nil {
		t.Fatal(templateErr)
	}
	dir := filepath.Join(t.TempDir(), "auth")
	if err := os.MkdirAll(filepath.Join(dir, appsDir), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{caCertFile, caKeyFile} {
		b, err := os.ReadFile(filepath.Join(templateDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if opts.PasswordIterations == 0 {
		opts.PasswordIterations = 10
	}
	a, err := Load(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestMain(m *testing.M) {
	code := m.Run()
	if templateDir != "" {
		os.RemoveAll(templateDir)
	}
	os.Exit(code)
}

func parseCertPEM(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" || len(strings.TrimSpace(string(rest))) != 0 {
		t.Fatalf("not one PEM certificate: %q", b)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLoadCreatesFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "auth")
	a, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		mode os.FileMode
	}{
		{appsDir, 0o700 | os.ModeDir},
		{caKeyFile, 0o600},
		{caCertFile, 0o644},
	} {
		fi, err := os.Stat(filepath.Join(dir, tc.path))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != tc.mode {
			t.Errorf("%s: mode %v, want %v", tc.path, fi.Mode(), tc.mode)
		}
	}
	ca := a.CACertificate()
	if !ca.IsCA || ca.PublicKey.(*rsa.PublicKey).N.BitLen() != caKeyBits {
		t.Errorf("CA: IsCA=%v key=%T", ca.IsCA, ca.PublicKey)
	}
	b, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !b.CACertificate().Equal(ca) {
		t.Error("second Load made a new CA")
	}
	if got := parseCertPEM(t, a.CACertPEM()); !got.Equal(ca) {
		t.Error("CACertPEM differs from CACertificate")
	}
}

func TestLoadRejectsCorruptFiles(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(dir string) error
	}{
		{"key world-readable", func(dir string) error { return os.Chmod(filepath.Join(dir, caKeyFile), 0o644) }},
		{"key missing", func(dir string) error { return os.Remove(filepath.Join(dir, caKeyFile)) }},
		{"cert garbage", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, caCertFile), []byte("garbage"), 0o644)
		}},
		{"app record garbage", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, appsDir, "x.json"), []byte("{"), 0o600)
		}},
		{"app record unknown field", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, appsDir, "x.json"), []byte(`{"version":1,"name":"x","admin":true}`), 0o600)
		}},
		{"app record name mismatch", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, appsDir, "x.json"), []byte(`{"version":1,"name":"y"}`), 0o600)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAuthority(t, Options{})
			if err := tc.corrupt(a.Dir()); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(a.Dir(), Options{}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Load = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"vcenter", true},
		{"vc-01.example_A", true},
		{strings.Repeat("a", MaxNameLen), true},
		{"", false},
		{strings.Repeat("a", MaxNameLen+1), false},
		{".hidden", false},
		{"..", false},
		{"a/b", false},
		{"a b", false},
		{"é", false},
		{"a\x00", false},
	}
	for _, tc := range tests {
		if got := ValidName(tc.name); got != tc.ok {
			t.Errorf("ValidName(%q) = %v, want %v", tc.name, got, tc.ok)
		}
	}
	a := newAuthority(t, Options{})
	for _, tc := range tests {
		if tc.ok {
			continue
		}
		if _, _, err := a.CreateApp(tc.name); !errors.Is(err, ErrBadName) {
			t.Errorf("CreateApp(%q) = %v, want ErrBadName", tc.name, err)
		}
		if _, err := a.SignCSR(tc.name, nil); !errors.Is(err, ErrBadName) {
			t.Errorf("SignCSR(%q) = %v, want ErrBadName", tc.name, err)
		}
		if err := a.TrustCert(tc.name, nil, TrustOptions{}); !errors.Is(err, ErrBadName) {
			t.Errorf("TrustCert(%q) = %v, want ErrBadName", tc.name, err)
		}
	}
}

func TestCreateApp(t *testing.T) {
	a := newAuthority(t, Options{})
	certPEM, keyPEM, err := a.CreateApp("vcenter")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("cert and key do not match: %v", err)
	}
	leaf := pair.Leaf
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(a.CACertPEM())
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("client certificate does not chain to the CA: %v", err)
	}
	if leaf.Subject.CommonName != "vcenter" {
		t.Errorf("CN = %q", leaf.Subject.CommonName)
	}
	app, err := a.Identify(leaf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if app.Name != "vcenter" || app.Pinned || app.Fingerprint != FingerprintOf(leaf) {
		t.Errorf("Identify = %+v", app)
	}
	if _, _, err := a.CreateApp("vcenter"); !errors.Is(err, ErrAppExists) {
		t.Errorf("second CreateApp = %v, want ErrAppExists", err)
	}
	fi, err := os.Stat(a.appPath("vcenter"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("app record: %v, %v", fi, err)
	}
	names, err := a.Apps()
	if err != nil || !slices.Equal(names, []string{"vcenter"}) {
		t.Errorf("Apps = %v, %v", names, err)
	}
	// The private key is not stored anywhere under the directory.
	keyDER, _ := pem.Decode(keyPEM)
	filepath.Walk(a.Dir(), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			if strings.Contains(string(b), string(keyPEM)) || strings.Contains(string(b), string(keyDER.Bytes)) {
				t.Errorf("client private key stored in %s", p)
			}
		}
		return nil
	})
}

func makeCSR(t *testing.T, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestSignCSR(t *testing.T) {
	a := newAuthority(t, Options{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	// Request a CA certificate with serverAuth: both must be ignored.
	bc, _ := asn1.Marshal(struct {
		IsCA bool `asn1:"optional"`
	}{true})
	csrPEM := makeCSR(t, key, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: "vc.example.com", Organization: []string{"Example"}},
		DNSNames: []string{"vc.example.com"},
		ExtraExtensions: []pkix.Extension{
			{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: bc},
		},
	})
	out, err := a.SignCSR("vcenter", csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	c := parseCertPEM(t, out)
	if c.IsCA || !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("IsCA=%v EKU=%v", c.IsCA, c.ExtKeyUsage)
	}
	if c.Subject.CommonName != "vc.example.com" || !slices.Equal(c.DNSNames, []string{"vc.example.com"}) {
		t.Errorf("subject %v, DNS %v", c.Subject, c.DNSNames)
	}
	if !c.PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
		t.Error("public key differs from the CSR's")
	}
	app, err := a.Identify(c, nil)
	if err != nil || app.Name != "vcenter" {
		t.Fatalf("Identify = %+v, %v", app, err)
	}
	// A second CSR for the same app adds a certificate; the first still works.
	key2, _ := rsa.GenerateKey(rand.Reader, 2048)
	out2, err := a.SignCSR("vcenter", makeCSR(t, key2, &x509.CertificateRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	c2 := parseCertPEM(t, out2)
	if c2.Subject.CommonName != "vcenter" {
		t.Errorf("empty subject: CN = %q, want the app name", c2.Subject.CommonName)
	}
	for _, c := range []*x509.Certificate{c, c2} {
		if _, err := a.Identify(c, nil); err != nil {
			t.Error(err)
		}
	}
}

func TestSignCSRRejects(t *testing.T) {
	a := newAuthority(t, Options{})
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good := makeCSR(t, ec, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}})
	blk, _ := pem.Decode(good)
	tampered := slices.Clone(blk.Bytes)
	tampered[len(tampered)-5] ^= 1 // inside the signature
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	manySANs := make([]string, maxSANs+1)
	for i := range manySANs {
		manySANs[i] = "h" + big.NewInt(int64(i)).String() + ".example"
	}
	tests := []struct {
		name string
		csr  []byte
	}{
		{"empty", nil},
		{"garbage", []byte("this is not a CSR")},
		{"garbage in PEM", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{0x30, 0x03, 1, 2, 3}})},
		{"wrong PEM type", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: blk.Bytes})},
		{"two blocks", append(slices.Clone(good), good...)},
		{"bad signature", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered})},
		{"weak key", makeCSR(t, weak, &x509.CertificateRequest{})},
		{"too many SANs", makeCSR(t, ec, &x509.CertificateRequest{DNSNames: manySANs})},
		{"too large", append(slices.Clone(good), make([]byte, MaxPEMSize)...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := a.SignCSR("app", tc.csr); !errors.Is(err, ErrBadCSR) {
				t.Fatalf("SignCSR = %v, want ErrBadCSR", err)
			}
		})
	}
	if names, _ := a.Apps(); len(names) != 0 {
		t.Errorf("failed SignCSR created apps %v", names)
	}
}

type selfSigned struct {
	cert *x509.Certificate
	pem  []byte
}

func newSelfSigned(t *testing.T, cn string, eku []x509.ExtKeyUsage, notBefore, notAfter time.Time) selfSigned {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		ExtKeyUsage:  eku,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return selfSigned{c, certPEM(der)}
}

func TestTrustCert(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	clock := now
	a := newAuthority(t, Options{Now: func() time.Time { return clock }})
	noEKU := newSelfSigned(t, "vc-noeku", nil, now.Add(-time.Hour), now.Add(24*time.Hour))
	client := newSelfSigned(t, "vc-client", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, now.Add(-time.Hour), now.Add(24*time.Hour))
	serverOnly := newSelfSigned(t, "vc-server", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, now.Add(-time.Hour), now.Add(24*time.Hour))
	stranger := newSelfSigned(t, "stranger", nil, now.Add(-time.Hour), now.Add(24*time.Hour))

	for _, s := range []selfSigned{noEKU, client} {
		if err := a.TrustCert("vcenter", s.pem, TrustOptions{}); err != nil {
			t.Fatal(err)
		}
		app, err := a.Identify(s.cert, nil)
		if err != nil || app.Name != "vcenter" || !app.Pinned {
			t.Errorf("Identify(%s) = %+v, %v", s.cert.Subject.CommonName, app, err)
		}
	}
	// Pinning again is a no-op; pinning for another app is refused.
	if err := a.TrustCert("vcenter", noEKU.pem, TrustOptions{}); err != nil {
		t.Errorf("re-pin: %v", err)
	}
	if err := a.TrustCert("other", noEKU.pem, TrustOptions{}); !errors.Is(err, ErrCertInUse) {
		t.Errorf("pin for other app = %v, want ErrCertInUse", err)
	}
	if err := a.TrustCert("other", serverOnly.pem, TrustOptions{}); !errors.Is(err, ErrBadCert) {
		t.Errorf("serverAuth-only = %v, want ErrBadCert", err)
	}
	for _, bad := range [][]byte{nil, []byte("garbage"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2}})} {
		if err := a.TrustCert("other", bad, TrustOptions{}); !errors.Is(err, ErrBadCert) {
			t.Errorf("TrustCert(%q) = %v, want ErrBadCert", bad, err)
		}
	}
	// Leniency is explicit and per certificate.
	if err := a.TrustCert("lenient", serverOnly.pem, TrustOptions{AnyEKU: true}); err != nil {
		t.Fatalf("AnyEKU pin: %v", err)
	}
	if app, err := a.Identify(serverOnly.cert, nil); err != nil || app.Name != "lenient" {
		t.Errorf("AnyEKU pinned cert: %+v, %v", app, err)
	}
	// The EKU policy is enforced at Identify too (a record made without
	// AnyEKU, e.g. by an older version).
	strictOnly := newSelfSigned(t, "vc-server2", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, now.Add(-time.Hour), now.Add(24*time.Hour))
	if err := a.update("strict", true, func(r *appRecord) error { return a.addCert(r, strictOnly.cert, true) }); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Identify(strictOnly.cert, nil); !errors.Is(err, ErrUntrusted) {
		t.Errorf("serverAuth-only cert without AnyEKU: %v, want ErrUntrusted", err)
	}
	if _, err := a.Identify(stranger.cert, nil); !errors.Is(err, ErrUntrusted) {
		t.Errorf("unknown cert: %v, want ErrUntrusted", err)
	}
	if _, err := a.Identify(nil, nil); !errors.Is(err, ErrNoCert) {
		t.Errorf("no cert: %v, want ErrNoCert", err)
	}
	clock = now.Add(48 * time.Hour)
	if _, err := a.Identify(noEKU.cert, nil); !errors.Is(err, ErrUntrusted) {
		t.Errorf("expired pinned cert: %v, want ErrUntrusted", err)
	}
}

func TestIdentifyRequiresRecord(t *testing.T) {
	a := newAuthority(t, Options{})
	// A certificate signed by the CA but never recorded (e.g. the app was
	// deleted) identifies nobody.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := a.sign(clientTemplate(pkix.Name{CommonName: "ghost"}, nil), key.Public())
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	if _, err := a.Identify(c, nil); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("unrecorded CA-signed cert: %v, want ErrUntrusted", err)
	}
	// An issued certificate whose record claims "issued" but which is not
	// signed by the CA is refused even though its fingerprint is recorded.
	forged := newSelfSigned(t, "forged", nil, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	err = a.update("forged", true, func(r *appRecord) error { return a.addCert(r, forged.cert, false) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Identify(forged.cert, nil); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("recorded-as-issued self-signed cert: %v, want ErrUntrusted", err)
	}
}

func TestIdentifySeesOtherProcesses(t *testing.T) {
	server := newAuthority(t, Options{})
	cli, err := Load(server.Dir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := cli.CreateApp("late")
	if err != nil {
		t.Fatal(err)
	}
	c := parseCertPEM(t, certPEM)
	if app, err := server.Identify(c, nil); err != nil || app.Name != "late" {
		t.Fatalf("server did not see the new app: %+v, %v", app, err)
	}
	// Same with a file system whose mtime did not change: the miss reloads.
	certPEM2, _, err := cli.CreateApp("later")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(server.Dir(), appsDir))
	if err != nil {
		t.Fatal(err)
	}
	server.mu.Lock()
	server.appsTime = fi.ModTime()
	server.missReload = time.Time{}
	server.mu.Unlock()
	if app, err := server.Identify(parseCertPEM(t, certPEM2), nil); err != nil || app.Name != "later" {
		t.Fatalf("unknown certificate did not trigger a reload: %+v, %v", app, err)
	}
	// Deleting the record revokes the certificate. Wait for the directory
	// mtime to be able to change (coarse file systems).
	time.Sleep(10 * time.Millisecond)
	if err := os.Remove(cli.appPath("late")); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Identify(c, nil); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("deleted app still identified: %v", err)
	}
}

func TestConcurrentWriters(t *testing.T) {
	a := newAuthority(t, Options{})
	b, err := Load(a.Dir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	certs := make([]selfSigned, n)
	for i := range certs {
		certs[i] = newSelfSigned(t, "c", nil, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, s := range certs {
		auth := a
		if i%2 == 1 {
			auth = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- auth.TrustCert("shared", s.pem, TrustOptions{})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range certs {
		if _, err := a.Identify(s.cert, nil); err != nil {
			t.Errorf("lost update: %v", err)
		}
	}
}

func TestPassword(t *testing.T) {
	a := newAuthority(t, Options{})
	if err := a.SetPassword("nobody", "pw"); !errors.Is(err, ErrNoApp) {
		t.Errorf("SetPassword on missing app = %v, want ErrNoApp", err)
	}
	if _, _, err := a.CreateApp("vcenter"); err != nil {
		t.Fatal(err)
	}
	if err := a.CheckPassword("vcenter", "anything"); !errors.Is(err, ErrBadPassword) {
		t.Errorf("no password set: %v, want ErrBadPassword", err)
	}
	if err := a.SetPassword("vcenter", ""); err == nil {
		t.Error("empty password accepted")
	}
	if has, err := a.HasPassword("vcenter"); has || err != nil {
		t.Errorf("HasPassword before SetPassword = %v, %v", has, err)
	}
	if _, err := a.HasPassword("nobody"); !errors.Is(err, ErrNoApp) {
		t.Errorf("HasPassword(nobody) = %v, want ErrNoApp", err)
	}
	if err := a.SetPassword("vcenter", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if has, err := a.HasPassword("vcenter"); !has || err != nil {
		t.Errorf("HasPassword after SetPassword = %v, %v", has, err)
	}
	tests := []struct {
		pw   string
		want error
	}{
		{"s3cret", nil},
		{"s3cret ", ErrBadPassword},
		{"", ErrBadPassword},
		{strings.Repeat("x", MaxPasswordLen+1), ErrBadPassword},
	}
	for _, tc := range tests {
		if err := a.CheckPassword("vcenter", tc.pw); !errors.Is(err, tc.want) {
			t.Errorf("CheckPassword(%.10q) = %v, want %v", tc.pw, err, tc.want)
		}
	}
	b, _ := os.ReadFile(a.appPath("vcenter"))
	if strings.Contains(string(b), "s3cret") {
		t.Error("password stored in clear")
	}
}

func TestServerCertificate(t *testing.T) {
	now := time.Now()
	clock := now
	a := newAuthority(t, Options{Now: func() time.Time { return clock }})
	c1, err := a.ServerCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c1.Certificate) != 2 || !c1.Leaf.Equal(parseCertPEM(t, certPEM(c1.Certificate[0]))) {
		t.Fatalf("chain has %d certificates", len(c1.Certificate))
	}
	if _, ok := c1.PrivateKey.(*rsa.PrivateKey); !ok {
		t.Errorf("server key is %T, want RSA", c1.PrivateKey)
	}
	roots := x509.NewCertPool()
	roots.AddCert(a.CACertificate())
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := c1.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("server cert for %s: %v", name, err)
		}
	}
	if c, _ := a.ServerCertificate([]string{"LOCALHOST", "127.0.0.1"}); !c.Leaf.Equal(c1.Leaf) {
		t.Error("unchanged names re-issued the certificate")
	}
	c2, err := a.ServerCertificate([]string{"kms.example.com", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	if c2.Leaf.Equal(c1.Leaf) {
		t.Fatal("new names did not re-issue the certificate")
	}
	for _, name := range []string{"kms.example.com", "192.0.2.7", "localhost"} {
		if _, err := c2.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("server cert for %s: %v", name, err)
		}
	}
	if !c2.Leaf.IPAddresses[len(c2.Leaf.IPAddresses)-1].Equal(net.ParseIP("192.0.2.7")) {
		t.Errorf("IPs %v", c2.Leaf.IPAddresses)
	}
	clock = c2.Leaf.NotAfter.Add(-renewBefore + time.Hour)
	c3, err := a.ServerCertificate([]string{"kms.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if c3.Leaf.Equal(c2.Leaf) {
		t.Error("certificate close to expiry was not renewed")
	}
	for _, bad := range []string{"", "bad name", "-x.example", "a..b", strings.Repeat("a", 64) + ".example"} {
		if _, err := a.ServerCertificate([]string{bad}); !errors.Is(err, ErrBadSAN) {
			t.Errorf("SAN %q: %v, want ErrBadSAN", bad, err)
		}
	}
}
