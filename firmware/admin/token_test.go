package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestEnrollmentTokenFormat(t *testing.T) {
	tok, err := NewEnrollmentToken(bytes.NewReader(bytes.Repeat([]byte{0xa5}, tokenBytes)))
	if err != nil {
		t.Fatal(err)
	}
	// 0xa5 repeated: 10100 10110 10010 11010 01011 01001 ... in base32.
	if got, want := tok.Reveal(), "UWS2-LJNF-UWS2-LJNF-UWS2-LJNF"; got != want {
		t.Errorf("Reveal() = %q, want %q", got, want)
	}
	re := regexp.MustCompile(`^[A-Z2-7]{4}(-[A-Z2-7]{4}){5}$`)
	for range 20 {
		tok, err := NewEnrollmentToken(randReader{})
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(tok.Reveal()) {
			t.Errorf("Reveal() = %q, not in console form", tok.Reveal())
		}
	}
	if _, err := NewEnrollmentToken(bytes.NewReader(make([]byte, tokenBytes-1))); err == nil {
		t.Error("NewEnrollmentToken with a short random source succeeded")
	}
	if (EnrollmentToken{}).Reveal() != "" {
		t.Error("zero token reveals something")
	}
	cp := tok
	tok.Destroy()
	if tok.Reveal() != "" || cp.Reveal() != "" {
		t.Error("destroyed token still reveals something")
	}
}

func TestEnrollmentTokenRedacts(t *testing.T) {
	tok, err := NewEnrollmentToken(randReader{})
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.ReplaceAll(tok.Reveal(), "-", "")
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		if s := fmt.Sprintf(f, tok); strings.Contains(s, secret) || strings.Contains(s, secret[:8]) {
			t.Errorf("Sprintf(%q) = %q leaks the token", f, s)
		}
	}
	if _, err := json.Marshal(tok); !errors.Is(err, ErrMarshal) {
		t.Errorf("json.Marshal(token) error = %v, want ErrMarshal", err)
	}
	if _, err := json.Marshal(struct{ T EnrollmentToken }{tok}); !errors.Is(err, ErrMarshal) {
		t.Errorf("json.Marshal(struct with token) error = %v, want ErrMarshal", err)
	}
}

