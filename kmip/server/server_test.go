package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/hsm/auth"
	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// fixture is shared by all tests: an authority with a server certificate,
// an app with an issued certificate, one with a pinned self-signed
// certificate, and a stranger's certificate.
var fix struct {
	dir      string
	auth     *auth.Authority
	server   tls.Certificate
	roots    *x509.CertPool
	issued   tls.Certificate
	pinned   tls.Certificate
	stranger tls.Certificate
	// PEM files of the issued client certificate and of the CA.
	issuedCertFile, issuedKeyFile, caFile string
}

func TestMain(m *testing.M) {
	code, err := setup(m)
	if fix.dir != "" {
		os.RemoveAll(fix.dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "setup:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	var err error
	if fix.dir, err = os.MkdirTemp("", "server-test-*"); err != nil {
		return 0, err
	}
	if fix.auth, err = auth.Load(filepath.Join(fix.dir, "auth"), auth.Options{}); err != nil {
		return 0, err
	}
	if fix.server, err = fix.auth.ServerCertificate(nil); err != nil {
		return 0, err
	}
	fix.roots = x509.NewCertPool()
	fix.roots.AddCert(fix.auth.CACertificate())
	certPEM, keyPEM, err := fix.auth.CreateApp("vcenter")
	if err != nil {
		return 0, err
	}
	if fix.issued, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return 0, err
	}
	fix.issuedCertFile, fix.issuedKeyFile, fix.caFile = filepath.Join(fix.dir, "client.crt"), filepath.Join(fix.dir, "client.key"), filepath.Join(fix.dir, "ca.crt")
	for f, b := range map[string][]byte{fix.issuedCertFile: certPEM, fix.issuedKeyFile: keyPEM, fix.caFile: fix.auth.CACertPEM()} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			return 0, err
		}
	}
	var pinnedPEM []byte
	if fix.pinned, pinnedPEM, err = selfSigned("pinned-vcenter"); err != nil {
		return 0, err
	}
	if err := fix.auth.TrustCert("pinned", pinnedPEM, auth.TrustOptions{}); err != nil {
		return 0, err
	}
	if fix.stranger, _, err = selfSigned("stranger"); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

func selfSigned(cn string) (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// recorder is a Handler that echoes requests and records the peers.
type recorder struct {
	mu    sync.Mutex
	peers []Peer
	calls atomic.Int32
}

func (r *recorder) Handle(_ context.Context, p Peer, req []byte) []byte {
	r.calls.Add(1)
	r.mu.Lock()
	r.peers = append(r.peers, p)
	r.mu.Unlock()
	return append([]byte(nil), req...)
}

type testServer struct {
	srv  *Server
	addr string
	logs *syncBuffer
	done chan error
}

func startServer(t *testing.T, h Handler, tweak func(*Config)) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	cfg := Config{
		Certificate: &fix.server,
		Identifier:  fix.auth,
		Handler:     h,
		Logger:      slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{srv: srv, addr: l.Addr().String(), logs: logs, done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-ts.done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
	})
	return ts
}

