package admin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/hsm/auth"
	"github.com/google/go-cmp/cmp"
)

func TestEnrollOnce(t *testing.T) {
	e := newEnv(t, nil)
	dir := e.enroll("root")

	for f, perm := range map[string]os.FileMode{AdminCertFile: 0o644, AdminKeyFile: 0o600, CACertFile: 0o644} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != perm {
			t.Errorf("%s has mode %v, want %v", f, fi.Mode().Perm(), perm)
		}
	}
	ca, _ := os.ReadFile(filepath.Join(dir, CACertFile))
	if string(ca) != string(e.auth.CACertPEM()) {
		t.Error("ca.crt is not the appliance CA")
	}
	pair := loadPair(t, dir, AdminCertFile, AdminKeyFile)
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Subject.CommonName != "root" || !slices.Contains(leaf.Subject.OrganizationalUnit, AdminOU) {
		t.Errorf("admin certificate subject %v", leaf.Subject)
	}
	roots := x509.NewCertPool()
	roots.AddCert(e.auth.CACertificate())
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("admin certificate does not chain to the CA: %v", err)
	}

	// The admin certificate is not a KMIP identity.
	if _, err := e.auth.Identify(leaf, nil); !errors.Is(err, auth.ErrUntrusted) {
		t.Errorf("auth.Identify(admin certificate) = %v, want ErrUntrusted", err)
	}

	c := e.client(dir)
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := Status{Version: "test-1", Admins: 1, CASHA256: e.caFP()}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("Status (-want +got):\n%s", diff)
	}
	e.clock.Advance(90 * time.Second)
	if st, _ := c.Status(context.Background()); st.UptimeSeconds != 90 {
		t.Errorf("uptime %d, want 90", st.UptimeSeconds)
	}

	// The token is spent.
	err = Enroll(context.Background(), EnrollOptions{URL: e.url, Token: e.token.Reveal(), Name: "second", CAFingerprint: e.caFP(), OutDir: t.TempDir()})
	if apiStatus(err) != http.StatusForbidden {
		t.Errorf("second Enroll = %v, want 403", err)
	}
	if _, err := InitEnrollment(e.dir, randReader{}); !errors.Is(err, ErrEnrolled) {
		t.Errorf("InitEnrollment after enrollment = %v, want ErrEnrolled", err)
	}

	// Logs never carry the token or key material.
	logs := e.logText()
	if strings.Contains(logs, strings.ReplaceAll(e.token.Reveal(), "-", "")[:8]) || strings.Contains(logs, "PRIVATE KEY") {
		t.Errorf("log leaks secrets:\n%s", logs)
	}
	if !strings.Contains(logs, "enrolled admin") {
		t.Errorf("log lacks the enrollment:\n%s", logs)
	}
}

func TestEnrollSurvivesRestart(t *testing.T) {
	e := newEnv(t, nil)
	dir := e.enroll("root")
	// A second server on the same state knows the admin.
	e.start(Config{Authority: e.auth, Dir: e.dir, Now: e.clock.Now})
	if _, err := e.client(dir).Apps(context.Background()); err != nil {
		t.Fatalf("Apps after restart: %v", err)
	}
}

func TestEnrollCAPinning(t *testing.T) {
	e := newEnv(t, nil)
	out := t.TempDir()
	wrong := strings.Repeat("00", 32)
	err := Enroll(context.Background(), EnrollOptions{URL: e.url, Token: e.token.Reveal(), Name: "root", CAFingerprint: wrong, OutDir: out})
	if !errors.Is(err, ErrCAMismatch) {
		t.Fatalf("Enroll with a wrong CA fingerprint = %v, want ErrCAMismatch", err)
	}
	if !strings.Contains(err.Error(), e.caFP()) {
		t.Errorf("error %q does not show the appliance's CA fingerprint", err)
	}
	// The server certificate also names localhost (checked against the
	// pinned CA like the IP address).
	loc := strings.Replace(e.url, "127.0.0.1", "localhost", 1)
	for _, bad := range []string{"", "abc", strings.Repeat("zz", 32), strings.Repeat("ab", 31)} {
		err := Enroll(context.Background(), EnrollOptions{URL: e.url, Token: e.token.Reveal(), Name: "root", CAFingerprint: bad, OutDir: out})
		if !errors.Is(err, ErrBadConfig) {
			t.Errorf("Enroll with fingerprint %q = %v, want ErrBadConfig", bad, err)
		}
	}
	// The token was never sent: it still works, with the fingerprint in
	// upper case with colons, as some tools print it.
	fp := strings.ToUpper(e.caFP())
	var colons []string
	for i := 0; i < len(fp); i += 2 {
		colons = append(colons, fp[i:i+2])
	}
	err = Enroll(context.Background(), EnrollOptions{URL: loc, Token: e.token.Reveal(), Name: "root", CAFingerprint: strings.Join(colons, ":"), OutDir: out})
	if err != nil {
		t.Fatalf("Enroll after a refused attempt: %v", err)
	}
}

