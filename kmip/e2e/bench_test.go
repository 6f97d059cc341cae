package e2e

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/audit"
	"github.com/cofferhsm/coffer/hsm/auth"
	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/cofferhsm/coffer/hsm/store"
	"github.com/cofferhsm/coffer/internal/hostmode"
	"github.com/cofferhsm/coffer/kmip"
	"github.com/cofferhsm/coffer/kmip/client"
	"github.com/cofferhsm/coffer/kmip/server"
)

// target is a KMIP server under benchmark.
type target struct {
	name string
	addr string
	cfg  *tls.Config
}

// BenchmarkKMIP measures, over real TLS on loopback and with the same Go
// client, Coffer and (when installed) PyKMIP's server started in the same
// run:
//
//	Get/conns=N      Get of one AES-256 key on N persistent connections
//	Create/conns=N   Create AES-256 on N persistent connections
//	VCenterFlow      vCenter's key flow, every step on a new TLS connection
//	                 opened with an empty Discover Versions
//
// Each sub-benchmark reports ops/s; the parent logs PyKMIP/Coffer ratios.
// Run it with:
//
//	go test -run '^$' -bench BenchmarkKMIP -benchtime 2s ./kmip/e2e
func BenchmarkKMIP(b *testing.B) {
	dir := newDataDir(b)
	srv := startCoffer(b, dir)
	cfg := appTLS(b, srv.Host.Authority, "bench")
	cfg.MaxVersion = tls.VersionTLS12 // what vCenter negotiates; PyKMIP's suite too
	targets := []target{{"coffer", srv.Addr, cfg}}
	if addr, ok := startPyKMIP(b, srv.Host.Authority); ok {
		// PyKMIP's TLS 1.2 suite offers, for an RSA server key, only CBC
		// suites that Go leaves out by default.
		pcfg := cfg.Clone()
		pcfg.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, tls.TLS_RSA_WITH_AES_128_CBC_SHA256}
		targets = append(targets, target{"pykmip", addr, pcfg})
	}

	results := map[string]float64{}
	var mu sync.Mutex
	record := func(name string, v float64) {
		mu.Lock()
		defer mu.Unlock()
		results[name] = v
	}
	for _, conns := range []int{1, 8} {
		for _, tg := range targets {
			b.Run(fmt.Sprintf("Get/conns=%d/%s", conns, tg.name), func(b *testing.B) {
				c := dial(b, tg.addr, tg.cfg)
				uid, err := c.Create(context.Background(), kmip.CryptographicAlgorithmAES, 256, kmip.CryptographicUsageMaskEncrypt|kmip.CryptographicUsageMaskDecrypt)
				if err != nil {
					b.Fatal(err)
				}
				record(b.Name(), parallel(b, tg, conns, func(ctx context.Context, c *client.Client) error {
					_, err := c.Get(ctx, uid)
					return err
				}))
			})
		}
	}
	for _, conns := range []int{1, 8} {
		for _, tg := range targets {
			b.Run(fmt.Sprintf("Create/conns=%d/%s", conns, tg.name), func(b *testing.B) {
				record(b.Name(), parallel(b, tg, conns, func(ctx context.Context, c *client.Client) error {
					_, err := c.Create(ctx, kmip.CryptographicAlgorithmAES, 256, kmip.CryptographicUsageMaskEncrypt|kmip.CryptographicUsageMaskDecrypt)
					return err
				}))
			})
		}
	}
	for _, tg := range targets {
		b.Run("VCenterFlow/"+tg.name, func(b *testing.B) {
			ctx := context.Background()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if err := benchFlow(ctx, tg); err != nil {
					b.Fatal(err)
				}
			}
			v := float64(b.N) / time.Since(start).Seconds()
			b.ReportMetric(v, "flows/s")
			record(b.Name(), v)
		})
	}

	// Ratios Coffer / PyKMIP for each measurement both have.
	var lines []string
	for name, v := range results {
		if !strings.HasSuffix(name, "/coffer") {
			continue
		}
		base := strings.TrimSuffix(name, "/coffer")
		if p, ok := results[base+"/pykmip"]; ok && p > 0 {
			lines = append(lines, fmt.Sprintf("%-40s coffer %9.0f/s  pykmip %7.1f/s  ratio %6.1fx", strings.TrimPrefix(base, b.Name()+"/"), v, p, v/p))
		}
	}
	sort.Strings(lines)
	if len(lines) > 0 {
		b.Logf("Coffer vs PyKMIP:\n%s", strings.Join(lines, "\n"))
	}
}