func clientConfig(cert *tls.Certificate) *tls.Config {
	c := &tls.Config{RootCAs: fix.roots, ServerName: "localhost"}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

// dial connects and completes the handshake.
func dial(t *testing.T, addr string, cfg *tls.Config) *tls.Conn {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

func message(t testing.TB, text string) []byte {
	t.Helper()
	b, err := ttlv.Encode(ttlv.Struct(0x420078, ttlv.Text(0x420094, text)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// roundTrip sends a message and reads the echoed response.
func roundTrip(t *testing.T, c net.Conn, text string) {
	t.Helper()
	req := message(t, text)
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(req))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, req) {
		t.Fatalf("response %x, want %x", got, req)
	}
}

// expectClosed asserts that the server closes c without sending data.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || err == nil || isTimeout(err) {
		t.Fatalf("Read = %d, %v; want the connection closed by the server", n, err)
	}
}

func TestVSphereCompatSuites(t *testing.T) {
	rec := &recorder{}
	ts := startServer(t, rec, nil)
	tests := []struct {
		name    string
		version uint16
		suite   uint16
	}{
		{"TLS1.2 RSA AES128-CBC-SHA256", tls.VersionTLS12, tls.TLS_RSA_WITH_AES_128_CBC_SHA256},
		{"TLS1.2 RSA AES128-GCM", tls.VersionTLS12, tls.TLS_RSA_WITH_AES_128_GCM_SHA256},
		{"TLS1.2 RSA AES256-GCM", tls.VersionTLS12, tls.TLS_RSA_WITH_AES_256_GCM_SHA384},
		{"TLS1.2 ECDHE-RSA AES128-GCM", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
		{"TLS1.2 ECDHE-RSA AES256-GCM", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384},
		{"TLS1.3", tls.VersionTLS13, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := clientConfig(&fix.issued)
			cfg.MinVersion, cfg.MaxVersion = tc.version, tc.version
			if tc.suite != 0 {
				cfg.CipherSuites = []uint16{tc.suite}
			}
			c := dial(t, ts.addr, cfg)
			cs := c.ConnectionState()
			if len(cs.PeerCertificates) != 2 || !cs.PeerCertificates[1].Equal(fix.auth.CACertificate()) {
				t.Fatalf("server sent %d certificates, want leaf and CA", len(cs.PeerCertificates))
			}
			if cs.Version != tc.version || tc.suite != 0 && cs.CipherSuite != tc.suite {
				t.Fatalf("negotiated %s %s", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite))
			}
			roundTrip(t, c, "one")
			roundTrip(t, c, "two") // sequential requests on one connection
		})
	}
	// An offer with every suite gets an ECDHE-GCM one.
	c := dial(t, ts.addr, func() *tls.Config {
		cfg := clientConfig(&fix.issued)
		cfg.MaxVersion = tls.VersionTLS12
		cfg.CipherSuites = append(append([]uint16(nil), vsphereRSASuites...), ecdheGCMSuites...)
		return cfg
	}())
	if s := c.ConnectionState().CipherSuite; !strings.HasPrefix(tls.CipherSuiteName(s), "TLS_ECDHE_RSA_WITH_AES_") {
		t.Errorf("preferred suite %s, want ECDHE-GCM", tls.CipherSuiteName(s))
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, p := range rec.peers {
		if p.App.Name != "vcenter" || p.App.Pinned || p.App.Fingerprint != auth.FingerprintOf(fix.issued.Leaf) {
			t.Fatalf("peer %+v", p.App)
		}
	}
}

// TestOpenSSLClient checks the vSphere profile against an independent TLS
// stack: Python's ssl module (OpenSSL), like the vCenter client.
func TestOpenSSLClient(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	rec := &recorder{}
	ts := startServer(t, rec, nil)
	host, port, _ := net.SplitHostPort(ts.addr)
	tests := []struct {
		version, ciphers, wantCipher string
	}{
		{"1.2", "AES128-SHA256", "AES128-SHA256"}, // TLS_RSA_WITH_AES_128_CBC_SHA256, as vCenter 7.0.3
		{"1.2", "AES128-GCM-SHA256", "AES128-GCM-SHA256"},
		{"1.2", "AES256-GCM-SHA384", "AES256-GCM-SHA384"},
		{"1.2", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
		{"1.2", "ALL:@SECLEVEL=0", "ECDHE-RSA-AES"}, // everything offered: an ECDHE-GCM suite wins
		{"1.3", "", "TLS_"},
	}
	for _, tc := range tests {
		t.Run(tc.version+" "+tc.ciphers, func(t *testing.T) {
			req := message(t, "from openssl")
			cmd := exec.Command(python, "testdata/sslclient.py", host, port, fix.caFile, fix.issuedCertFile, fix.issuedKeyFile,
				tc.version, tc.ciphers, fmt.Sprintf("%x", req))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			f := strings.Fields(string(out))
			if len(f) != 3 || f[0] != "TLSv"+tc.version || !strings.HasPrefix(f[1], tc.wantCipher) || f[2] != fmt.Sprintf("%x", req) {
				t.Fatalf("got %q, want TLSv%s %s* and the echo", out, tc.version, tc.wantCipher)
			}
		})
	}
	if rec.calls.Load() != int32(len(tests)) {
		t.Errorf("handler called %d times, want %d", rec.calls.Load(), len(tests))
	}
}

func TestStrictProfile(t *testing.T) {
	ts := startServer(t, &recorder{}, func(c *Config) { c.Profile = ProfileStrict })
	for _, suite := range vsphereRSASuites {
		cfg := clientConfig(&fix.issued)
		cfg.MaxVersion, cfg.CipherSuites = tls.VersionTLS12, []uint16{suite}
		if c, err := tls.Dial("tcp", ts.addr, cfg); err == nil {
			c.Close()
			t.Errorf("strict profile accepted %s", tls.CipherSuiteName(suite))
		}
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := clientConfig(&fix.issued)
		cfg.MinVersion, cfg.MaxVersion = v, v
		roundTrip(t, dial(t, ts.addr, cfg), "strict")
	}
}

func TestConfigErrors(t *testing.T) {
	good := Config{Certificate: &fix.server, Identifier: fix.auth, Handler: &recorder{}}
	tests := []struct {
		name  string
		tweak func(*Config)
	}{
		{"no certificate", func(c *Config) { c.Certificate = nil }},
		{"no key", func(c *Config) { c.Certificate = &tls.Certificate{Certificate: fix.server.Certificate} }},
		{"no identifier", func(c *Config) { c.Identifier = nil }},
		{"no handler", func(c *Config) { c.Handler = nil }},
		{"bad profile", func(c *Config) { c.Profile = "fast" }},
		{"negative timeout", func(c *Config) { c.ReadTimeout = -1 }},
		{"negative size", func(c *Config) { c.MaxMessageSize = -1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.tweak(&cfg)
			if _, err := New(cfg); err == nil {
				t.Fatal("New succeeded")
			}
		})
	}
	s, err := New(good)
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.Addr != ":5696" || s.cfg.MaxMessageSize != 1<<20 || s.cfg.Profile != ProfileVSphereCompat || s.cfg.MaxConns != DefaultMaxConns {
		t.Errorf("defaults: %+v", s.cfg)
	}
}

func TestHandshakeOnly(t *testing.T) {
	rec := &recorder{}
	ts := startServer(t, rec, nil)
	for _, cert := range []*tls.Certificate{&fix.issued, nil, &fix.stranger} {
		for range 5 {
			c := dial(t, ts.addr, clientConfig(cert))
			if len(c.ConnectionState().PeerCertificates) == 0 {
				t.Fatal("no server certificate")
			}
			c.Close()
		}
	}
	// A client that hangs up right after the ServerHello/Certificate.
	for range 5 {
		raw, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, VerifyConnection: func(tls.ConnectionState) error {
			return errors.New("just looking")
		}})
		if err := c.Handshake(); err == nil {
			t.Fatal("handshake succeeded")
		}
		raw.Close()
	}
	roundTrip(t, dial(t, ts.addr, clientConfig(&fix.issued)), "still serving")
	if n := rec.calls.Load(); n != 1 {
		t.Errorf("handler called %d times, want 1", n)
	}
	// Health checks are normal: debug lines only.
	logs := ts.logs.String()
	if !strings.Contains(logs, "level=DEBUG msg=\"kmip: handshake-only connection\"") || strings.Contains(logs, "level=WARN") || strings.Contains(logs, "level=ERROR") {
		t.Errorf("handshake-only connections not logged at debug only:\n%s", logs)
	}
}

