package server

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"time"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/cofferhsm/coffer/hsm/object"
	"github.com/cofferhsm/coffer/kmip"
)

// maxTemplateNames bounds the template references of one Template-Attribute.
const maxTemplateNames = 8

// templateAttrs resolves a Template-Attribute: the attributes of the named
// Template objects first (each name must select exactly one Template),
// overridden by the explicit attributes of the same name.
func (o *Ops) templateAttrs(ctx context.Context, b *batch, ta *kmip.TemplateAttribute) ([]object.Attribute, error) {
	if ta == nil {
		return nil, nil
	}
	explicit, err := coreAttrs(ta.Attributes)
	if err != nil {
		return nil, err
	}
	if len(ta.Names) == 0 {
		return explicit, nil
	}
	if len(ta.Names) > maxTemplateNames {
		return nil, failf(kmip.ResultReasonInvalidMessage, "too many template names")
	}
	given := make(map[string]bool, len(explicit))
	for _, a := range explicit {
		given[a.Name] = true
	}
	var out []object.Attribute
	for _, n := range ta.Names {
		uids, err := o.core.Locate(ctx, b.id, hsm.Query{MaxItems: 2, Attrs: []object.Attribute{
			{Name: object.AttrObjectType, Value: object.TypeTemplate},
			{Name: object.AttrName, Value: object.Name{Value: n.Value, Type: object.NameType(n.Type)}},
		}})
		if err != nil {
			return nil, err
		}
		if len(uids) != 1 {
			return nil, failf(kmip.ResultReasonItemNotFound, "template %.64q not found or ambiguous", n.Value)
		}
		m, err := o.core.Get(ctx, b.id, uids[0])
		if err != nil {
			return nil, err
		}
		for _, a := range m.Template {
			if !given[a.Name] && a.Name != object.AttrName {
				a.Index = 0
				out = append(out, a)
			}
		}
		m.Destroy()
	}
	return append(out, explicit...), nil
}

func (o *Ops) create(ctx context.Context, b *batch, p *kmip.CreateRequest) (kmip.ResponsePayload, string, error) {
	attrs, err := o.templateAttrs(ctx, b, &p.TemplateAttribute)
	if err != nil {
		return nil, "", err
	}
	if p.ObjectType != kmip.ObjectTypeSymmetricKey {
		return nil, "", failf(kmip.ResultReasonInvalidField, "Create makes symmetric keys only")
	}
	uid, err := o.core.Create(ctx, b.id, object.Type(p.ObjectType), attrs)
	if err != nil {
		return nil, "", err
	}
	b.placeholder = uid
	return &kmip.CreateResponse{ObjectType: p.ObjectType, UniqueIdentifier: uid}, uid, nil
}

// pairAttrs resolves the three Template-Attributes of a key pair request.
func (o *Ops) pairAttrs(ctx context.Context, b *batch, common, priv, pub *kmip.TemplateAttribute) (c, pr, pu []object.Attribute, err error) {
	if c, err = o.templateAttrs(ctx, b, common); err != nil {
		return nil, nil, nil, err
	}
	if pr, err = o.templateAttrs(ctx, b, priv); err != nil {
		return nil, nil, nil, err
	}
	if pu, err = o.templateAttrs(ctx, b, pub); err != nil {
		return nil, nil, nil, err
	}
	return c, pr, pu, nil
}

func (o *Ops) createKeyPair(ctx context.Context, b *batch, p *kmip.CreateKeyPairRequest) (kmip.ResponsePayload, string, error) {
	c, pr, pu, err := o.pairAttrs(ctx, b, p.CommonTemplateAttribute, p.PrivateKeyTemplateAttribute, p.PublicKeyTemplateAttribute)
	if err != nil {
		return nil, "", err
	}
	privUID, pubUID, err := o.core.CreateKeyPair(ctx, b.id, c, pr, pu)
	if err != nil {
		return nil, "", err
	}
	b.placeholder = privUID
	return &kmip.CreateKeyPairResponse{PrivateKeyUniqueIdentifier: privUID, PublicKeyUniqueIdentifier: pubUID}, privUID, nil
}

