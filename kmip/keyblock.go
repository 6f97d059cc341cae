package kmip

import (
	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// KeyBlock [S 2.1.3]. Exactly one of KeyValue (plaintext, a structure) and
// WrappedKeyValue (the Key Value as a Byte String, when wrapped) is set.
// Key material is kept in []byte fields; callers zero them after use.
type KeyBlock struct {
	KeyFormatType          KeyFormatType
	KeyCompressionType     *KeyCompressionType
	KeyValue               *KeyValue
	WrappedKeyValue        []byte
	CryptographicAlgorithm *CryptographicAlgorithm
	CryptographicLength    *int32
	KeyWrappingData        *KeyWrappingData
}

func (k *KeyBlock) decode(r *reader) {
	k.KeyFormatType = reqEnum[KeyFormatType](r, TagKeyFormatType)
	k.KeyCompressionType = optEnum[KeyCompressionType](r, TagKeyCompressionType)
	if r.peek(TagKeyValue) && r.items[r.i].Type == ttlv.TypeByteString {
		k.WrappedKeyValue = r.reqBytes(TagKeyValue)
	} else {
		c := r.reqStruct(TagKeyValue)
		if !r.failed() {
			k.KeyValue = new(KeyValue)
			k.KeyValue.decode(c, k.KeyFormatType)
		}
	}
	k.CryptographicAlgorithm = optEnum[CryptographicAlgorithm](r, TagCryptographicAlgorithm)
	k.CryptographicLength = r.optInt(TagCryptographicLength)
	if c := r.optStruct(TagKeyWrappingData); c != nil {
		k.KeyWrappingData = new(KeyWrappingData)
		k.KeyWrappingData.decode(c)
	}
	r.done()
}

func (k *KeyBlock) encode(b *builder) {
	b.enum(TagKeyFormatType, uint32(k.KeyFormatType))
	optEnumB(b, TagKeyCompressionType, k.KeyCompressionType)
	if k.KeyValue != nil {
		b.sub(TagKeyValue, k.KeyValue.encode)
	} else {
		b.bytes(TagKeyValue, k.WrappedKeyValue)
	}
	optEnumB(b, TagCryptographicAlgorithm, k.CryptographicAlgorithm)
	b.optInt(TagCryptographicLength, k.CryptographicLength)
	if k.KeyWrappingData != nil {
		b.sub(TagKeyWrappingData, k.KeyWrappingData.encode)
	}
}

// KeyValue [S 2.1.4].
type KeyValue struct {
	KeyMaterial KeyMaterial
	Attributes  []Attribute
}

// KeyMaterial is RawKeyMaterial (a Byte String, for Raw, Opaque, PKCS#1,
// PKCS#8, X.509 and ECPrivateKey formats) or, for the transparent formats,
// *TransparentSymmetricKey, *TransparentDSAPrivateKey,
// *TransparentDSAPublicKey, *TransparentRSAPrivateKey,
// *TransparentRSAPublicKey, *TransparentDHPrivateKey,
// *TransparentDHPublicKey, *TransparentECPrivateKey (ECDSA, ECDH, ECMQV) or
// *TransparentECPublicKey. Big Integers are kept in wire form
// (two's complement, big-endian, sign-extended to a multiple of 8 bytes).
type KeyMaterial interface {
	materialItem(tag ttlv.Tag) ttlv.Item
}

// RawKeyMaterial is key material encoded as a Byte String.
type RawKeyMaterial []byte

func (m RawKeyMaterial) materialItem(t ttlv.Tag) ttlv.Item { return ttlv.Bytes(t, []byte(m)) }

type structMaterial interface {
	KeyMaterial
	decode(r *reader)
	encode(b *builder)
}

func newTransparent(f KeyFormatType) structMaterial {
	switch f {
	case KeyFormatTypeTransparentSymmetricKey:
		return new(TransparentSymmetricKey)
	case KeyFormatTypeTransparentDSAPrivateKey:
		return new(TransparentDSAPrivateKey)
	case KeyFormatTypeTransparentDSAPublicKey:
		return new(TransparentDSAPublicKey)
	case KeyFormatTypeTransparentRSAPrivateKey:
		return new(TransparentRSAPrivateKey)
	case KeyFormatTypeTransparentRSAPublicKey:
		return new(TransparentRSAPublicKey)
	case KeyFormatTypeTransparentDHPrivateKey:
		return new(TransparentDHPrivateKey)
	case KeyFormatTypeTransparentDHPublicKey:
		return new(TransparentDHPublicKey)
	case KeyFormatTypeTransparentECDSAPrivateKey, KeyFormatTypeTransparentECDHPrivateKey, KeyFormatTypeTransparentECMQVPrivateKey:
		return new(TransparentECPrivateKey)
	case KeyFormatTypeTransparentECDSAPublicKey, KeyFormatTypeTransparentECDHPublicKey, KeyFormatTypeTransparentECMQVPublicKey:
		return new(TransparentECPublicKey)
	}
	return nil
}

func (v *KeyValue) decode(r *reader, f KeyFormatType) {
	if r.peek(TagKeyMaterial) && r.items[r.i].Type == ttlv.TypeByteString {
		v.KeyMaterial = RawKeyMaterial(r.reqBytes(TagKeyMaterial))
	} else {
		c := r.reqStruct(TagKeyMaterial)
		if r.failed() {
			return
		}
		m := newTransparent(f)
		if m == nil {
			r.failf(ResultReasonInvalidField, ErrWrongType, TagKeyMaterial, "structure for key format %s", f)
			return
		}
		m.decode(c)
		c.done()
		v.KeyMaterial = m
	}
	v.Attributes = decodeAttributes(r, TagAttribute)
	r.done()
}

func (v *KeyValue) encode(b *builder) {
	if v.KeyMaterial != nil {
		b.add(v.KeyMaterial.materialItem(TagKeyMaterial))
	}
	encodeAttributes(b, TagAttribute, v.Attributes)
}

func materialItem(t ttlv.Tag, m structMaterial) ttlv.Item {
	var b builder
	m.encode(&b)
	return b.structure(t)
}

// TransparentSymmetricKey [S 2.1.7.1].
type TransparentSymmetricKey struct{ Key []byte }

func (m *TransparentSymmetricKey) decode(r *reader)                  { m.Key = r.reqBytes(TagKey) }
func (m *TransparentSymmetricKey) encode(b *builder)                 { b.bytes(TagKey, m.Key) }
func (m *TransparentSymmetricKey) materialItem(t ttlv.Tag) ttlv.Item { return materialItem(t, m) }

// TransparentDSAPrivateKey [S 2.1.7.2].
type TransparentDSAPrivateKey struct{ P, Q, G, X []byte }

func (m *TransparentDSAPrivateKey) decode(r *reader) {
	m.P, m.Q, m.G, m.X = r.reqBig(TagP), r.reqBig(TagQ), r.reqBig(TagG), r.reqBig(TagX)
}
func (m *TransparentDSAPrivateKey) encode(b *builder) {
	b.big(TagP, m.P)
	b.big(TagQ, m.Q)
	b.big(TagG, m.G)
	b.big(TagX, m.X)
}
func (m *TransparentDSAPrivateKey) materialItem(t ttlv.Tag) ttlv.Item { return materialItem(t, m) }

// TransparentDSAPublicKey [S 2.1.7.3].
type TransparentDSAPublicKey struct{ P, Q, G, Y []byte }

func (m *TransparentDSAPublicKey) decode(r *reader) {
	m.P, m.Q, m.G, m.Y = r.reqBig(TagP), r.reqBig(TagQ), r.reqBig(TagG), r.reqBig(TagY)
}
func (m *TransparentDSAPublicKey) encode(b *builder) {
	b.big(TagP, m.P)
	b.big(TagQ, m.Q)
	b.big(TagG, m.G)
	b.big(TagY, m.Y)
}
func (m *TransparentDSAPublicKey) materialItem(t ttlv.Tag) ttlv.Item { return materialItem(t, m) }

// TransparentRSAPrivateKey [S 2.1.7.4]; fields other than Modulus are nil
// when absent.
type TransparentRSAPrivateKey struct {
	Modulus, PrivateExponent, PublicExponent []byte
	P, Q, PrimeExponentP, PrimeExponentQ     []byte
	CRTCoefficient                           []byte
}

func (m *TransparentRSAPrivateKey) decode(r *reader) {
	m.Modulus = r.reqBig(TagModulus)
	m.PrivateExponent = r.optBig(TagPrivateExponent)
	m.PublicExponent = r.optBig(TagPublicExponent)
	m.P = r.optBig(TagP)
	m.Q = r.optBig(TagQ)
	m.PrimeExponentP = r.optBig(TagPrimeExponentP)
	m.PrimeExponentQ = r.optBig(TagPrimeExponentQ)
	m.CRTCoefficient = r.optBig(TagCRTCoefficient)
}
func (m *TransparentRSAPrivateKey) encode(b *builder) {
	b.big(TagModulus, m.Modulus)
	b.optBig(TagPrivateExponent, m.PrivateExponent)
	b.optBig(TagPublicExponent, m.PublicExponent)
	b.optBig(TagP, m.P)
	b.optBig(TagQ, m.Q)
	b.optBig(TagPrimeExponentP, m.PrimeExponentP)
	b.optBig(TagPrimeExponentQ, m.PrimeExponentQ)
	b.optBig(TagCRTCoefficient, m.CRTCoefficient)
}
func (m *TransparentRSAPrivateKey) materialItem(t ttlv.Tag) ttlv.Item { return materialItem(t, m) }

// TransparentRSAPublicKey [S 2.1.7.5].
type TransparentRSAPublicKey struct{ Modulus, PublicExponent []byte }

func (m *TransparentRSAPublicKey) decode(r *reader) {
	m.Modulus = r.reqBig(TagModulus)
	m.PublicExponent = r.reqBig(TagPublicExponent)
}
func (m *TransparentRSAPublicKey) encode(b *builder) {
	b.big(TagModulus, m.Modulus)
	b.big(TagPublicExponent, m.PublicExponent)
}
func (m *TransparentRSAPublicKey) materialItem(t ttlv.Tag) ttlv.Item { return materialItem(t, m) }

// TransparentDHPrivateKey [S 2.1.7.6]; Q and J are nil when absent.
type TransparentDHPrivateKey struct{ P, Q, G, J, X []byte }

func (m *TransparentDHPrivateKey) decode(r *reader) {
	m.P = r.reqBig(TagP)
	m.Q = r.optBig(TagQ)
	m.G = r.reqBig(TagG)
	m.J = r.optBig(TagJ)
	m.X = r.reqBig(TagX)
}
func (m *TransparentDHPrivateKey) encode(b *builder) {
	b.big(TagP, m.P)
	b.optBig(TagQ, m.Q)
	b.big(TagG, m.G)
	b.optBig(TagJ, m.J)
	b.big(TagX, m.X)
}
func (m *TransparentDHPrivateKey) materialItem(t ttlv.Tag) ttlv.Item { return materialItem(t, m) }

// TransparentDHPublicKey [S 2.1.7.7]; Q and J are nil when absent.
type TransparentDHPublicKey struct{ P, Q, G, J, Y []byte }

func (m *TransparentDHPublicKey) decode(r *reader) {
	m.P = r.reqBig(TagP)
	m.Q = r.optBig(TagQ)
	m.G = r.reqBig(TagG)
	m.J = r.optBig(TagJ)
	m.Y = r.reqBig(TagY)
}
func (m *TransparentDHPublicKey) encode(b *builder) {
	b.big(TagP, m.P)
	b.optBig(TagQ, m.Q)
	b.big(TagG, m.G)
	b.optBig(TagJ, m.J)
	b.big(TagY, m.Y)
}
func (m *TransparentDHPublicKey) materialItem(t ttlv.Tag) ttlv.Item { return materialItem(t, m) }

// TransparentECPrivateKey is the Transparent ECDSA, ECDH and ECMQV Private
// Key structure [S 2.1.7.8, 2.1.7.10, 2.1.7.12].
type TransparentECPrivateKey struct {
	RecommendedCurve RecommendedCurve
	D                []byte
}

func (m *TransparentECPrivateKey) decode(r *reader) {
	m.RecommendedCurve = reqEnum[RecommendedCurve](r, TagRecommendedCurve)
	m.D = r.reqBig(TagD)
}
func (m *TransparentECPrivateKey) encode(b *builder) {
	b.enum(TagRecommendedCurve, uint32(m.RecommendedCurve))
	b.big(TagD, m.D)
}
func (m *TransparentECPrivateKey) materialItem(t ttlv.Tag) ttlv.Item { return materialItem(t, m) }

// TransparentECPublicKey is the Transparent ECDSA, ECDH and ECMQV Public
// Key structure [S 2.1.7.9, 2.1.7.11, 2.1.7.13].
type TransparentECPublicKey struct {
	RecommendedCurve RecommendedCurve
	QString          []byte
}

func (m *TransparentECPublicKey) decode(r *reader) {
	m.RecommendedCurve = reqEnum[RecommendedCurve](r, TagRecommendedCurve)
	m.QString = r.reqBytes(TagQString)
}
func (m *TransparentECPublicKey) encode(b *builder) {
	b.enum(TagRecommendedCurve, uint32(m.RecommendedCurve))
	b.bytes(TagQString, m.QString)
}
func (m *TransparentECPublicKey) materialItem(t ttlv.Tag) ttlv.Item { return materialItem(t, m) }

// KeyInformation is the Encryption Key Information and MAC/Signature Key
// Information structure [S 2.1.5].
type KeyInformation struct {
	UniqueIdentifier        string
	CryptographicParameters *CryptographicParameters
}

// EncryptionKeyInformation and MACSignatureKeyInformation share one shape.
type (
	EncryptionKeyInformation   = KeyInformation
	MACSignatureKeyInformation = KeyInformation
)

func (k *KeyInformation) decode(r *reader) {
	k.UniqueIdentifier = r.reqText(TagUniqueIdentifier)
	if c := r.optStruct(TagCryptographicParameters); c != nil {
		k.CryptographicParameters = new(CryptographicParameters)
		k.CryptographicParameters.decode(c)
		c.done()
	}
	r.done()
}

func (k *KeyInformation) encode(b *builder) {
	b.text(TagUniqueIdentifier, k.UniqueIdentifier)
	if k.CryptographicParameters != nil {
		b.sub(TagCryptographicParameters, k.CryptographicParameters.encode)
	}
}

func optKeyInformation(r *reader, tag ttlv.Tag) *KeyInformation {
	c := r.optStruct(tag)
	if c == nil {
		return nil
	}
	k := new(KeyInformation)
	k.decode(c)
	return k
}

func encodeOptKeyInformation(b *builder, tag ttlv.Tag, k *KeyInformation) {
	if k != nil {
		b.sub(tag, k.encode)
	}
}

// KeyWrappingData [S 2.1.5]. MACSignature and IVCounterNonce are nil when
// absent.
type KeyWrappingData struct {
	WrappingMethod             WrappingMethod
	EncryptionKeyInformation   *EncryptionKeyInformation
	MACSignatureKeyInformation *MACSignatureKeyInformation
	MACSignature               []byte
	IVCounterNonce             []byte
	EncodingOption             *EncodingOption
}

func (k *KeyWrappingData) decode(r *reader) {
	k.WrappingMethod = reqEnum[WrappingMethod](r, TagWrappingMethod)
	k.EncryptionKeyInformation = optKeyInformation(r, TagEncryptionKeyInformation)
	k.MACSignatureKeyInformation = optKeyInformation(r, TagMACSignatureKeyInformation)
	k.MACSignature = r.optBytes(TagMACSignature)
	k.IVCounterNonce = r.optBytes(TagIVCounterNonce)
	k.EncodingOption = optEnum[EncodingOption](r, TagEncodingOption)
	r.done()
}

func (k *KeyWrappingData) encode(b *builder) {
	b.enum(TagWrappingMethod, uint32(k.WrappingMethod))
	encodeOptKeyInformation(b, TagEncryptionKeyInformation, k.EncryptionKeyInformation)
	encodeOptKeyInformation(b, TagMACSignatureKeyInformation, k.MACSignatureKeyInformation)
	b.optBytes(TagMACSignature, k.MACSignature)
	b.optBytes(TagIVCounterNonce, k.IVCounterNonce)
	optEnumB(b, TagEncodingOption, k.EncodingOption)
}

// KeyWrappingSpecification [S 2.1.6].
type KeyWrappingSpecification struct {
	WrappingMethod             WrappingMethod
	EncryptionKeyInformation   *EncryptionKeyInformation
	MACSignatureKeyInformation *MACSignatureKeyInformation
	AttributeNames             []string
	EncodingOption             *EncodingOption
}

func (k *KeyWrappingSpecification) decode(r *reader) {
	k.WrappingMethod = reqEnum[WrappingMethod](r, TagWrappingMethod)
	k.EncryptionKeyInformation = optKeyInformation(r, TagEncryptionKeyInformation)
	k.MACSignatureKeyInformation = optKeyInformation(r, TagMACSignatureKeyInformation)
	k.AttributeNames = r.texts(TagAttributeName)
	k.EncodingOption = optEnum[EncodingOption](r, TagEncodingOption)
	r.done()
}

func (k *KeyWrappingSpecification) encode(b *builder) {
	b.enum(TagWrappingMethod, uint32(k.WrappingMethod))
	encodeOptKeyInformation(b, TagEncryptionKeyInformation, k.EncryptionKeyInformation)
	encodeOptKeyInformation(b, TagMACSignatureKeyInformation, k.MACSignatureKeyInformation)
	b.texts(TagAttributeName, k.AttributeNames)
	optEnumB(b, TagEncodingOption, k.EncodingOption)
}