// refuser answers unauthenticated requests with a fixed message.
type refuser struct {
	recorder
	refused atomic.Int32
	lastErr atomic.Value
}

func (r *refuser) Refuse(_ context.Context, p Peer, req []byte, err error) []byte {
	r.refused.Add(1)
	r.lastErr.Store(err)
	return []byte("refused!")
}

func TestUnauthenticatedRefused(t *testing.T) {
	tests := []struct {
		name string
		cert *tls.Certificate
		want error
	}{
		{"no client cert", nil, auth.ErrNoCert},
		{"untrusted cert", &fix.stranger, auth.ErrUntrusted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
				// Without a Refuser the connection is closed.
				rec := &recorder{}
				ts := startServer(t, rec, nil)
				cfg := clientConfig(tc.cert)
				cfg.MaxVersion = v
				c := dial(t, ts.addr, cfg)
				if _, err := c.Write(message(t, "let me in")); err != nil {
					t.Fatal(err)
				}
				expectClosed(t, c)
				if rec.calls.Load() != 0 {
					t.Fatal("handler called for an unauthenticated peer")
				}
				// With a Refuser its answer is sent, then the connection closed.
				ref := &refuser{}
				ts = startServer(t, ref, nil)
				c = dial(t, ts.addr, cfg)
				if _, err := c.Write(message(t, "let me in")); err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(c)
				if string(got) != "refused!" || err != nil {
					t.Fatalf("got %q, %v", got, err)
				}
				if ref.calls.Load() != 0 || ref.refused.Load() != 1 {
					t.Fatalf("handle %d refuse %d", ref.calls.Load(), ref.refused.Load())
				}
				if err := ref.lastErr.Load().(error); !errors.Is(err, tc.want) {
					t.Fatalf("refusal reason %v, want %v", err, tc.want)
				}
			}
		})
	}
}

