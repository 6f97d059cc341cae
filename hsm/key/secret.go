// Package key holds Coffer's secret key types: the only place where raw
// key bytes live. Secret types redact themselves when printed, refuse to be
// marshalled, cannot be compared with ==, and are zeroized by Destroy.
package key

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
)

// MasterSize is the size of the master key in bytes.
const MasterSize = 32

// ErrMarshal is returned by every Marshal method of a secret type.
var ErrMarshal = errors.New("key: secret values cannot be marshalled")

// ErrDestroyed is returned when a destroyed secret is used.
var ErrDestroyed = errors.New("key: secret was destroyed")

// Master is the 32-byte master key from which every other key of the
// appliance is derived (HKDF). The zero value is not usable; make one with
// GenerateMaster or NewMaster.
type Master struct {
	_ [0]func() // not comparable
	b []byte
}

// GenerateMaster reads a fresh master key from rand with io.ReadFull.
func GenerateMaster(rand io.Reader) (*Master, error) {
	b := make([]byte, MasterSize)
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, fmt.Errorf("key: generating master key: %w", err)
	}
	return &Master{b: b}, nil
}

// NewMaster copies b (which must be MasterSize bytes) into a new Master.
// The caller should zero b afterwards.
func NewMaster(b []byte) (*Master, error) {
	if len(b) != MasterSize {
		return nil, fmt.Errorf("key: master key is %d bytes, want %d", len(b), MasterSize)
	}
	return &Master{b: append([]byte(nil), b...)}, nil
}

// Bytes returns the key bytes. The slice aliases the secret: do not keep,
// log or modify it. It returns ErrDestroyed after Destroy.
func (m *Master) Bytes() ([]byte, error) {
	if m == nil || m.b == nil {
		return nil, ErrDestroyed
	}
	return m.b, nil
}

// Equal reports in constant time whether m and o hold the same key.
func (m *Master) Equal(o *Master) bool {
	if m == nil || o == nil || m.b == nil || o.b == nil {
		return false
	}
	return subtle.ConstantTimeCompare(m.b, o.b) == 1
}

// Destroy zeroizes the key. Later uses fail with ErrDestroyed.
func (m *Master) Destroy() {
	if m == nil {
		return
	}
	Zero(m.b)
	m.b = nil
}

// String redacts the key.
func (m *Master) String() string { return "key.Master(REDACTED)" }

// GoString redacts the key.
func (m *Master) GoString() string { return m.String() }

// Format redacts the key for every fmt verb.
func (m *Master) Format(f fmt.State, _ rune) { io.WriteString(f, m.String()) }

// MarshalText refuses to marshal the key.
func (m *Master) MarshalText() ([]byte, error) { return nil, ErrMarshal }

// MarshalJSON refuses to marshal the key.
func (m *Master) MarshalJSON() ([]byte, error) { return nil, ErrMarshal }

// MarshalBinary refuses to marshal the key.
func (m *Master) MarshalBinary() ([]byte, error) { return nil, ErrMarshal }

// MarshalCBOR refuses to marshal the key.
func (m *Master) MarshalCBOR() ([]byte, error) { return nil, ErrMarshal }

// Zero overwrites b with zeros.
func Zero(b []byte) {
	clear(b)
}
