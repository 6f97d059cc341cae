package kmip

import (
	"strings"
	"time"

	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// Attribute is one attribute instance [S 2.1.1]. Index is nil when the
// Attribute Index field is absent. Value's concrete type depends on Name
// (see AttributeValue); it is nil only in attributes built without a value.
type Attribute struct {
	Name  string
	Index *int32
	Value AttributeValue
}

// AttributeValue is the typed value of an attribute. Decoding gives, by
// attribute name (structure values are pointers: *Name, *Link, ...):
//
//	Unique Identifier, Operation Policy Name, Object Group,
//	Contact Information                      TextString
//	Cryptographic Length, Certificate Length Integer
//	Cryptographic Usage Mask                 CryptographicUsageMask
//	Lease Time                               Interval
//	Fresh                                    Boolean
//	Initial/Activation/Process Start/Protect Stop/Deactivation/Destroy/
//	Compromise Occurrence/Compromise/Archive/Last Change Date   DateTime
//	Object Type, Cryptographic Algorithm, Certificate Type,
//	Digital Signature Algorithm, State       the enumeration type of that name
//	Name                                     *Name
//	Cryptographic Parameters                 *CryptographicParameters
//	Cryptographic Domain Parameters          *CryptographicDomainParameters
//	Certificate Identifier/Subject/Issuer    *CertificateIdentifier, *CertificateSubject, *CertificateIssuer
//	X.509 Certificate Identifier/Subject/Issuer  *X509CertificateIdentifier, *X509CertificateSubject, *X509CertificateIssuer
//	Digest                                   *Digest
//	Usage Limits                             *UsageLimits
//	Revocation Reason                        *RevocationReason
//	Link                                     *Link
//	Application Specific Information         *ApplicationSpecificInformation
//	x-*, y-* (custom attributes)             RawValue (any item type)
//
// Any other name is refused with Invalid Field, and a value of the wrong
// item type likewise.
type AttributeValue interface {
	// valueItem returns the value as an item with the given tag.
	valueItem(tag ttlv.Tag) ttlv.Item
}

// Scalar attribute values.
type (
	TextString string
	Integer    int32
	Boolean    bool
	Interval   uint32
	// DateTime is a Date-Time attribute value (UTC, whole seconds).
	DateTime time.Time
)

// RawValue is the value of a custom (x-/y-) attribute, kept as decoded.
// Its tag is replaced by Attribute Value when encoded.
type RawValue struct{ Item ttlv.Item }

func (v TextString) valueItem(t ttlv.Tag) ttlv.Item { return ttlv.Text(t, string(v)) }
func (v Integer) valueItem(t ttlv.Tag) ttlv.Item    { return ttlv.Int(t, int32(v)) }
func (v Boolean) valueItem(t ttlv.Tag) ttlv.Item    { return ttlv.Bool(t, bool(v)) }
func (v Interval) valueItem(t ttlv.Tag) ttlv.Item   { return ttlv.Interval(t, uint32(v)) }
func (v DateTime) valueItem(t ttlv.Tag) ttlv.Item   { return ttlv.DateTime(t, time.Time(v)) }
func (v RawValue) valueItem(t ttlv.Tag) ttlv.Item {
	it := v.Item
	it.Tag = t
	return it
}

// Time returns v as a time.Time.
func (v DateTime) Time() time.Time { return time.Time(v) }

// Equal reports whether v and o are the same instant.
func (v DateTime) Equal(o DateTime) bool { return time.Time(v).Equal(time.Time(o)) }

func (v ObjectType) valueItem(t ttlv.Tag) ttlv.Item             { return ttlv.Enum(t, uint32(v)) }
func (v CryptographicAlgorithm) valueItem(t ttlv.Tag) ttlv.Item { return ttlv.Enum(t, uint32(v)) }
func (v CertificateType) valueItem(t ttlv.Tag) ttlv.Item        { return ttlv.Enum(t, uint32(v)) }
func (v DigitalSignatureAlgorithm) valueItem(t ttlv.Tag) ttlv.Item {
	return ttlv.Enum(t, uint32(v))
}
func (v State) valueItem(t ttlv.Tag) ttlv.Item { return ttlv.Enum(t, uint32(v)) }
func (v CryptographicUsageMask) valueItem(t ttlv.Tag) ttlv.Item {
	return ttlv.Int(t, int32(uint32(v)))
}

// structValue is implemented by the structure-valued attributes.
type structValue interface {
	decode(r *reader)
	encode(b *builder)
}

func structItem(t ttlv.Tag, v structValue) ttlv.Item {
	var b builder
	v.encode(&b)
	return b.structure(t)
}

// Attribute names defined by KMIP 1.1 [S 3].
const (
	AttributeUniqueIdentifier               = "Unique Identifier"
	AttributeName                           = "Name"
	AttributeObjectType                     = "Object Type"
	AttributeCryptographicAlgorithm         = "Cryptographic Algorithm"
	AttributeCryptographicLength            = "Cryptographic Length"
	AttributeCryptographicParameters        = "Cryptographic Parameters"
	AttributeCryptographicDomainParameters  = "Cryptographic Domain Parameters"
	AttributeCertificateType                = "Certificate Type"
	AttributeCertificateLength              = "Certificate Length"
	AttributeX509CertificateIdentifier      = "X.509 Certificate Identifier"
	AttributeX509CertificateSubject         = "X.509 Certificate Subject"
	AttributeX509CertificateIssuer          = "X.509 Certificate Issuer"
	AttributeCertificateIdentifier          = "Certificate Identifier"
	AttributeCertificateSubject             = "Certificate Subject"
	AttributeCertificateIssuer              = "Certificate Issuer"
	AttributeDigitalSignatureAlgorithm      = "Digital Signature Algorithm"
	AttributeDigest                         = "Digest"
	AttributeOperationPolicyName            = "Operation Policy Name"
	AttributeCryptographicUsageMask         = "Cryptographic Usage Mask"
	AttributeLeaseTime                      = "Lease Time"
	AttributeUsageLimits                    = "Usage Limits"
	AttributeState                          = "State"
	AttributeInitialDate                    = "Initial Date"
	AttributeActivationDate                 = "Activation Date"
	AttributeProcessStartDate               = "Process Start Date"
	AttributeProtectStopDate                = "Protect Stop Date"
	AttributeDeactivationDate               = "Deactivation Date"
	AttributeDestroyDate                    = "Destroy Date"
	AttributeCompromiseOccurrenceDate       = "Compromise Occurrence Date"
	AttributeCompromiseDate                 = "Compromise Date"
	AttributeRevocationReason               = "Revocation Reason"
	AttributeArchiveDate                    = "Archive Date"
	AttributeObjectGroup                    = "Object Group"
	AttributeFresh                          = "Fresh"
	AttributeLink                           = "Link"
	AttributeApplicationSpecificInformation = "Application Specific Information"
	AttributeContactInformation             = "Contact Information"
	AttributeLastChangeDate                 = "Last Change Date"
)

// IsCustomAttribute reports whether name is a custom attribute name: "x-"
// (client-defined) or "y-" (server-defined) [S 3.39].
func IsCustomAttribute(name string) bool {
	return strings.HasPrefix(name, "x-") || strings.HasPrefix(name, "y-")
}

// newStructValue returns a zero value for a structure-valued attribute name.
func newStructValue(name string) structValue {
	switch name {
	case AttributeName:
		return new(Name)
	case AttributeCryptographicParameters:
		return new(CryptographicParameters)
	case AttributeCryptographicDomainParameters:
		return new(CryptographicDomainParameters)
	case AttributeCertificateIdentifier:
		return new(CertificateIdentifier)
	case AttributeCertificateSubject:
		return new(CertificateSubject)
	case AttributeCertificateIssuer:
		return new(CertificateIssuer)
	case AttributeX509CertificateIdentifier:
		return new(X509CertificateIdentifier)
	case AttributeX509CertificateSubject:
		return new(X509CertificateSubject)
	case AttributeX509CertificateIssuer:
		return new(X509CertificateIssuer)
	case AttributeDigest:
		return new(Digest)
	case AttributeUsageLimits:
		return new(UsageLimits)
	case AttributeRevocationReason:
		return new(RevocationReason)
	case AttributeLink:
		return new(Link)
	case AttributeApplicationSpecificInformation:
		return new(ApplicationSpecificInformation)
	}
	return nil
}

// attributeType returns the item type an attribute's value must have, or 0
// for an unknown name.
func attributeType(name string) ttlv.Type {
	switch name {
	case AttributeUniqueIdentifier, AttributeOperationPolicyName, AttributeObjectGroup, AttributeContactInformation:
		return ttlv.TypeTextString
	case AttributeCryptographicLength, AttributeCertificateLength, AttributeCryptographicUsageMask:
		return ttlv.TypeInteger
	case AttributeLeaseTime:
		return ttlv.TypeInterval
	case AttributeFresh:
		return ttlv.TypeBoolean
	case AttributeInitialDate, AttributeActivationDate, AttributeProcessStartDate, AttributeProtectStopDate,
		AttributeDeactivationDate, AttributeDestroyDate, AttributeCompromiseOccurrenceDate, AttributeCompromiseDate,
		AttributeArchiveDate, AttributeLastChangeDate:
		return ttlv.TypeDateTime
	case AttributeObjectType, AttributeCryptographicAlgorithm, AttributeCertificateType,
		AttributeDigitalSignatureAlgorithm, AttributeState:
		return ttlv.TypeEnumeration
	}
	if newStructValue(name) != nil {
		return ttlv.TypeStructure
	}
	return 0
}

// decodeAttributeValue converts the Attribute Value item it of attribute
// name; r is the reader of the enclosing Attribute (for errors).
func decodeAttributeValue(r *reader, name string, it ttlv.Item) AttributeValue {
	if IsCustomAttribute(name) {
		return RawValue{Item: it}
	}
	want := attributeType(name)
	if want == 0 {
		r.failf(ResultReasonInvalidField, ErrUnknownAttribute, TagAttributeName, "%q", name)
		return nil
	}
	if it.Type != want {
		r.failf(ResultReasonInvalidField, ErrWrongType, TagAttributeValue, "%s is %s, want %s", name, it.Type, want)
		return nil
	}
	switch want {
	case ttlv.TypeTextString:
		s, _ := it.Value.(string)
		return TextString(s)
	case ttlv.TypeInteger:
		v, _ := it.Value.(int32)
		if name == AttributeCryptographicUsageMask {
			return CryptographicUsageMask(uint32(v))
		}
		return Integer(v)
	case ttlv.TypeInterval:
		v, _ := it.Value.(uint32)
		return Interval(v)
	case ttlv.TypeBoolean:
		v, _ := it.Value.(bool)
		return Boolean(v)
	case ttlv.TypeDateTime:
		v, _ := it.Value.(time.Time)
		return DateTime(v)
	case ttlv.TypeEnumeration:
		v, _ := it.Value.(uint32)
		switch name {
		case AttributeObjectType:
			return ObjectType(v)
		case AttributeCryptographicAlgorithm:
			return CryptographicAlgorithm(v)
		case AttributeCertificateType:
			return CertificateType(v)
		case AttributeDigitalSignatureAlgorithm:
			return DigitalSignatureAlgorithm(v)
		default:
			return State(v)
		}
	}
	sv := newStructValue(name)
	c := r.child(it)
	sv.decode(c)
	c.done()
	return sv.(AttributeValue)
}

func (a *Attribute) decode(r *reader) {
	a.Name = r.reqText(TagAttributeName)
	a.Index = r.optInt(TagAttributeIndex)
	if a.Index != nil && *a.Index < 0 {
		r.failf(ResultReasonInvalidField, ErrInvalidValue, TagAttributeIndex, "negative")
	}
	r.mark(TagAttributeValue)
	if !r.peek(TagAttributeValue) {
		r.failf(ResultReasonInvalidMessage, ErrMissingField, TagAttributeValue, "")
		return
	}
	it := r.items[r.i]
	r.i++
	a.Value = decodeAttributeValue(r, a.Name, it)
	r.done()
}

func (a *Attribute) encode(b *builder) {
	b.text(TagAttributeName, a.Name)
	b.optInt(TagAttributeIndex, a.Index)
	if a.Value != nil {
		b.add(a.Value.valueItem(TagAttributeValue))
	}
}

func decodeAttributes(r *reader, tag ttlv.Tag) []Attribute {
	var out []Attribute
	for _, c := range r.structs(tag) {
		var a Attribute
		a.decode(c)
		out = append(out, a)
	}
	return out
}

func encodeAttributes(b *builder, tag ttlv.Tag, as []Attribute) {
	for i := range as {
		b.sub(tag, as[i].encode)
	}
}

// Name is the Name attribute value [S 3.2]; also a Template-Attribute's Name.
type Name struct {
	Value string
	Type  NameType
}

func (v *Name) decode(r *reader) {
	v.Value = r.reqText(TagNameValue)
	v.Type = reqEnum[NameType](r, TagNameType)
}
func (v *Name) encode(b *builder) {
	b.text(TagNameValue, v.Value)
	b.enum(TagNameType, uint32(v.Type))
}
func (v *Name) valueItem(t ttlv.Tag) ttlv.Item { return structItem(t, v) }

// CryptographicParameters [S 3.6]; all fields optional.
type CryptographicParameters struct {
	BlockCipherMode  *BlockCipherMode
	PaddingMethod    *PaddingMethod
	HashingAlgorithm *HashingAlgorithm
	KeyRoleType      *KeyRoleType
}

func (v *CryptographicParameters) decode(r *reader) {
	v.BlockCipherMode = optEnum[BlockCipherMode](r, TagBlockCipherMode)
	v.PaddingMethod = optEnum[PaddingMethod](r, TagPaddingMethod)
	v.HashingAlgorithm = optEnum[HashingAlgorithm](r, TagHashingAlgorithm)
	v.KeyRoleType = optEnum[KeyRoleType](r, TagKeyRoleType)
}
func (v *CryptographicParameters) encode(b *builder) {
	optEnumB(b, TagBlockCipherMode, v.BlockCipherMode)
	optEnumB(b, TagPaddingMethod, v.PaddingMethod)
	optEnumB(b, TagHashingAlgorithm, v.HashingAlgorithm)
	optEnumB(b, TagKeyRoleType, v.KeyRoleType)
}
func (v *CryptographicParameters) valueItem(t ttlv.Tag) ttlv.Item { return structItem(t, v) }

// CryptographicDomainParameters [S 3.7].
type CryptographicDomainParameters struct {
	Qlength          *int32
	RecommendedCurve *RecommendedCurve
}

func (v *CryptographicDomainParameters) decode(r *reader) {
	v.Qlength = r.optInt(TagQlength)
	v.RecommendedCurve = optEnum[RecommendedCurve](r, TagRecommendedCurve)
}
func (v *CryptographicDomainParameters) encode(b *builder) {
	b.optInt(TagQlength, v.Qlength)
	optEnumB(b, TagRecommendedCurve, v.RecommendedCurve)
}
func (v *CryptographicDomainParameters) valueItem(t ttlv.Tag) ttlv.Item { return structItem(t, v) }

// CertificateIdentifier [S 3.13, deprecated in 1.1].
type CertificateIdentifier struct {
	Issuer       string
	SerialNumber *string
}

func (v *CertificateIdentifier) decode(r *reader) {
	v.Issuer = r.reqText(TagIssuer)
	v.SerialNumber = r.optText(TagSerialNumber)
}
func (v *CertificateIdentifier) encode(b *builder) {
	b.text(TagIssuer, v.Issuer)
	b.optText(TagSerialNumber, v.SerialNumber)
}
func (v *CertificateIdentifier) valueItem(t ttlv.Tag) ttlv.Item { return structItem(t, v) }

// CertificateSubject [S 3.14, deprecated in 1.1].
type CertificateSubject struct {
	DistinguishedName string
	AlternativeNames  []string
}

func (v *CertificateSubject) decode(r *reader) {
	v.DistinguishedName = r.reqText(TagCertificateSubjectDistinguishedName)
	v.AlternativeNames = r.texts(TagCertificateSubjectAlternativeName)
}
func (v *CertificateSubject) encode(b *builder) {
	b.text(TagCertificateSubjectDistinguishedName, v.DistinguishedName)
	b.texts(TagCertificateSubjectAlternativeName, v.AlternativeNames)
}
func (v *CertificateSubject) valueItem(t ttlv.Tag) ttlv.Item { return structItem(t, v) }

// CertificateIssuer [S 3.15, deprecated in 1.1].
type CertificateIssuer struct {
	DistinguishedName string
	AlternativeNames  []string
}

func (v *CertificateIssuer) decode(r *reader) {
	v.DistinguishedName = r.reqText(TagCertificateIssuerDistinguishedName)
	v.AlternativeNames = r.texts(TagCertificateIssuerAlternativeName)
}
func (v *CertificateIssuer) encode(b *builder) {
	b.text(TagCertificateIssuerDistinguishedName, v.DistinguishedName)
	b.texts(TagCertificateIssuerAlternativeName, v.AlternativeNames)
}
func (v *CertificateIssuer) valueItem(t ttlv.Tag) ttlv.Item { return structItem(t, v) }

// X509CertificateIdentifier [S 3.10].
type X509CertificateIdentifier struct {
	IssuerDistinguishedName []byte
	CertificateSerialNumber []byte
}

func (v *X509CertificateIdentifier) decode(r *reader) {
	v.IssuerDistinguishedName = r.reqBytes(TagIssuerDistinguishedName)
	v.CertificateSerialNumber = r.reqBytes(TagCertificateSerialNumber)
}
func (v *X509CertificateIdentifier) encode(b *builder) {
	b.bytes(TagIssuerDistinguishedName, v.IssuerDistinguishedName)
	b.bytes(TagCertificateSerialNumber, v.CertificateSerialNumber)
}
func (v *X509CertificateIdentifier) valueItem(t ttlv.Tag) ttlv.Item { return structItem(t, v) }

// X509CertificateSubject [S 3.11].
type X509CertificateSubject struct {
	SubjectDistinguishedName []byte
	SubjectAlternativeNames  [][]byte
}

func (v *X509CertificateSubject) decode(r *reader) {
	v.SubjectDistinguishedName = r.reqBytes(TagSubjectDistinguishedName)
	for _, it := range r.all(TagSubjectAlternativeName, ttlv.TypeByteString) {
		b, _ := it.Value.([]byte)
		v.SubjectAlternativeNames = append(v.SubjectAlternativeNames, b)
	}
}
func (v *X509CertificateSubject) encode(b *builder) {
	b.bytes(TagSubjectDistinguishedName, v.SubjectDistinguishedName)
	for _, n := range v.SubjectAlternativeNames {
		b.bytes(TagSubjectAlternativeName, n)
	}
}
func (v *X509CertificateSubject) valueItem(t ttlv.Tag) ttlv.Item { return structItem(t, v) }

// X509CertificateIssuer [S 3.12].
type X509CertificateIssuer struct {
	IssuerDistinguishedName []byte
	IssuerAlternativeNames  [][]byte
}

func (v *X509CertificateIssuer) decode(r *reader) {
	v.IssuerDistinguishedName = r.reqBytes(TagIssuerDistinguishedName)
	for _, it := range r.all(TagIssuerAlternativeName, ttlv.TypeByteString) {
		b, _ := it.Value.([]byte)
		v.IssuerAlternativeNames = append(v.IssuerAlternativeNames, b)
	}
}
func (v *X509CertificateIssuer) encode(b *builder) {
	b.bytes(TagIssuerDistinguishedName, v.IssuerDistinguishedName)
	for _, n := range v.IssuerAlternativeNames {
		b.bytes(TagIssuerAlternativeName, n)
	}
}
func (v *X509CertificateIssuer) valueItem(t ttlv.Tag) ttlv.Item { return structItem(t, v) }

// Digest [S 3.17]. DigestValue is nil when absent.
type Digest struct {
	HashingAlgorithm HashingAlgorithm
	DigestValue      []byte
	KeyFormatType    *KeyFormatType
}

func (v *Digest) decode(r *reader) {
	v.HashingAlgorithm = reqEnum[HashingAlgorithm](r, TagHashingAlgorithm)
	v.DigestValue = r.optBytes(TagDigestValue)
	v.KeyFormatType = optEnum[KeyFormatType](r, TagKeyFormatType)
}
func (v *Digest) encode(b *builder) {
	b.enum(TagHashingAlgorithm, uint32(v.HashingAlgorithm))
	b.optBytes(TagDigestValue, v.DigestValue)
	optEnumB(b, TagKeyFormatType, v.KeyFormatType)
}
func (v *Digest) valueItem(t ttlv.Tag) ttlv.Item { return structItem(t, v) }

// UsageLimits [S 3.21].
type UsageLimits struct {
	Total int64
	Count *int64
	Unit  UsageLimitsUnit
}

func (v *UsageLimits) decode(r *reader) {
	v.Total = r.reqLong(TagUsageLimitsTotal)
	v.Count = r.optLong(TagUsageLimitsCount)
	v.Unit = reqEnum[UsageLimitsUnit](r, TagUsageLimitsUnit)
}
func (v *UsageLimits) encode(b *builder) {
	b.long(TagUsageLimitsTotal, v.Total)
	b.optLong(TagUsageLimitsCount, v.Count)
	b.enum(TagUsageLimitsUnit, uint32(v.Unit))
}
func (v *UsageLimits) valueItem(t ttlv.Tag) ttlv.Item { return structItem(t, v) }

// RevocationReason [S 3.31]; also the Revoke request field.
type RevocationReason struct {
	Code    RevocationReasonCode
	Message *string
}

func (v *RevocationReason) decode(r *reader) {
	v.Code = reqEnum[RevocationReasonCode](r, TagRevocationReasonCode)
	v.Message = r.optText(TagRevocationMessage)
}
func (v *RevocationReason) encode(b *builder) {
	b.enum(TagRevocationReasonCode, uint32(v.Code))
	b.optText(TagRevocationMessage, v.Message)
}
func (v *RevocationReason) valueItem(t ttlv.Tag) ttlv.Item { return structItem(t, v) }

// Link [S 3.35].
type Link struct {
	Type           LinkType
	LinkedObjectID string
}

func (v *Link) decode(r *reader) {
	v.Type = reqEnum[LinkType](r, TagLinkType)
	v.LinkedObjectID = r.reqText(TagLinkedObjectIdentifier)
}
func (v *Link) encode(b *builder) {
	b.enum(TagLinkType, uint32(v.Type))
	b.text(TagLinkedObjectIdentifier, v.LinkedObjectID)
}
func (v *Link) valueItem(t ttlv.Tag) ttlv.Item { return structItem(t, v) }

// ApplicationSpecificInformation [S 3.36].
type ApplicationSpecificInformation struct {
	ApplicationNamespace string
	ApplicationData      string
}

func (v *ApplicationSpecificInformation) decode(r *reader) {
	v.ApplicationNamespace = r.reqText(TagApplicationNamespace)
	v.ApplicationData = r.reqText(TagApplicationData)
}
func (v *ApplicationSpecificInformation) encode(b *builder) {
	b.text(TagApplicationNamespace, v.ApplicationNamespace)
	b.text(TagApplicationData, v.ApplicationData)
}
func (v *ApplicationSpecificInformation) valueItem(t ttlv.Tag) ttlv.Item { return structItem(t, v) }

// TemplateAttribute is a Template-Attribute structure [S 2.1.8] (also used
// under the tags Common/Private Key/Public Key Template-Attribute).
type TemplateAttribute struct {
	Names      []Name
	Attributes []Attribute
}

func (t *TemplateAttribute) decode(r *reader) {
	for _, c := range r.structs(TagName) {
		var n Name
		n.decode(c)
		c.done()
		t.Names = append(t.Names, n)
	}
	t.Attributes = decodeAttributes(r, TagAttribute)
	r.done()
}

func (t *TemplateAttribute) encode(b *builder) {
	for i := range t.Names {
		b.sub(TagName, t.Names[i].encode)
	}
	encodeAttributes(b, TagAttribute, t.Attributes)
}

func optTemplateAttribute(r *reader, tag ttlv.Tag) *TemplateAttribute {
	c := r.optStruct(tag)
	if c == nil {
		return nil
	}
	t := new(TemplateAttribute)
	t.decode(c)
	return t
}

func encodeOptTemplateAttribute(b *builder, tag ttlv.Tag, t *TemplateAttribute) {
	if t != nil {
		b.sub(tag, t.encode)
	}
}