func TestUnauthenticatedSizeLimit(t *testing.T) {
	ref := &refuser{}
	ts := startServer(t, ref, nil)
	hdr := message(t, "x")[:8]
	binary.BigEndian.PutUint32(hdr[4:], maxUnauthenticatedMessage) // + 8 header bytes: over the limit
	c := dial(t, ts.addr, clientConfig(&fix.stranger))
	if _, err := c.Write(hdr); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c)
	if ref.refused.Load() != 0 || ref.calls.Load() != 0 {
		t.Fatal("oversized unauthenticated request reached the handler")
	}
	// The same size is fine for an identified client.
	req := make([]byte, 8+maxUnauthenticatedMessage)
	copy(req, hdr)
	for i := 8; i < len(req); i += 16 { // filler: Byte String items of 8 bytes
		copy(req[i:], []byte{0x42, 0, 0x94, 8, 0, 0, 0, 8})
	}
	c = dial(t, ts.addr, clientConfig(&fix.issued))
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(req))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, req) {
		t.Fatalf("large request from an app: %v", err)
	}
}

func TestPinnedCertAccepted(t *testing.T) {
	rec := &recorder{}
	ts := startServer(t, rec, nil)
	roundTrip(t, dial(t, ts.addr, clientConfig(&fix.pinned)), "pinned")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.peers) != 1 || rec.peers[0].App.Name != "pinned" || !rec.peers[0].App.Pinned {
		t.Fatalf("peers %+v", rec.peers)
	}
}

func TestBadInputClosesConnection(t *testing.T) {
	valid := message(t, "x")
	tooLong := make([]byte, 8)
	copy(tooLong, valid[:4])
	binary.BigEndian.PutUint32(tooLong[4:], 1<<30)
	tests := []struct {
		name    string
		send    []byte
		closeW  bool // half-close after sending (truncated message)
		wantLog string
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false, "malformed request framing"},
		{"bad tag", append([]byte{0x99, 0, 0x78, 1, 0, 0, 0, 0}, valid[8:]...), false, "malformed request framing"},
		{"not a structure", []byte{0x42, 0, 0x78, 2, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0}, false, "malformed request framing"},
		{"truncated then close", valid[:len(valid)-3], true, "malformed request framing"},
		{"oversized header", tooLong, false, "request too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			ts := startServer(t, rec, func(c *Config) { c.MaxMessageSize = 4096 })
			c := dial(t, ts.addr, clientConfig(&fix.issued))
			if _, err := c.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			if tc.closeW {
				c.CloseWrite()
			}
			// For the oversized header nothing more is sent: the server
			// must decide from the 8-byte header alone.
			expectClosed(t, c)
			if rec.calls.Load() != 0 {
				t.Fatal("handler called")
			}
			if !strings.Contains(ts.logs.String(), tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, ts.logs)
			}
			roundTrip(t, dial(t, ts.addr, clientConfig(&fix.issued)), "after "+tc.name)
		})
	}
}

