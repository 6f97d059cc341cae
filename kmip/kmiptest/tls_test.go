package kmiptest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and client
// certificates whose common names are the client letters.
type testPKI struct {
	roots   *x509.CertPool
	caDER   []byte
	server  tls.Certificate
	clients map[string]tls.Certificate
}

func newTestPKI(t *testing.T, clients ...string) *testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kmiptest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &testPKI{roots: x509.NewCertPool(), caDER: caDER, clients: map[string]tls.Certificate{}}
	p.roots.AddCert(ca)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage) tls.Certificate {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	p.server = issue(2, "server", x509.ExtKeyUsageServerAuth)
	for i, c := range clients {
		p.clients[c] = issue(int64(3+i), c, x509.ExtKeyUsageClientAuth)
	}
	return p
}

func (p *testPKI) clientConfigs() map[string]*tls.Config {
	out := map[string]*tls.Config{}
	for name, cert := range p.clients {
		out[name] = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: p.roots, MinVersion: tls.VersionTLS12}
	}
	return out
}

// serve runs an mTLS KMIP listener on loopback whose handler gets the
// client certificate's common name; it returns the address and a count of
// accepted connections. Everything stops at test cleanup.
func serve(t *testing.T, p *testPKI, handle func(client string, req []byte) ([]byte, bool)) (string, func() int) {
	t.Helper()
	cfg := &tls.Config{
		Certificates: []tls.Certificate{p.server}, ClientCAs: p.roots,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				tc := c.(*tls.Conn)
				if err := tc.Handshake(); err != nil {
					return
				}
				cn := tc.ConnectionState().PeerCertificates[0].Subject.CommonName
				for {
					req, err := ttlv.ReadMessage(c)
					if err != nil {
						return
					}
					resp, ok := handle(cn, req)
					if !ok {
						return // hang up
					}
					if resp == nil {
						continue // never answer
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return len(conns) }
}

// TestTLSDualClient runs the two-client case 3.1.4 over mTLS against a replay
// server that checks each request arrives from the right client certificate.
func TestTLSDualClient(t *testing.T) {
	p := newTestPKI(t, "A", "B")
	c := findCase(t, LoadTC11(t), "TC11-3.1.4")
	r := newReplay(t, c)
	var mu sync.Mutex
	addr, accepted := serve(t, p, func(client string, req []byte) ([]byte, bool) {
		mu.Lock()
		defer mu.Unlock()
		resp, err := r.RoundTrip(context.Background(), client, req)
		return resp, err == nil
	})
	rt := &TLSRoundTripper{Addr: addr, Clients: p.clientConfigs(), Timeout: 10 * time.Second}
	defer rt.Close()
	res := c.RunWith(context.Background(), rt, Options{Now: func() time.Time { return fixedNow }, MaxPause: -1})
	if !res.Pass {
		t.Fatalf("%s: %s\n%q", c.Name, res.Reason, res.Diffs)
	}
	if n := accepted(); n != 2 {
		t.Errorf("%d connections for %d steps, want one per client (2)", n, len(c.Steps))
	}
}

func TestTLSErrors(t *testing.T) {
	p := newTestPKI(t, "A")
	echo := []byte{0x42, 0x00, 0x7B, 0x01, 0, 0, 0, 0}
	var mu sync.Mutex
	mode := "answer"
	addr, accepted := serve(t, p, func(string, []byte) ([]byte, bool) {
		mu.Lock()
		defer mu.Unlock()
		switch mode {
		case "hang up":
			return nil, false
		case "silent":
			return nil, true
		}
		return echo, true
	})
	setMode := func(m string) { mu.Lock(); mode = m; mu.Unlock() }
	req := []byte{0x42, 0x00, 0x78, 0x01, 0, 0, 0, 0}
	rt := &TLSRoundTripper{Addr: addr, Clients: p.clientConfigs(), Timeout: time.Second}
	defer rt.Close()
	ctx := context.Background()

	if _, err := rt.RoundTrip(ctx, "B", req); !errors.Is(err, ErrUnknownClient) {
		t.Errorf("client B: err = %v, want ErrUnknownClient", err)
	}
	if got, err := rt.RoundTrip(ctx, "A", req); err != nil || string(got) != string(echo) {
		t.Fatalf("answer: %x, %v", got, err)
	}
	setMode("silent")
	if _, err := rt.RoundTrip(ctx, "A", req); !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("silent server: err = %v, want a deadline error", err)
	}
	setMode("hang up")
	if _, err := rt.RoundTrip(ctx, "A", req); err == nil {
		t.Error("hung-up connection: no error")
	}
	setMode("answer")
	if got, err := rt.RoundTrip(ctx, "A", req); err != nil || string(got) != string(echo) {
		t.Fatalf("after redial: %x, %v", got, err)
	}
	if n := accepted(); n != 3 {
		t.Errorf("%d connections, want 3 (first, after the timeout, after the hang-up)", n)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := rt.RoundTrip(cctx, "A", req); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: err = %v", err)
	}

	// A client certificate the server does not trust fails the handshake.
	other := newTestPKI(t, "A")
	bad := &TLSRoundTripper{Addr: addr, Clients: map[string]*tls.Config{"A": {
		Certificates: []tls.Certificate{other.clients["A"]}, RootCAs: p.roots, MinVersion: tls.VersionTLS13}}, Timeout: time.Second}
	defer bad.Close()
	if _, err := bad.RoundTrip(ctx, "A", req); err == nil || !strings.Contains(err.Error(), "client A") {
		t.Errorf("untrusted client: err = %v", err)
	}
}
