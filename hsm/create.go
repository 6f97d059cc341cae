package hsm

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/cofferhsm/coffer/hsm/object"
)

// Content is the content of a managed object: what Register takes and Get
// returns. Secret is set for Symmetric Key (Format Raw), Private Key
// (PKCS#8), Secret Data (Raw) and Opaque Object (Opaque); Public for
// Public Key (X.509 SubjectPublicKeyInfo) and Certificate (X.509 DER).
// SubType is the Secret Data Type, Opaque Data Type or Certificate Type.
// Template holds a Template object's attributes.
//
// ExportFormat is the Key Format Type the client uses for the key when it
// is not the stored Format: on Register, the format the client sent the
// key in (Transparent Symmetric Key for a symmetric key; PKCS#1 or EC
// Private Key for a private key; PKCS#1 for an RSA public key; 0 = Format),
// which becomes the object's default export format and the format of its
// Digest. Get always sets it to the object's default format.
type Content struct {
	Type     object.Type
	Format   object.KeyFormat
	Secret   *key.Material
	Public   []byte
	SubType  uint32
	Template []object.Attribute

	ExportFormat object.KeyFormat
}

// newObject returns a fresh object owned by id with the server-set
// attributes of creation and the client attributes attrs applied.
func (c *Core) newObject(ctx context.Context, id Identity, t object.Type, now time.Time, attrs []object.Attribute) (*object.Object, error) {
	uid, err := c.db.NewUID(ctx)
	if err != nil {
		return nil, fmt.Errorf("hsm: new UID: %w", err)
	}
	o := &object.Object{UID: uid, Type: t, Owner: id.Name, Groups: append([]string(nil), id.Groups...)}
	if err := o.Set(object.AttrInitialDate, now); err != nil {
		return nil, err
	}
	if t.Cryptographic() {
		if err := o.Set(object.AttrState, object.StatePreActive); err != nil {
			return nil, err
		}
		if err := o.Set(object.AttrFresh, true); err != nil {
			return nil, err
		}
	}
	if err := applyClientAttrs(o, attrs); err != nil {
		return nil, err
	}
	return o, nil
}

// applyClientAttrs applies creation-time attributes supplied by a client.
// Single-instance attributes given twice fail with ErrIllegal; server-only
// ones with ErrPermission. A client value replaces a server default.
func applyClientAttrs(o *object.Object, attrs []object.Attribute) error {
	seen := map[string]bool{}
	for _, a := range attrs {
		a.Value = clientValue(a.Value)
		r, err := object.RuleFor(a.Name)
		if err != nil {
			return err
		}
		if !r.ClientMaySet() {
			return fmt.Errorf("%w: %s is set by the server", ErrPermission, a.Name)
		}
		if r.Multi {
			if _, err := o.Add(a.Name, a.Value); err != nil {
				return err
			}
			continue
		}
		if seen[a.Name] {
			return fmt.Errorf("%w: %s given twice", ErrIllegal, a.Name)
		}
		seen[a.Name] = true
		if err := o.Set(a.Name, a.Value); err != nil {
			return err
		}
	}
	return nil
}

// clientValue applies the server's part of a client-written value: the
// Count of Usage Limits starts at the Total.
func clientValue(v any) any {
	if u, ok := v.(object.UsageLimits); ok {
		u.Count = u.Total
		return u
	}
	return v
}

func attrValue[T any](o *object.Object, name string) (T, bool) {
	var zero T
	a, ok := o.Get(name)
	if !ok {
		return zero, false
	}
	v, ok := a.Value.(T)
	return v, ok
}

// setDigest records the SHA-256 digest of the object's content in its
// default format (see Object.ExportFormat): the key material bytes of that
// format (for Transparent Symmetric Key, the Key bytes).
func setDigest(o *object.Object) error {
	var content []byte
	switch f := o.DefaultFormat(); {
	case o.Secret == nil:
		content = o.Public
		if f == object.FormatPKCS1 {
			der, err := key.PublicPKCS1(o.Public)
			if err != nil {
				return fmt.Errorf("%w: %v", ErrInvalid, err)
			}
			content = der
		}
	case f == object.FormatPKCS1 || f == object.FormatTransparentRSAPrivate || f == object.FormatECPrivateKey:
		conv := key.PrivatePKCS1
		if f == object.FormatECPrivateKey {
			conv = key.PrivateSEC1
		}
		m, err := conv(o.Secret)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		defer m.Destroy()
		content, _ = m.Bytes()
	default:
		content, _ = o.Secret.Bytes()
	}
	sum := sha256.Sum256(content)
	return o.Set(object.AttrDigest, object.Digest{Algorithm: object.HashSHA256, Value: sum[:], Format: o.DefaultFormat()})
}

