package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// appRecord is the file apps/NAME.json. Rules for changing it: add fields
// only with omitempty; a change of meaning bumps Version, and readers
// refuse versions they do not know.
type appRecord struct {
	Version  int          `json:"version"`
	Name     string       `json:"name"`
	Certs    []certRecord `json:"certs,omitempty"`
	Password *pwRecord    `json:"password,omitempty"`
}

const appRecordVersion = 1

type certRecord struct {
	SHA256   string    `json:"sha256"` // lowercase hex of the DER
	Pinned   bool      `json:"pinned,omitempty"`
	AnyEKU   bool      `json:"any_eku,omitempty"` // pinned with TrustOptions.AnyEKU
	Subject  string    `json:"subject,omitempty"` // informational
	NotAfter time.Time `json:"not_after"`         // informational
}

type pwRecord struct {
	Alg  string `json:"alg"` // "pbkdf2-sha256"
	Iter int    `json:"iter"`
	Salt []byte `json:"salt"`
	Hash []byte `json:"hash"`
}

const (
	pwAlg      = "pbkdf2-sha256"
	pwSaltLen  = 16
	pwHashLen  = 32
	maxPWIters = 10_000_000
)

func (a *Authority) appPath(name string) string {
	return filepath.Join(a.dir, appsDir, name+".json")
}

// readApp reads the record of name; ErrNoApp when it does not exist.
func (a *Authority) readApp(name string) (*appRecord, error) {
	b, err := readFile(a.appPath(name), true)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %q", ErrNoApp, name)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return parseApp(name, b)
}

func parseApp(name string, b []byte) (*appRecord, error) {
	if len(b) > maxRecordSize {
		return nil, fmt.Errorf("%w: app %q: record too large", ErrCorrupt, name)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r appRecord
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: app %q: %v", ErrCorrupt, name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: app %q: trailing data", ErrCorrupt, name)
	}
	if r.Version != appRecordVersion || r.Name != name || len(r.Certs) > MaxCertsPerApp {
		return nil, fmt.Errorf("%w: app %q: bad version, name or certificate count", ErrCorrupt, name)
	}
	for _, c := range r.Certs {
		if fp, err := hex.DecodeString(c.SHA256); err != nil || len(fp) != sha256.Size {
			return nil, fmt.Errorf("%w: app %q: bad fingerprint", ErrCorrupt, name)
		}
	}
	if p := r.Password; p != nil && (p.Alg != pwAlg || p.Iter < 1 || p.Iter > maxPWIters || len(p.Salt) != pwSaltLen || len(p.Hash) != pwHashLen) {
		return nil, fmt.Errorf("%w: app %q: bad password record", ErrCorrupt, name)
	}
	return &r, nil
}

func (a *Authority) writeApp(r *appRecord) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	return writeFileAtomic(a.appPath(r.Name), append(b, '\n'), 0o600)
}

// update runs f on the record of name under the writer lock and saves it.
// When create is set, a missing app is created first.
func (a *Authority) update(name string, create bool, f func(r *appRecord) error) error {
	if err := checkName(name); err != nil {
		return err
	}
	err := a.locked(func() error {
		r, err := a.readApp(name)
		if errors.Is(err, ErrNoApp) && create {
			r, err = &appRecord{Version: appRecordVersion, Name: name}, nil
		}
		if err != nil {
			return err
		}
		if err := f(r); err != nil {
			return err
		}
		return a.writeApp(r)
	})
	if err != nil {
		return err
	}
	return a.reload()
}

// addCert records c for r, checking it is not recorded for another app.
// Caller holds the writer lock.
func (a *Authority) addCert(r *appRecord, c *x509.Certificate, pinned bool) error {
	fp := FingerprintOf(c)
	a.mu.Lock()
	dirErr, _ := a.reloadLocked()
	e, dup := a.index[fp]
	a.mu.Unlock()
	if dirErr != nil {
		return dirErr
	}
	if dup && e.app != r.Name {
		return fmt.Errorf("%w: %s is recorded for app %q", ErrCertInUse, fp, e.app)
	}
	if slices.ContainsFunc(r.Certs, func(cr certRecord) bool { return cr.SHA256 == fp.String() }) {
		return nil
	}
	if len(r.Certs) >= MaxCertsPerApp {
		return fmt.Errorf("%w: app %q has %d", ErrTooManyCerts, r.Name, len(r.Certs))
	}
	r.Certs = append(r.Certs, certRecord{SHA256: fp.String(), Pinned: pinned, Subject: c.Subject.String(), NotAfter: c.NotAfter.UTC()})
	return nil
}

