package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"math/big"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/object"
	"github.com/cofferhsm/coffer/kmip"
	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// get answers Get [S 4.11]. Key Format Type defaults to the format the key
// was registered in (created keys: Raw for symmetric keys, PKCS#8 for
// private keys, X.509 for public keys); conversions offered: symmetric keys to Transparent
// Symmetric Key; secret data to Opaque; RSA private keys to PKCS#1 and Transparent RSA Private
// Key; EC private keys to EC Private Key; RSA public keys to PKCS#1 and
// Transparent RSA Public Key. Key Compression is not supported. Wrapping:
// Wrapping Method Encrypt with AES Key Wrap (RFC 3394) under a symmetric
// AES key whose usage mask allows Wrap Key, with Encoding Option No
// Encoding (the key material bytes) or TTLV Encoding (the default: the Key
// Value structure, with the requested attributes).
func (o *Ops) get(ctx context.Context, b *batch, p *kmip.GetRequest) (kmip.ResponsePayload, string, error) {
	uid, err := b.use(p.UniqueIdentifier)
	if err != nil {
		return nil, "", err
	}
	if p.KeyCompressionType != nil {
		return nil, uid, failf(kmip.ResultReasonKeyCompressionTypeNotSupported, "key compression is not supported")
	}
	if ws := p.KeyWrappingSpecification; ws != nil {
		// Everything about the wrapping key is checked before the key
		// material is exported from the core.
		if err := checkWrapSpec(ws); err != nil {
			return nil, uid, err
		}
		kekUID := ws.EncryptionKeyInformation.UniqueIdentifier
		if kekUID == uid {
			return nil, uid, failf(kmip.ResultReasonIllegalOperation, "a key cannot wrap itself")
		}
		if err := o.core.Check(ctx, b.id, kekUID, object.UsageWrapKey); err != nil {
			return nil, uid, err
		}
	}
	m, err := o.core.Get(ctx, b.id, uid)
	if err != nil {
		return nil, uid, err
	}
	defer m.Destroy()
	obj, err := wireObject(b, m, p.KeyFormatType)
	if err != nil {
		return nil, uid, err
	}
	if ws := p.KeyWrappingSpecification; ws != nil {
		kb := keyBlockOf(obj)
		if kb == nil {
			return nil, uid, failf(kmip.ResultReasonIllegalOperation, "object type %s has no key block to wrap", obj.ObjectType())
		}
		if err := o.wrap(ctx, b, uid, kb, ws); err != nil {
			return nil, uid, err
		}
	}
	return &kmip.GetResponse{ObjectType: obj.ObjectType(), UniqueIdentifier: m.UID, Object: obj}, uid, nil
}

func checkWrapSpec(ws *kmip.KeyWrappingSpecification) error {
	if ws.WrappingMethod != kmip.WrappingMethodEncrypt || ws.MACSignatureKeyInformation != nil {
		return failf(kmip.ResultReasonFeatureNotSupported, "only Wrapping Method Encrypt is supported")
	}
	if ws.EncryptionKeyInformation == nil || ws.EncryptionKeyInformation.UniqueIdentifier == "" {
		return failf(kmip.ResultReasonInvalidMessage, "Encryption Key Information is required")
	}
	if cp := ws.EncryptionKeyInformation.CryptographicParameters; cp != nil {
		if cp.BlockCipherMode != nil && *cp.BlockCipherMode != kmip.BlockCipherModeNISTKeyWrap {
			return failf(kmip.ResultReasonFeatureNotSupported, "only Block Cipher Mode NIST Key Wrap is supported")
		}
		if cp.PaddingMethod != nil || cp.HashingAlgorithm != nil {
			return failf(kmip.ResultReasonFeatureNotSupported, "unsupported wrapping parameters")
		}
	}
	if e := ws.EncodingOption; e != nil && *e != kmip.EncodingOptionNoEncoding && *e != kmip.EncodingOptionTTLVEncoding {
		return failf(kmip.ResultReasonEncodingOptionError, "unknown encoding option")
	}
	if e := ws.EncodingOption; e != nil && *e == kmip.EncodingOptionNoEncoding && len(ws.AttributeNames) > 0 {
		return failf(kmip.ResultReasonEncodingOptionError, "attributes can only be wrapped with TTLV encoding")
	}
	return nil
}

// keyBlockOf returns the key block of a key object, or nil.
func keyBlockOf(obj kmip.Object) *kmip.KeyBlock {
	switch v := obj.(type) {
	case *kmip.SymmetricKey:
		return &v.KeyBlock
	case *kmip.PrivateKey:
		return &v.KeyBlock
	case *kmip.PublicKey:
		return &v.KeyBlock
	case *kmip.SecretData:
		return &v.KeyBlock
	}
	return nil
}

