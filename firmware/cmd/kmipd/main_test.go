package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/auth"
	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/cofferhsm/coffer/hsm/rpc"
	"github.com/cofferhsm/coffer/hsm/store"
	"github.com/cofferhsm/coffer/kmip"
	"github.com/cofferhsm/coffer/kmip/client"
)

// syncBuffer is a bytes.Buffer safe for concurrent use.
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

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startCore serves an in-memory core over the RPC socket, as hsmd does.
func startCore(t *testing.T, sock string) {
	t.Helper()
	m, err := key.NewMaster(bytes.Repeat([]byte{7}, key.MasterSize))
	if err != nil {
		t.Fatal(err)
	}
	core, err := hsm.New(hsm.Config{Store: store.NewMemory(), Master: m})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- rpc.ListenAndServe(ctx, sock, core, log.New(&bytes.Buffer{}, "", 0), func() { close(ready) })
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("core: %v", err)
	}
	t.Cleanup(func() { cancel(); <-done })
}

func TestServesKMIPAndAdmin(t *testing.T) {
	dir, err := os.MkdirTemp("", "kmipd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "hsmd.sock")
	startCore(t, sock)
	authDir := filepath.Join(dir, "auth")
	a, err := auth.Load(authDir, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := a.CreateApp("vcenter")
	if err != nil {
		t.Fatal(err)
	}
	kmipAddr, adminAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, out, []string{"-hsm", sock, "-auth", authDir, "-admin-dir", filepath.Join(dir, "admin"), "-kmip", kmipAddr, "-admin", adminAddr})
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "listening on "+kmipAddr) {
		select {
		case err := <-done:
			t.Fatalf("run: %v\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line:\n%s", out.String())
		}
	}
	// The admin line comes first: the KMIP line means both serve.
	if i, j := strings.Index(out.String(), "admin API on "+adminAddr), strings.Index(out.String(), "listening on "); i < 0 || i > j {
		t.Errorf("admin line missing or after the KMIP line:\n%s", out.String())
	}

	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(a.CACertificate())
	c, err := client.Dial(ctx, kmipAddr, &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	uid, err := c.Create(ctx, kmip.CryptographicAlgorithmAES, 256, kmip.CryptographicUsageMask(12))
	if err != nil {
		t.Fatalf("Create through kmipd and the core RPC: %v", err)
	}
	g, err := c.Get(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := client.SymmetricKey(g); err != nil || len(k) != 32 {
		t.Errorf("Get: %d bytes, %v", len(k), err)
	}
	c.Close()

	// The admin API answers TLS with the same server certificate.
	tc, err := tls.Dial("tcp", adminAddr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("admin API TLS: %v", err)
	}
	tc.Close()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after cancel: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("kmipd did not stop")
	}
}

func TestConfigErrorsDoNotRestart(t *testing.T) {
	tests := [][]string{
		{"-bogus"},
		{"extra-arg"},
		{"-auth", "/dev/null/auth"},
	}
	for _, args := range tests {
		err := run(context.Background(), &bytes.Buffer{}, append(args, "-kmip", "127.0.0.1:0", "-admin", ""))
		if !errors.As(err, new(configError)) {
			t.Errorf("run %q: err = %v, want a configError (exit 125)", args, err)
		}
	}
}
