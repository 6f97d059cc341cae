// Package server is Coffer's KMIP listener: TLS on port 5696, client
// identification by certificate, and a per-connection loop that reads one
// TTLV request message at a time, passes it to a Handler and writes the
// response.
//
// Transport contract:
//
//   - TLS 1.2 and 1.3 with the cipher suites of a Profile; the server asks
//     for a client certificate but lets the handshake finish without one,
//     or with one it does not trust, so that health checks and clients that
//     only fetch the server certificate work.
//   - After the handshake the client certificate is mapped to an app by
//     Config.Identifier (never by the network address). When that fails the
//     connection is unauthenticated: the Handler is never called for it.
//     Its first request is read (within the usual limits); if the Handler
//     implements Refuser, its refusal (e.g. a KMIP Permission Denied
//     response) is written; then the connection is closed.
//   - Requests on one connection are handled sequentially, in order;
//     connections are handled concurrently, at most Config.MaxConns at a
//     time. Connections beyond the limit are closed at once, before TLS.
//   - A message's size is checked from its 8-byte header before its body is
//     read or allocated: at most Config.MaxMessageSize, and 64 KiB for the
//     one request of an unauthenticated connection. Request buffers thus
//     total at most MaxConns × MaxMessageSize (256 MiB with the defaults;
//     16 MiB from unauthenticated clients). Malformed framing, an oversized or truncated
//     message, and read timeouts close the connection; nothing a client
//     sends makes the server crash or stop accepting (a panicking Handler
//     closes only its connection).
//   - Log lines about individual connections are rate limited.
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferhsm/coffer/hsm/auth"
)

// Defaults for zero Config fields.
const (
	DefaultAddr             = ":5696"
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultReadTimeout      = 30 * time.Second
	DefaultWriteTimeout     = 30 * time.Second
	DefaultIdleTimeout      = 3 * time.Minute
	DefaultMaxMessageSize   = 1 << 20
	DefaultMaxConns         = 256

	// maxUnauthenticatedMessage bounds the one request read from an
	// unidentified client (to be refused).
	maxUnauthenticatedMessage = 64 << 10
)

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown or
// Close.
var ErrServerClosed = errors.New("server: closed")

// Peer is the authenticated client of a connection.
type Peer struct {
	// App is the app identified by the client certificate. In Handle it is
	// always set; in Refuse it is the zero App.
	App auth.App
	// RemoteAddr is the client's address, for logs only: it never decides
	// authorization.
	RemoteAddr net.Addr
}

// Handler answers KMIP requests. The op layer implements it.
type Handler interface {
	// Handle returns the response message for request, a complete TTLV
	// item (8-byte header and body, at most Config.MaxMessageSize bytes)
	// whose header was checked but whose body was not decoded. peer.App
	// is always an identified app. Handle is called sequentially for the
	// requests of one connection and concurrently across connections; it
	// must not keep request after returning. An empty response closes the
	// connection. ctx is cancelled when the server is closed or its
	// Shutdown deadline passes.
	Handle(ctx context.Context, peer Peer, request []byte) (response []byte)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, peer Peer, request []byte) []byte

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, peer Peer, request []byte) []byte {
	return f(ctx, peer, request)
}

// Refuser is optionally implemented by a Handler to answer the first
// request of an unauthenticated connection before it is closed. err says
// why the client was not identified: it wraps auth.ErrNoCert or
// auth.ErrUntrusted, or is another error when identification itself failed
// (e.g. unreadable app files). It is for logs and the choice of result
// reason; its text must not be sent to the client. An empty
// response closes the connection without a reply.
type Refuser interface {
	Refuse(ctx context.Context, peer Peer, request []byte, err error) (response []byte)
}

// Identifier maps a TLS client certificate to an app; *auth.Authority
// implements it. Identify must fail (with an error wrapping auth.ErrNoCert
// or auth.ErrUntrusted) unless leaf identifies an app.
type Identifier interface {
	Identify(leaf *x509.Certificate, intermediates []*x509.Certificate) (auth.App, error)
}