// exportFormats lists, per object type, the formats other than the stored
// one that a key may be registered in.
var exportFormats = map[object.Type][]object.KeyFormat{
	object.TypeSymmetricKey: {object.FormatTransparentSymmetric},
	object.TypePrivateKey:   {object.FormatPKCS1, object.FormatECPrivateKey, object.FormatTransparentRSAPrivate},
	object.TypePublicKey:    {object.FormatPKCS1},
}

// symmetricBits checks alg/length for a symmetric key and returns the
// number of key bytes to generate or expect.
func symmetricBits(alg object.Algorithm, bits int32) (int, error) {
	if err := checkStrength(alg, int(bits)); err != nil {
		return 0, err
	}
	switch alg {
	case object.AlgAES:
		if bits == 128 || bits == 192 || bits == 256 {
			return int(bits), nil
		}
	case object.Alg3DES:
		if bits == 168 || bits == 192 {
			return 192, nil
		}
	case object.AlgHMACSHA1, object.AlgHMACSHA224, object.AlgHMACSHA256, object.AlgHMACSHA384, object.AlgHMACSHA512:
		if bits >= 112 && bits <= 4096 && bits%8 == 0 {
			return int(bits), nil
		}
	default:
		return 0, fmt.Errorf("%w: symmetric algorithm %d", ErrNotSupported, alg)
	}
	return 0, fmt.Errorf("%w: %d-bit key for algorithm %d", ErrInvalid, bits, alg)
}

// Create generates a new Symmetric Key (KMIP Create). attrs must carry
// Cryptographic Algorithm (AES, 3DES, HMAC-SHA*), Cryptographic Length and
// Cryptographic Usage Mask. Keys the strength policy forbids (see
// WeakKeyError) fail with a *WeakKeyError. The key is Pre-Active unless attrs hold an
// Activation Date at or before now.
func (c *Core) Create(ctx context.Context, id Identity, t object.Type, attrs []object.Attribute) (uid string, err error) {
	defer func() { err = c.finish(ctx, id, "Create", err, false, uid) }()
	if err := checkIdentity(id); err != nil {
		return "", err
	}
	if t != object.TypeSymmetricKey {
		return "", fmt.Errorf("hsm: create object type %d: %w", t, ErrNotSupported)
	}
	now := c.clock()
	o, err := c.newObject(ctx, id, t, now, attrs)
	if err != nil {
		return "", fmt.Errorf("hsm: create: %w", err)
	}
	alg, ok1 := attrValue[object.Algorithm](o, object.AttrAlgorithm)
	bits, ok2 := attrValue[int32](o, object.AttrLength)
	_, ok3 := attrValue[int32](o, object.AttrUsageMask)
	if !ok1 || !ok2 || !ok3 {
		return "", fmt.Errorf("hsm: create: %w: Cryptographic Algorithm, Length and Usage Mask are required", ErrInvalid)
	}
	n, err := symmetricBits(alg, bits)
	if err != nil {
		return "", fmt.Errorf("hsm: create: %w", err)
	}
	var m *key.Material
	if alg == object.Alg3DES {
		m, err = key.GenerateDES3(c.rand)
	} else {
		m, err = key.GenerateSymmetric(c.rand, n)
	}
	if err != nil {
		return "", fmt.Errorf("hsm: create: %w", err)
	}
	o.Secret, o.Format = m, object.FormatRaw
	defer o.Destroy()
	if err := setDigest(o); err != nil {
		return "", err
	}
	if err := c.save(ctx, now, o); err != nil {
		return "", err
	}
	return o.UID, nil
}

// asymmetric returns the algorithm and size of a key pair template.
func asymmetric(o *object.Object) (object.Algorithm, int, error) {
	alg, ok1 := attrValue[object.Algorithm](o, object.AttrAlgorithm)
	bits, ok2 := attrValue[int32](o, object.AttrLength)
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("%w: Cryptographic Algorithm and Length are required", ErrInvalid)
	}
	switch alg {
	case object.AlgRSA, object.AlgECDSA:
		if err := checkStrength(alg, int(bits)); err != nil {
			return 0, 0, err
		}
		return alg, int(bits), nil
	}
	return 0, 0, fmt.Errorf("%w: key pair algorithm %d", ErrNotSupported, alg)
}

func (c *Core) generatePair(alg object.Algorithm, bits int) (*key.Material, []byte, error) {
	if alg == object.AlgRSA {
		return key.GenerateRSA(c.rand, bits)
	}
	return key.GenerateECDSA(c.rand, bits)
}

