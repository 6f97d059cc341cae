// Package auth is the appliance's authority over KMIP clients: the appliance
// CA, the KMIP server certificate it signs, and apps (named clients) with
// their credentials.
//
// An app is identified by the TLS client certificate it presents, never by
// its network address. A certificate identifies an app when its SHA-256
// fingerprint is recorded for that app, either because this authority issued
// it (CreateApp, SignCSR; the certificate must then also chain to the
// appliance CA) or because an administrator pinned it (TrustCert; any issuer,
// typically a self-signed vCenter certificate). Deleting the record revokes
// the certificate. An app may also have a password (PBKDF2-HMAC-SHA256) for
// the KMIP Username and Password credential.
//
// Everything lives in files under one directory (0700 directories, 0600
// files):
//
//	ca.crt, ca.key          appliance CA (RSA-3072, self-signed, 20 years)
//	server.crt, server.key  KMIP server certificate (RSA-2048, 2 years)
//	apps/NAME.json          one record per app (fingerprints, password hash)
//	.lock                   flock(2) serializing writers
//
// Private keys are stored unencrypted (0600); encrypting them under the
// master key is future work. Private keys of app certificates made by
// CreateApp are returned to the caller and never stored.
//
// Several processes may use the same directory: writers take an exclusive
// flock and replace files atomically (write to a temporary file, fsync,
// rename), and Identify notices changes made by other processes: it
// compares the apps directory's modification time on every call and
// reloads when it changed, and also reloads (at most once a second) when a
// certificate is unknown.
package auth

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Sentinel errors. Every error returned by this package wraps one of them
// (or an I/O error from the file system).
var (
	// ErrBadName: an app name is empty, longer than MaxNameLen, or has a
	// character outside [A-Za-z0-9._-] (or starts with '.').
	ErrBadName = errors.New("auth: invalid app name")
	// ErrAppExists: CreateApp was called for an existing app.
	ErrAppExists = errors.New("auth: app already exists")
	// ErrNoApp: the named app does not exist.
	ErrNoApp = errors.New("auth: no such app")
	// ErrNoCert: no client certificate was presented.
	ErrNoCert = errors.New("auth: no client certificate")
	// ErrUntrusted: the client certificate identifies no app (unknown,
	// expired, wrong extended key usage, or not signed by the CA).
	ErrUntrusted = errors.New("auth: client certificate is not trusted")
	// ErrBadCSR: a certificate signing request is malformed, too large,
	// badly signed or uses a weak key.
	ErrBadCSR = errors.New("auth: invalid certificate signing request")
	// ErrBadCert: an uploaded certificate is malformed or too large.
	ErrBadCert = errors.New("auth: invalid certificate")
	// ErrCertInUse: the certificate is already recorded for another app.
	ErrCertInUse = errors.New("auth: certificate already belongs to another app")
	// ErrTooManyCerts: the app already has MaxCertsPerApp certificates.
	ErrTooManyCerts = errors.New("auth: too many certificates for one app")
	// ErrBadPassword: the password is wrong, or the app has none.
	ErrBadPassword = errors.New("auth: wrong password")
	// ErrBadSAN: a server certificate name is neither an IP address nor a
	// valid DNS name.
	ErrBadSAN = errors.New("auth: invalid server certificate name")
	// ErrCorrupt: a file of the authority is malformed or has unsafe
	// permissions.
	ErrCorrupt = errors.New("auth: authority files are corrupt")
)

// Limits on input.
const (
	MaxNameLen      = 64       // bytes in an app name
	MaxPEMSize      = 64 << 10 // bytes in an uploaded CSR or certificate
	MaxCertsPerApp  = 32       // certificates recorded for one app
	MaxPasswordLen  = 1024     // bytes in a password
	maxRecordSize   = 1 << 20  // bytes in an app record file
	maxSANs         = 32       // names in a CSR or server certificate
	maxSANLen       = 253      // bytes in one DNS name
	defaultPBKDF2It = 600_000  // PBKDF2-HMAC-SHA256 iterations

	missReloadInterval = time.Second
)

// Options configure an Authority. The zero value is ready to use.
type Options struct {
	// Now returns the current time. Zero means time.Now.
	Now func() time.Time
	// PasswordIterations is the PBKDF2-HMAC-SHA256 iteration count for new
	// passwords. Zero means 600000. Stored passwords keep their own count.
	PasswordIterations int
}

// Fingerprint is the SHA-256 of a certificate's DER encoding.
type Fingerprint [sha256.Size]byte

// FingerprintOf returns the fingerprint of c.
func FingerprintOf(c *x509.Certificate) Fingerprint { return sha256.Sum256(c.Raw) }

// String returns the fingerprint in lowercase hex.
func (f Fingerprint) String() string { return hex.EncodeToString(f[:]) }

// App is an identified client.
type App struct {
	Name        string
	Fingerprint Fingerprint // of the certificate that identified the app
	Pinned      bool        // the certificate was pinned (TrustCert), not issued
}

// Authority is the appliance CA and app registry in one directory. It is
// safe for concurrent use.
type Authority struct {
	dir  string
	opts Options
	ca   *x509.Certificate
	pool *x509.CertPool

	mu         sync.Mutex
	index      map[Fingerprint]certEntry // all recorded certificates
	appsTime   time.Time                 // apps/ ModTime at the last load
	missReload time.Time                 // last reload caused by an unknown certificate
}

type certEntry struct {
	app    string
	pinned bool
	anyEKU bool
}

// Load opens the authority in dir, creating dir, the apps directory and the
// appliance CA when they are missing. It does not create the server
// certificate (see ServerCertificate).
func Load(dir string, opts Options) (*Authority, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PasswordIterations <= 0 {
		opts.PasswordIterations = defaultPBKDF2It
	}
	if err := os.MkdirAll(filepath.Join(dir, appsDir), 0o700); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	a := &Authority{dir: dir, opts: opts}
	err := a.locked(func() error {
		ca, err := a.loadOrCreateCA()
		if err != nil {
			return err
		}
		a.ca = ca
		return nil
	})
	if err != nil {
		return nil, err
	}
	a.pool = x509.NewCertPool()
	a.pool.AddCert(a.ca)
	if err := a.reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// Dir returns the directory of the authority.
func (a *Authority) Dir() string { return a.dir }

// CACertificate returns the appliance CA certificate.
func (a *Authority) CACertificate() *x509.Certificate { return a.ca }

// CACertPEM returns the appliance CA certificate in PEM: the certificate
// KMIP clients must trust for the server.
func (a *Authority) CACertPEM() []byte { return certPEM(a.ca.Raw) }

// ValidName reports whether name is a valid app name: 1 to MaxNameLen bytes
// of [A-Za-z0-9._-], not starting with '.'.
func ValidName(name string) bool {
	if name == "" || len(name) > MaxNameLen || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

func checkName(name string) error {
	if !ValidName(name) {
		return fmt.Errorf("%w: %q (want 1-%d characters of A-Z a-z 0-9 . _ -, not starting with '.')", ErrBadName, name, MaxNameLen)
	}
	return nil
}
