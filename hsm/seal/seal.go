// Package seal protects the master key at rest: a Sealer turns the 32-byte
// master key into an opaque, versioned blob and back. The TPM sealer binds
// the blob to one TPM and to a boot state approved by a signed release
// policy; the file sealer (InsecureFile) is explicitly insecure and exists
// for development only. Open picks one from a spec string.
//
// # TPM design
//
// The TPM sealer uses go-tpm's tpm2 API over /dev/tpmrm0 or, for host mode
// and tests, swtpm over TCP. Its owner hierarchy authorization must be
// empty (the TPM default).
//
// Storage root key. The sealer derives the TCG ECC P-256 SRK under the
// owner hierarchy on every call (TPM2_CreatePrimary is deterministic for a
// given owner seed) and never persists it. The blob records the SRK's
// Name: a blob from another TPM, or from this TPM after TPM2_Clear, is
// refused with ErrWrongTPM before the blob is loaded.
//
// Sealed object. The master key is the sensitive data of a keyed-hash
// object under the SRK, fixedTPM and fixedParent, with no usable auth value
// (userWithAuth clear) and the authPolicy
//
//	PolicyAuthorize(keySign = Name(release key), policyRef = "coffer/seal/master-key/v1")
//
// so it opens only in a policy session whose digest the release key has
// signed. It is created with a session salted to the SRK that encrypts the
// key on its way in, and unsealed with one that encrypts it on its way out.
//
// Signed boot policy. Each image carries a Policy signed (SignPolicy) with
// the release key, ECDSA P-256: a version v, the rollback counter's NV
// index, and the expected SHA-256 values of a set of PCRs. The approved
// policy digest it signs is
//
//	approvedPolicy = PolicyPCR(selection, SHA-256(expected values))
//	               ‖ PolicyNV(counter, counter ≤ v, unsigned)
//
// and the signature is over SHA-256(approvedPolicy ‖ policyRef), which is
// exactly what TPM2_VerifySignature checks to issue the ticket for
// TPM2_PolicyAuthorize. Unseal checks the signature in software first (for
// a clear ErrPolicy), then runs PolicyPCR, PolicyNV, VerifySignature (the
// release key loaded public-only in the owner hierarchy) and
// PolicyAuthorize, and unseals. A new signed image therefore unseals the
// old blob without re-sealing; an unsigned or altered policy, or one signed
// by another key, does not (ErrPolicy); a boot whose PCRs differ from the
// signed values does not (ErrPCRMismatch, naming the PCRs that differ).
// Config.PCRs and Config.BootPCR are a floor: a signed policy that leaves
// any of them out is refused.
//
// PCRs. The default set is DefaultPCRs: firmware (0, 2), kernel (4) and
// initrd (9) where the firmware measures them, Secure Boot state (7) and
// PCR 11, which PID 1 extends with the image manifest/config digest
// (ExtendPCR) before unsealing and caps (CapPCR) right after, so that
// nothing started later can unseal again in the same boot. The release
// tool predicts PCR 11 with PredictPCR(manifestDigest).
//
// Rollback. A TPM NV counter (DefaultNVIndex; read and incremented with an
// empty auth value, exempt from dictionary-attack lockout) holds the
// highest policy version used. The policy itself asserts counter ≤ v inside
// the TPM (PolicyNV), so an older signed policy fails in the TPM, not only
// in this code (ErrRollback). After a successful unseal with version v the
// sealer increments the counter up to v (at most 1024 steps, else
// ErrPolicy). v is a security version, bumped only when older releases must
// stop booting, so it stays small. Seal provisions the counter and refuses
// a policy older than it.
//
// What an attacker with the disk (and the machine) can and cannot do:
//   - Boot an older, genuinely signed image whose policy predates the
//     counter: refused, by the TPM (PolicyNV).
//   - Delete the counter (owner auth is empty) to reset it: Unseal refuses a
//     missing counter (ErrRollback); and a counter the attacker redefines
//     starts at the TPM's highest counter value ever, never lower, so no
//     old version becomes valid again.
//   - Increment the counter past the current version: possible for anyone
//     who can send TPM commands; that denies service (the box refuses to
//     unseal until a newer signed policy arrives) but reveals nothing.
//   - Boot their own kernel or image: the PCRs differ, so no policy the
//     release key signed matches; editing a policy breaks its signature.
//   - Copy the blob to another machine or clear the TPM: ErrWrongTPM.
//   - Read the bus: the key crosses it encrypted under a salted session.
//   - What the design does not cover: a compromised release signing key, a
//     TPM or firmware that lies about measurements, physical attacks on the
//     TPM, and code running before PID 1 caps PCR 11 in an approved image.
//
// On a TPM whose counters were used before, a new counter can start above
// 1; Seal then refuses a policy with a lower version (ErrRollback) and the
// TPM must be cleared, or releases must use larger version numbers.
//
// Lockout. Seal and Unseal first read TPMA_PERMANENT.inLockout and fail
// closed with ErrLockout while the TPM is in dictionary-attack lockout;
// TPM_RC_LOCKOUT from any command is also reported as ErrLockout.
//
// Callers (PID 1, coffer serve) must never generate a new master key
// because Unseal failed: a sealed key that exists but does not open means
// the box stops with the error.
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
	// ErrWrongTPM: the blob was sealed by a different or cleared TPM (for
	// InsecureFile: under a different key file).
	ErrWrongTPM = errors.New("seal: master key was sealed by a different TPM, or the TPM was cleared")
	// ErrLockout: the TPM is in dictionary-attack lockout.
	ErrLockout = errors.New("seal: TPM is in dictionary-attack lockout")
	// ErrPolicy: the signed boot policy is missing, unsigned or tampered with.
	ErrPolicy = errors.New("seal: signed boot policy is missing, unsigned or invalid")
	// ErrRollback: the signed policy is older than one already used, or
	// the TPM's rollback counter is missing or not Coffer's.
	ErrRollback = errors.New("seal: signed boot policy is older than the newest one seen (rollback)")
	// ErrCorrupt: the blob failed its integrity check.
	ErrCorrupt = errors.New("seal: sealed blob failed its integrity check")
)
