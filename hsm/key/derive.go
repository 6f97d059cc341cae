package key

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

// Labels of the keys derived from the master key. Each label names exactly
// one use; never reuse a label for a different purpose.
const (
	// LabelRecordKEK derives the AEAD key that seals object records.
	LabelRecordKEK = "coffer record kek v1"
	// LabelAuditMAC derives the audit log MAC key.
	LabelAuditMAC = "coffer audit mac v1"
	// LabelDiskXTS derives the dm-crypt XTS key (64 bytes).
	LabelDiskXTS = "coffer disk xts v1"
)

// Derive returns size bytes derived from the master key with HKDF-SHA256
// (no salt, info = label). Distinct labels give independent keys.
func (m *Master) Derive(label string, size int) (*Material, error) {
	b, err := m.Bytes()
	if err != nil {
		return nil, err
	}
	if label == "" || size < 16 || size > 255*sha256.Size {
		return nil, fmt.Errorf("key: bad derivation label %q or size %d", label, size)
	}
	out, err := hkdf.Key(sha256.New, b, nil, label, size)
	if err != nil {
		return nil, fmt.Errorf("key: hkdf: %w", err)
	}
	return adoptMaterial(out), nil
}
