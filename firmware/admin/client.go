package admin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Files written by the client.
const (
	AdminCertFile  = "admin.crt"  // admin client certificate (Enroll)
	AdminKeyFile   = "admin.key"  // its private key, mode 0600
	CACertFile     = "ca.crt"     // the appliance CA
	ClientCertFile = "client.crt" // KMIP app certificate (CreateApp)
	ClientKeyFile  = "client.key" // its private key, mode 0600

	maxResponseBytes = 1 << 20
	clientTimeout    = 3 * time.Minute
)

// EnrollOptions are the arguments of Enroll. All are required.
type EnrollOptions struct {
	// URL of the appliance's admin API, e.g. https://127.0.0.1:8443.
	URL string
	// Token is the one-time enrollment token shown on the console
	// (case, spaces and dashes do not matter).
	Token string
	// Name of the new admin (1-64 characters of A-Z a-z 0-9 . _ -).
	Name string
	// CAFingerprint is the SHA-256 fingerprint of the appliance CA
	// certificate shown on the console next to the token (64 hex digits;
	// colons, spaces and case ignored). The connection is refused before
	// the token is sent unless the appliance's chain contains this CA and
	// its certificate verifies against it for the URL's host.
	CAFingerprint string
	// OutDir receives admin.crt, admin.key (0600) and ca.crt. It is
	// created (0700) if needed; existing files are never overwritten, and
	// Enroll checks that before it spends the token.
	OutDir string
}

// Enroll spends a one-time enrollment token: it connects to the appliance,
// pinning the CA by fingerprint, obtains an admin client certificate and
// writes it with its key and the CA certificate to opts.OutDir. Errors
// wrap ErrBadConfig, ErrExists, ErrCAMismatch, ErrBadResponse, or are an
// *APIError (403: wrong or used token; 429: rate limited).
func Enroll(ctx context.Context, opts EnrollOptions) error {
	base, err := parseApplianceURL(opts.URL)
	if err != nil {
		return err
	}
	want, err := parseFingerprint(opts.CAFingerprint)
	if err != nil {
		return err
	}
	if opts.OutDir == "" || opts.Name == "" || opts.Token == "" {
		return fmt.Errorf("%w: URL, Token, Name, CAFingerprint and OutDir are required", ErrBadConfig)
	}
	files := []string{AdminKeyFile, AdminCertFile, CACertFile}
	if err := checkAbsent(opts.OutDir, files); err != nil {
		return err
	}
	var pinned *x509.Certificate
	host := base.Hostname()
	tc := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is done by VerifyConnection against the pinned CA.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			ca, err := verifyPinned(cs.PeerCertificates, want, host)
			pinned = ca
			return err
		},
	}
	c := &Client{base: base, hc: newHTTPClient(tc)}
	defer c.hc.CloseIdleConnections()
	var resp enrollResponse
	if err := c.do(ctx, http.MethodPost, "/v1/enroll", enrollRequest{Token: opts.Token, Name: opts.Name}, &resp); err != nil {
		return err
	}
	defer func() { resp.Key = "" }()
	if pinned == nil {
		return fmt.Errorf("%w: no pinned CA", ErrCAMismatch)
	}
	if err := checkBundle([]byte(resp.Cert), []byte(resp.Key), []byte(resp.CA), pinned); err != nil {
		return err
	}
	return writeSet(opts.OutDir, []outFile{
		{AdminKeyFile, []byte(resp.Key), 0o600},
		{AdminCertFile, []byte(resp.Cert), 0o644},
		{CACertFile, []byte(resp.CA), 0o644},
	})
}

