package key

import (
	"errors"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/aead/subtle"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// ErrOpen is returned by RecordAEAD.Open when a ciphertext fails
// authentication (wrong key, wrong associated data or modified bytes).
var ErrOpen = errors.New("key: record authentication failed")

// RecordAEAD seals object records with Tink's AES-256-GCM under the record
// KEK, HKDF-derived from the master key (LabelRecordKEK). Safe for
// concurrent use. Tink keeps its own copy of the key schedule, which is
// not zeroized: drop the RecordAEAD together with the master key.
type RecordAEAD struct {
	_ [0]func()
	a tink.AEAD
}

// NewRecordAEAD derives the record KEK from m.
func NewRecordAEAD(m *Master) (*RecordAEAD, error) {
	k, err := m.Derive(LabelRecordKEK, 32)
	if err != nil {
		return nil, err
	}
	defer k.Destroy()
	a, err := subtle.NewAESGCM(k.b)
	if err != nil {
		return nil, fmt.Errorf("key: record AEAD: %w", err)
	}
	return &RecordAEAD{a: a}, nil
}

// Seal encrypts plaintext bound to ad (random 12-byte nonce, prepended).
func (r *RecordAEAD) Seal(plaintext, ad []byte) ([]byte, error) {
	ct, err := r.a.Encrypt(plaintext, ad)
	if err != nil {
		return nil, fmt.Errorf("key: sealing record: %w", err)
	}
	return ct, nil
}

// Open decrypts ciphertext bound to ad; any failure is ErrOpen.
func (r *RecordAEAD) Open(ciphertext, ad []byte) ([]byte, error) {
	pt, err := r.a.Decrypt(ciphertext, ad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// String redacts the key.
func (r *RecordAEAD) String() string { return "key.RecordAEAD(REDACTED)" }

// GoString redacts the key.
func (r *RecordAEAD) GoString() string { return r.String() }

// Format redacts the key for every fmt verb.
func (r *RecordAEAD) Format(f fmt.State, _ rune) { fmt.Fprint(f, r.String()) }
