package kmip

import (
	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// Object is a managed object carried in a payload [S 2.2]: *Certificate,
// *SymmetricKey, *PublicKey, *PrivateKey, *SplitKey, *Template,
// *SecretData or *OpaqueObject.
type Object interface {
	ObjectType() ObjectType
	decode(r *reader)
	encode(b *builder)
}

func objectTag(t ObjectType) ttlv.Tag {
	switch t {
	case ObjectTypeCertificate:
		return TagCertificate
	case ObjectTypeSymmetricKey:
		return TagSymmetricKey
	case ObjectTypePublicKey:
		return TagPublicKey
	case ObjectTypePrivateKey:
		return TagPrivateKey
	case ObjectTypeSplitKey:
		return TagSplitKey
	case ObjectTypeTemplate:
		return TagTemplate
	case ObjectTypeSecretData:
		return TagSecretData
	case ObjectTypeOpaqueObject:
		return TagOpaqueObject
	}
	return 0
}

func newObject(t ObjectType) Object {
	switch t {
	case ObjectTypeCertificate:
		return new(Certificate)
	case ObjectTypeSymmetricKey:
		return new(SymmetricKey)
	case ObjectTypePublicKey:
		return new(PublicKey)
	case ObjectTypePrivateKey:
		return new(PrivateKey)
	case ObjectTypeSplitKey:
		return new(SplitKey)
	case ObjectTypeTemplate:
		return new(Template)
	case ObjectTypeSecretData:
		return new(SecretData)
	case ObjectTypeOpaqueObject:
		return new(OpaqueObject)
	}
	return nil
}

// readObject reads the object of type t (required unless optional is set).
func readObject(r *reader, t ObjectType, optional bool) Object {
	if r.failed() {
		return nil
	}
	tag := objectTag(t)
	if tag == 0 {
		r.failf(ResultReasonInvalidField, ErrInvalidValue, TagObjectType, "unsupported object type %s", t)
		return nil
	}
	var c *reader
	if optional {
		if c = r.optStruct(tag); c == nil {
			return nil
		}
	} else {
		c = r.reqStruct(tag)
	}
	o := newObject(t)
	o.decode(c)
	c.done()
	return o
}

func writeObject(b *builder, o Object) {
	if o != nil {
		b.sub(objectTag(o.ObjectType()), o.encode)
	}
}

// Certificate [S 2.2.1].
type Certificate struct {
	CertificateType  CertificateType
	CertificateValue []byte
}

func (*Certificate) ObjectType() ObjectType { return ObjectTypeCertificate }
func (o *Certificate) decode(r *reader) {
	o.CertificateType = reqEnum[CertificateType](r, TagCertificateType)
	o.CertificateValue = r.reqBytes(TagCertificateValue)
}
func (o *Certificate) encode(b *builder) {
	b.enum(TagCertificateType, uint32(o.CertificateType))
	b.bytes(TagCertificateValue, o.CertificateValue)
}

// SymmetricKey [S 2.2.2].
type SymmetricKey struct{ KeyBlock KeyBlock }

func (*SymmetricKey) ObjectType() ObjectType { return ObjectTypeSymmetricKey }
func (o *SymmetricKey) decode(r *reader)     { o.KeyBlock.decode(r.reqStruct(TagKeyBlock)) }
func (o *SymmetricKey) encode(b *builder)    { b.sub(TagKeyBlock, o.KeyBlock.encode) }

// PublicKey [S 2.2.3].
type PublicKey struct{ KeyBlock KeyBlock }

func (*PublicKey) ObjectType() ObjectType { return ObjectTypePublicKey }
func (o *PublicKey) decode(r *reader)     { o.KeyBlock.decode(r.reqStruct(TagKeyBlock)) }
func (o *PublicKey) encode(b *builder)    { b.sub(TagKeyBlock, o.KeyBlock.encode) }

// PrivateKey [S 2.2.4].
type PrivateKey struct{ KeyBlock KeyBlock }

func (*PrivateKey) ObjectType() ObjectType { return ObjectTypePrivateKey }
func (o *PrivateKey) decode(r *reader)     { o.KeyBlock.decode(r.reqStruct(TagKeyBlock)) }
func (o *PrivateKey) encode(b *builder)    { b.sub(TagKeyBlock, o.KeyBlock.encode) }

// SplitKey [S 2.2.5]. PrimeFieldSize is a Big Integer in wire form (nil
// when absent).
type SplitKey struct {
	SplitKeyParts     int32
	KeyPartIdentifier int32
	SplitKeyThreshold int32
	SplitKeyMethod    SplitKeyMethod
	PrimeFieldSize    []byte
	KeyBlock          KeyBlock
}

func (*SplitKey) ObjectType() ObjectType { return ObjectTypeSplitKey }
func (o *SplitKey) decode(r *reader) {
	o.SplitKeyParts = r.reqInt(TagSplitKeyParts)
	o.KeyPartIdentifier = r.reqInt(TagKeyPartIdentifier)
	o.SplitKeyThreshold = r.reqInt(TagSplitKeyThreshold)
	o.SplitKeyMethod = reqEnum[SplitKeyMethod](r, TagSplitKeyMethod)
	o.PrimeFieldSize = r.optBig(TagPrimeFieldSize)
	o.KeyBlock.decode(r.reqStruct(TagKeyBlock))
}
func (o *SplitKey) encode(b *builder) {
	b.int(TagSplitKeyParts, o.SplitKeyParts)
	b.int(TagKeyPartIdentifier, o.KeyPartIdentifier)
	b.int(TagSplitKeyThreshold, o.SplitKeyThreshold)
	b.enum(TagSplitKeyMethod, uint32(o.SplitKeyMethod))
	b.optBig(TagPrimeFieldSize, o.PrimeFieldSize)
	b.sub(TagKeyBlock, o.KeyBlock.encode)
}

// Template [S 2.2.6].
type Template struct{ Attributes []Attribute }

func (*Template) ObjectType() ObjectType { return ObjectTypeTemplate }
func (o *Template) decode(r *reader) {
	o.Attributes = decodeAttributes(r, TagAttribute)
	if !r.failed() && len(o.Attributes) == 0 {
		r.failf(ResultReasonInvalidMessage, ErrMissingField, TagAttribute, "")
	}
}
func (o *Template) encode(b *builder) { encodeAttributes(b, TagAttribute, o.Attributes) }

// SecretData [S 2.2.7].
type SecretData struct {
	SecretDataType SecretDataType
	KeyBlock       KeyBlock
}

func (*SecretData) ObjectType() ObjectType { return ObjectTypeSecretData }
func (o *SecretData) decode(r *reader) {
	o.SecretDataType = reqEnum[SecretDataType](r, TagSecretDataType)
	o.KeyBlock.decode(r.reqStruct(TagKeyBlock))
}
func (o *SecretData) encode(b *builder) {
	b.enum(TagSecretDataType, uint32(o.SecretDataType))
	b.sub(TagKeyBlock, o.KeyBlock.encode)
}

// OpaqueObject [S 2.2.8].
type OpaqueObject struct {
	OpaqueDataType  OpaqueDataType
	OpaqueDataValue []byte
}

func (*OpaqueObject) ObjectType() ObjectType { return ObjectTypeOpaqueObject }
func (o *OpaqueObject) decode(r *reader) {
	o.OpaqueDataType = reqEnum[OpaqueDataType](r, TagOpaqueDataType)
	o.OpaqueDataValue = r.reqBytes(TagOpaqueDataValue)
}
func (o *OpaqueObject) encode(b *builder) {
	b.enum(TagOpaqueDataType, uint32(o.OpaqueDataType))
	b.bytes(TagOpaqueDataValue, o.OpaqueDataValue)
}

// readAnyObject reads one required object whose type is given by its tag.
func readAnyObject(r *reader) Object {
	if r.failed() {
		return nil
	}
	for t := ObjectTypeCertificate; t <= ObjectTypeOpaqueObject; t++ {
		if r.peek(objectTag(t)) {
			return readObject(r, t, false)
		}
	}
	r.failf(ResultReasonInvalidMessage, ErrMissingField, TagObjectType, "no managed object")
	return nil
}
