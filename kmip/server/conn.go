package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/cofferhsm/coffer/hsm/auth"
	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// conn is one client connection. Its state is idle while it waits for the
// TLS handshake or a request (Shutdown may then close it) and busy while a
// request is read, handled and answered.
type conn struct {
	srv *Server
	nc  net.Conn

	mu   sync.Mutex
	busy bool
	// idleClosed is set by closeIfIdle: the connection must not start
	// another request.
	idleClosed bool
}

// setIdle marks the connection idle and sets its read deadline, under the
// lock so that closeIfIdle cannot be overridden. It returns false when the
// server is closing.
func (c *conn) setIdle(deadline time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.busy = false
	if c.idleClosed || c.srv.closing.Load() {
		return false
	}
	c.nc.SetDeadline(deadline)
	return true
}

// setBusy marks the connection busy; it returns false when the server is
// closing (the request is then dropped unread).
func (c *conn) setBusy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idleClosed || c.srv.closing.Load() {
		return false
	}
	c.busy = true
	return true
}

// closeIfIdle interrupts an idle connection's read. A busy connection
// finishes its request and then sees that the server is closing.
func (c *conn) closeIfIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.idleClosed = true
	if !c.busy {
		c.nc.SetDeadline(time.Unix(1, 0))
	}
}

func (c *conn) serve() {
	s := c.srv
	remote := c.nc.RemoteAddr().String()
	defer s.untrack(c)
	defer c.nc.Close()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("kmip: panic serving connection", "remote", remote, "panic", r, "stack", string(debug.Stack()))
		}
	}()

	ctx, cancel := context.WithCancel(s.baseCtx)
	defer cancel()
	if !c.setIdle(time.Now().Add(s.cfg.HandshakeTimeout)) {
		return
	}
	tc := tls.Server(c.nc, s.tlsConf)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.logHandshakeError(remote, err)
		return
	}
	cs := tc.ConnectionState()
	peer := Peer{RemoteAddr: c.nc.RemoteAddr()}
	var authErr error
	if len(cs.PeerCertificates) == 0 {
		authErr = auth.ErrNoCert
	} else {
		peer.App, authErr = s.cfg.Identifier.Identify(cs.PeerCertificates[0], cs.PeerCertificates[1:])
	}
	if authErr != nil {
		// Not yet an error: handshake-only clients (health checks) are
		// normal. It is logged if the client sends a request.
		peer.App = auth.App{}
	}
	s.logf(slog.LevelDebug, "handshake done", "remote", remote, "tls", tls.VersionName(cs.Version),
		"suite", tls.CipherSuiteName(cs.CipherSuite), "app", peer.App.Name)

	limits := ttlv.Limits{MaxMessageSize: s.cfg.MaxMessageSize}
	if authErr != nil {
		// Its only request is refused: bound the memory strangers can
		// make the server allocate.
		limits.MaxMessageSize = min(limits.MaxMessageSize, maxUnauthenticatedMessage)
	}
	br := bufio.NewReader(tc)
	for n := 0; ; n++ {
		if !c.setIdle(time.Now().Add(s.cfg.IdleTimeout)) {
			return
		}
		if _, err := br.Peek(1); err != nil {
			switch {
			case n == 0 && isClosed(err):
				s.logf(slog.LevelDebug, "handshake-only connection", "remote", remote, "app", peer.App.Name)
			case isTimeout(err) && !s.closing.Load():
				s.logf(slog.LevelDebug, "idle timeout", "remote", remote, "app", peer.App.Name)
			case !isClosed(err) && !s.closing.Load():
				s.logf(slog.LevelInfo, "read failed", "remote", remote, "err", err)
			}
			return
		}
		if !c.setBusy() {
			return
		}
		c.nc.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
		req, err := limits.ReadMessage(br)
		if err != nil {
			c.logReadError(remote, peer, err)
			return
		}
		c.nc.SetReadDeadline(time.Time{})
		var resp []byte
		if authErr != nil {
			s.logf(slog.LevelInfo, "request from unidentified client refused", "remote", remote,
				"reason", authErr, "cert", certSummary(cs))
			if r, ok := s.cfg.Handler.(Refuser); ok {
				resp = r.Refuse(ctx, peer, req, authErr)
			}
		} else {
			resp = s.cfg.Handler.Handle(ctx, peer, req)
		}
		if len(resp) == 0 {
			return
		}
		c.nc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if _, err := tc.Write(resp); err != nil {
			s.logf(slog.LevelInfo, "write failed", "remote", remote, "err", err)
			return
		}
		if authErr != nil {
			return
		}
	}
}

func certSummary(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return "none"
	}
	c := cs.PeerCertificates[0]
	return auth.FingerprintOf(c).String() + " " + c.Subject.String()
}

func (c *conn) logHandshakeError(remote string, err error) {
	s := c.srv
	switch {
	case s.closing.Load():
	case isClosed(err):
		// Clients that read the server certificate and hang up.
		s.logf(slog.LevelDebug, "client closed during TLS handshake", "remote", remote)
	case isTimeout(err):
		s.logf(slog.LevelInfo, "TLS handshake timeout", "remote", remote)
	case isRemoteAlert(err):
		// E.g. a client that fetched the server certificate and does not
		// trust it (yet): normal while a KMS is being added.
		s.logf(slog.LevelInfo, "client aborted TLS handshake", "remote", remote, "err", err)
	default:
		s.logf(slog.LevelWarn, "TLS handshake failed", "remote", remote, "err", err)
	}
}

func (c *conn) logReadError(remote string, peer Peer, err error) {
	s := c.srv
	switch {
	case s.closing.Load() && isTimeout(err):
	case errors.Is(err, ttlv.ErrTooLarge):
		s.logf(slog.LevelWarn, "request too large, closing", "remote", remote, "app", peer.App.Name, "max", s.cfg.MaxMessageSize, "err", err)
	case isTimeout(err):
		s.logf(slog.LevelInfo, "request read timeout", "remote", remote, "app", peer.App.Name)
	default:
		var de *ttlv.DecodeError
		if errors.As(err, &de) {
			s.logf(slog.LevelWarn, "malformed request framing, closing", "remote", remote, "app", peer.App.Name, "err", err)
		} else {
			s.logf(slog.LevelInfo, "read failed", "remote", remote, "err", err)
		}
	}
}

// isRemoteAlert reports whether err is an alert sent by the peer.
func isRemoteAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