// wrap replaces kb's Key Value by its AES Key Wrap under the wrapping key
// (already checked by get).
func (o *Ops) wrap(ctx context.Context, b *batch, uid string, kb *kmip.KeyBlock, ws *kmip.KeyWrappingSpecification) error {
	kek, err := o.core.Get(ctx, b.id, ws.EncryptionKeyInformation.UniqueIdentifier)
	if err != nil {
		return err
	}
	defer kek.Destroy()
	if kek.Type != object.TypeSymmetricKey || kek.Algorithm != object.AlgAES || kek.Format != object.FormatRaw {
		return failf(kmip.ResultReasonIllegalOperation, "the wrapping key is not an AES key")
	}
	kekBytes, err := kek.Secret.Bytes()
	if err != nil {
		return err
	}
	var plain []byte
	if e := ws.EncodingOption; e != nil && *e == kmip.EncodingOptionNoEncoding {
		raw, ok := kb.KeyValue.KeyMaterial.(kmip.RawKeyMaterial)
		if !ok {
			return failf(kmip.ResultReasonEncodingOptionError, "a transparent key needs TTLV encoding to be wrapped")
		}
		plain = raw
	} else {
		if len(ws.AttributeNames) > 0 {
			attrs, err := o.core.GetAttributes(ctx, b.id, uid, ws.AttributeNames)
			if err != nil {
				return err
			}
			kb.KeyValue.Attributes = wireAttrs(attrs)
		}
		it, err := keyValueItem(kb)
		if err != nil {
			return err
		}
		if plain, err = ttlv.Encode(it); err != nil {
			return failf(kmip.ResultReasonGeneralFailure, "encoding the key value failed")
		}
		b.scrub = append(b.scrub, plain)
	}
	wrapped, err := aesKeyWrap(kekBytes, plain)
	if err != nil {
		return failf(kmip.ResultReasonCryptographicFailure, "AES Key Wrap needs key data of at least 16 bytes in multiples of 8")
	}
	kb.KeyValue = nil
	kb.WrappedKeyValue = wrapped
	kb.KeyWrappingData = &kmip.KeyWrappingData{
		WrappingMethod:           kmip.WrappingMethodEncrypt,
		EncryptionKeyInformation: ws.EncryptionKeyInformation,
		EncodingOption:           ws.EncodingOption,
	}
	return nil
}

// keyValueItem returns the TTLV item of kb's Key Value, built through the
// public message model (a response message holding a Get of kb).
func keyValueItem(kb *kmip.KeyBlock) (ttlv.Item, error) {
	m := &kmip.ResponseMessage{BatchItems: []kmip.ResponseBatchItem{{
		Operation: kmip.OperationGet,
		Payload:   &kmip.GetResponse{ObjectType: kmip.ObjectTypeSymmetricKey, UniqueIdentifier: "-", Object: &kmip.SymmetricKey{KeyBlock: *kb}},
	}}}
	it := m.ToTTLV()
	for _, tag := range []ttlv.Tag{kmip.TagBatchItem, kmip.TagResponsePayload, kmip.TagSymmetricKey, kmip.TagKeyBlock, kmip.TagKeyValue} {
		var ok bool
		if it, ok = it.Find(tag); !ok {
			return ttlv.Item{}, failf(kmip.ResultReasonGeneralFailure, "encoding the key value failed")
		}
	}
	return it, nil
}

// wireObject converts the core's object to its wire form in format f (nil:
// the stored format). Secret bytes placed in the result are registered in
// b.scrub to be zeroed after the response is encoded.
func wireObject(b *batch, m *hsm.Managed, f *kmip.KeyFormatType) (kmip.Object, error) {
	want := kmip.KeyFormatType(m.Format)
	if m.ExportFormat != 0 {
		want = kmip.KeyFormatType(m.ExportFormat)
	}
	if f != nil {
		want = *f
	}
	notSupported := failf(kmip.ResultReasonKeyFormatTypeNotSupported, "key format %s is not available for this object", want)
	keep := func(p []byte) []byte {
		c := append([]byte(nil), p...)
		b.scrub = append(b.scrub, c)
		return c
	}
	secret := func() ([]byte, error) {
		raw, err := m.Secret.Bytes()
		if err != nil {
			return nil, failf(kmip.ResultReasonItemNotFound, "object has no key material")
		}
		return raw, nil
	}
	block := func(mat kmip.KeyMaterial) kmip.KeyBlock {
		kb := kmip.KeyBlock{KeyFormatType: want, KeyValue: &kmip.KeyValue{KeyMaterial: mat}}
		if m.Algorithm != 0 {
			a := kmip.CryptographicAlgorithm(m.Algorithm)
			kb.CryptographicAlgorithm = &a
		}
		if m.Length != 0 {
			l := m.Length
			kb.CryptographicLength = &l
		}
		return kb
	}
	switch m.Type {
	case object.TypeSymmetricKey:
		raw, err := secret()
		if err != nil {
			return nil, err
		}
		switch want {
		case kmip.KeyFormatTypeRaw:
			return &kmip.SymmetricKey{KeyBlock: block(kmip.RawKeyMaterial(keep(raw)))}, nil
		case kmip.KeyFormatTypeTransparentSymmetricKey:
			return &kmip.SymmetricKey{KeyBlock: block(&kmip.TransparentSymmetricKey{Key: keep(raw)})}, nil
		}
		return nil, notSupported
	case object.TypeSecretData:
		raw, err := secret()
		if err != nil {
			return nil, err
		}
		if want != kmip.KeyFormatTypeRaw && want != kmip.KeyFormatTypeOpaque {
			return nil, notSupported
		}
		return &kmip.SecretData{SecretDataType: kmip.SecretDataType(m.SubType), KeyBlock: block(kmip.RawKeyMaterial(keep(raw)))}, nil
	case object.TypeOpaqueObject:
		raw, err := secret()
		if err != nil {
			return nil, err
		}
		if f != nil && want != kmip.KeyFormatTypeOpaque {
			return nil, notSupported
		}
		return &kmip.OpaqueObject{OpaqueDataType: kmip.OpaqueDataType(m.SubType), OpaqueDataValue: keep(raw)}, nil
	case object.TypeCertificate:
		if f != nil && want != kmip.KeyFormatTypeX509 {
			return nil, notSupported
		}
		return &kmip.Certificate{CertificateType: kmip.CertificateTypeX509, CertificateValue: append([]byte(nil), m.Public...)}, nil
	case object.TypeTemplate:
		if f != nil {
			return nil, notSupported
		}
		return &kmip.Template{Attributes: wireAttrs(m.Template)}, nil
	case object.TypePrivateKey:
		raw, err := secret()
		if err != nil {
			return nil, err
		}
		mat, err := privateMaterial(raw, want, keep)
		if err != nil {
			return nil, err
		}
		return &kmip.PrivateKey{KeyBlock: block(mat)}, nil
	case object.TypePublicKey:
		mat, err := publicMaterial(m.Public, want)
		if err != nil {
			return nil, err
		}
		return &kmip.PublicKey{KeyBlock: block(mat)}, nil
	}
	return nil, failf(kmip.ResultReasonFeatureNotSupported, "object type is not supported")
}