// Config configures a Server. Certificate, Identifier and Handler are
// required; every other zero field has the documented default.
type Config struct {
	// Addr is the TCP address ListenAndServe listens on. Empty means
	// DefaultAddr (":5696").
	Addr string
	// Profile selects TLS versions and cipher suites. Empty means
	// ProfileVSphereCompat.
	Profile Profile
	// Certificate is the server certificate: Certificate[0] is the leaf
	// (RSA for vCenter), followed by the rest of the chain up to and
	// including the CA the clients trust; PrivateKey is the leaf's key.
	Certificate *tls.Certificate
	// Identifier identifies clients by their certificate.
	Identifier Identifier
	// Handler answers requests of identified clients.
	Handler Handler

	// HandshakeTimeout bounds the TLS handshake. Zero means
	// DefaultHandshakeTimeout (10s).
	HandshakeTimeout time.Duration
	// ReadTimeout bounds reading one request once its first byte has
	// arrived. Zero means DefaultReadTimeout (30s).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response. Zero means
	// DefaultWriteTimeout (30s).
	WriteTimeout time.Duration
	// IdleTimeout bounds the wait for the next request (and for the first
	// one after the handshake). Zero means DefaultIdleTimeout (3m).
	IdleTimeout time.Duration
	// MaxMessageSize is the largest request accepted, in bytes, header
	// included. Zero means DefaultMaxMessageSize (1 MiB).
	MaxMessageSize int
	// MaxConns is the most connections served at once. Zero means
	// DefaultMaxConns (256).
	MaxConns int

	// Logger receives the server's logs. Nil means slog.Default().
	Logger *slog.Logger
	// Now returns the current time for TLS and certificate checks and for
	// log rate limiting (network deadlines always use the system clock).
	// Nil means time.Now.
	Now func() time.Time
	// Rand is the TLS entropy source. Nil means crypto/rand.Reader.
	Rand io.Reader
}

// Server is a KMIP listener. Make one with New.
type Server struct {
	cfg     Config
	tlsConf *tls.Config
	log     *slog.Logger
	limiter *logLimiter
	slots   chan struct{}

	baseCtx context.Context
	cancel  context.CancelFunc

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   atomic.Bool
	wg        sync.WaitGroup // one per connection goroutine
}

// New checks cfg, applies the defaults and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Certificate == nil || len(cfg.Certificate.Certificate) == 0 || cfg.Certificate.PrivateKey == nil {
		return nil, errors.New("server: Config.Certificate with a chain and a private key is required")
	}
	if cfg.Identifier == nil {
		return nil, errors.New("server: Config.Identifier is required")
	}
	if cfg.Handler == nil {
		return nil, errors.New("server: Config.Handler is required")
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Profile == "" {
		cfg.Profile = ProfileVSphereCompat
	}
	for _, d := range []*time.Duration{&cfg.HandshakeTimeout, &cfg.ReadTimeout, &cfg.WriteTimeout, &cfg.IdleTimeout} {
		if *d < 0 {
			return nil, errors.New("server: negative timeout")
		}
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxMessageSize < 0 || cfg.MaxConns < 0 {
		return nil, errors.New("server: negative MaxMessageSize or MaxConns")
	}
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	tc, err := tlsConfig(&cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		tlsConf:   tc,
		log:       cfg.Logger,
		limiter:   newLogLimiter(cfg.Now, logBurst, logWindow),
		slots:     make(chan struct{}, cfg.MaxConns),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
	}
	s.baseCtx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// ListenAndServe listens on Config.Addr and calls Serve.
func (s *Server) ListenAndServe() error {
	if s.closing.Load() {
		return ErrServerClosed
	}
	l, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return s.Serve(l)
}

// Serve accepts connections on l until Shutdown or Close, then returns
// ErrServerClosed; it returns another error if Accept fails permanently.
// l is closed on return.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	s.log.Info("kmip: listening", "addr", l.Addr().String(), "profile", string(s.cfg.Profile))
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logf(slog.LevelWarn, "accept failed", "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("server: accept: %w", err)
		}
		backoff = 0
		select {
		case s.slots <- struct{}{}:
		default:
			s.logf(slog.LevelWarn, "connection limit reached, closing new connection", "remote", nc.RemoteAddr().String(), "max_conns", s.cfg.MaxConns)
			nc.Close()
			continue
		}
		c := &conn{srv: s, nc: nc}
		if !s.track(c) {
			<-s.slots
			nc.Close()
			continue
		}
		go c.serve()
	}
}

// isTemporary reports accept errors worth retrying (e.g. EMFILE).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// track registers c; it returns false when the server is closing.
func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	<-s.slots
	s.wg.Done()
}

// Shutdown stops accepting connections, closes idle ones (including those
// still in the TLS handshake), lets in-flight requests finish and their
// responses be written, then closes those connections too. It returns nil
// once every connection is closed, or ctx's error after forcibly closing
// whatever remains when ctx is done (their Handler contexts are cancelled).
func (s *Server) Shutdown(ctx context.Context) error {
	s.startClosing()
	s.mu.Lock()
	for c := range s.conns {
		c.closeIfIdle()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	}
}

// Close closes the listeners and every connection at once and cancels the
// Handler contexts. It does not wait for Handlers to return.
func (s *Server) Close() error {
	s.startClosing()
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.nc.Close()
	}
	return nil
}

func (s *Server) startClosing() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing.Store(true)
	for l := range s.listeners {
		l.Close()
	}
}

// logf logs a message about a connection, rate limited per message.
func (s *Server) logf(level slog.Level, msg string, args ...any) {
	if !s.log.Enabled(context.Background(), level) {
		return
	}
	ok, suppressed := s.limiter.allow(msg)
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	s.log.Log(context.Background(), level, "kmip: "+msg, args...)
}
