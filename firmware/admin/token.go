package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

const (
	tokenBytes     = 15 // 120 bits: 24 base32 characters, no padding
	tokenChars     = 24
	tokenGroup     = 4 // characters per group in the console form
	tokenFile      = "enroll-token"
	tokenClaimFile = "enroll-token.claimed"
	adminsDir      = "admins"
)

// tokenEncoding is RFC 4648 base32 (A-Z, 2-7): no 0/1/8/9 to confuse with
// O/I/B/g, case-insensitive once normalized.
var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// EnrollmentToken is a one-time admin enrollment token. It is a secret: it
// redacts itself when printed, refuses to be marshalled and cannot be
// compared with ==. Only Reveal shows it, for the console; Destroy
// zeroizes it. The zero value is not a token.
type EnrollmentToken struct {
	_ [0]func() // not comparable
	b []byte    // canonical form: tokenChars upper-case base32 characters
}

// NewEnrollmentToken reads 120 bits from rand (with io.ReadFull) and
// returns them as a token.
func NewEnrollmentToken(rand io.Reader) (EnrollmentToken, error) {
	b := make([]byte, tokenBytes)
	if _, err := io.ReadFull(rand, b); err != nil {
		return EnrollmentToken{}, fmt.Errorf("admin: generating enrollment token: %w", err)
	}
	t := EnrollmentToken{b: make([]byte, tokenChars)}
	tokenEncoding.Encode(t.b, b)
	clear(b)
	return t, nil
}

// Destroy zeroizes the token; Reveal returns "" afterwards. Copies of an
// EnrollmentToken share its bytes, so all of them are destroyed.
func (t EnrollmentToken) Destroy() { clear(t.b) }

// Reveal returns the token in its console form: six groups of four
// characters of A-Z and 2-7 separated by '-', e.g.
// "ABCD-EFGH-IJKL-MNOP-QRST-UVW2". Show it only on the appliance console.
// It returns "" for the zero value.
func (t EnrollmentToken) Reveal() string {
	if len(t.b) == 0 || t.b[0] == 0 {
		return ""
	}
	var sb strings.Builder
	for i := 0; i < len(t.b); i += tokenGroup {
		if i > 0 {
			sb.WriteByte('-')
		}
		sb.Write(t.b[i:min(i+tokenGroup, len(t.b))])
	}
	return sb.String()
}

// String redacts the token.
func (t EnrollmentToken) String() string { return "admin.EnrollmentToken(REDACTED)" }

// GoString redacts the token.
func (t EnrollmentToken) GoString() string { return t.String() }

// MarshalText refuses to marshal the token.
func (t EnrollmentToken) MarshalText() ([]byte, error) { return nil, ErrMarshal }

// MarshalJSON refuses to marshal the token.
func (t EnrollmentToken) MarshalJSON() ([]byte, error) { return nil, ErrMarshal }

// normalizeToken turns what a person typed into the canonical form: it
// drops spaces and '-', upper-cases, and maps 0→O, 1→I, 8→B. It returns
// false unless the result is tokenChars valid base32 characters.
func normalizeToken(s string) (string, bool) {
	if len(s) > 4*tokenChars {
		return "", false
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-' || c == ' ':
			continue
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case c == '0':
			c = 'O'
		case c == '1':
			c = 'I'
		case c == '8':
			c = 'B'
		}
		if !('A' <= c && c <= 'Z' || '2' <= c && c <= '7') {
			return "", false
		}
		sb.WriteByte(c)
	}
	if sb.Len() != tokenChars {
		return "", false
	}
	return sb.String(), true
}

func tokenHash(canonical string) [sha256.Size]byte {
	return sha256.Sum256([]byte("coffer admin enrollment token v1\x00" + canonical))
}

// InitEnrollment prepares enrollment in dir (created 0700): when no admin
// is enrolled yet, it makes a new token with rand, stores its hash in
// dir/enroll-token (replacing an unused earlier token, so only the token
// printed last works) and returns it for the console. Once an admin is
// enrolled it returns ErrEnrolled and changes nothing.
//
// Call it once per boot from the process that owns the console, before
// the Server starts.
func InitEnrollment(dir string, rand io.Reader) (EnrollmentToken, error) {
	if err := os.MkdirAll(filepath.Join(dir, adminsDir), 0o700); err != nil {
		return EnrollmentToken{}, fmt.Errorf("admin: %w", err)
	}
	names, err := listAdmins(dir)
	if err != nil {
		return EnrollmentToken{}, err
	}
	if len(names) > 0 {
		return EnrollmentToken{}, ErrEnrolled
	}
	t, err := NewEnrollmentToken(rand)
	if err != nil {
		return EnrollmentToken{}, err
	}
	h := tokenHash(string(t.b))
	if err := writeFileAtomic(filepath.Join(dir, tokenFile), []byte(hex.EncodeToString(h[:])+"\n"), 0o600); err != nil {
		return EnrollmentToken{}, err
	}
	return t, nil
}

// checkToken compares typed with the stored token hash in constant time.
// A missing token file (already used, or none made) is ErrBadToken like a
// wrong token.
func checkToken(dir, typed string) error {
	b, err := readFile(filepath.Join(dir, tokenFile), true, 256)
	if errors.Is(err, os.ErrNotExist) {
		return ErrBadToken
	}
	if err != nil {
		return err
	}
	want, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(want) != sha256.Size {
		return fmt.Errorf("%w: %s is malformed", ErrCorrupt, tokenFile)
	}
	canon, ok := normalizeToken(typed)
	got := tokenHash(canon) // hashed even when malformed: same work either way
	if subtle.ConstantTimeCompare(got[:], want) != 1 || !ok {
		return ErrBadToken
	}
	return nil
}

// claimToken atomically takes the token out of use (rename, so that two
// processes cannot both claim it). release puts it back after a failed
// enrollment; consume deletes it after a successful one.
func claimToken(dir string) (release, consume func(), err error) {
	from, to := filepath.Join(dir, tokenFile), filepath.Join(dir, tokenClaimFile)
	if err := os.Rename(from, to); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, ErrBadToken
		}
		return nil, nil, fmt.Errorf("admin: %w", err)
	}
	release = func() { os.Rename(to, from) }
	consume = func() {
		os.Remove(to)
		syncDir(dir)
	}
	return release, consume, nil
}