func TestEnrollRefusesExistingFiles(t *testing.T) {
	e := newEnv(t, nil)
	out := t.TempDir()
	if err := os.WriteFile(filepath.Join(out, AdminKeyFile), []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := Enroll(context.Background(), EnrollOptions{URL: e.url, Token: e.token.Reveal(), Name: "root", CAFingerprint: e.caFP(), OutDir: out})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("Enroll into a directory with admin.key = %v, want ErrExists", err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, AdminKeyFile)); string(b) != "keep me" {
		t.Error("admin.key was overwritten")
	}
	e.enroll("root") // the token was not spent
}

func TestEnrollRateLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.EnrollAttempts = 3; c.EnrollWindow = time.Minute })
	hc := e.raw(nil)
	enroll := func(token string) (int, map[string]any) {
		return e.call(hc, "POST", "/v1/enroll", "application/json", mustJSON(t, enrollRequest{Token: token, Name: "root"}))
	}
	for i := range 3 {
		if code, body := enroll("AAAA-AAAA-AAAA-AAAA-AAAA-AAAA"); code != http.StatusForbidden {
			t.Fatalf("wrong token #%d: %d %v, want 403", i, code, body)
		}
		e.clock.Advance(time.Second)
	}
	// Limited now, even with the right token.
	if code, _ := enroll(e.token.Reveal()); code != http.StatusTooManyRequests {
		t.Fatalf("right token while limited: %d, want 429", code)
	}
	if code, _ := enroll("garbage"); code != http.StatusTooManyRequests {
		t.Fatalf("wrong token while limited: %d, want 429", code)
	}
	// The oldest failure (3s ago) leaves the 60s window in 57s.
	e.clock.Advance(56 * time.Second)
	if code, _ := enroll(e.token.Reveal()); code != http.StatusTooManyRequests {
		t.Fatalf("right token 1s before the window ends: %d, want 429", code)
	}
	e.clock.Advance(time.Second)
	code, body := enroll(e.token.Reveal())
	if code != http.StatusOK {
		t.Fatalf("right token after the window: %d %v", code, body)
	}
	if !strings.Contains(e.logText(), "enrollment refused") {
		t.Error("refused enrollments are not logged")
	}
}

func TestEnrollRetryAfter(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.EnrollAttempts = 1; c.EnrollWindow = 30 * time.Second })
	hc := e.raw(nil)
	body := string(mustJSON(t, enrollRequest{Token: "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA", Name: "root"}))
	for i, want := range []int{http.StatusForbidden, http.StatusTooManyRequests} {
		resp, err := hc.Post(e.url+"/v1/enroll", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("attempt %d: %d, want %d", i, resp.StatusCode, want)
		}
		if want == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "31" {
			t.Errorf("Retry-After %q, want 31", resp.Header.Get("Retry-After"))
		}
	}
}

func TestEnrollInternalErrorKeepsToken(t *testing.T) {
	e := newEnv(t, nil)
	caKey := filepath.Join(e.auth.Dir(), "ca.key")
	if err := os.Chmod(caKey, 0o644); err != nil { // unsafe: refused
		t.Fatal(err)
	}
	hc := e.raw(nil)
	code, body := e.call(hc, "POST", "/v1/enroll", "application/json", mustJSON(t, enrollRequest{Token: e.token.Reveal(), Name: "root"}))
	if code != http.StatusInternalServerError || body["error"] != "internal error" {
		t.Fatalf("enroll with an unreadable CA key: %d %v, want 500 internal error", code, body)
	}
	if !strings.Contains(e.logText(), "ca.key") {
		t.Error("the internal error detail is not logged")
	}
	if err := os.Chmod(caKey, 0o600); err != nil {
		t.Fatal(err)
	}
	e.enroll("root")
}