// newPair builds the two objects of a key pair from the merged templates,
// generates the pair and links the halves both ways.
func (c *Core) newPair(ctx context.Context, id Identity, now time.Time, common, privAttrs, pubAttrs []object.Attribute) (priv, pub *object.Object, err error) {
	priv, err = c.newObject(ctx, id, object.TypePrivateKey, now, append(append([]object.Attribute(nil), common...), privAttrs...))
	if err != nil {
		return nil, nil, err
	}
	pub, err = c.newObject(ctx, id, object.TypePublicKey, now, append(append([]object.Attribute(nil), common...), pubAttrs...))
	if err != nil {
		return nil, nil, err
	}
	alg, bits, err := asymmetric(priv)
	if err != nil {
		return nil, nil, err
	}
	if a2, b2, err := asymmetric(pub); err != nil || a2 != alg || b2 != bits {
		return nil, nil, fmt.Errorf("%w: public and private key templates disagree", ErrInvalid)
	}
	// Default usage: sign with the private half, verify with the public.
	for _, d := range []struct {
		o    *object.Object
		mask int32
	}{{priv, object.UsageSign}, {pub, object.UsageVerify}} {
		if _, ok := d.o.Get(object.AttrUsageMask); !ok {
			if err := d.o.Set(object.AttrUsageMask, d.mask); err != nil {
				return nil, nil, err
			}
		}
	}
	sec, spki, err := c.generatePair(alg, bits)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	priv.Secret, priv.Format = sec, object.FormatPKCS8
	pub.Public, pub.Format = spki, object.FormatX509
	if err := setDigest(priv); err != nil {
		return nil, nil, err
	}
	if err := setDigest(pub); err != nil {
		return nil, nil, err
	}
	if _, err := priv.Add(object.AttrLink, object.Link{Type: object.LinkPublicKey, ID: pub.UID}); err != nil {
		return nil, nil, err
	}
	if _, err := pub.Add(object.AttrLink, object.Link{Type: object.LinkPrivateKey, ID: priv.UID}); err != nil {
		return nil, nil, err
	}
	return priv, pub, nil
}

// CreateKeyPair generates an RSA (2048, 3072, 4096) or ECDSA (P-256,
// P-384, P-521: lengths 256, 384, 521) key pair (KMIP Create Key Pair).
// common applies to both halves, privAttrs and pubAttrs to one each; the
// merged templates must agree on Cryptographic Algorithm and Length. The
// halves are linked to each other (Public Key Link / Private Key Link) and
// written atomically.
func (c *Core) CreateKeyPair(ctx context.Context, id Identity, common, privAttrs, pubAttrs []object.Attribute) (privUID, pubUID string, err error) {
	defer func() { err = c.finish(ctx, id, "CreateKeyPair", err, false, privUID, pubUID) }()
	if err := checkIdentity(id); err != nil {
		return "", "", err
	}
	now := c.clock()
	priv, pub, err := c.newPair(ctx, id, now, common, privAttrs, pubAttrs)
	if err != nil {
		return "", "", fmt.Errorf("hsm: create key pair: %w", err)
	}
	defer priv.Destroy()
	if err := c.save(ctx, now, priv, pub); err != nil {
		return "", "", err
	}
	return priv.UID, pub.UID, nil
}

// Register stores a client-supplied object (KMIP Register). Cryptographic
// Algorithm and Length of keys are derived from the content when absent
// and must match it when present. c.Secret is copied; the caller keeps
// ownership.
func (c *Core) Register(ctx context.Context, id Identity, content Content, attrs []object.Attribute) (uid string, err error) {
	defer func() { err = c.finish(ctx, id, "Register", err, false, uid) }()
	if err := checkIdentity(id); err != nil {
		return "", err
	}
	if !content.Type.Supported() {
		return "", fmt.Errorf("hsm: register object type %d: %w", content.Type, ErrNotSupported)
	}
	now := c.clock()
	o, err := c.newObject(ctx, id, content.Type, now, attrs)
	if err != nil {
		return "", fmt.Errorf("hsm: register: %w", err)
	}
	defer o.Destroy()
	if err := fillContent(o, content); err != nil {
		return "", fmt.Errorf("hsm: register: %w", err)
	}
	if err := c.save(ctx, now, o); err != nil {
		return "", err
	}
	return o.UID, nil
}

// setOrMatch sets a derived attribute, or checks a client-given one.
func setOrMatch(o *object.Object, name string, v any) error {
	if a, ok := o.Get(name); ok {
		if !object.Equal(a.Value, v) {
			return fmt.Errorf("%w: %s does not match the key", ErrInvalid, name)
		}
		return nil
	}
	return o.Set(name, v)
}