func (o *Ops) register(ctx context.Context, b *batch, p *kmip.RegisterRequest) (kmip.ResponsePayload, string, error) {
	attrs, err := o.templateAttrs(ctx, b, &p.TemplateAttribute)
	if err != nil {
		return nil, "", err
	}
	if p.Object == nil || kmip.ObjectType(p.Object.ObjectType()) != p.ObjectType {
		return nil, "", failf(kmip.ResultReasonInvalidField, "object does not match Object Type")
	}
	content, extra, err := contentOf(p.Object)
	defer content.Secret.Destroy()
	defer scrubObject(p.Object)
	if err != nil {
		return nil, "", err
	}
	attrs = mergeKeyBlockAttrs(attrs, extra)
	uid, err := o.core.Register(ctx, b.id, content, attrs)
	if err != nil {
		return nil, "", err
	}
	b.placeholder = uid
	return &kmip.RegisterResponse{UniqueIdentifier: uid}, uid, nil
}

// scrubObject zeroes the secret bytes of a decoded request object once the
// core holds its own copy.
func scrubObject(obj kmip.Object) {
	var kb *kmip.KeyBlock
	switch v := obj.(type) {
	case *kmip.SymmetricKey:
		kb = &v.KeyBlock
	case *kmip.PrivateKey:
		kb = &v.KeyBlock
	case *kmip.SecretData:
		kb = &v.KeyBlock
	case *kmip.OpaqueObject:
		clear(v.OpaqueDataValue)
	}
	if kb == nil || kb.KeyValue == nil {
		return
	}
	switch m := kb.KeyValue.KeyMaterial.(type) {
	case kmip.RawKeyMaterial:
		clear(m)
	case *kmip.TransparentSymmetricKey:
		clear(m.Key)
	}
}

// mergeKeyBlockAttrs adds the Cryptographic Algorithm and Length found in a
// Key Block unless the template already gives them (the core then checks
// that they agree with the key).
func mergeKeyBlockAttrs(attrs, extra []object.Attribute) []object.Attribute {
	for _, e := range extra {
		found := false
		for _, a := range attrs {
			if e.Name == object.AttrName {
				break
			}
			found = found || a.Name == e.Name
		}
		if !found {
			attrs = append(attrs, e)
		}
	}
	return attrs
}

// keyBlockMaterial returns the plaintext key material bytes of a key block
// (Raw, Opaque, PKCS#1, PKCS#8, X.509, EC Private Key or Transparent
// Symmetric Key), and the algorithm/length attributes it names. The bytes
// alias the request; the caller copies them.
func keyBlockMaterial(kb *kmip.KeyBlock) ([]byte, []object.Attribute, error) {
	if kb.KeyWrappingData != nil || kb.KeyValue == nil {
		return nil, nil, failf(kmip.ResultReasonFeatureNotSupported, "wrapped keys cannot be registered")
	}
	if kb.KeyCompressionType != nil {
		return nil, nil, failf(kmip.ResultReasonKeyCompressionTypeNotSupported, "key compression is not supported")
	}
	var extra []object.Attribute
	if kb.CryptographicAlgorithm != nil {
		extra = append(extra, object.Attribute{Name: object.AttrAlgorithm, Value: object.Algorithm(*kb.CryptographicAlgorithm)})
	}
	if kb.CryptographicLength != nil {
		extra = append(extra, object.Attribute{Name: object.AttrLength, Value: *kb.CryptographicLength})
	}
	switch m := kb.KeyValue.KeyMaterial.(type) {
	case kmip.RawKeyMaterial:
		return []byte(m), extra, nil
	case *kmip.TransparentSymmetricKey:
		return m.Key, extra, nil
	}
	return nil, nil, failf(kmip.ResultReasonKeyFormatTypeNotSupported, "key format %s cannot be registered", kb.KeyFormatType)
}

