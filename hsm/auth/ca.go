package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

const (
	caKeyBits     = 3072
	leafKeyBits   = 2048
	caValidity    = 20 * 365 * 24 * time.Hour
	leafValidity  = 2 * 365 * 24 * time.Hour
	renewBefore   = 30 * 24 * time.Hour
	clockSkewBack = time.Hour // NotBefore is backdated by this much
)

// defaultServerNames are always in the server certificate.
var defaultServerNames = []string{"localhost", "127.0.0.1", "::1"}

func (a *Authority) loadOrCreateCA() (*x509.Certificate, error) {
	certPath, keyPath := filepath.Join(a.dir, caCertFile), filepath.Join(a.dir, caKeyFile)
	_, certErr := os.Stat(certPath)
	_, keyErr := os.Stat(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		c, _, err := a.loadPair(certPath, keyPath)
		if err != nil {
			return nil, err
		}
		if !c.IsCA {
			return nil, fmt.Errorf("%w: %s is not a CA certificate", ErrCorrupt, certPath)
		}
		return c, nil
	case errors.Is(certErr, os.ErrNotExist) && errors.Is(keyErr, os.ErrNotExist):
	default:
		return nil, fmt.Errorf("%w: need both %s and %s (cert: %v, key: %v)", ErrCorrupt, certPath, keyPath, certErr, keyErr)
	}
	key, err := rsa.GenerateKey(rand.Reader, caKeyBits)
	if err != nil {
		return nil, fmt.Errorf("auth: generating CA key: %w", err)
	}
	now := a.opts.Now()
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Coffer appliance CA " + serial.Text(16)[:8], Organization: []string{"Coffer"}},
		NotBefore:             now.Add(-clockSkewBack),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("auth: creating CA certificate: %w", err)
	}
	if err := writePair(certPath, keyPath, der, key); err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// writePair writes the key first, then the certificate, so that a crash
// leaves at worst a key without a certificate (reported as ErrCorrupt).
func writePair(certPath, keyPath string, der []byte, key crypto.Signer) error {
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certPath, certPEM(der), 0o644)
}

func (a *Authority) loadPair(certPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	cb, err := readFile(certPath, false)
	if err != nil {
		return nil, nil, fmt.Errorf("auth: %w", err)
	}
	kb, err := readFile(keyPath, true)
	if err != nil {
		return nil, nil, fmt.Errorf("auth: %w", err)
	}
	cblk, err := singlePEM(cb, "CERTIFICATE")
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, certPath, err)
	}
	c, err := x509.ParseCertificate(cblk.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, certPath, err)
	}
	kblk, err := singlePEM(kb, "PRIVATE KEY")
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, keyPath, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kblk.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, keyPath, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok || !publicKeysEqual(signer.Public(), c.PublicKey) {
		return nil, nil, fmt.Errorf("%w: %s does not match %s", ErrCorrupt, keyPath, certPath)
	}
	return c, signer, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("auth: serial number: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil // never zero
}

// sign issues a certificate for pub from tmpl with the CA key. The serial,
// validity, issuer and basic constraints are set here.
func (a *Authority) sign(tmpl *x509.Certificate, pub crypto.PublicKey) ([]byte, error) {
	_, caKey, err := a.loadPair(filepath.Join(a.dir, caCertFile), filepath.Join(a.dir, caKeyFile))
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := a.opts.Now()
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-clockSkewBack)
	tmpl.NotAfter = now.Add(leafValidity)
	if tmpl.NotAfter.After(a.ca.NotAfter) {
		tmpl.NotAfter = a.ca.NotAfter
	}
	tmpl.BasicConstraintsValid = true
	tmpl.IsCA = false
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.ca, pub, caKey)
	if err != nil {
		return nil, fmt.Errorf("auth: signing certificate: %w", err)
	}
	return der, nil
}

