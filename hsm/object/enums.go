// Package object defines Coffer's managed objects as KMIP 1.1 sees them:
// object types, attributes with the spec's rules (who may set, modify or
// delete each one, single or multiple instances), the lifecycle state
// machine, and the versioned CBOR record in which an object is stored.
//
// Enumerations carry the KMIP 1.1 numeric values so that a KMIP server maps
// them without tables. Errors are sentinels (ErrNotFound, ErrPermission, …)
// checked with errors.Is.
package object

// Type is the KMIP Object Type enumeration.
type Type uint32

// Object types (KMIP 1.1 9.1.3.2.12).
const (
	TypeCertificate  Type = 1
	TypeSymmetricKey Type = 2
	TypePublicKey    Type = 3
	TypePrivateKey   Type = 4
	TypeSplitKey     Type = 5
	TypeTemplate     Type = 6
	TypeSecretData   Type = 7
	TypeOpaqueObject Type = 8
)

// Cryptographic reports whether objects of type t follow the lifecycle
// state machine. Coffer gives every type but Template a lifecycle (KMIP
// only requires it of cryptographic objects; Opaque Objects get one too so
// that Destroy has one meaning). Templates have no State.
func (t Type) Cryptographic() bool {
	switch t {
	case TypeCertificate, TypeSymmetricKey, TypePublicKey, TypePrivateKey, TypeSplitKey, TypeSecretData, TypeOpaqueObject:
		return true
	}
	return false
}

// Supported reports whether Coffer stores objects of type t.
func (t Type) Supported() bool {
	return t.Cryptographic() && t != TypeSplitKey || t == TypeTemplate
}

// State is the KMIP State enumeration.
type State uint32

// Lifecycle states (KMIP 1.1 3.22).
const (
	StatePreActive            State = 1
	StateActive               State = 2
	StateDeactivated          State = 3
	StateCompromised          State = 4
	StateDestroyed            State = 5
	StateDestroyedCompromised State = 6
)

// Destroyed reports whether s is Destroyed or Destroyed Compromised.
func (s State) Destroyed() bool { return s == StateDestroyed || s == StateDestroyedCompromised }

// Algorithm is the KMIP Cryptographic Algorithm enumeration.
type Algorithm uint32

// Cryptographic algorithms (KMIP 1.1 9.1.3.2.13), those Coffer knows.
const (
	AlgDES        Algorithm = 1
	Alg3DES       Algorithm = 2
	AlgAES        Algorithm = 3
	AlgRSA        Algorithm = 4
	AlgDSA        Algorithm = 5
	AlgECDSA      Algorithm = 6
	AlgHMACSHA1   Algorithm = 7
	AlgHMACSHA224 Algorithm = 8
	AlgHMACSHA256 Algorithm = 9
	AlgHMACSHA384 Algorithm = 10
	AlgHMACSHA512 Algorithm = 11
	AlgHMACMD5    Algorithm = 12
)

// NameType is the KMIP Name Type enumeration.
type NameType uint32

// Name types.
const (
	NameText NameType = 1 // Uninterpreted Text String
	NameURI  NameType = 2
)

// LinkType is the KMIP Link Type enumeration.
type LinkType uint32

// Link types (KMIP 1.1 9.1.3.2.19).
const (
	LinkCertificate    LinkType = 0x101
	LinkPublicKey      LinkType = 0x102
	LinkPrivateKey     LinkType = 0x103
	LinkDerivationBase LinkType = 0x104
	LinkDerivedKey     LinkType = 0x105
	LinkReplacement    LinkType = 0x106 // points to the object that replaced this one
	LinkReplaced       LinkType = 0x107 // points to the object this one replaced
)

// RevocationReasonCode is the KMIP Revocation Reason Code enumeration.
type RevocationReasonCode uint32

// Revocation reason codes.
const (
	RevokeUnspecified          RevocationReasonCode = 1
	RevokeKeyCompromise        RevocationReasonCode = 2
	RevokeCACompromise         RevocationReasonCode = 3
	RevokeAffiliationChanged   RevocationReasonCode = 4
	RevokeSuperseded           RevocationReasonCode = 5
	RevokeCessationOfOperation RevocationReasonCode = 6
	RevokePrivilegeWithdrawn   RevocationReasonCode = 7
)

// Compromise reports whether the reason puts an object in a compromised state.
func (c RevocationReasonCode) Compromise() bool {
	return c == RevokeKeyCompromise || c == RevokeCACompromise
}

// HashAlgorithm is the KMIP Hashing Algorithm enumeration.
type HashAlgorithm uint32

// Hashing algorithms used by Coffer.
const (
	HashSHA1   HashAlgorithm = 4
	HashSHA256 HashAlgorithm = 6
	HashSHA384 HashAlgorithm = 7
	HashSHA512 HashAlgorithm = 8
)

// KeyFormat is the KMIP Key Format Type enumeration: the encoding of an
// object's stored content.
type KeyFormat uint32

// Key formats Coffer stores.
const (
	FormatRaw    KeyFormat = 1 // symmetric keys, secret data
	FormatOpaque KeyFormat = 2 // opaque objects
	FormatPKCS1  KeyFormat = 3
	FormatPKCS8  KeyFormat = 4 // private keys
	FormatX509   KeyFormat = 5 // public keys (SubjectPublicKeyInfo) and certificates
)

// Export formats: formats a key may be registered and exported in but is
// not stored in (see Object.ExportFormat).
const (
	FormatECPrivateKey          KeyFormat = 6  // SEC 1 EC private key
	FormatTransparentSymmetric  KeyFormat = 7  // Transparent Symmetric Key
	FormatTransparentRSAPrivate KeyFormat = 10 // Transparent RSA Private Key
)

// CertificateType is the KMIP Certificate Type enumeration.
type CertificateType uint32

// Certificate types.
const (
	CertificateX509 CertificateType = 1
	CertificatePGP  CertificateType = 2
)

// GroupMember is the KMIP Object Group Member enumeration used by Locate.
type GroupMember uint32

// Object group member options.
const (
	GroupMemberFresh   GroupMember = 1
	GroupMemberDefault GroupMember = 2
)

// Cryptographic Usage Mask bits (KMIP 1.1 9.1.3.3.1). The attribute value
// is an int32.
const (
	UsageSign       int32 = 0x1
	UsageVerify     int32 = 0x2
	UsageEncrypt    int32 = 0x4
	UsageDecrypt    int32 = 0x8
	UsageWrapKey    int32 = 0x10
	UsageUnwrapKey  int32 = 0x20
	UsageExport     int32 = 0x40
	UsageMACGen     int32 = 0x80
	UsageMACVerify  int32 = 0x100
	UsageDeriveKey  int32 = 0x200
	UsageKeyAgree   int32 = 0x800
	UsageCertSign   int32 = 0x1000
	UsageCRLSign    int32 = 0x2000
	UsageMaskValid  int32 = 0xFFFFF // bits defined by KMIP 1.1
	UsageMaskCrypto       = UsageEncrypt | UsageDecrypt
)