// verifyPinned finds the certificate with fingerprint want among the
// server's certificates and verifies the leaf against it for host.
func verifyPinned(chain []*x509.Certificate, want [sha256.Size]byte, host string) (*x509.Certificate, error) {
	if len(chain) == 0 {
		return nil, fmt.Errorf("%w: the appliance sent no certificate", ErrCAMismatch)
	}
	var ca *x509.Certificate
	inter := x509.NewCertPool()
	var seen []string
	for _, c := range chain {
		fp := sha256.Sum256(c.Raw)
		if fp == want && c.IsCA {
			ca = c
		} else if c.IsCA {
			seen = append(seen, hex.EncodeToString(fp[:]))
			inter.AddCert(c)
		}
	}
	if ca == nil {
		return nil, fmt.Errorf("%w: expected %x, appliance sent CA %s", ErrCAMismatch, want, strings.Join(seen, ", "))
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter}); err != nil {
		return nil, fmt.Errorf("%w: server certificate: %v", ErrCAMismatch, err)
	}
	return ca, nil
}

// checkBundle checks that certPEM and keyPEM are one certificate and its
// PKCS#8 key, that caPEM is ca, and that the certificate chains to it.
func checkBundle(certPEM, keyPEM, caPEM []byte, ca *x509.Certificate) error {
	caCert, err := parseCertPEM(caPEM)
	if err != nil || !caCert.Equal(ca) {
		return fmt.Errorf("%w: ca.crt is not the pinned CA", ErrBadResponse)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return fmt.Errorf("%w: certificate and key: %v", ErrBadResponse, err)
	}
	leaf, err := parseCertPEM(certPEM)
	if err != nil {
		return fmt.Errorf("%w: certificate: %v", ErrBadResponse, err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("%w: certificate does not chain to the CA: %v", ErrBadResponse, err)
	}
	return nil
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("want one CERTIFICATE PEM block")
	}
	return x509.ParseCertificate(blk.Bytes)
}

// parseFingerprint parses 64 hex digits, ignoring colons, spaces and case.
func parseFingerprint(s string) ([sha256.Size]byte, error) {
	var fp [sha256.Size]byte
	clean := strings.NewReplacer(":", "", " ", "").Replace(strings.ToLower(s))
	b, err := hex.DecodeString(clean)
	if err != nil || len(b) != sha256.Size {
		return fp, fmt.Errorf("%w: CA fingerprint must be 64 hex digits (SHA-256), as printed on the console", ErrBadConfig)
	}
	copy(fp[:], b)
	return fp, nil
}

// parseApplianceURL accepts https://HOST[:PORT] with an optional "/".
func parseApplianceURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: appliance URL must be https://HOST[:PORT]", ErrBadConfig)
	}
	return &url.URL{Scheme: "https", Host: u.Host}, nil
}

func checkAbsent(dir string, files []string) error {
	for _, f := range files {
		p := filepath.Join(dir, f)
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%w: %s", ErrExists, p)
		}
	}
	return nil
}

