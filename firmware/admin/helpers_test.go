package admin

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/hsm/auth"
)

type randReader struct{}

func (randReader) Read(p []byte) (int, error) { return rand.Read(p) }

// clock is a settable time source shared by the authority and the server.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var (
	sharedOnce sync.Once
	sharedDir  string
	sharedErr  error
)

// authorityFiles are made once per test binary (an RSA-3072 CA takes a
// while) and copied into each test's directory.
var authorityFiles = []string{"ca.crt", "ca.key", "server.crt", "server.key"}

func newAuthority(t testing.TB, c *clock) *auth.Authority {
	t.Helper()
	sharedOnce.Do(func() {
		sharedDir, sharedErr = os.MkdirTemp("", "coffer-admin-test-")
		if sharedErr != nil {
			return
		}
		var a *auth.Authority
		a, sharedErr = auth.Load(sharedDir, auth.Options{})
		if sharedErr == nil {
			_, sharedErr = a.ServerCertificate(nil)
		}
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	dir := filepath.Join(t.TempDir(), "auth")
	if err := os.MkdirAll(filepath.Join(dir, "apps"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range authorityFiles {
		b, err := os.ReadFile(filepath.Join(sharedDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a, err := auth.Load(dir, auth.Options{Now: c.Now, PasswordIterations: 1})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

// env is a running admin server on 127.0.0.1.
type env struct {
	t     testing.TB
	clock *clock
	auth  *auth.Authority
	dir   string // admin state
	srv   *Server
	url   string
	token EnrollmentToken
	log   *bytes.Buffer
	logMu *sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func newEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	c := &clock{t: time.Now()}
	a := newAuthority(t, c)
	e := &env{t: t, clock: c, auth: a, dir: filepath.Join(t.TempDir(), "admin"), log: new(bytes.Buffer), logMu: new(sync.Mutex)}
	tok, err := InitEnrollment(e.dir, randReader{})
	if err != nil {
		t.Fatal(err)
	}
	e.token = tok
	cfg := Config{
		Authority: a,
		Dir:       e.dir,
		Version:   "test-1",
		Now:       c.Now,
		Log:       slog.New(slog.NewTextHandler(lockedWriter{e.logMu, e.log}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	e.start(cfg)
	return e
}

// start runs a server for cfg until the test ends.
func (e *env) start(cfg Config) {
	t := e.t
	t.Helper()
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve returned %v", err)
		}
	})
	e.srv = srv
	e.url = "https://" + ln.Addr().String()
}

func (e *env) logText() string {
	e.logMu.Lock()
	defer e.logMu.Unlock()
	return e.log.String()
}

func (e *env) caFP() string { return CAFingerprint(e.auth) }

// enroll enrolls admin name into a new directory and returns the directory.
func (e *env) enroll(name string) string {
	e.t.Helper()
	out := filepath.Join(e.t.TempDir(), "admin-"+name)
	err := Enroll(context.Background(), EnrollOptions{URL: e.url, Token: e.token.Reveal(), Name: name, CAFingerprint: e.caFP(), OutDir: out})
	if err != nil {
		e.t.Fatalf("Enroll: %v", err)
	}
	return out
}

func (e *env) client(dir string) *Client {
	e.t.Helper()
	c, err := Open(e.url, dir)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.Close)
	return c
}

// raw returns an HTTP client that trusts the appliance CA and presents
// cert (none when nil).
func (e *env) raw(cert *tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(e.auth.CACertificate())
	tc := &tls.Config{RootCAs: pool}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	tr := &http.Transport{TLSClientConfig: tc}
	e.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// call sends a request and returns the status and the decoded JSON body.
func (e *env) call(hc *http.Client, method, path, contentType string, body []byte) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := hc.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		e.t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatalf("%s %s: answer is not a JSON object: %q", method, path, b)
	}
	if resp.StatusCode != http.StatusOK {
		if s, _ := m["error"].(string); s == "" {
			e.t.Errorf("%s %s: status %d without an error text: %q", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, m
}

func loadPair(t testing.TB, dir, certFile, keyFile string) *tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(filepath.Join(dir, certFile), filepath.Join(dir, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

func apiStatus(err error) int {
	if ae, ok := errors.AsType[*APIError](err); ok {
		return ae.StatusCode
	}
	return 0
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