func TestNormalizeToken(t *testing.T) {
	const canon = "ABCDEFGHIJKLMNOPQRSTUVWX"
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"ABCD-EFGH-IJKL-MNOP-QRST-UVWX", canon, true},
		{"abcd efgh ijkl mnop qrst uvwx", canon, true},
		{canon, canon, true},
		{"  abcd-EFGH-ijkl-MNOP-qrst-uvwx ", canon, true},
		{"0000-1111-8888-2345-6723-4567", "OOOOIIIIBBBB234567234567", true},
		{"ABCD-EFGH-IJKL-MNOP-QRST-UVW", "", false},   // 23 characters
		{"ABCD-EFGH-IJKL-MNOP-QRST-UVWXY", "", false}, // 25
		{"ABCD-EFGH-IJKL-MNOP-QRST-UVW9", "", false},  // 9 is not base32
		{"ABCD_EFGH_IJKL_MNOP_QRST_UVWX", "", false},
		{"ABCD-EFGH-IJKL-MNOP-QRST-UVW\xff", "", false},
		{"", "", false},
		{strings.Repeat("-", 1000) + canon, "", false},
	}
	for _, tt := range tests {
		got, ok := normalizeToken(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("normalizeToken(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestInitEnrollment(t *testing.T) {
	dir := t.TempDir()
	tok1, err := InitEnrollment(dir, randReader{})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, tokenFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(filepath.Join(dir, tokenFile))
	if strings.Contains(strings.ToUpper(string(b)), strings.ReplaceAll(tok1.Reveal(), "-", "")) {
		t.Fatal("token file holds the token in clear")
	}
	if err := checkToken(dir, tok1.Reveal()); err != nil {
		t.Fatalf("checkToken(first token) = %v", err)
	}
	if err := checkToken(dir, strings.ToLower(tok1.Reveal())); err != nil {
		t.Fatalf("checkToken(first token, lower case) = %v", err)
	}

	// A second boot without enrollment replaces the token.
	tok2, err := InitEnrollment(dir, randReader{})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkToken(dir, tok1.Reveal()); !errors.Is(err, ErrBadToken) {
		t.Errorf("checkToken(replaced token) = %v, want ErrBadToken", err)
	}
	if err := checkToken(dir, tok2.Reveal()); err != nil {
		t.Errorf("checkToken(second token) = %v", err)
	}
	for _, bad := range []string{"", "garbage", "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA"} {
		if err := checkToken(dir, bad); !errors.Is(err, ErrBadToken) {
			t.Errorf("checkToken(%q) = %v, want ErrBadToken", bad, err)
		}
	}

	// Claimed tokens are gone; released ones come back.
	release, consume, err := claimToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkToken(dir, tok2.Reveal()); !errors.Is(err, ErrBadToken) {
		t.Errorf("checkToken(claimed token) = %v, want ErrBadToken", err)
	}
	if _, _, err := claimToken(dir); !errors.Is(err, ErrBadToken) {
		t.Errorf("second claimToken = %v, want ErrBadToken", err)
	}
	release()
	if err := checkToken(dir, tok2.Reveal()); err != nil {
		t.Errorf("checkToken(released token) = %v", err)
	}
	_, consume, err = claimToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	consume()
	if err := checkToken(dir, tok2.Reveal()); !errors.Is(err, ErrBadToken) {
		t.Errorf("checkToken(consumed token) = %v, want ErrBadToken", err)
	}

	// Once an admin exists, no more tokens.
	if err := writeAdmin(dir, &adminRecord{Version: adminRecordVersion, Name: "root", SHA256: strings.Repeat("ab", 32)}); err != nil {
		t.Fatal(err)
	}
	if _, err := InitEnrollment(dir, randReader{}); !errors.Is(err, ErrEnrolled) {
		t.Errorf("InitEnrollment after enrollment = %v, want ErrEnrolled", err)
	}
	if _, err := os.Stat(filepath.Join(dir, tokenFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("token file after enrollment: %v", err)
	}
}

func TestCorruptTokenFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, tokenFile), []byte("not hex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkToken(dir, "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("checkToken with a malformed file = %v, want ErrCorrupt", err)
	}
	if err := os.Chmod(filepath.Join(dir, tokenFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkToken(dir, "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("checkToken with a world-readable file = %v, want ErrCorrupt", err)
	}
}

func TestLoadRegistryCorrupt(t *testing.T) {
	good := `{"version":1,"name":"root","sha256":"` + strings.Repeat("ab", 32) + `","not_after":"2030-01-01T00:00:00Z","enrolled":"2026-01-01T00:00:00Z"}`
	tests := []struct {
		name, file, body string
		ok               bool
	}{
		{"good", "root.json", good, true},
		{"wrong name", "other.json", good, false},
		{"version 2", "root.json", strings.Replace(good, `"version":1`, `"version":2`, 1), false},
		{"short fingerprint", "root.json", strings.Replace(good, strings.Repeat("ab", 32), "abcd", 1), false},
		{"upper-case fingerprint", "root.json", strings.Replace(good, strings.Repeat("ab", 32), strings.Repeat("AB", 32), 1), false},
		{"unknown field", "root.json", strings.Replace(good, `{`, `{"role":"x",`, 1), false},
		{"trailing data", "root.json", good + "{}", false},
		{"not json", "root.json", "garbage", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, adminsDir), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, adminsDir, tt.file), []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			idx, err := loadRegistry(dir)
			if tt.ok {
				if err != nil || len(idx) != 1 {
					t.Fatalf("loadRegistry = %v, %v; want one admin", idx, err)
				}
				return
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("loadRegistry = %v, want ErrCorrupt", err)
			}
		})
	}
}
