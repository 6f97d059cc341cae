// Package seal protects the master key at rest: a Sealer turns the 32-byte
// master key into an opaque blob and back. The TPM sealer binds the blob to
// the boot state (see tpm.go); the file sealer is explicitly insecure and
// exists for development only.
package seal

import (
	"errors"

	"github.com/cofferhsm/coffer/hsm/key"
)

// A Sealer seals and unseals the master key.
//
// Seal returns an opaque, versioned blob that only this Sealer (the same
// TPM, the same policy) can open. Unseal returns the master key, or an error
// that wraps one of the sentinel errors below; it never returns a key that
// differs from the one sealed. Implementations are safe for use by one
// goroutine at a time.
type Sealer interface {
	Seal(m *key.Master) ([]byte, error)
	Unseal(blob []byte) (*key.Master, error)
	// Name describes the sealer for logs, e.g. "tpm:/dev/tpmrm0" or
	// "INSECURE-file".
	Name() string
	Close() error
}

var (
	// ErrFormat: the blob is not a sealed master key of a known version.
	ErrFormat = errors.New("seal: sealed blob is malformed or of an unknown version")
	// ErrPCRMismatch: the boot state differs from the one the key was sealed to.
	ErrPCRMismatch = errors.New("seal: boot state (PCRs) differs from the one the master key was sealed to")
	// ErrWrongTPM: the blob was sealed by a different or cleared TPM.
	ErrWrongTPM = errors.New("seal: master key was sealed by a different TPM, or the TPM was cleared")
	// ErrLockout: the TPM is in dictionary-attack lockout.
	ErrLockout = errors.New("seal: TPM is in dictionary-attack lockout")
	// ErrPolicy: the signed boot policy is missing, unsigned or tampered with.
	ErrPolicy = errors.New("seal: signed boot policy is missing, unsigned or invalid")
	// ErrRollback: the signed policy is older than one already used.
	ErrRollback = errors.New("seal: signed boot policy is older than the newest one seen (rollback)")
	// ErrCorrupt: the blob failed its integrity check.
	ErrCorrupt = errors.New("seal: sealed blob failed its integrity check")
)
