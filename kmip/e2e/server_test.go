package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/hsm/auth"
	"github.com/cofferhsm/coffer/internal/hostmode"
	"github.com/cofferhsm/coffer/kmip/client"
	"github.com/cofferhsm/coffer/kmip/server"
)

// sharedCA is an authority directory made once per test binary (the CA's
// RSA key is slow to generate); newDataDir copies it.
var (
	caOnce sync.Once
	caDir  string
	caErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if caDir != "" {
		os.RemoveAll(caDir)
	}
	os.Exit(code)
}

// newDataDir returns a fresh data directory holding a copy of the shared CA.
func newDataDir(tb testing.TB) string {
	tb.Helper()
	caOnce.Do(func() {
		caDir, caErr = os.MkdirTemp("", "coffer-e2e-ca-*")
		if caErr == nil {
			_, caErr = auth.Load(filepath.Join(caDir, hostmode.AuthDir), auth.Options{})
		}
	})
	if caErr != nil {
		tb.Fatal(caErr)
	}
	dir := tb.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, hostmode.AuthDir, "apps"), 0o700); err != nil {
		tb.Fatal(err)
	}
	for _, f := range []string{"ca.crt", "ca.key"} {
		b, err := os.ReadFile(filepath.Join(caDir, hostmode.AuthDir, f))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, hostmode.AuthDir, f), b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// coffer is a host-mode server on 127.0.0.1:0, started the way coffer
// serve starts it.
type coffer struct {
	Addr string
	Host *hostmode.Host

	srv  *server.Server
	done chan error
	once sync.Once
}

// startCoffer opens dir with the insecure sealer (tests do not need a TPM;
// internal/hostmode tests the TPM path) and serves it. It is stopped on
// cleanup.
func startCoffer(tb testing.TB, dir string) *coffer {
	tb.Helper()
	c, err := newCoffer(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Stop(); err != nil {
			tb.Error(err)
		}
	})
	return c
}

// newCoffer is startCoffer for goroutines: the caller must Stop it.
func newCoffer(dir string) (*coffer, error) {
	h, err := hostmode.Open(hostmode.Config{Dir: dir, Sealer: hostmode.SealerInsecure, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	srv, err := server.New(h.ServerConfig(""))
	if err != nil {
		h.Close()
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.Close()
		return nil, err
	}
	c := &coffer{Addr: l.Addr().String(), Host: h, srv: srv, done: make(chan error, 1)}
	go func() { c.done <- srv.Serve(l) }()
	return c, nil
}

// Stop shuts the server down and closes the data directory. Later calls
// return nil.
func (c *coffer) Stop() error {
	var err error
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = c.srv.Shutdown(ctx)
		if serr := <-c.done; !errors.Is(serr, server.ErrServerClosed) && err == nil {
			err = serr
		}
		err = errors.Join(err, c.Host.Close())
	})
	return err
}

// appTLS creates app name and returns a client TLS config with its
// certificate, trusting the appliance CA.
func appTLS(tb testing.TB, a *auth.Authority, name string) *tls.Config {
	tb.Helper()
	cfg, err := newAppTLS(a, name)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

func newAppTLS(a *auth.Authority, name string) (*tls.Config, error) {
	certPEM, keyPEM, err := a.CreateApp(name)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(a.CACertPEM()) {
		return nil, errors.New("CA certificate does not parse")
	}
	return &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: []tls.Certificate{pair}}, nil
}

func dial(tb testing.TB, addr string, cfg *tls.Config) *client.Client {
	tb.Helper()
	c, err := client.Dial(context.Background(), addr, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}
