package admin

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cofferhsm/coffer/hsm/auth"
)

const (
	adminCertValidity = 2 * 365 * 24 * time.Hour // what hsm/auth issues client certificates for
	maxRecordSize     = 64 << 10
	// AdminOU is the organizational unit of every admin certificate. It
	// marks the certificate's purpose for people; the registry, not the
	// OU, is what makes a certificate an admin certificate.
	AdminOU = "Coffer admin"
)

// adminRecord is the file admins/NAME.json. Rules for changing it: add
// fields only with omitempty; a change of meaning bumps Version, and
// readers refuse versions they do not know.
type adminRecord struct {
	Version  int       `json:"version"`
	Name     string    `json:"name"`
	SHA256   string    `json:"sha256"` // lowercase hex of the certificate DER
	NotAfter time.Time `json:"not_after"`
	Enrolled time.Time `json:"enrolled"`
}

const adminRecordVersion = 1

func adminPath(dir, name string) string {
	return filepath.Join(dir, adminsDir, name+".json")
}

// listAdmins returns the names of the enrolled admins.
func listAdmins(dir string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(dir, adminsDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	var names []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && auth.ValidName(n) && e.Type().IsRegular() {
			names = append(names, n)
		}
	}
	return names, nil
}

// loadRegistry reads every admin record of dir into a fingerprint index.
// Any malformed record fails the load (fail closed: the server does not
// start with a registry it cannot read).
func loadRegistry(dir string) (map[auth.Fingerprint]string, error) {
	names, err := listAdmins(dir)
	if err != nil {
		return nil, err
	}
	index := make(map[auth.Fingerprint]string, len(names))
	for _, n := range names {
		r, err := readAdmin(dir, n)
		if err != nil {
			return nil, err
		}
		var fp auth.Fingerprint
		hex.Decode(fp[:], []byte(r.SHA256)) // validated by readAdmin
		if _, dup := index[fp]; dup {
			return nil, fmt.Errorf("%w: certificate %s recorded for two admins", ErrCorrupt, r.SHA256)
		}
		index[fp] = n
	}
	return index, nil
}

func readAdmin(dir, name string) (*adminRecord, error) {
	b, err := readFile(adminPath(dir, name), true, maxRecordSize)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r adminRecord
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: admin %q: %v", ErrCorrupt, name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: admin %q: trailing data", ErrCorrupt, name)
	}
	fp, err := hex.DecodeString(r.SHA256)
	if r.Version != adminRecordVersion || r.Name != name || err != nil || len(fp) != len(auth.Fingerprint{}) || r.SHA256 != strings.ToLower(r.SHA256) {
		return nil, fmt.Errorf("%w: admin %q: bad version, name or fingerprint", ErrCorrupt, name)
	}
	return &r, nil
}

func writeAdmin(dir string, r *adminRecord) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	return writeFileAtomic(adminPath(dir, r.Name), append(b, '\n'), 0o600)
}

// issueAdminCert makes an ECDSA P-256 key and a client certificate for the
// admin name (CN=name, OU=AdminOU, extended key usage clientAuth) signed by
// the appliance CA through hsm/auth, so the CA key never leaves that package. It returns the parsed certificate, the certificate PEM
// and the PKCS#8 key PEM.
func issueAdminCert(a *auth.Authority, name string) (*x509.Certificate, []byte, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("admin: generating key: %w", err)
	}
	subject := pkix.Name{CommonName: name, OrganizationalUnit: []string{AdminOU}, Organization: []string{"Coffer"}}
	c, err := a.IssueClientCert(subject, key.Public())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("admin: signing admin certificate: %w", err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("admin: %w", err)
	}
	return c, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), nil
}
