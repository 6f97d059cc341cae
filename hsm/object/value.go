package object

import (
	"fmt"
	"math/big"
	"time"
	"unicode/utf8"
)

// Attribute is one attribute instance. Name is the KMIP attribute name
// ("Cryptographic Algorithm", "x-Vendor"); Index is the KMIP Attribute
// Index (0 for the first instance). Value holds one of the Go types listed
// for Kind.
type Attribute struct {
	Name  string
	Index int
	Value any
}

// Kind classifies an attribute value by its KMIP encoding.
type Kind uint8

// Value kinds and their Go types. Enumerations are uint32 or one of the
// named enum types of this package (State, Type, Algorithm, …).
const (
	KindInvalid          Kind = iota
	KindText                  // string (Text String)
	KindInteger               // int32 (Integer; also Cryptographic Usage Mask)
	KindLongInteger           // int64
	KindBigInteger            // *big.Int
	KindEnumeration           // uint32 or a named enum type of this package
	KindBoolean               // bool
	KindBytes                 // []byte (Byte String)
	KindDateTime              // time.Time (second precision, UTC)
	KindInterval              // time.Duration (whole seconds, 0..2^32-1)
	KindName                  // Name
	KindLink                  // Link
	KindDigest                // Digest
	KindRevocationReason      // RevocationReason
	KindCryptoParams          // CryptoParams
	KindAppInfo               // AppInfo
	KindUsageLimits           // UsageLimits
	KindCertificateName       // CertificateName
)

// Name is the value of the Name attribute.
type Name struct {
	Value string
	Type  NameType
}

// Link is the value of the Link attribute.
type Link struct {
	Type LinkType
	ID   string // Linked Object Identifier
}

// Digest is the value of the Digest attribute.
type Digest struct {
	Algorithm HashAlgorithm
	Value     []byte
	Format    KeyFormat // key format the digest was computed over; 0 if none
}

// RevocationReason is the value of the Revocation Reason attribute.
type RevocationReason struct {
	Code    RevocationReasonCode
	Message string
}

// CryptoParams is the value of Cryptographic Parameters (KMIP 1.1 fields;
// 0 means absent).
type CryptoParams struct {
	BlockCipherMode  uint32
	PaddingMethod    uint32
	HashingAlgorithm HashAlgorithm
	KeyRoleType      uint32
}

// AppInfo is the value of Application Specific Information.
type AppInfo struct {
	Namespace string
	Data      string
}

// UsageLimits is the value of the Usage Limits attribute: Total is the
// client-set allowance in Unit, Count what remains of it (maintained by
// the server: Get Usage Allocation decrements it).
type UsageLimits struct {
	Total int64
	Count int64
	Unit  uint32 // KMIP Usage Limits Unit: 1 Byte, 2 Object
}

// CertificateName is the value of the certificate naming attributes,
// derived by the server from a registered certificate. Name is the
// distinguished name: DER for X.509 Certificate Identifier, Subject and
// Issuer; the RFC 4514 string for Certificate Identifier, Subject and
// Issuer (KMIP 1.1 forms). Serial is the serial number of the Identifier
// forms (DER integer content for the X.509 form, hex text for the 1.1
// form), empty otherwise. Alt holds the alternative names of the Subject
// and Issuer forms (DER GeneralName for X.509, text for 1.1).
type CertificateName struct {
	Name   []byte
	Serial []byte
	Alt    [][]byte
}

// MaxCertAltNames bounds CertificateName.Alt.
const MaxCertAltNames = 16

// Usage Limits Unit values.
const (
	UsageUnitByte   uint32 = 1
	UsageUnitObject uint32 = 2
)

// Limits on attribute values. They bound the record size.
const (
	MaxNameLen   = 128  // attribute name, bytes
	MaxTextLen   = 4096 // text values, bytes
	MaxBytesLen  = 4096 // byte-string values
	MaxAttrs     = 200  // attribute instances per object (bounds index terms too)
	maxBigIntLen = 512  // big integer magnitude, bytes
)

// KindOf returns the kind of v, or KindInvalid when v is not one of the
// documented value types.
func KindOf(v any) Kind {
	switch v.(type) {
	case string:
		return KindText
	case int32:
		return KindInteger
	case int64:
		return KindLongInteger
	case *big.Int:
		return KindBigInteger
	case uint32, Type, State, Algorithm, NameType, LinkType, RevocationReasonCode,
		HashAlgorithm, KeyFormat, CertificateType, GroupMember:
		return KindEnumeration
	case bool:
		return KindBoolean
	case []byte:
		return KindBytes
	case time.Time:
		return KindDateTime
	case time.Duration:
		return KindInterval
	case Name:
		return KindName
	case Link:
		return KindLink
	case Digest:
		return KindDigest
	case RevocationReason:
		return KindRevocationReason
	case CryptoParams:
		return KindCryptoParams
	case AppInfo:
		return KindAppInfo
	case UsageLimits:
		return KindUsageLimits
	case CertificateName:
		return KindCertificateName
	}
	return KindInvalid
}