// contentOf converts a registered object to the core's content. Private
// keys are stored as PKCS#8 and public keys as X.509 SubjectPublicKeyInfo,
// converted from PKCS#1 or EC Private Key when given so; the Key Format
// Type the client used is kept as the content's ExportFormat (Get's
// default format and the Digest's format).
func contentOf(obj kmip.Object) (hsm.Content, []object.Attribute, error) {
	var c hsm.Content
	c.Type = object.Type(obj.ObjectType())
	secret := func(b []byte) error {
		m, err := key.NewMaterial(b)
		if err != nil {
			return failf(kmip.ResultReasonInvalidField, "key material is empty or too large")
		}
		c.Secret = m
		return nil
	}
	switch v := obj.(type) {
	case *kmip.SymmetricKey:
		if f := v.KeyBlock.KeyFormatType; f != kmip.KeyFormatTypeRaw && f != kmip.KeyFormatTypeTransparentSymmetricKey {
			return c, nil, failf(kmip.ResultReasonKeyFormatTypeNotSupported, "symmetric keys are registered as Raw or Transparent Symmetric Key")
		}
		raw, extra, err := keyBlockMaterial(&v.KeyBlock)
		if err != nil {
			return c, nil, err
		}
		c.Format, c.ExportFormat = object.FormatRaw, object.KeyFormat(v.KeyBlock.KeyFormatType)
		return c, extra, secret(raw)
	case *kmip.SecretData:
		raw, extra, err := keyBlockMaterial(&v.KeyBlock)
		if err != nil {
			return c, nil, err
		}
		if f := v.KeyBlock.KeyFormatType; f != kmip.KeyFormatTypeOpaque && f != kmip.KeyFormatTypeRaw {
			return c, nil, failf(kmip.ResultReasonKeyFormatTypeNotSupported, "secret data is registered as Opaque or Raw")
		}
		c.Format, c.SubType = object.FormatRaw, uint32(v.SecretDataType)
		return c, extra, secret(raw)
	case *kmip.OpaqueObject:
		c.Format, c.SubType = object.FormatOpaque, uint32(v.OpaqueDataType)
		return c, nil, secret(v.OpaqueDataValue)
	case *kmip.Certificate:
		if v.CertificateType != kmip.CertificateTypeX509 {
			return c, nil, failf(kmip.ResultReasonFeatureNotSupported, "only X.509 certificates are supported")
		}
		c.Format, c.Public = object.FormatX509, append([]byte(nil), v.CertificateValue...)
		return c, nil, nil
	case *kmip.Template:
		attrs, err := coreAttrs(v.Attributes)
		if err != nil {
			return c, nil, err
		}
		// A Name inside a Template names the Template object itself
		// (TC 3.1.2): it becomes an attribute of the object, not of the
		// objects made from the template.
		var names []object.Attribute
		for _, a := range attrs {
			if a.Name == object.AttrName {
				a.Index = 0
				names = append(names, a)
			} else {
				c.Template = append(c.Template, a)
			}
		}
		return c, names, nil
	case *kmip.PrivateKey:
		if t, ok := transparentRSA(&v.KeyBlock); ok {
			_, extra, err := keyBlockMaterial(&kmip.KeyBlock{KeyValue: &kmip.KeyValue{KeyMaterial: kmip.RawKeyMaterial{}},
				CryptographicAlgorithm: v.KeyBlock.CryptographicAlgorithm, CryptographicLength: v.KeyBlock.CryptographicLength})
			if err != nil {
				return c, nil, err
			}
			der, err := transparentRSAToPKCS8(t)
			if err != nil {
				return c, nil, err
			}
			defer clear(der)
			c.Format, c.ExportFormat = object.FormatPKCS8, object.FormatTransparentRSAPrivate
			return c, extra, secret(der)
		}
		raw, extra, err := keyBlockMaterial(&v.KeyBlock)
		if err != nil {
			return c, nil, err
		}
		der, err := toPKCS8(v.KeyBlock.KeyFormatType, raw)
		if err != nil {
			return c, nil, err
		}
		defer clear(der)
		c.Format, c.ExportFormat = object.FormatPKCS8, object.KeyFormat(v.KeyBlock.KeyFormatType)
		return c, extra, secret(der)
	case *kmip.PublicKey:
		raw, extra, err := keyBlockMaterial(&v.KeyBlock)
		if err != nil {
			return c, nil, err
		}
		der, err := toPKIX(v.KeyBlock.KeyFormatType, raw)
		if err != nil {
			return c, nil, err
		}
		c.Format, c.Public, c.ExportFormat = object.FormatX509, der, object.KeyFormat(v.KeyBlock.KeyFormatType)
		return c, extra, nil
	}
	return c, nil, failf(kmip.ResultReasonFeatureNotSupported, "object type %s is not supported", obj.ObjectType())
}

// transparentRSA returns the Transparent RSA Private Key of an unwrapped,
// uncompressed key block in that format.
func transparentRSA(kb *kmip.KeyBlock) (*kmip.TransparentRSAPrivateKey, bool) {
	if kb.KeyFormatType != kmip.KeyFormatTypeTransparentRSAPrivateKey || kb.KeyWrappingData != nil || kb.KeyValue == nil || kb.KeyCompressionType != nil {
		return nil, false
	}
	t, ok := kb.KeyValue.KeyMaterial.(*kmip.TransparentRSAPrivateKey)
	return t, ok
}

