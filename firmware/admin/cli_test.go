package admin

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cofferhsm/coffer/hsm/auth"
)

func TestRunCLI(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	tmp := t.TempDir()
	adminDir := filepath.Join(tmp, "admin")
	run := func(stdin string, args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := RunCLI(ctx, strings.NewReader(stdin), &out, io.Discard, args)
		return out.String(), err
	}

	out, err := run(e.token.Reveal()+"\n", "admin", "enroll", "--appliance", e.url, "--token", "-", "--ca-fingerprint", e.caFP(), "--out", adminDir, "--name", "ops")
	if err != nil {
		t.Fatalf("admin enroll: %v", err)
	}
	if !strings.Contains(out, `enrolled admin "ops"`) {
		t.Errorf("admin enroll printed %q", out)
	}
	remote := []string{"--appliance", e.url, "--admin", adminDir}

	bundle := filepath.Join(tmp, "bundle")
	if _, err := run("", append([]string{"app", "create", "vc"}, append(remote, "--out", bundle)...)...); err != nil {
		t.Fatalf("app create: %v", err)
	}
	pair := loadPair(t, bundle, ClientCertFile, ClientKeyFile)
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	if app, err := e.auth.Identify(leaf, nil); err != nil || app.Name != "vc" {
		t.Errorf("Identify(created app) = %v, %v", app, err)
	}

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "host"}}, key)
	csrFile, certFile := filepath.Join(tmp, "req.csr"), filepath.Join(tmp, "signed.crt")
	os.WriteFile(csrFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o600)
	if _, err := run("", append([]string{"app", "sign-csr", "esx", "--csr", csrFile, "--out", certFile}, remote...)...); err != nil {
		t.Fatalf("app sign-csr: %v", err)
	}
	if _, err := run("", append([]string{"app", "sign-csr", "esx", "--csr", csrFile, "--out", certFile}, remote...)...); !errors.Is(err, ErrExists) {
		t.Errorf("app sign-csr over an existing file: %v, want ErrExists", err)
	}

	vc := selfSigned(t, "vcenter")
	pinFile := filepath.Join(tmp, "vc.crt")
	os.WriteFile(pinFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: vc.Certificate[0]}), 0o600)
	if out, err := run("", append([]string{"app", "trust-cert", "pinned", "--cert", pinFile}, remote...)...); err != nil || !strings.Contains(out, "sha256") {
		t.Fatalf("app trust-cert: %q, %v", out, err)
	}

	out, err = run("", append([]string{"app", "list"}, remote...)...)
	if err != nil || out != "esx\npinned\nvc\n" {
		t.Errorf("app list = %q, %v", out, err)
	}
	out, err = run("", append([]string{"admin", "status"}, remote...)...)
	if err != nil || !strings.Contains(out, "apps 3\n") || !strings.Contains(out, e.caFP()) {
		t.Errorf("admin status = %q, %v", out, err)
	}

	usage := []struct {
		name string
		args []string
	}{
		{"nothing", []string{"app"}},
		{"unknown", []string{"app", "set-password", "x"}},
		{"no appliance", []string{"app", "list", "--admin", adminDir}},
		{"http URL", []string{"app", "list", "--admin", adminDir, "--appliance", "http://127.0.0.1:8443"}},
		{"URL with path", []string{"app", "list", "--admin", adminDir, "--appliance", e.url + "/v1"}},
		{"bad app name", append([]string{"app", "create", "../x", "--out", t.TempDir()}, remote...)},
		{"two names", append([]string{"app", "create", "a", "b", "--out", t.TempDir()}, remote...)},
		{"create without out", append([]string{"app", "create", "a"}, remote...)},
		{"unknown flag", append([]string{"app", "list", "--bogus"}, remote...)},
		{"enroll without token", []string{"admin", "enroll", "--appliance", e.url, "--ca-fingerprint", e.caFP(), "--out", t.TempDir()}},
		{"enroll bad fingerprint", []string{"admin", "enroll", "--appliance", e.url, "--token", "x", "--ca-fingerprint", "abc", "--out", t.TempDir()}},
		{"enroll bad name", []string{"admin", "enroll", "--appliance", e.url, "--token", "x", "--ca-fingerprint", e.caFP(), "--out", t.TempDir(), "--name", "a b"}},
	}
	for _, u := range usage {
		t.Run(u.name, func(t *testing.T) {
			_, err := run("", u.args...)
			if _, ok := errors.AsType[*UsageError](err); !ok {
				t.Errorf("RunCLI(%q) = %v, want a *UsageError", u.args, err)
			}
		})
	}
	if _, err := run("", "app", "list", "-h"); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("app list -h = %v, want flag.ErrHelp", err)
	}
	// Missing credentials are an I/O error, not a usage error.
	if _, err := run("", "app", "list", "--appliance", e.url, "--admin", t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("app list with an empty --admin directory = %v, want ErrNotExist", err)
	}
}