func TestGarbageBeforeTLS(t *testing.T) {
	rec := &recorder{}
	ts := startServer(t, rec, nil)
	for _, g := range [][]byte{[]byte("hello\r\n"), bytes.Repeat([]byte{0x16, 3, 1, 0xff, 0xff}, 100), message(t, "plaintext KMIP")} {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(g)
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		io.Copy(io.Discard, c) // until the server closes
		if err := c.SetReadDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	roundTrip(t, dial(t, ts.addr, clientConfig(&fix.issued)), "still serving")
	if !strings.Contains(ts.logs.String(), "TLS handshake failed") {
		t.Errorf("handshake failure not logged:\n%s", ts.logs)
	}
}

func TestTimeouts(t *testing.T) {
	tests := []struct {
		name    string
		tweak   func(*Config)
		send    func(t *testing.T, c net.Conn)
		wantLog string
	}{
		{
			name:  "slow request hits read timeout",
			tweak: func(c *Config) { c.ReadTimeout = 100 * time.Millisecond },
			send: func(t *testing.T, c net.Conn) {
				c.Write(message(t, "slow")[:5]) // then nothing
			},
			wantLog: "request read timeout",
		},
		{
			name:    "idle connection hits idle timeout",
			tweak:   func(c *Config) { c.IdleTimeout = 100 * time.Millisecond },
			send:    func(t *testing.T, c net.Conn) { roundTrip(t, c, "one") },
			wantLog: "idle timeout",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, &recorder{}, tc.tweak)
			c := dial(t, ts.addr, clientConfig(&fix.issued))
			tc.send(t, c)
			expectClosed(t, c)
			if !strings.Contains(ts.logs.String(), tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, ts.logs)
			}
		})
	}
	t.Run("stalled handshake hits handshake timeout", func(t *testing.T) {
		ts := startServer(t, &recorder{}, func(c *Config) { c.HandshakeTimeout = 100 * time.Millisecond })
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		expectClosed(t, c)
	})
}