// maxRSABytes bounds the modulus of a registered transparent RSA key
// (8192 bits) before any arithmetic on it.
const maxRSABytes = 1024 + 8

// transparentRSAToPKCS8 validates a Transparent RSA Private Key, which must
// carry the modulus, both exponents and both primes, and returns its
// PKCS#8 encoding.
func transparentRSAToPKCS8(t *kmip.TransparentRSAPrivateKey) ([]byte, error) {
	bad := failf(kmip.ResultReasonInvalidField, "transparent RSA private key is incomplete or inconsistent")
	for _, f := range [][]byte{t.Modulus, t.PrivateExponent, t.PublicExponent, t.P, t.Q} {
		if len(f) == 0 || len(f) > maxRSABytes {
			return nil, bad
		}
	}
	e := twosToBig(t.PublicExponent)
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
		return nil, bad
	}
	k := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: twosToBig(t.Modulus), E: int(e.Int64())},
		D:         twosToBig(t.PrivateExponent),
		Primes:    []*big.Int{twosToBig(t.P), twosToBig(t.Q)},
	}
	if k.N.Sign() <= 0 || k.D.Sign() <= 0 || k.Primes[0].Sign() <= 0 || k.Primes[1].Sign() <= 0 || k.Validate() != nil {
		return nil, bad
	}
	k.Precompute()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, bad
	}
	return der, nil
}

// toPKCS8 returns a fresh PKCS#8 encoding of a private key given as PKCS#8,
// PKCS#1 (RSA) or EC Private Key (SEC 1).
func toPKCS8(f kmip.KeyFormatType, raw []byte) ([]byte, error) {
	bad := failf(kmip.ResultReasonInvalidField, "private key does not parse as %s", f)
	var k any
	var err error
	switch f {
	case kmip.KeyFormatTypePKCS8:
		if _, err := x509.ParsePKCS8PrivateKey(raw); err != nil {
			if encryptedPKCS8(raw) {
				return nil, failf(kmip.ResultReasonFeatureNotSupported, "encrypted PKCS#8 private keys are not supported: register the key unencrypted")
			}
			return nil, bad
		}
		return append([]byte(nil), raw...), nil
	case kmip.KeyFormatTypePKCS1:
		k, err = x509.ParsePKCS1PrivateKey(raw)
	case kmip.KeyFormatTypeECPrivateKey:
		k, err = x509.ParseECPrivateKey(raw)
	default:
		return nil, failf(kmip.ResultReasonKeyFormatTypeNotSupported, "private keys are registered as PKCS#8, PKCS#1 or EC Private Key")
	}
	if err != nil {
		if oid, ok := sec1Curve(raw); ok && f == kmip.KeyFormatTypeECPrivateKey {
			return nil, failf(kmip.ResultReasonFeatureNotSupported, "EC curve %s is not supported (P-224, P-256, P-384, P-521 are)", oid)
		}
		return nil, bad
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, bad
	}
	return der, nil
}

// encryptedPKCS8 reports whether der is a PKCS#8 EncryptedPrivateKeyInfo
// (RFC 5208: an algorithm identifier and an octet string, nothing after).
func encryptedPKCS8(der []byte) bool {
	var epki struct {
		Algorithm pkix.AlgorithmIdentifier
		Data      []byte
	}
	rest, err := asn1.Unmarshal(der, &epki)
	return err == nil && len(rest) == 0 && len(epki.Data) > 0
}

// sec1Curve returns the named curve of a well-formed SEC 1 ECPrivateKey
// (RFC 5915), for a precise refusal when the curve is not supported.
func sec1Curve(der []byte) (asn1.ObjectIdentifier, bool) {
	var k struct {
		Version    int
		PrivateKey []byte
		Curve      asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
		PublicKey  asn1.BitString        `asn1:"optional,explicit,tag:1"`
	}
	rest, err := asn1.Unmarshal(der, &k)
	if err != nil || len(rest) != 0 || k.Version != 1 || len(k.Curve) == 0 {
		return nil, false
	}
	return k.Curve, true
}

// toPKIX returns the SubjectPublicKeyInfo of a public key given as X.509
// (SubjectPublicKeyInfo) or PKCS#1 (RSA).
func toPKIX(f kmip.KeyFormatType, raw []byte) ([]byte, error) {
	bad := failf(kmip.ResultReasonInvalidField, "public key does not parse as %s", f)
	switch f {
	case kmip.KeyFormatTypeX509:
		if _, err := x509.ParsePKIXPublicKey(raw); err != nil {
			return nil, bad
		}
		return append([]byte(nil), raw...), nil
	case kmip.KeyFormatTypePKCS1:
		k, err := x509.ParsePKCS1PublicKey(raw)
		if err != nil {
			return nil, bad
		}
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return nil, bad
		}
		return der, nil
	}
	return nil, failf(kmip.ResultReasonKeyFormatTypeNotSupported, "public keys are registered as X.509 or PKCS#1")
}