// parallel runs b.N calls of op spread over conns persistent connections
// and reports and returns the throughput in ops/s.
func parallel(b *testing.B, tg target, conns int, op func(context.Context, *client.Client) error) float64 {
	ctx := context.Background()
	cs := make([]*client.Client, conns)
	for i := range cs {
		cs[i] = dial(b, tg.addr, tg.cfg)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := op(ctx, c); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	v := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(v, "ops/s")
	return v
}

// benchFlow is one vCenter key flow (VCENTER.md), every step on a new TLS
// connection that starts with an empty Discover Versions: Create AES-256;
// Get Attributes x-Product; Get; Get Attributes State; Activate. (The
// Add Attribute batches of the full conversation are left out because
// PyKMIP 0.10 refuses them; TestVCenterConversation covers them.)
func benchFlow(ctx context.Context, tg target) error {
	step := func(p kmip.RequestPayload) ([]kmip.ResponseBatchItem, error) {
		v, err := dialVC(ctx, tg.addr, tg.cfg)
		if err != nil {
			return nil, err
		}
		defer v.c.Close()
		return v.send(ctx, true, p)
	}
	r, err := step(&kmip.CreateRequest{ObjectType: kmip.ObjectTypeSymmetricKey, TemplateAttribute: kmip.TemplateAttribute{Attributes: []kmip.Attribute{
		{Name: kmip.AttributeCryptographicAlgorithm, Value: kmip.CryptographicAlgorithmAES},
		{Name: kmip.AttributeCryptographicUsageMask, Value: kmip.CryptographicUsageMask(12)},
		{Name: kmip.AttributeCryptographicLength, Value: kmip.Integer(256)},
	}}})
	if err != nil {
		return fmt.Errorf("Create: %w", err)
	}
	uid := r[0].Payload.(*kmip.CreateResponse).UniqueIdentifier
	for _, p := range []kmip.RequestPayload{
		&kmip.GetAttributesRequest{UniqueIdentifier: uid, AttributeNames: []string{"x-Product"}},
		&kmip.GetRequest{UniqueIdentifier: uid},
		&kmip.GetAttributesRequest{UniqueIdentifier: uid, AttributeNames: []string{kmip.AttributeState}},
		&kmip.ActivateRequest{UniqueIdentifier: uid},
	} {
		if _, err := step(p); err != nil {
			return fmt.Errorf("%s: %w", p.Operation(), err)
		}
	}
	return nil
}

// startPyKMIP starts pykmip-server (Debian python3-pykmip) on a free
// loopback port with a server certificate from a's CA, so that the same
// client credentials work on both servers. It reports false when PyKMIP is
// not installed. The server is stopped on cleanup.
func startPyKMIP(tb testing.TB, a *auth.Authority) (string, bool) {
	tb.Helper()
	bin, err := exec.LookPath("pykmip-server")
	if err != nil {
		tb.Logf("pykmip-server not installed (Debian python3-pykmip): benchmarking Coffer alone")
		return "", false
	}
	dir := tb.TempDir()
	cert, err := a.ServerCertificate(nil)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		tb.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			tb.Fatal(err)
		}
		return p
	}
	certPath := write("server.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}))
	keyPath := write("server.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	caPath := write("ca.crt", a.CACertPEM())
	policyDir := filepath.Join(dir, "policies")
	if err := os.Mkdir(policyDir, 0o700); err != nil {
		tb.Fatal(err)
	}
	port := freePort(tb)
	conf := write("server.conf", fmt.Appendf(nil, `[server]
hostname=127.0.0.1
port=%d
certificate_path=%s
key_path=%s
ca_path=%s
auth_suite=TLS1.2
policy_path=%s
enable_tls_client_auth=False
logging_level=WARNING
database_path=%s
`, port, certPath, keyPath, caPath, policyDir, filepath.Join(dir, "pykmip.db")))
	out, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "-f", conf, "-l", filepath.Join(dir, "server.log"))
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	// PyKMIP forks per connection: its own process group, ended as a whole.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		out.Close()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr, true
		}
		if time.Now().After(deadline) {
			tb.Fatalf("pykmip-server did not listen on %s: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// BenchmarkGetAuditCost explains BenchmarkKMIP's Get figures: Get of one
// key over TLS on one connection, with the core as coffer serve builds it
// (bbolt store, durable audit log: every Get waits for the audit entry's
// fsync before key material leaves the core) and with the audit log in
// memory or absent. The difference is the price of a durable audit entry
// per Get.
func BenchmarkGetAuditCost(b *testing.B) {
	for _, variant := range []string{"durable-audit", "memory-audit", "no-audit"} {
		b.Run(variant, func(b *testing.B) {
			h, err := hostmode.Open(hostmode.Config{Dir: newDataDir(b), Sealer: hostmode.SealerInsecure, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			cfg := h.ServerConfig("")
			if variant != "durable-audit" {
				m, err := key.GenerateMaster(rand.Reader)
				if err != nil {
					b.Fatal(err)
				}
				defer m.Destroy()
				db, err := store.Open(filepath.Join(b.TempDir(), "store.db"), nil)
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				var aud hsm.Auditor
				if variant == "memory-audit" {
					aud = hsm.AuditLog(audit.NewMemory())
				}
				core, err := hsm.New(hsm.Config{Store: db, Master: m, Audit: aud})
				if err != nil {
					b.Fatal(err)
				}
				if cfg.Handler, err = server.NewOps(server.OpsConfig{Core: core, Logger: slog.New(slog.DiscardHandler)}); err != nil {
					b.Fatal(err)
				}
			}
			srv, err := server.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go srv.Serve(l)
			defer srv.Close()
			tg := target{variant, l.Addr().String(), appTLS(b, h.Authority, "bench")}
			c := dial(b, tg.addr, tg.cfg)
			uid, err := c.Create(context.Background(), kmip.CryptographicAlgorithmAES, 256, kmip.CryptographicUsageMaskEncrypt)
			if err != nil {
				b.Fatal(err)
			}
			parallel(b, tg, 1, func(ctx context.Context, c *client.Client) error {
				_, err := c.Get(ctx, uid)
				return err
			})
		})
	}
}