func TestMaxConns(t *testing.T) {
	ts := startServer(t, &recorder{}, func(c *Config) { c.MaxConns = 2 })
	a := dial(t, ts.addr, clientConfig(&fix.issued))
	b := dial(t, ts.addr, clientConfig(&fix.issued))
	roundTrip(t, a, "a")
	roundTrip(t, b, "b")
	// The third connection is closed before TLS.
	if c, err := tls.Dial("tcp", ts.addr, clientConfig(&fix.issued)); err == nil {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("connection over the limit was served")
		}
		c.Close()
	}
	if !strings.Contains(ts.logs.String(), "connection limit reached") {
		t.Errorf("limit not logged:\n%s", ts.logs)
	}
	// Closing one frees a slot (released asynchronously: retry).
	a.Close()
	for i := 0; ; i++ {
		c, err := tls.Dial("tcp", ts.addr, clientConfig(&fix.issued))
		if err == nil {
			c.SetDeadline(time.Now().Add(20 * time.Second))
			req := message(t, "c")
			c.Write(req)
			got := make([]byte, len(req))
			_, err = io.ReadFull(c, got)
			c.Close()
			if err == nil {
				break
			}
		}
		if i == 200 {
			t.Fatalf("slot never freed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	roundTrip(t, b, "b still works")
}

// blocker is a Handler that waits until released (or its context ends).
type blocker struct {
	started  chan struct{}
	release  chan struct{}
	ctxDone  atomic.Bool
	finished atomic.Int32
}

func (b *blocker) Handle(ctx context.Context, _ Peer, req []byte) []byte {
	b.started <- struct{}{}
	select {
	case <-b.release:
	case <-ctx.Done():
		b.ctxDone.Store(true)
	}
	b.finished.Add(1)
	return append([]byte(nil), req...)
}

func TestShutdownWaitsForInFlight(t *testing.T) {
	h := &blocker{started: make(chan struct{}, 1), release: make(chan struct{})}
	ts := startServer(t, h, nil)
	busy := dial(t, ts.addr, clientConfig(&fix.issued))
	idle := dial(t, ts.addr, clientConfig(&fix.issued))
	req := message(t, "in flight")
	if _, err := busy.Write(req); err != nil {
		t.Fatal(err)
	}
	<-h.started
	shutdownErr := make(chan error, 1)
	go func() { shutdownErr <- ts.srv.Shutdown(context.Background()) }()
	// The idle connection is closed and new connections are refused while
	// the request is in flight.
	expectClosed(t, idle)
	if c, err := tls.Dial("tcp", ts.addr, clientConfig(&fix.issued)); err == nil {
		c.Close()
		t.Error("new connection accepted during shutdown")
	}
	select {
	case err := <-shutdownErr:
		t.Fatalf("Shutdown returned %v before the in-flight request finished", err)
	default:
	}
	close(h.release)
	got := make([]byte, len(req))
	if _, err := io.ReadFull(busy, got); err != nil || !bytes.Equal(got, req) {
		t.Fatalf("in-flight response %x, %v", got, err)
	}
	if err := <-shutdownErr; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	expectClosed(t, busy)
	if h.ctxDone.Load() {
		t.Error("handler context cancelled during graceful shutdown")
	}
}

func TestShutdownDeadlineForcesClose(t *testing.T) {
	h := &blocker{started: make(chan struct{}, 1), release: make(chan struct{})}
	ts := startServer(t, h, nil)
	c := dial(t, ts.addr, clientConfig(&fix.issued))
	if _, err := c.Write(message(t, "stuck")); err != nil {
		t.Fatal(err)
	}
	<-h.started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	expectClosed(t, c)
	for h.finished.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if !h.ctxDone.Load() {
		t.Error("handler context not cancelled by forced shutdown")
	}
}

type panicker struct{ recorder }

func (p *panicker) Handle(ctx context.Context, peer Peer, req []byte) []byte {
	if bytes.Contains(req, []byte("boom")) {
		panic("handler bug")
	}
	return p.recorder.Handle(ctx, peer, req)
}

func TestHandlerPanicClosesOnlyItsConnection(t *testing.T) {
	ts := startServer(t, &panicker{}, nil)
	other := dial(t, ts.addr, clientConfig(&fix.issued))
	roundTrip(t, other, "before")
	c := dial(t, ts.addr, clientConfig(&fix.issued))
	c.Write(message(t, "boom"))
	expectClosed(t, c)
	roundTrip(t, other, "after")
	if !strings.Contains(ts.logs.String(), "panic serving connection") {
		t.Errorf("panic not logged:\n%s", ts.logs)
	}
}

func TestLogLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLogLimiter(func() time.Time { return now }, 3, time.Minute)
	var got []bool
	for range 5 {
		ok, _ := l.allow("a")
		got = append(got, ok)
	}
	if fmt.Sprint(got) != "[true true true false false]" {
		t.Fatalf("first window: %v", got)
	}
	if ok, _ := l.allow("b"); !ok {
		t.Error("keys are not independent")
	}
	now = now.Add(time.Minute)
	ok, suppressed := l.allow("a")
	if !ok || suppressed != 2 {
		t.Errorf("next window: ok=%v suppressed=%d, want true 2", ok, suppressed)
	}
	for i := range 2 * maxKeys {
		l.allow(fmt.Sprint(i))
	}
	if len(l.keys) > maxKeys {
		t.Errorf("%d keys tracked, max %d", len(l.keys), maxKeys)
	}
}

func TestLogsAreRateLimited(t *testing.T) {
	ts := startServer(t, &recorder{}, nil)
	for range 3 * logBurst {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("garbage garbage garbage\r\n"))
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		io.Copy(io.Discard, c)
		c.Close()
	}
	// The accept loop and connections are asynchronous: make sure the
	// server is done with them by serving one more request.
	roundTrip(t, dial(t, ts.addr, clientConfig(&fix.issued)), "sync")
	if n := strings.Count(ts.logs.String(), "TLS handshake failed"); n != logBurst {
		t.Errorf("%d handshake failures logged, want %d", n, logBurst)
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	logs := &syncBuffer{}
	srv, err := New(Config{Certificate: &fix.server, Identifier: fix.auth, Handler: &recorder{},
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	c, err := tls.Dial("tcp", l.Addr().String(), clientConfig(&fix.issued))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := message(b, "benchmark request")
	got := make([]byte, len(req))
	b.SetBytes(int64(len(req)))
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHandshake(b *testing.B) {
	logs := &syncBuffer{}
	srv, err := New(Config{Certificate: &fix.server, Identifier: fix.auth, Handler: &recorder{},
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		b.Run(tls.VersionName(v), func(b *testing.B) {
			cfg := clientConfig(&fix.issued)
			cfg.MaxVersion = v
			for b.Loop() {
				c, err := tls.Dial("tcp", l.Addr().String(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}