func TestAdminEndpointsRefuseNonAdmins(t *testing.T) {
	e := newEnv(t, nil)
	adminDir := e.enroll("root")

	// A KMIP app certificate, valid on the KMIP port.
	appCert, appKey, err := e.auth.CreateApp("vcenter")
	if err != nil {
		t.Fatal(err)
	}
	appPair, err := tls.X509KeyPair(appCert, appKey)
	if err != nil {
		t.Fatal(err)
	}
	appLeaf, _ := x509.ParseCertificate(appPair.Certificate[0])
	if _, err := e.auth.Identify(appLeaf, nil); err != nil {
		t.Fatalf("app certificate is not a KMIP identity: %v", err)
	}
	self := selfSigned(t, "root")

	endpoints := []struct{ method, path, body string }{
		{"GET", "/v1/status", ""},
		{"GET", "/v1/apps", ""},
		{"POST", "/v1/apps", `{"name":"x"}`},
		{"POST", "/v1/apps/x/csr", `{"csr":""}`},
		{"POST", "/v1/apps/x/trust", `{"cert":""}`},
	}
	callers := []struct {
		name string
		cert *tls.Certificate
		want int
	}{
		{"no certificate", nil, http.StatusUnauthorized},
		{"KMIP app certificate", &appPair, http.StatusForbidden},
		{"self-signed certificate", &self, http.StatusForbidden},
	}
	for _, c := range callers {
		hc := e.raw(c.cert)
		for _, ep := range endpoints {
			t.Run(c.name+" "+ep.method+" "+ep.path, func(t *testing.T) {
				code, body := e.call(hc, ep.method, ep.path, "application/json", []byte(ep.body))
				if code != c.want {
					t.Errorf("%d %v, want %d", code, body, c.want)
				}
			})
		}
	}
	if apps, _ := e.auth.Apps(); !cmp.Equal(apps, []string{"vcenter"}) {
		t.Errorf("apps after refused requests: %v", apps)
	}

	// The enrolled admin expires with its certificate.
	c := e.client(adminDir)
	if _, err := c.Apps(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(adminCertValidity + time.Hour)
	if _, err := c.Apps(context.Background()); apiStatus(err) != http.StatusForbidden {
		t.Errorf("expired admin certificate: %v, want 403", err)
	}
}

func TestCreateApp(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(e.enroll("root"))
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "bundle")
	if err := c.CreateApp(ctx, "vcenter-1", out); err != nil {
		t.Fatal(err)
	}
	for f, perm := range map[string]os.FileMode{ClientCertFile: 0o644, ClientKeyFile: 0o600, CACertFile: 0o644} {
		fi, err := os.Stat(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != perm {
			t.Errorf("%s has mode %v, want %v", f, fi.Mode().Perm(), perm)
		}
	}
	pair := loadPair(t, out, ClientCertFile, ClientKeyFile)
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	caPEM, _ := os.ReadFile(filepath.Join(out, CACertFile))
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt does not parse")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client.crt does not chain to ca.crt: %v", err)
	}
	app, err := e.auth.Identify(leaf, nil)
	if err != nil || app.Name != "vcenter-1" {
		t.Errorf("auth.Identify(client.crt) = %v, %v; want app vcenter-1", app, err)
	}
	// The app certificate is no admin.
	if code, _ := e.call(e.raw(pair), "GET", "/v1/apps", "", nil); code != http.StatusForbidden {
		t.Errorf("app certificate on the admin API: %d, want 403", code)
	}

	if err := c.CreateApp(ctx, "vcenter-1", t.TempDir()); apiStatus(err) != http.StatusConflict {
		t.Errorf("second CreateApp = %v, want 409", err)
	}
	if err := c.CreateApp(ctx, "other", out); !errors.Is(err, ErrExists) {
		t.Errorf("CreateApp into a full directory = %v, want ErrExists", err)
	}
	if err := c.CreateApp(ctx, "../evil", t.TempDir()); apiStatus(err) != http.StatusBadRequest {
		t.Errorf("CreateApp(../evil) = %v, want 400", err)
	}
	apps, err := c.Apps(ctx)
	if err != nil || !cmp.Equal(apps, []string{"vcenter-1"}) {
		t.Errorf("Apps = %v, %v", apps, err)
	}
	if st, _ := c.Status(ctx); st.Apps != 1 {
		t.Errorf("status counts %d apps, want 1", st.Apps)
	}
	if strings.Contains(e.logText(), "PRIVATE KEY") || !strings.Contains(e.logText(), "created app") {
		t.Errorf("log:\n%s", e.logText())
	}
}