// fillContent validates content for o.Type and stores it in o.
func fillContent(o *object.Object, ct Content) error {
	secret := func(f object.KeyFormat) error {
		if ct.Format != f || ct.Secret == nil || len(ct.Public) > 0 || len(ct.Template) > 0 {
			return fmt.Errorf("%w: object type %d needs secret content in format %d", ErrInvalid, o.Type, f)
		}
		m, err := ct.Secret.Clone()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		o.Secret, o.Format = m, f
		return nil
	}
	switch o.Type {
	case object.TypeSymmetricKey:
		if err := secret(object.FormatRaw); err != nil {
			return err
		}
		alg, ok := attrValue[object.Algorithm](o, object.AttrAlgorithm)
		if !ok {
			return fmt.Errorf("%w: Cryptographic Algorithm is required", ErrInvalid)
		}
		bits := int32(o.Secret.Len() * 8)
		if alg == object.Alg3DES {
			if l, ok := attrValue[int32](o, object.AttrLength); ok && l == 168 {
				bits = 168
			}
		}
		if _, err := symmetricBits(alg, bits); err != nil {
			return err
		}
		if err := setOrMatch(o, object.AttrLength, bits); err != nil {
			return err
		}
	case object.TypePrivateKey:
		if err := secret(object.FormatPKCS8); err != nil {
			return err
		}
		alg, bits, _, err := key.DescribePrivate(o.Secret)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if err := setAsym(o, alg, bits); err != nil {
			return err
		}
	case object.TypePublicKey:
		if ct.Format != object.FormatX509 || len(ct.Public) == 0 || ct.Secret != nil {
			return fmt.Errorf("%w: public keys are registered as X.509 SubjectPublicKeyInfo", ErrInvalid)
		}
		alg, bits, err := key.DescribePublic(ct.Public)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		o.Public, o.Format = append([]byte(nil), ct.Public...), object.FormatX509
		if err := setAsym(o, alg, bits); err != nil {
			return err
		}
	case object.TypeCertificate:
		if ct.Format != object.FormatX509 || len(ct.Public) == 0 || ct.Secret != nil {
			return fmt.Errorf("%w: certificates are registered as X.509 DER", ErrInvalid)
		}
		cert, err := x509.ParseCertificate(ct.Public)
		if err != nil {
			return fmt.Errorf("%w: certificate: %v", ErrInvalid, err)
		}
		o.Public, o.Format, o.SubType = append([]byte(nil), ct.Public...), object.FormatX509, uint32(object.CertificateX509)
		if err := o.Set(object.AttrCertificateType, object.CertificateX509); err != nil {
			return err
		}
		if err := certAttrs(o, cert); err != nil {
			return err
		}
	case object.TypeSecretData:
		if err := secret(object.FormatRaw); err != nil {
			return err
		}
		if ct.SubType != 1 && ct.SubType != 2 {
			return fmt.Errorf("%w: secret data type %d", ErrInvalid, ct.SubType)
		}
		o.SubType = ct.SubType
	case object.TypeOpaqueObject:
		if err := secret(object.FormatOpaque); err != nil {
			return err
		}
		o.SubType = ct.SubType
	case object.TypeTemplate:
		if ct.Secret != nil || len(ct.Public) > 0 || len(ct.Template) == 0 {
			return fmt.Errorf("%w: a template holds attributes only", ErrInvalid)
		}
		t := &object.Object{Type: object.TypeTemplate}
		if err := applyClientAttrs(t, ct.Template); err != nil {
			return err
		}
		o.Template = t.Attrs
		return nil
	default:
		return fmt.Errorf("%w: object type %d", ErrNotSupported, o.Type)
	}
	if ct.ExportFormat != 0 && ct.ExportFormat != o.Format {
		if !slices.Contains(exportFormats[o.Type], ct.ExportFormat) {
			return fmt.Errorf("%w: object type %d is not registered in format %d", ErrInvalid, o.Type, ct.ExportFormat)
		}
		o.ExportFormat = ct.ExportFormat
	}
	return setDigest(o)
}

func setAsym(o *object.Object, alg string, bits int) error {
	a := object.AlgRSA
	if alg == key.AlgECDSA {
		a = object.AlgECDSA
	}
	return setAsymAttrs(o, a, bits)
}

// setAsymAttrs sets (or checks client-given) Cryptographic Algorithm and
// Length of an asymmetric key.
func setAsymAttrs(o *object.Object, a object.Algorithm, bits int) error {
	if err := setOrMatch(o, object.AttrAlgorithm, a); err != nil {
		return err
	}
	return setOrMatch(o, object.AttrLength, int32(bits))
}