// CreateApp creates the app name and issues it a client certificate
// (RSA-2048, CN=name, extended key usage clientAuth) signed by the appliance
// CA. It returns the certificate and the PKCS#8 private key in PEM; the key
// is not stored. It fails with ErrAppExists if the app exists.
func (a *Authority) CreateApp(name string) (certPEMOut, keyPEM []byte, err error) {
	if err := checkName(name); err != nil {
		return nil, nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, leafKeyBits)
	if err != nil {
		return nil, nil, fmt.Errorf("auth: generating client key: %w", err)
	}
	err = a.locked(func() error {
		if _, err := a.readApp(name); err == nil {
			return fmt.Errorf("%w: %q", ErrAppExists, name)
		} else if !errors.Is(err, ErrNoApp) {
			return err
		}
		der, err := a.sign(clientTemplate(pkix.Name{CommonName: name}, nil), key.Public())
		if err != nil {
			return err
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("auth: %w", err)
		}
		r := &appRecord{Version: appRecordVersion, Name: name}
		if err := a.addCert(r, c, false); err != nil {
			return err
		}
		certPEMOut = certPEM(der)
		return a.writeApp(r)
	})
	if err != nil {
		return nil, nil, err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("auth: %w", err)
	}
	if err := a.reload(); err != nil {
		return nil, nil, err
	}
	return certPEMOut, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), nil
}

func clientTemplate(subject pkix.Name, csr *x509.CertificateRequest) *x509.Certificate {
	t := &x509.Certificate{
		Subject:     subject,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if csr != nil {
		if _, ok := csr.PublicKey.(*rsa.PublicKey); ok {
			t.KeyUsage |= x509.KeyUsageKeyEncipherment
		}
		t.DNSNames = csr.DNSNames
		t.IPAddresses = csr.IPAddresses
		t.EmailAddresses = csr.EmailAddresses
		t.URIs = csr.URIs
	} else {
		t.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	return t
}

// SignCSR signs a PEM certificate signing request for the app name,
// creating the app when it does not exist. The CSR must be at most
// MaxPEMSize bytes, carry a valid self-signature and an acceptable key
// (RSA 2048-8192 bits, ECDSA P-256/384/521, Ed25519). The certificate keeps
// the CSR's subject (CN=name when it is empty) and subject alternative names
// (at most 32); every other requested extension is ignored, and the
// extended key usage is clientAuth. It returns the certificate in PEM.
func (a *Authority) SignCSR(name string, csrPEM []byte) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if len(csrPEM) > MaxPEMSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadCSR, MaxPEMSize)
	}
	blk, err := singlePEM(csrPEM, "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	if err := checkPublicKey(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	if n := len(csr.DNSNames) + len(csr.IPAddresses) + len(csr.EmailAddresses) + len(csr.URIs); n > maxSANs {
		return nil, fmt.Errorf("%w: %d subject alternative names (max %d)", ErrBadCSR, n, maxSANs)
	}
	subject := csr.Subject
	subject.ExtraNames = nil
	if subject.CommonName == "" {
		subject.CommonName = name
	}
	var out []byte
	err = a.update(name, true, func(r *appRecord) error {
		der, err := a.sign(clientTemplate(subject, csr), csr.PublicKey)
		if err != nil {
			return err
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("auth: %w", err)
		}
		if err := a.addCert(r, c, false); err != nil {
			return err
		}
		out = certPEM(der)
		return nil
	})
	return out, err
}

// TrustOptions modify TrustCert. The zero value is the strict default.
type TrustOptions struct {
	// AnyEKU accepts the certificate whatever its extended key usage
	// (for uploaded certificates that list serverAuth but not
	// clientAuth). It is recorded with the pin and applies to that
	// certificate only.
	AnyEKU bool
}