func TestSignCSR(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(e.enroll("root"))
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "esx-1"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csrPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	certPEM, caPEM, err := c.SignCSR(ctx, "vsan", csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	if string(caPEM) != string(e.auth.CACertPEM()) {
		t.Error("SignCSR returned another CA")
	}
	leaf, err := parseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !key.PublicKey.Equal(leaf.PublicKey) || leaf.Subject.CommonName != "esx-1" {
		t.Errorf("certificate for %v with another key or subject", leaf.Subject)
	}
	if app, err := e.auth.Identify(leaf, nil); err != nil || app.Name != "vsan" {
		t.Errorf("auth.Identify = %v, %v; want app vsan", app, err)
	}

	bad := [][]byte{
		[]byte("garbage"),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der[:len(der)-10]}),
		certPEM, // a certificate, not a CSR
	}
	for i, b := range bad {
		if _, _, err := c.SignCSR(ctx, "vsan", b); apiStatus(err) != http.StatusBadRequest {
			t.Errorf("bad CSR #%d: %v, want 400", i, err)
		}
	}
	if _, _, err := c.SignCSR(ctx, ".hidden", csrPEM); apiStatus(err) != http.StatusBadRequest {
		t.Errorf("SignCSR(.hidden) = %v, want 400", err)
	}
}

