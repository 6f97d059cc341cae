package kmiptest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// DefaultExchangeTimeout bounds one request/response exchange of a
// TLSRoundTripper whose Timeout is zero.
const DefaultExchangeTimeout = 30 * time.Second

// ErrUnknownClient is returned for a client letter without a TLS config.
var ErrUnknownClient = errors.New("kmiptest: no TLS config for client")

// TLSRoundTripper speaks KMIP over mutual TLS: one persistent connection per
// client letter, dialled on first use and redialled after any error. It is
// safe for concurrent use; exchanges of one client are serialised.
type TLSRoundTripper struct {
	// Addr is the server's host:port.
	Addr string
	// Clients maps a client letter ("A", "B") to its TLS config, which
	// carries that client's certificate and the server's root CAs.
	Clients map[string]*tls.Config
	// Timeout bounds dialling plus one exchange; zero means
	// DefaultExchangeTimeout. A context deadline that is sooner wins.
	Timeout time.Duration
	// Limits bounds the response read; the zero value is ttlv's defaults.
	Limits ttlv.Limits

	mu    sync.Mutex
	conns map[string]*clientConn
}

type clientConn struct {
	mu   sync.Mutex
	conn net.Conn // nil until dialled and after an error
}

// RoundTrip implements RoundTripper.
func (t *TLSRoundTripper) RoundTrip(ctx context.Context, client string, req []byte) ([]byte, error) {
	cfg, ok := t.Clients[client]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownClient, client)
	}
	t.mu.Lock()
	if t.conns == nil {
		t.conns = map[string]*clientConn{}
	}
	cc := t.conns[client]
	if cc == nil {
		cc = &clientConn{}
		t.conns[client] = cc
	}
	t.mu.Unlock()

	cc.mu.Lock()
	defer cc.mu.Unlock()
	timeout := t.Timeout
	if timeout == 0 {
		timeout = DefaultExchangeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if cc.conn == nil {
		d := tls.Dialer{Config: cfg}
		c, err := d.DialContext(ctx, "tcp", t.Addr)
		if err != nil {
			return nil, fmt.Errorf("kmiptest: client %s: dial %s: %w", client, t.Addr, err)
		}
		cc.conn = c
	}
	resp, err := exchange(ctx, cc.conn, req, t.Limits)
	if err != nil {
		cc.conn.Close()
		cc.conn = nil
		return nil, fmt.Errorf("kmiptest: client %s: %w", client, err)
	}
	return resp, nil
}

// exchange writes req and reads one TTLV message, giving up when ctx ends.
func exchange(ctx context.Context, conn net.Conn, req []byte, l ttlv.Limits) ([]byte, error) {
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return nil, err
		}
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(req); err != nil {
		return nil, err
	}
	resp, err := l.ReadMessage(conn)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return resp, err
}

// Close closes every connection.
func (t *TLSRoundTripper) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	for _, cc := range t.conns {
		cc.mu.Lock()
		if cc.conn != nil {
			errs = append(errs, cc.conn.Close())
			cc.conn = nil
		}
		cc.mu.Unlock()
	}
	return errors.Join(errs...)
}