// TrustCert pins a PEM client certificate (one CERTIFICATE block, at most
// MaxPEMSize bytes, any issuer) for the app name, creating the app when it
// does not exist. The certificate then identifies the app by its SHA-256
// fingerprint while it is within its validity period and its extended key
// usage allows client authentication (see Identify; opts.AnyEKU lifts the
// latter). A certificate whose extended key usage excludes client
// authentication is refused with ErrBadCert unless opts.AnyEKU is set.
// Pinning a certificate recorded for another app fails with ErrCertInUse.
func (a *Authority) TrustCert(name string, certPEMIn []byte, opts TrustOptions) error {
	if err := checkName(name); err != nil {
		return err
	}
	if len(certPEMIn) > MaxPEMSize {
		return fmt.Errorf("%w: larger than %d bytes", ErrBadCert, MaxPEMSize)
	}
	blk, err := singlePEM(certPEMIn, "CERTIFICATE")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadCert, err)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadCert, err)
	}
	if err := checkPublicKey(c.PublicKey); err != nil {
		return fmt.Errorf("%w: %v", ErrBadCert, err)
	}
	if !opts.AnyEKU && !ekuAllowsClientAuth(c) {
		return fmt.Errorf("%w: extended key usage does not allow client authentication (see TrustOptions.AnyEKU)", ErrBadCert)
	}
	return a.update(name, true, func(r *appRecord) error {
		if err := a.addCert(r, c, true); err != nil {
			return err
		}
		if opts.AnyEKU {
			for i := range r.Certs {
				if r.Certs[i].SHA256 == FingerprintOf(c).String() {
					r.Certs[i].AnyEKU = true
				}
			}
		}
		return nil
	})
}

// SetPassword sets the password of an existing app (1 to MaxPasswordLen
// bytes), stored as a salted PBKDF2-HMAC-SHA256 hash.
func (a *Authority) SetPassword(name, password string) error {
	if password == "" || len(password) > MaxPasswordLen {
		return fmt.Errorf("auth: password must be 1-%d bytes", MaxPasswordLen)
	}
	salt := make([]byte, pwSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	h, err := pbkdf2.Key(sha256.New, password, salt, a.opts.PasswordIterations, pwHashLen)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	return a.update(name, false, func(r *appRecord) error {
		r.Password = &pwRecord{Alg: pwAlg, Iter: a.opts.PasswordIterations, Salt: salt, Hash: h}
		return nil
	})
}

// HasPassword reports whether the app name has a password (see
// SetPassword). It fails with ErrNoApp or ErrBadName.
func (a *Authority) HasPassword(name string) (bool, error) {
	if err := checkName(name); err != nil {
		return false, err
	}
	r, err := a.readApp(name)
	if err != nil {
		return false, err
	}
	return r.Password != nil, nil
}

// CheckPassword returns nil when password is the password of app name, and
// an error wrapping ErrBadPassword otherwise (also when the app has no
// password), or ErrNoApp / ErrBadName.
func (a *Authority) CheckPassword(name, password string) error {
	if err := checkName(name); err != nil {
		return err
	}
	r, err := a.readApp(name)
	if err != nil {
		return err
	}
	if r.Password == nil || len(password) > MaxPasswordLen {
		return ErrBadPassword
	}
	h, err := pbkdf2.Key(sha256.New, password, r.Password.Salt, r.Password.Iter, pwHashLen)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if !hmac.Equal(h, r.Password.Hash) {
		return ErrBadPassword
	}
	return nil
}

// Identify returns the app that the TLS client certificate leaf identifies.
// intermediates are the other certificates the client sent (used only to
// build chains to the appliance CA).
//
// Policy (fail closed): leaf must be recorded for an app (see the package
// comment), be within its validity period at Now, and have either no
// extended key usage or one that includes clientAuth (or any), unless it
// was pinned with TrustOptions.AnyEKU. A
// certificate recorded as issued must also verify against the appliance
// CA. Errors wrap ErrNoCert or ErrUntrusted, or ErrCorrupt when the app
// files cannot be read.
func (a *Authority) Identify(leaf *x509.Certificate, intermediates []*x509.Certificate) (App, error) {
	if leaf == nil {
		return App{}, ErrNoCert
	}
	fp := FingerprintOf(leaf)
	a.mu.Lock()
	err := a.reloadIfChangedLocked()
	e, ok := a.index[fp]
	if !ok && err == nil {
		// The modification time may not have changed (coarse clocks):
		// re-read on a miss, at most once per missReloadInterval.
		if now := time.Now(); now.Sub(a.missReload) >= missReloadInterval {
			a.missReload = now
			err, _ = a.reloadLocked()
			e, ok = a.index[fp]
		}
	}
	a.mu.Unlock()
	if err != nil {
		return App{}, err
	}
	if !ok {
		return App{}, fmt.Errorf("%w: unknown certificate %s", ErrUntrusted, fp)
	}
	now := a.opts.Now()
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return App{}, fmt.Errorf("%w: certificate %s of app %q is outside its validity period", ErrUntrusted, fp, e.app)
	}
	if !e.anyEKU && !ekuAllowsClientAuth(leaf) {
		return App{}, fmt.Errorf("%w: certificate %s of app %q does not allow client authentication", ErrUntrusted, fp, e.app)
	}
	if !e.pinned {
		pool := x509.NewCertPool()
		for _, c := range intermediates {
			pool.AddCert(c)
		}
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots:         a.pool,
			Intermediates: pool,
			CurrentTime:   now,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err != nil {
			return App{}, fmt.Errorf("%w: certificate %s of app %q: %v", ErrUntrusted, fp, e.app, err)
		}
	}
	return App{Name: e.app, Fingerprint: fp, Pinned: e.pinned}, nil
}