func TestTrustCert(t *testing.T) {
	e := newEnv(t, nil)
	adminDir := e.enroll("root")
	c := e.client(adminDir)
	ctx := context.Background()

	vc := selfSigned(t, "vcenter.example")
	vcPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: vc.Certificate[0]})
	fp, err := c.TrustCert(ctx, "vcenter", vcPEM, false)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(vc.Certificate[0])
	if fp != auth.FingerprintOf(leaf).String() {
		t.Errorf("TrustCert fingerprint %s, want %s", fp, auth.FingerprintOf(leaf))
	}
	if app, err := e.auth.Identify(leaf, nil); err != nil || app.Name != "vcenter" || !app.Pinned {
		t.Errorf("auth.Identify(pinned) = %v, %v", app, err)
	}

	// The admin certificate cannot become a KMIP app.
	adminPEM, _ := os.ReadFile(filepath.Join(adminDir, AdminCertFile))
	if _, err := c.TrustCert(ctx, "sneaky", adminPEM, true); apiStatus(err) != http.StatusConflict {
		t.Errorf("TrustCert(admin certificate) = %v, want 409", err)
	}
	if apps, _ := e.auth.Apps(); slices.Contains(apps, "sneaky") {
		t.Error("app created from an admin certificate")
	}
	if _, err := c.TrustCert(ctx, "other", vcPEM, false); apiStatus(err) != http.StatusConflict {
		t.Errorf("TrustCert of another app's certificate = %v, want 409", err)
	}
	if _, err := c.TrustCert(ctx, "vcenter", []byte("junk"), false); apiStatus(err) != http.StatusBadRequest {
		t.Errorf("TrustCert(junk) = %v, want 400", err)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t, nil)
	admin := e.raw(loadPair(t, e.enroll("root"), AdminCertFile, AdminKeyFile))
	anon := e.raw(nil)
	const js = "application/json"
	big := `{"name":"` + strings.Repeat("a", MaxBodyBytes) + `"}`
	tests := []struct {
		name               string
		hc                 *http.Client
		method, path, ct   string
		body               string
		want               int
		wantErrorSubstring string
	}{
		{"empty name", admin, "POST", "/v1/apps", js, `{"name":""}`, 400, "invalid name"},
		{"dot dot name", admin, "POST", "/v1/apps", js, `{"name":"../x"}`, 400, "invalid name"},
		{"slash name", admin, "POST", "/v1/apps", js, `{"name":"a/b"}`, 400, "invalid name"},
		{"hidden name", admin, "POST", "/v1/apps", js, `{"name":".x"}`, 400, "invalid name"},
		{"long name", admin, "POST", "/v1/apps", js, `{"name":"` + strings.Repeat("a", auth.MaxNameLen+1) + `"}`, 400, "invalid name"},
		{"unicode name", admin, "POST", "/v1/apps", js, `{"name":"caf\u00e9"}`, 400, "invalid name"},
		{"bad path name", admin, "POST", "/v1/apps/.x/csr", js, `{"csr":""}`, 400, "invalid name"},
		{"escaped slash in path", admin, "POST", "/v1/apps/a%2Fb/trust", js, `{"cert":""}`, 400, "invalid name"},
		{"garbage JSON", admin, "POST", "/v1/apps", js, `{"name":`, 400, "malformed JSON"},
		{"not an object", admin, "POST", "/v1/apps", js, `["x"]`, 400, "malformed JSON"},
		{"unknown field", admin, "POST", "/v1/apps", js, `{"name":"x","admin":true}`, 400, "malformed JSON"},
		{"trailing data", admin, "POST", "/v1/apps", js, `{"name":"x"} {"name":"y"}`, 400, "malformed JSON"},
		{"wrong type", admin, "POST", "/v1/apps", js, `{"name":7}`, 400, "malformed JSON"},
		{"oversized body", admin, "POST", "/v1/apps", js, big, 413, "larger than"},
		{"oversized enroll", anon, "POST", "/v1/enroll", js, big, 413, "larger than"},
		{"form content type", admin, "POST", "/v1/apps", "application/x-www-form-urlencoded", `{"name":"x"}`, 415, "application/json"},
		{"no content type", admin, "POST", "/v1/apps", "", `{"name":"x"}`, 415, "application/json"},
		{"text content type enroll", anon, "POST", "/v1/enroll", "text/plain", `{}`, 415, "application/json"},
		{"enroll garbage", anon, "POST", "/v1/enroll", js, `nonsense`, 400, "malformed JSON"},
		{"enroll bad name", anon, "POST", "/v1/enroll", js, `{"token":"x","name":"a b"}`, 400, "invalid name"},
		{"wrong method", admin, "DELETE", "/v1/apps", "", ``, 405, "method not allowed"},
		{"GET enroll", anon, "GET", "/v1/enroll", "", ``, 405, "method not allowed"},
		{"unknown path", admin, "GET", "/v1/keys", "", ``, 404, "not found"},
		{"root path", anon, "GET", "/", "", ``, 404, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := e.call(tt.hc, tt.method, tt.path, tt.ct, []byte(tt.body))
			if code != tt.want {
				t.Fatalf("%d %v, want %d", code, body, tt.want)
			}
			if msg, _ := body["error"].(string); !strings.Contains(msg, tt.wantErrorSubstring) {
				t.Errorf("error %q does not contain %q", msg, tt.wantErrorSubstring)
			}
		})
	}
	if apps, _ := e.auth.Apps(); len(apps) != 0 {
		t.Errorf("bad requests created apps: %v", apps)
	}
	// Malformed enrollments are not token guesses: they are not rate limited.
	e.srv.mu.Lock()
	n := len(e.srv.failures)
	e.srv.mu.Unlock()
	if n != 0 {
		t.Errorf("%d failures recorded for malformed requests", n)
	}
}

func TestNewConfig(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("New(Config{}) = %v, want ErrBadConfig", err)
	}
	c := &clock{t: time.Now()}
	a := newAuthority(t, c)
	if _, err := New(Config{Authority: a}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("New without Dir = %v, want ErrBadConfig", err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, adminsDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, adminsDir, "x.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Authority: a, Dir: dir}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("New with a corrupt registry = %v, want ErrCorrupt", err)
	}
}

// selfSigned makes a self-signed ECDSA client certificate.
func selfSigned(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