// privateMaterial converts a stored PKCS#8 private key to format f.
func privateMaterial(der []byte, f kmip.KeyFormatType, keep func([]byte) []byte) (kmip.KeyMaterial, error) {
	if f == kmip.KeyFormatTypePKCS8 {
		return kmip.RawKeyMaterial(keep(der)), nil
	}
	notSupported := failf(kmip.ResultReasonKeyFormatTypeNotSupported, "key format %s is not available for this key", f)
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, failf(kmip.ResultReasonGeneralFailure, "stored key does not parse")
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		switch f {
		case kmip.KeyFormatTypePKCS1:
			out := x509.MarshalPKCS1PrivateKey(k)
			defer clear(out)
			return kmip.RawKeyMaterial(keep(out)), nil
		case kmip.KeyFormatTypeTransparentRSAPrivateKey:
			t := &kmip.TransparentRSAPrivateKey{
				Modulus:         keep(unsignedTwos(k.N.Bytes())),
				PrivateExponent: keep(unsignedTwos(k.D.Bytes())),
				PublicExponent:  keep(unsignedTwos(big.NewInt(int64(k.E)).Bytes())),
			}
			if len(k.Primes) == 2 {
				k.Precompute()
				t.P = keep(unsignedTwos(k.Primes[0].Bytes()))
				t.Q = keep(unsignedTwos(k.Primes[1].Bytes()))
				t.PrimeExponentP = keep(unsignedTwos(k.Precomputed.Dp.Bytes()))
				t.PrimeExponentQ = keep(unsignedTwos(k.Precomputed.Dq.Bytes()))
				t.CRTCoefficient = keep(unsignedTwos(k.Precomputed.Qinv.Bytes()))
			}
			return t, nil
		}
	case *ecdsa.PrivateKey:
		if f == kmip.KeyFormatTypeECPrivateKey {
			out, err := x509.MarshalECPrivateKey(k)
			if err != nil {
				return nil, notSupported
			}
			defer clear(out)
			return kmip.RawKeyMaterial(keep(out)), nil
		}
	}
	return nil, notSupported
}

// publicMaterial converts a stored SubjectPublicKeyInfo to format f.
func publicMaterial(der []byte, f kmip.KeyFormatType) (kmip.KeyMaterial, error) {
	if f == kmip.KeyFormatTypeX509 {
		return kmip.RawKeyMaterial(append([]byte(nil), der...)), nil
	}
	notSupported := failf(kmip.ResultReasonKeyFormatTypeNotSupported, "key format %s is not available for this key", f)
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, failf(kmip.ResultReasonGeneralFailure, "stored key does not parse")
	}
	if k, ok := k.(*rsa.PublicKey); ok {
		switch f {
		case kmip.KeyFormatTypePKCS1:
			return kmip.RawKeyMaterial(x509.MarshalPKCS1PublicKey(k)), nil
		case kmip.KeyFormatTypeTransparentRSAPublicKey:
			return &kmip.TransparentRSAPublicKey{
				Modulus:        unsignedTwos(k.N.Bytes()),
				PublicExponent: unsignedTwos(big.NewInt(int64(k.E)).Bytes()),
			}, nil
		}
	}
	return nil, notSupported
}