// ekuAllowsClientAuth implements the EKU policy: a certificate without
// extended key usage is accepted (many uploaded vCenter certificates have
// none); otherwise it must list clientAuth or anyExtendedKeyUsage.
func ekuAllowsClientAuth(c *x509.Certificate) bool {
	if len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
		return true
	}
	return slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny)
}

// Apps returns the names of all apps, sorted.
func (a *Authority) Apps() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(a.dir, appsDir))
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	var names []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && ValidName(n) && e.Type().IsRegular() {
			names = append(names, n)
		}
	}
	return names, nil
}

// reloadIfChangedLocked reloads the index when the apps directory changed
// since the last load. Unreadable app records are skipped. Caller holds
// a.mu.
func (a *Authority) reloadIfChangedLocked() error {
	fi, err := os.Stat(filepath.Join(a.dir, appsDir))
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if a.index != nil && fi.ModTime().Equal(a.appsTime) {
		return nil
	}
	dirErr, _ := a.reloadLocked()
	return dirErr
}

// reloadLocked rebuilds the fingerprint index from the app files. A
// record that cannot be read is skipped (its certificates identify nobody)
// and reported in the second result; the first result is an error reading
// the directory itself, which leaves the index unchanged. Caller holds a.mu.
func (a *Authority) reloadLocked() (dirErr, fileErr error) {
	dir := filepath.Join(a.dir, appsDir)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("auth: %w", err), nil
	}
	names, err := a.Apps()
	if err != nil {
		return err, nil
	}
	index := make(map[Fingerprint]certEntry)
	var errs []error
	for _, n := range names {
		r, err := a.readApp(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, c := range r.Certs {
			var fp Fingerprint
			hex.Decode(fp[:], []byte(c.SHA256)) // validated by parseApp
			if prev, dup := index[fp]; dup && prev.app != n {
				// The same certificate in two apps is ambiguous: it
				// identifies neither.
				index[fp] = certEntry{}
				continue
			}
			index[fp] = certEntry{app: n, pinned: c.Pinned, anyEKU: c.Pinned && c.AnyEKU}
		}
	}
	for fp, e := range index {
		if e.app == "" {
			delete(index, fp)
		}
	}
	a.index, a.appsTime = index, fi.ModTime()
	return nil, errors.Join(errs...)
}

// reload is reloadLocked for callers that do not hold a.mu, returning either
// error.
func (a *Authority) reload() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	dirErr, fileErr := a.reloadLocked()
	if dirErr != nil {
		return dirErr
	}
	return fileErr
}