// ServerCertificate returns the KMIP server certificate with its chain
// (leaf, then the appliance CA) and RSA private key. The certificate names
// localhost, 127.0.0.1 and ::1 plus extra (DNS names or IP addresses). It is issued
// on first use, and re-issued (same CA, new key) when it lacks one of the
// names, expires within 30 days or was not signed by the current CA.
func (a *Authority) ServerCertificate(extra []string) (tls.Certificate, error) {
	names := append(slices.Clone(defaultServerNames), extra...)
	if len(names) > maxSANs {
		return tls.Certificate{}, fmt.Errorf("%w: more than %d names", ErrBadSAN, maxSANs)
	}
	var dnsNames []string
	var ips []net.IP
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
			continue
		}
		if !validDNSName(n) {
			return tls.Certificate{}, fmt.Errorf("%w: %q", ErrBadSAN, n)
		}
		if n = strings.ToLower(n); !slices.Contains(dnsNames, n) {
			dnsNames = append(dnsNames, n)
		}
	}
	var out tls.Certificate
	err := a.locked(func() error {
		certPath, keyPath := filepath.Join(a.dir, srvCertFile), filepath.Join(a.dir, srvKeyFile)
		c, key, err := a.loadPair(certPath, keyPath)
		if err == nil && a.serverCertOK(c, dnsNames, ips) {
			out = tls.Certificate{Certificate: [][]byte{c.Raw, a.ca.Raw}, PrivateKey: key, Leaf: c}
			return nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		nk, err := rsa.GenerateKey(rand.Reader, leafKeyBits)
		if err != nil {
			return fmt.Errorf("auth: generating server key: %w", err)
		}
		der, err := a.sign(&x509.Certificate{
			Subject:     pkix.Name{CommonName: dnsNames[0], Organization: []string{"Coffer"}},
			DNSNames:    dnsNames,
			IPAddresses: ips,
			KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}, nk.Public())
		if err != nil {
			return err
		}
		if err := writePair(certPath, keyPath, der, nk); err != nil {
			return err
		}
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("auth: %w", err)
		}
		out = tls.Certificate{Certificate: [][]byte{der, a.ca.Raw}, PrivateKey: nk, Leaf: leaf}
		return nil
	})
	return out, err
}

func (a *Authority) serverCertOK(c *x509.Certificate, dnsNames []string, ips []net.IP) bool {
	if c.CheckSignatureFrom(a.ca) != nil || !bytes.Equal(c.RawIssuer, a.ca.RawSubject) {
		return false
	}
	if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
		return false
	}
	if a.opts.Now().Add(renewBefore).After(c.NotAfter) {
		return false
	}
	for _, n := range dnsNames {
		if !slices.Contains(c.DNSNames, n) {
			return false
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

// validDNSName reports whether n is a DNS name made of labels of
// [A-Za-z0-9-] (a leading "*." wildcard allowed), at most maxSANLen bytes.
func validDNSName(n string) bool {
	if n == "" || len(n) > maxSANLen {
		return false
	}
	n = strings.TrimPrefix(n, "*.")
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// checkPublicKey accepts RSA keys of 2048 to 8192 bits, ECDSA keys on
// P-256, P-384 or P-521, and Ed25519 keys.
func checkPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < 2048 || n > 8192 {
			return fmt.Errorf("RSA key of %d bits (want 2048-8192)", n)
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return fmt.Errorf("unsupported ECDSA curve")
		}
	case ed25519.PublicKey:
	default:
		return fmt.Errorf("unsupported public key type %T", pub)
	}
	return nil
}

// IssueClientCert issues a client certificate (clientAuth only, never a
// CA) for pub with the given subject, signed by the appliance CA, valid
// from now for the usual leaf validity (capped at the CA's). It records
// nothing: callers that keep an identity registry of their own (the admin
// API) use it so that the CA key never leaves this package.
func (a *Authority) IssueClientCert(subject pkix.Name, pub crypto.PublicKey) (*x509.Certificate, error) {
	der, err := a.sign(&x509.Certificate{
		Subject:     subject,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, pub)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}
