package key

import (
	"crypto/subtle"
	"fmt"
	"io"
)

// MaxMaterialSize bounds the size of any secret material Coffer stores
// (an RSA-4096 PKCS#8 private key is about 2.4 KiB).
const MaxMaterialSize = 64 << 10

// Material is the secret content of a managed object: raw symmetric key
// bytes, a PKCS#8 private key, secret data or an opaque object. Like Master
// it cannot be compared with ==, redacts itself when printed, refuses to be
// marshalled and is zeroized by Destroy. The zero value and nil are
// destroyed material.
type Material struct {
	_ [0]func() // not comparable
	b []byte
}

// NewMaterial copies b into a new Material. The caller should zero b
// afterwards if it is secret. It fails for empty or oversized input.
func NewMaterial(b []byte) (*Material, error) {
	if len(b) == 0 || len(b) > MaxMaterialSize {
		return nil, fmt.Errorf("key: material is %d bytes, want 1..%d", len(b), MaxMaterialSize)
	}
	return &Material{b: append([]byte(nil), b...)}, nil
}

// adoptMaterial takes ownership of b without copying.
func adoptMaterial(b []byte) *Material { return &Material{b: b} }

// Bytes returns the secret bytes. The slice aliases the secret: do not keep,
// log or modify it. It returns ErrDestroyed after Destroy.
func (m *Material) Bytes() ([]byte, error) {
	if m == nil || m.b == nil {
		return nil, ErrDestroyed
	}
	return m.b, nil
}

// Len returns the size of the material in bytes (0 once destroyed).
func (m *Material) Len() int {
	if m == nil {
		return 0
	}
	return len(m.b)
}

// Clone returns an independent copy, or ErrDestroyed.
func (m *Material) Clone() (*Material, error) {
	if m == nil || m.b == nil {
		return nil, ErrDestroyed
	}
	return &Material{b: append([]byte(nil), m.b...)}, nil
}

// Equal reports in constant time (for equal lengths) whether m and o hold
// the same bytes. Destroyed material equals nothing.
func (m *Material) Equal(o *Material) bool {
	if m == nil || o == nil || m.b == nil || o.b == nil {
		return false
	}
	return subtle.ConstantTimeCompare(m.b, o.b) == 1
}

// Destroy zeroizes the material. Later uses fail with ErrDestroyed. It is
// safe to call more than once and on nil.
func (m *Material) Destroy() {
	if m == nil {
		return
	}
	Zero(m.b)
	m.b = nil
}

// String redacts the material.
func (m *Material) String() string { return "key.Material(REDACTED)" }

// GoString redacts the material.
func (m *Material) GoString() string { return m.String() }

// Format redacts the material for every fmt verb.
func (m *Material) Format(f fmt.State, _ rune) { io.WriteString(f, m.String()) }

// MarshalText refuses to marshal the material.
func (m *Material) MarshalText() ([]byte, error) { return nil, ErrMarshal }

// MarshalJSON refuses to marshal the material.
func (m *Material) MarshalJSON() ([]byte, error) { return nil, ErrMarshal }

// MarshalBinary refuses to marshal the material.
func (m *Material) MarshalBinary() ([]byte, error) { return nil, ErrMarshal }

// MarshalCBOR refuses to marshal the material.
func (m *Material) MarshalCBOR() ([]byte, error) { return nil, ErrMarshal }