// offsetOf converts a Re-key Offset; absent is -1, which tells the core
// to compute no dates (the layer copies them, see copyDates).
func offsetOf(p *uint32) time.Duration {
	if p == nil {
		return -1
	}
	return time.Duration(*p) * time.Second
}

// lifecycleDates are the dates a re-key without Offset copies from the
// existing key [S 4.4, 4.5].
var lifecycleDates = []string{object.AttrActivationDate, object.AttrProcessStartDate, object.AttrProtectStopDate, object.AttrDeactivationDate}

// copyDates appends to attrs the lifecycle dates of uid that attrs does
// not give itself.
func (o *Ops) copyDates(ctx context.Context, b *batch, uid string, attrs []object.Attribute) ([]object.Attribute, error) {
	old, err := o.core.GetAttributes(ctx, b.id, uid, lifecycleDates)
	if err != nil {
		return nil, err
	}
	for _, d := range old {
		given := false
		for _, a := range attrs {
			given = given || a.Name == d.Name
		}
		if !given {
			attrs = append(attrs, object.Attribute{Name: d.Name, Value: d.Value})
		}
	}
	return attrs, nil
}

// linkedPublicKey returns the UID of the public key linked from privUID.
func (o *Ops) linkedPublicKey(ctx context.Context, b *batch, privUID string) (string, error) {
	links, err := o.core.GetAttributes(ctx, b.id, privUID, []string{object.AttrLink})
	if err != nil {
		return "", err
	}
	for _, a := range links {
		if l, ok := a.Value.(object.Link); ok && l.Type == object.LinkPublicKey {
			return l.ID, nil
		}
	}
	return "", failf(kmip.ResultReasonIllegalOperation, "the private key has no linked public key")
}

func (o *Ops) reKey(ctx context.Context, b *batch, p *kmip.ReKeyRequest) (kmip.ResponsePayload, string, error) {
	uid, err := b.use(p.UniqueIdentifier)
	if err != nil {
		return nil, "", err
	}
	attrs, err := o.templateAttrs(ctx, b, p.TemplateAttribute)
	if err != nil {
		return nil, uid, err
	}
	if p.Offset == nil {
		if attrs, err = o.copyDates(ctx, b, uid, attrs); err != nil {
			return nil, uid, err
		}
	}
	n, err := o.core.ReKey(ctx, b.id, uid, offsetOf(p.Offset), attrs)
	if err != nil {
		return nil, uid, err
	}
	b.placeholder = n
	return &kmip.ReKeyResponse{UniqueIdentifier: n}, n, nil
}

func (o *Ops) reKeyKeyPair(ctx context.Context, b *batch, p *kmip.ReKeyKeyPairRequest) (kmip.ResponsePayload, string, error) {
	uid, err := b.use(p.PrivateKeyUniqueIdentifier)
	if err != nil {
		return nil, "", err
	}
	c, pr, pu, err := o.pairAttrs(ctx, b, p.CommonTemplateAttribute, p.PrivateKeyTemplateAttribute, p.PublicKeyTemplateAttribute)
	if err != nil {
		return nil, uid, err
	}
	if p.Offset == nil {
		pubUID, err := o.linkedPublicKey(ctx, b, uid)
		if err != nil {
			return nil, uid, err
		}
		if pr, err = o.copyDates(ctx, b, uid, append(append([]object.Attribute(nil), c...), pr...)); err != nil {
			return nil, uid, err
		}
		if pu, err = o.copyDates(ctx, b, pubUID, append(append([]object.Attribute(nil), c...), pu...)); err != nil {
			return nil, uid, err
		}
		pr, pu = pr[len(c):], pu[len(c):]
	}
	np, npub, err := o.core.ReKeyKeyPair(ctx, b.id, uid, offsetOf(p.Offset), c, pr, pu)
	if err != nil {
		return nil, uid, err
	}
	b.placeholder = np
	return &kmip.ReKeyKeyPairResponse{PrivateKeyUniqueIdentifier: np, PublicKeyUniqueIdentifier: npub}, np, nil
}