// EnumValue returns the numeric value of an enumeration value.
func EnumValue(v any) (uint32, bool) {
	switch v := v.(type) {
	case uint32:
		return v, true
	case Type:
		return uint32(v), true
	case State:
		return uint32(v), true
	case Algorithm:
		return uint32(v), true
	case NameType:
		return uint32(v), true
	case LinkType:
		return uint32(v), true
	case RevocationReasonCode:
		return uint32(v), true
	case HashAlgorithm:
		return uint32(v), true
	case KeyFormat:
		return uint32(v), true
	case CertificateType:
		return uint32(v), true
	case GroupMember:
		return uint32(v), true
	}
	return 0, false
}

func checkText(s string) error {
	if len(s) > MaxTextLen || !utf8.ValidString(s) {
		return fmt.Errorf("%w: text value too long or not UTF-8", ErrInvalid)
	}
	return nil
}

// checkValue validates v's kind-level constraints (sizes, UTF-8, ranges).
func checkValue(v any) error {
	switch v := v.(type) {
	case string:
		return checkText(v)
	case *big.Int:
		if v == nil || len(v.Bytes()) > maxBigIntLen {
			return fmt.Errorf("%w: big integer missing or too long", ErrInvalid)
		}
	case []byte:
		if len(v) > MaxBytesLen {
			return fmt.Errorf("%w: byte string too long", ErrInvalid)
		}
	case time.Time:
		if v.IsZero() || v.Unix() < 0 {
			return fmt.Errorf("%w: date before 1970", ErrInvalid)
		}
	case time.Duration:
		if v < 0 || v%time.Second != 0 || v > (1<<32-1)*time.Second {
			return fmt.Errorf("%w: interval out of range", ErrInvalid)
		}
	case Name:
		if v.Value == "" {
			return fmt.Errorf("%w: empty name", ErrInvalid)
		}
		if v.Type != NameText && v.Type != NameURI {
			return fmt.Errorf("%w: name type %d", ErrInvalid, v.Type)
		}
		return checkText(v.Value)
	case Link:
		if v.ID == "" || v.Type < LinkCertificate || v.Type > LinkReplaced {
			return fmt.Errorf("%w: bad link", ErrInvalid)
		}
		return checkText(v.ID)
	case Digest:
		if len(v.Value) == 0 || len(v.Value) > 64 {
			return fmt.Errorf("%w: bad digest", ErrInvalid)
		}
	case RevocationReason:
		if v.Code < RevokeUnspecified || v.Code > RevokePrivilegeWithdrawn {
			return fmt.Errorf("%w: revocation reason %d", ErrInvalid, v.Code)
		}
		return checkText(v.Message)
	case CertificateName:
		n := len(v.Name) + len(v.Serial)
		for _, a := range v.Alt {
			n += len(a)
		}
		if len(v.Name) == 0 || n > MaxBytesLen || len(v.Alt) > MaxCertAltNames {
			return fmt.Errorf("%w: bad certificate name", ErrInvalid)
		}
	case UsageLimits:
		if v.Total <= 0 || v.Count < 0 || v.Count > v.Total || (v.Unit != UsageUnitByte && v.Unit != UsageUnitObject) {
			return fmt.Errorf("%w: bad usage limits", ErrInvalid)
		}
	case AppInfo:
		if err := checkText(v.Namespace); err != nil {
			return err
		}
		return checkText(v.Data)
	default:
		if KindOf(v) == KindInvalid {
			return fmt.Errorf("%w: unsupported value type %T", ErrInvalid, v)
		}
	}
	return nil
}

// normalize returns v in canonical form (UTC second-precision times,
// copied slices) so that stored values compare and encode predictably.
func normalize(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Truncate(time.Second)
	case []byte:
		return append([]byte(nil), x...)
	case *big.Int:
		return new(big.Int).Set(x)
	case Digest:
		x.Value = append([]byte(nil), x.Value...)
		return x
	case CertificateName:
		c := CertificateName{Name: append([]byte(nil), x.Name...), Serial: append([]byte(nil), x.Serial...)}
		for _, a := range x.Alt {
			c.Alt = append(c.Alt, append([]byte{}, a...))
		}
		return c
	}
	return v
}

// Equal reports whether two attribute values are equal (same kind, same
// value). Used by Locate.
func Equal(a, b any) bool {
	switch x := a.(type) {
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Unix() == y.Unix()
	case []byte:
		y, ok := b.([]byte)
		return ok && string(x) == string(y)
	case *big.Int:
		y, ok := b.(*big.Int)
		return ok && x != nil && y != nil && x.Cmp(y) == 0
	case Digest:
		y, ok := b.(Digest)
		return ok && x.Algorithm == y.Algorithm && x.Format == y.Format && string(x.Value) == string(y.Value)
	case CertificateName:
		y, ok := b.(CertificateName)
		if !ok || string(x.Name) != string(y.Name) || string(x.Serial) != string(y.Serial) || len(x.Alt) != len(y.Alt) {
			return false
		}
		for i := range x.Alt {
			if string(x.Alt[i]) != string(y.Alt[i]) {
				return false
			}
		}
		return true
	}
	if KindOf(a) == KindInvalid {
		return false
	}
	if KindOf(a) == KindEnumeration {
		x, _ := EnumValue(a)
		y, ok := EnumValue(b)
		return ok && KindOf(b) == KindEnumeration && x == y
	}
	return a == b
}
