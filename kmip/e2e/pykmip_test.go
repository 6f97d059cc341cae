package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/hsm/auth"
	"github.com/cofferhsm/coffer/kmip"
	"github.com/cofferhsm/coffer/kmip/client"
)

// python is the interpreter of Debian's python3-pykmip.
const python = "/usr/bin/python3"

// requirePyKMIP skips the test when PyKMIP is not installed.
func requirePyKMIP(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat(python); err != nil {
		tb.Skip("no /usr/bin/python3 (Debian python3-pykmip)")
	}
	if err := exec.Command(python, "-c", "import kmip.pie.client").Run(); err != nil {
		tb.Skip("PyKMIP not installed (Debian package python3-pykmip)")
	}
}

// writeCreds writes a new app's client.crt, client.key and ca.crt into a
// temporary directory and returns their paths.
func writeCreds(tb testing.TB, a *auth.Authority, name string) (crt, key, ca string) {
	tb.Helper()
	certPEM, keyPEM, err := a.CreateApp(name)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	crt, key, ca = filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key"), filepath.Join(dir, "ca.crt")
	for p, b := range map[string][]byte{crt: certPEM, key: keyPEM, ca: a.CACertPEM()} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return crt, key, ca
}

// TestPyKMIPClient drives the real server with PyKMIP's client
// (testdata/pykmip_client.py asserts each operation) and then checks the
// script's results with the Go client.
func TestPyKMIPClient(t *testing.T) {
	requirePyKMIP(t)
	srv := startCoffer(t, newDataDir(t))
	crt, key, ca := writeCreds(t, srv.Host.Authority, "pykmip")
	host, port, _ := net.SplitHostPort(srv.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "testdata/pykmip_client.py", host, port, crt, key, ca)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pykmip_client.py: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	steps := map[string]bool{}
	var last string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if s, ok := strings.CutPrefix(line, "ok "); ok {
			steps[s] = true
		}
		last = line
	}
	for _, s := range []string{"create", "get", "get_attributes", "locate", "activate", "create_key_pair", "get_key_pair", "register", "revoke", "destroy"} {
		if !steps[s] {
			t.Errorf("step %s did not pass; output:\n%s", s, out)
		}
	}
	var res struct {
		Created    string `json:"created"`
		CreatedKey string `json:"created_key"`
		Public     string `json:"public"`
		Private    string `json:"private"`
		Registered string `json:"registered"`
		Destroyed  string `json:"destroyed"`
	}
	if err := json.Unmarshal([]byte(last), &res); err != nil {
		t.Fatalf("last line %q: %v", last, err)
	}

	// What PyKMIP did, seen through the Go client with the same app's
	// credentials (objects belong to the app that made them).
	pair, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(srv.Host.Authority.CACertPEM())
	c := dial(t, srv.Addr, &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: []tls.Certificate{pair}})
	if _, err := c.Get(ctx, res.Destroyed); !isReason(err, kmip.ResultReasonItemNotFound) {
		t.Errorf("destroyed key %s: Get = %v", res.Destroyed, err)
	}
	g, err := c.Get(ctx, res.Registered)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := client.SymmetricKey(g); err != nil || hex.EncodeToString(m) != "000102030405060708090a0b0c0d0e0f" {
		t.Errorf("registered key: %x, %v", m, err)
	}
	for _, uid := range []string{res.Public, res.Private} {
		attrs, err := c.GetAttributes(ctx, uid, kmip.AttributeCryptographicAlgorithm, kmip.AttributeCryptographicLength)
		if err != nil || len(attrs) != 2 || attrs[0].Value != kmip.CryptographicAlgorithmRSA || attrs[1].Value != kmip.Integer(2048) {
			t.Errorf("key pair half %s: %v, %v", uid, attrs, err)
		}
	}
	if len(res.CreatedKey) != 64 || res.Created != res.Destroyed {
		t.Errorf("created key %s (material %q), destroyed %s", res.Created, res.CreatedKey, res.Destroyed)
	}
}

func isReason(err error, r kmip.ResultReason) bool {
	oe, ok := err.(*client.OperationError)
	return ok && oe.Reason == r
}