func newHTTPClient(tc *tls.Config) *http.Client {
	return &http.Client{
		Timeout: clientTimeout,
		Transport: &http.Transport{
			Proxy:                 nil, // the appliance is reached directly
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			TLSClientConfig:       tc,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 2 * time.Minute,
			MaxIdleConns:          2,
			IdleConnTimeout:       30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Client talks to the admin API with an enrolled admin's credentials.
// Make one with Open; it is safe for concurrent use.
type Client struct {
	base *url.URL
	hc   *http.Client
}

// Open returns a client for the appliance at applianceURL using the
// credentials Enroll wrote to dir: admin.crt, admin.key (which must not be
// readable by group or others) and ca.crt, the only CA trusted for the
// server.
func Open(applianceURL, dir string) (*Client, error) {
	base, err := parseApplianceURL(applianceURL)
	if err != nil {
		return nil, err
	}
	certPEM, err := readFile(filepath.Join(dir, AdminCertFile), false, maxResponseBytes)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	keyPEM, err := readFile(filepath.Join(dir, AdminKeyFile), true, maxResponseBytes)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	defer clear(keyPEM)
	caPEM, err := readFile(filepath.Join(dir, CACertFile), false, maxResponseBytes)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	ca, err := parseCertPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadConfig, filepath.Join(dir, CACertFile), err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadConfig, dir, err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, Certificates: []tls.Certificate{pair}}
	return &Client{base: base, hc: newHTTPClient(tc)}, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// CreateApp creates the KMIP app name on the appliance and writes its
// credential bundle to outDir (created 0700): client.crt, client.key
// (0600) and ca.crt. Existing files are never overwritten: it fails with
// ErrExists before contacting the appliance.
func (c *Client) CreateApp(ctx context.Context, name, outDir string) error {
	files := []string{ClientKeyFile, ClientCertFile, CACertFile}
	if err := checkAbsent(outDir, files); err != nil {
		return err
	}
	var resp bundleResponse
	if err := c.do(ctx, http.MethodPost, "/v1/apps", createAppRequest{Name: name}, &resp); err != nil {
		return err
	}
	defer func() { resp.ClientKey = "" }()
	ca, err := parseCertPEM([]byte(resp.CACert))
	if err != nil {
		return fmt.Errorf("%w: ca.crt: %v", ErrBadResponse, err)
	}
	if err := checkBundle([]byte(resp.ClientCert), []byte(resp.ClientKey), []byte(resp.CACert), ca); err != nil {
		return err
	}
	return writeSet(outDir, []outFile{
		{ClientKeyFile, []byte(resp.ClientKey), 0o600},
		{ClientCertFile, []byte(resp.ClientCert), 0o644},
		{CACertFile, []byte(resp.CACert), 0o644},
	})
}

// SignCSR has the appliance sign a PEM certificate signing request for
// the app name (created if missing) and returns the certificate and the
// appliance CA certificate, both PEM.
func (c *Client) SignCSR(ctx context.Context, name string, csrPEM []byte) (certPEM, caPEM []byte, err error) {
	var resp csrResponse
	if err := c.do(ctx, http.MethodPost, "/v1/apps/"+url.PathEscape(name)+"/csr", csrRequest{CSR: string(csrPEM)}, &resp); err != nil {
		return nil, nil, err
	}
	if _, err := parseCertPEM([]byte(resp.Cert)); err != nil {
		return nil, nil, fmt.Errorf("%w: certificate: %v", ErrBadResponse, err)
	}
	return []byte(resp.Cert), []byte(resp.CA), nil
}

// TrustCert pins a PEM client certificate for the app name (created if
// missing); anyEKU accepts a certificate whose extended key usage lacks
// clientAuth. It returns the certificate's SHA-256 fingerprint (hex).
func (c *Client) TrustCert(ctx context.Context, name string, certPEM []byte, anyEKU bool) (string, error) {
	var resp trustResponse
	if err := c.do(ctx, http.MethodPost, "/v1/apps/"+url.PathEscape(name)+"/trust", trustRequest{Cert: string(certPEM), AnyEKU: anyEKU}, &resp); err != nil {
		return "", err
	}
	return resp.SHA256, nil
}

// Apps returns the names of the appliance's KMIP apps, sorted.
func (c *Client) Apps(ctx context.Context) ([]string, error) {
	var resp appsResponse
	if err := c.do(ctx, http.MethodGet, "/v1/apps", nil, &resp); err != nil {
		return nil, err
	}
	return resp.Apps, nil
}

// Status returns the appliance status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, &st)
	return st, err
}

// do sends body (if not nil) as JSON and decodes a 200 answer into out;
// other answers become *APIError.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("admin: %w", err)
		}
		defer clear(b) // may carry a token
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, rd)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("admin: reading response: %w", err)
	}
	defer clear(b)
	if len(b) > maxResponseBytes {
		return fmt.Errorf("%w: larger than %d bytes", ErrBadResponse, maxResponseBytes)
	}
	if resp.StatusCode != http.StatusOK {
		var e errorResponse
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = http.StatusText(resp.StatusCode)
		}
		return &APIError{StatusCode: resp.StatusCode, Message: truncate(e.Error, 1024)}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	return nil
}