func TestEnrollmentBanner(t *testing.T) {
	e := newEnv(t, nil)
	b := EnrollmentBanner(e.token, e.auth)
	if !strings.Contains(b, e.token.Reveal()) || !strings.Contains(b, e.caFP()) {
		t.Errorf("banner lacks the token or the CA fingerprint:\n%s", b)
	}
}

func TestConcurrentEnrollOnlyOneWins(t *testing.T) {
	e := newEnv(t, nil)
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = Enroll(context.Background(), EnrollOptions{
				URL: e.url, Token: e.token.Reveal(), Name: "admin" + string(rune('a'+i)),
				CAFingerprint: e.caFP(), OutDir: filepath.Join(t.TempDir(), "out"),
			})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case apiStatus(err) == 403:
		default:
			t.Errorf("Enroll: %v, want success or 403", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d enrollments succeeded with one token, want 1", ok)
	}
	names, _ := listAdmins(e.dir)
	if len(names) != 1 {
		t.Errorf("admins %v, want one", names)
	}
}

func TestVerifyPinned(t *testing.T) {
	e := newEnv(t, nil)
	srv, err := e.auth.ServerCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	var chain []*x509.Certificate
	for _, d := range srv.Certificate {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	want := auth.FingerprintOf(e.auth.CACertificate())
	other := selfSigned(t, "x")
	otherLeaf, _ := x509.ParseCertificate(other.Certificate[0])
	tests := []struct {
		name  string
		chain []*x509.Certificate
		fp    [32]byte
		host  string
		ok    bool
	}{
		{"ip", chain, want, "127.0.0.1", true},
		{"localhost", chain, want, "localhost", true},
		{"ipv6", chain, want, "::1", true},
		{"wrong host", chain, want, "kms.example", false},
		{"wrong fingerprint", chain, [32]byte{1}, "127.0.0.1", false},
		{"leaf only", chain[:1], want, "127.0.0.1", false},
		{"empty", nil, want, "127.0.0.1", false},
		{"leaf fingerprint is not a CA", []*x509.Certificate{otherLeaf, chain[1]}, auth.FingerprintOf(otherLeaf), "127.0.0.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca, err := verifyPinned(tt.chain, tt.fp, tt.host)
			if tt.ok != (err == nil) {
				t.Fatalf("verifyPinned = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrCAMismatch) {
				t.Errorf("error %v does not wrap ErrCAMismatch", err)
			}
			if tt.ok && !ca.Equal(e.auth.CACertificate()) {
				t.Error("pinned certificate is not the CA")
			}
		})
	}
}

func TestParseApplianceURL(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"https://127.0.0.1:8443", "https://127.0.0.1:8443"},
		{"https://127.0.0.1:8443/", "https://127.0.0.1:8443"},
		{"https://[::1]:8443", "https://[::1]:8443"},
		{"https://kms.example", "https://kms.example"},
		{"http://127.0.0.1:8443", ""},
		{"127.0.0.1:8443", ""},
		{"https://", ""},
		{"https://u:p@127.0.0.1:8443", ""},
		{"https://127.0.0.1:8443/v1", ""},
		{"https://127.0.0.1:8443?x=1", ""},
		{"https://127.0.0.1:8443#f", ""},
		{"", ""},
	}
	for _, tt := range tests {
		u, err := parseApplianceURL(tt.in)
		if tt.want == "" {
			if !errors.Is(err, ErrBadConfig) {
				t.Errorf("parseApplianceURL(%q) = %v, %v; want ErrBadConfig", tt.in, u, err)
			}
			continue
		}
		if err != nil || u.String() != tt.want {
			t.Errorf("parseApplianceURL(%q) = %v, %v; want %s", tt.in, u, err, tt.want)
		}
	}
}

func TestWantsAppliance(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{[]string{"x", "--appliance", "https://a"}, true},
		{[]string{"--appliance=https://a", "x"}, true},
		{[]string{"-appliance", "https://a"}, true},
		{[]string{"x", "--data", "d"}, false},
		{[]string{"appliance"}, false},
		{[]string{"--appliances"}, false},
		{[]string{"--", "--appliance"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := WantsAppliance(tt.args); got != tt.want {
			t.Errorf("WantsAppliance(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}
