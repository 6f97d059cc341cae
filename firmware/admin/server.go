package admin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cofferhsm/coffer/hsm/auth"
)

// Limits and timeouts of the server.
const (
	// MaxBodyBytes is the largest request body accepted (413 beyond).
	// It leaves room for a CSR or certificate of auth.MaxPEMSize bytes
	// after JSON escaping.
	MaxBodyBytes = 3 * auth.MaxPEMSize / 2
	// MaxHeaderBytes is the largest request header accepted.
	MaxHeaderBytes = 16 << 10

	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 2 * time.Minute // RSA key generation for CreateApp
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 5 * time.Second
)

// Config configures a Server. Authority and Dir are required; every other
// zero value has the meaning documented on the field.
type Config struct {
	// Authority is the appliance CA and app registry (required). The
	// server certificate is its ServerCertificate, the same as the KMIP
	// listener's.
	Authority *auth.Authority
	// Dir holds the admin state: the enrollment token hash and the admin
	// registry (required; created 0700).
	Dir string
	// ServerNames are extra DNS names or IP addresses for the server
	// certificate (see auth.Authority.ServerCertificate). Nil means
	// localhost, 127.0.0.1 and ::1 only.
	ServerNames []string
	// Version is reported by GET /v1/status. Empty means "dev".
	Version string
	// Now returns the current time (certificate validity, rate limiting,
	// uptime). Nil means time.Now.
	Now func() time.Time
	// Log receives one line per request (never tokens or key material)
	// and internal error details. Nil means no logging.
	Log *slog.Logger
	// EnrollAttempts is how many failed enrollments are allowed within
	// EnrollWindow; further attempts get 429 until the oldest failure
	// leaves the window. Zero means 5.
	EnrollAttempts int
	// EnrollWindow is the rate-limiting window for failed enrollments.
	// Zero means one minute.
	EnrollWindow time.Duration
}

// Server is the admin HTTPS API. Make one with New; it is safe for
// concurrent use.
type Server struct {
	cfg     Config
	auth    *auth.Authority
	tlsConf *tls.Config
	pool    *x509.CertPool
	started time.Time
	handler http.Handler

	mu       sync.Mutex                  // serializes enrollment and guards below
	admins   map[auth.Fingerprint]string // enrolled admin certificates
	failures []time.Time                 // recent failed enrollments, oldest first
}

// New checks cfg, creates cfg.Dir, loads the admin registry and the server
// certificate, and returns a Server that is not yet listening.
func New(cfg Config) (*Server, error) {
	if cfg.Authority == nil || cfg.Dir == "" {
		return nil, fmt.Errorf("%w: Authority and Dir are required", ErrBadConfig)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.EnrollAttempts <= 0 {
		cfg.EnrollAttempts = 5
	}
	if cfg.EnrollWindow <= 0 {
		cfg.EnrollWindow = time.Minute
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, adminsDir), 0o700); err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	admins, err := loadRegistry(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cert, err := cfg.Authority.ServerCertificate(cfg.ServerNames)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cfg.Authority.CACertificate())
	s := &Server{
		cfg:     cfg,
		auth:    cfg.Authority,
		pool:    pool,
		started: cfg.Now(),
		admins:  admins,
	}
	s.tlsConf = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		// Certificates are checked per request (enrollment needs none),
		// so that failures are JSON 401/403 rather than TLS alerts.
		ClientAuth: tls.RequestClientCert,
		NextProtos: []string{"http/1.1"},
	}
	s.handler = s.routes()
	return s, nil
}

// CAFingerprint returns the SHA-256 fingerprint (lowercase hex) of the
// appliance CA certificate: print it on the console next to the
// enrollment token; `coffer admin enroll --ca-fingerprint` requires it.
func CAFingerprint(a *auth.Authority) string {
	return auth.FingerprintOf(a.CACertificate()).String()
}

// Handler returns the HTTP handler. It expects requests that came over
// the TLS configuration of TLSConfig (it reads r.TLS).
func (s *Server) Handler() http.Handler { return s.handler }

// TLSConfig returns a copy of the server's TLS configuration.
func (s *Server) TLSConfig() *tls.Config { return s.tlsConf.Clone() }

// Serve serves HTTPS on ln until ctx is done, then shuts down gracefully
// (waiting up to 5 seconds for requests in flight) and returns nil. It
// closes ln. Other errors come from accepting connections.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.cfg.Log.Handler(), slog.LevelDebug),
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			hs.Close()
		}
	}()
	err := hs.Serve(tls.NewListener(ln, hs.TLSConfig))
	close(done)
	<-stopped
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// authenticate returns the admin name of the request's client certificate:
// it must be recorded in the admin registry, be within its validity period
// and chain to the appliance CA for client authentication. Errors wrap
// ErrNoCert or ErrNotAdmin.
func (s *Server) authenticate(r *http.Request) (string, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return "", ErrNoCert
	}
	leaf := r.TLS.PeerCertificates[0]
	fp := auth.FingerprintOf(leaf)
	s.mu.Lock()
	name, ok := s.admins[fp]
	s.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("%w: unknown certificate %s", ErrNotAdmin, fp)
	}
	inter := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         s.pool,
		Intermediates: inter,
		CurrentTime:   s.cfg.Now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return "", fmt.Errorf("%w: certificate %s of admin %q: %v", ErrNotAdmin, fp, name, err)
	}
	return name, nil
}

// isAdminCert reports whether the certificate is an enrolled admin's.
func (s *Server) isAdminCert(fp auth.Fingerprint) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.admins[fp]
	return ok
}

// limitedLocked reports whether enrollment is rate limited now, and for
// how long. Caller holds s.mu.
func (s *Server) limitedLocked(now time.Time) (bool, time.Duration) {
	cut := now.Add(-s.cfg.EnrollWindow)
	i := 0
	for i < len(s.failures) && !s.failures[i].After(cut) {
		i++
	}
	s.failures = s.failures[i:]
	if len(s.failures) < s.cfg.EnrollAttempts {
		return false, 0
	}
	return true, s.failures[0].Sub(cut)
}

// failLocked records a failed enrollment. Caller holds s.mu.
func (s *Server) failLocked(now time.Time) {
	s.failures = append(s.failures, now)
	if n := len(s.failures); n > s.cfg.EnrollAttempts {
		s.failures = s.failures[n-s.cfg.EnrollAttempts:]
	}
}
