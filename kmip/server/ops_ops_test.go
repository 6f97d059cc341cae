package server

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cofferhsm/coffer/kmip"
	"github.com/cofferhsm/coffer/kmip/ttlv"
)

func symKey(raw []byte) *kmip.SymmetricKey {
	return &kmip.SymmetricKey{KeyBlock: kmip.KeyBlock{
		KeyFormatType:          kmip.KeyFormatTypeRaw,
		KeyValue:               &kmip.KeyValue{KeyMaterial: kmip.RawKeyMaterial(raw)},
		CryptographicAlgorithm: ptr(kmip.CryptographicAlgorithmAES),
		CryptographicLength:    ptr(int32(8 * len(raw))),
	}}
}

func usage(m uint32) kmip.TemplateAttribute {
	return kmip.TemplateAttribute{Attributes: []kmip.Attribute{{Name: "Cryptographic Usage Mask", Value: kmip.CryptographicUsageMask(m)}}}
}

func (e *testEnv) register(t *testing.T, obj kmip.Object, ta kmip.TemplateAttribute) string {
	t.Helper()
	p := e.ok(t, &kmip.RegisterRequest{ObjectType: obj.ObjectType(), TemplateAttribute: ta, Object: obj})
	return p.(*kmip.RegisterResponse).UniqueIdentifier
}

func (e *testEnv) get(t *testing.T, uid string, f *kmip.KeyFormatType) *kmip.GetResponse {
	t.Helper()
	return e.ok(t, &kmip.GetRequest{UniqueIdentifier: uid, KeyFormatType: f}).(*kmip.GetResponse)
}

func (e *testEnv) state(t *testing.T, uid string) kmip.State {
	t.Helper()
	r := e.ok(t, &kmip.GetAttributesRequest{UniqueIdentifier: uid, AttributeNames: []string{"State"}}).(*kmip.GetAttributesResponse)
	if len(r.Attributes) != 1 {
		t.Fatalf("state: %+v", r.Attributes)
	}
	return r.Attributes[0].Value.(kmip.State)
}

func TestCreate(t *testing.T) {
	e := newTestEnv(t, nil)
	uid := e.createAES(t)
	if s := e.state(t, uid); s != kmip.StatePreActive {
		t.Fatalf("state %s", s)
	}
	tests := []struct {
		name   string
		req    *kmip.CreateRequest
		reason kmip.ResultReason
	}{
		{"missing usage mask", &kmip.CreateRequest{ObjectType: kmip.ObjectTypeSymmetricKey, TemplateAttribute: kmip.TemplateAttribute{Attributes: aesTemplate().Attributes[:1]}}, kmip.ResultReasonInvalidField},
		{"bad length", &kmip.CreateRequest{ObjectType: kmip.ObjectTypeSymmetricKey, TemplateAttribute: kmip.TemplateAttribute{Attributes: []kmip.Attribute{
			{Name: "Cryptographic Algorithm", Value: kmip.CryptographicAlgorithmAES},
			{Name: "Cryptographic Usage Mask", Value: kmip.CryptographicUsageMask(12)},
			{Name: "Cryptographic Length", Value: kmip.Integer(100)}}}}, kmip.ResultReasonInvalidField},
		{"not a symmetric key", &kmip.CreateRequest{ObjectType: kmip.ObjectTypeSecretData, TemplateAttribute: aesTemplate()}, kmip.ResultReasonInvalidField},
		{"server-only attribute", &kmip.CreateRequest{ObjectType: kmip.ObjectTypeSymmetricKey, TemplateAttribute: aesTemplate(kmip.Attribute{Name: "State", Value: kmip.StateActive})}, kmip.ResultReasonPermissionDenied},
		{"unsupported attribute", &kmip.CreateRequest{ObjectType: kmip.ObjectTypeSymmetricKey, TemplateAttribute: aesTemplate(kmip.Attribute{Name: "Cryptographic Domain Parameters", Value: &kmip.CryptographicDomainParameters{}})}, kmip.ResultReasonFeatureNotSupported},
		{"unknown template", &kmip.CreateRequest{ObjectType: kmip.ObjectTypeSymmetricKey, TemplateAttribute: kmip.TemplateAttribute{Names: []kmip.Name{{Value: "nope", Type: kmip.NameTypeUninterpretedTextString}}}}, kmip.ResultReasonItemNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { e.fails(t, tt.req, tt.reason) })
	}
	t.Run("weak keys refused by policy", func(t *testing.T) {
		weak := []kmip.RequestPayload{
			&kmip.CreateRequest{ObjectType: kmip.ObjectTypeSymmetricKey, TemplateAttribute: kmip.TemplateAttribute{Attributes: []kmip.Attribute{
				{Name: "Cryptographic Algorithm", Value: kmip.CryptographicAlgorithmSKIPJACK},
				{Name: "Cryptographic Usage Mask", Value: kmip.CryptographicUsageMask(12)},
				{Name: "Cryptographic Length", Value: kmip.Integer(80)}}}},
			&kmip.CreateRequest{ObjectType: kmip.ObjectTypeSymmetricKey, TemplateAttribute: kmip.TemplateAttribute{Attributes: []kmip.Attribute{
				{Name: "Cryptographic Algorithm", Value: kmip.CryptographicAlgorithmDES3},
				{Name: "Cryptographic Usage Mask", Value: kmip.CryptographicUsageMask(12)},
				{Name: "Cryptographic Length", Value: kmip.Integer(112)}}}},
			&kmip.CreateKeyPairRequest{CommonTemplateAttribute: &kmip.TemplateAttribute{Attributes: []kmip.Attribute{
				{Name: "Cryptographic Algorithm", Value: kmip.CryptographicAlgorithmRSA},
				{Name: "Cryptographic Length", Value: kmip.Integer(1024)}}}},
		}
		for _, p := range weak {
			bi := e.fails(t, p, kmip.ResultReasonInvalidField)
			if m := messageOf(bi); !strings.Contains(m, "too weak") {
				t.Errorf("%s: message %q does not explain the refusal", p.Operation(), m)
			}
		}
	})
	t.Run("activation date in the past", func(t *testing.T) {
		uid := e.createAES(t, kmip.Attribute{Name: "Activation Date", Value: kmip.DateTime(testT0.Add(-time.Hour))})
		if s := e.state(t, uid); s != kmip.StateActive {
			t.Fatalf("state %s", s)
		}
	})
}

func TestTemplateReference(t *testing.T) {
	e := newTestEnv(t, nil)
	tmpl := &kmip.Template{Attributes: []kmip.Attribute{
		{Name: "Object Group", Value: kmip.TextString("Group1")},
		{Name: "Cryptographic Algorithm", Value: kmip.CryptographicAlgorithmAES},
		{Name: "Name", Value: &kmip.Name{Value: "T1", Type: kmip.NameTypeUninterpretedTextString}},
	}}
	tuid := e.register(t, tmpl, kmip.TemplateAttribute{})
	got := e.get(t, tuid, nil).Object.(*kmip.Template)
	if len(got.Attributes) != 2 {
		t.Fatalf("template holds %+v", got.Attributes)
	}
	p := e.ok(t, &kmip.CreateRequest{ObjectType: kmip.ObjectTypeSymmetricKey, TemplateAttribute: kmip.TemplateAttribute{
		Names: []kmip.Name{{Value: "T1", Type: kmip.NameTypeUninterpretedTextString}},
		Attributes: []kmip.Attribute{
			{Name: "Cryptographic Usage Mask", Value: kmip.CryptographicUsageMask(12)},
			{Name: "Cryptographic Length", Value: kmip.Integer(128)},
		}}}).(*kmip.CreateResponse)
	ga := e.ok(t, &kmip.GetAttributesRequest{UniqueIdentifier: p.UniqueIdentifier, AttributeNames: []string{"Object Group", "Name"}}).(*kmip.GetAttributesResponse)
	want := []kmip.Attribute{{Name: "Object Group", Value: kmip.TextString("Group1")}}
	if d := cmp.Diff(want, ga.Attributes); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
}

func TestRegisterAndGetFormats(t *testing.T) {
	e := newTestEnv(t, nil)
	raw := unhex(t, "00112233445566778899AABBCCDDEEFF")
	t.Run("symmetric", func(t *testing.T) {
		uid := e.register(t, symKey(raw), usage(12))
		if d := cmp.Diff(symKey(raw), e.get(t, uid, nil).Object); d != "" {
			t.Fatalf("raw (-want +got):\n%s", d)
		}
		tr := e.get(t, uid, ptr(kmip.KeyFormatTypeTransparentSymmetricKey)).Object.(*kmip.SymmetricKey)
		if m := tr.KeyBlock.KeyValue.KeyMaterial.(*kmip.TransparentSymmetricKey); !bytes.Equal(m.Key, raw) || tr.KeyBlock.KeyFormatType != kmip.KeyFormatTypeTransparentSymmetricKey {
			t.Fatalf("transparent: %+v", tr.KeyBlock)
		}
		e.fails(t, &kmip.GetRequest{UniqueIdentifier: uid, KeyFormatType: ptr(kmip.KeyFormatTypePKCS8)}, kmip.ResultReasonKeyFormatTypeNotSupported)
		e.fails(t, &kmip.GetRequest{UniqueIdentifier: uid, KeyCompressionType: ptr(kmip.KeyCompressionType(1))}, kmip.ResultReasonKeyCompressionTypeNotSupported)
	})
	t.Run("transparent symmetric in", func(t *testing.T) {
		k := &kmip.SymmetricKey{KeyBlock: kmip.KeyBlock{KeyFormatType: kmip.KeyFormatTypeTransparentSymmetricKey,
			KeyValue:               &kmip.KeyValue{KeyMaterial: &kmip.TransparentSymmetricKey{Key: raw}},
			CryptographicAlgorithm: ptr(kmip.CryptographicAlgorithmAES)}}
		uid := e.register(t, k, usage(12))
		// Get defaults to the registered format (TC 18.1); Raw on request.
		k.KeyBlock.CryptographicLength = ptr(int32(128))
		if d := cmp.Diff(k, e.get(t, uid, nil).Object); d != "" {
			t.Fatalf("default (-want +got):\n%s", d)
		}
		if d := cmp.Diff(symKey(raw), e.get(t, uid, ptr(kmip.KeyFormatTypeRaw)).Object); d != "" {
			t.Fatalf("raw (-want +got):\n%s", d)
		}
		e.checkDigest(t, uid, kmip.KeyFormatTypeTransparentSymmetricKey, raw)
	})
	t.Run("secret data", func(t *testing.T) {
		sd := &kmip.SecretData{SecretDataType: kmip.SecretDataTypePassword, KeyBlock: kmip.KeyBlock{
			KeyFormatType: kmip.KeyFormatTypeOpaque, KeyValue: &kmip.KeyValue{KeyMaterial: kmip.RawKeyMaterial("hunter2")}}}
		uid := e.register(t, sd, usage(0x40))
		got := e.get(t, uid, nil).Object.(*kmip.SecretData)
		if got.SecretDataType != kmip.SecretDataTypePassword || !bytes.Equal(got.KeyBlock.KeyValue.KeyMaterial.(kmip.RawKeyMaterial), []byte("hunter2")) {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("opaque", func(t *testing.T) {
		op := &kmip.OpaqueObject{OpaqueDataType: 0x80000001, OpaqueDataValue: []byte("blob")}
		uid := e.register(t, op, kmip.TemplateAttribute{})
		if d := cmp.Diff(op, e.get(t, uid, nil).Object); d != "" {
			t.Fatalf("(-want +got):\n%s", d)
		}
	})
	t.Run("certificate", func(t *testing.T) {
		der := selfSignedDER(t)
		c := &kmip.Certificate{CertificateType: kmip.CertificateTypeX509, CertificateValue: der}
		uid := e.register(t, c, usage(2))
		if d := cmp.Diff(c, e.get(t, uid, nil).Object); d != "" {
			t.Fatalf("(-want +got):\n%s", d)
		}
	})
	t.Run("rsa pkcs1", func(t *testing.T) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		p1 := x509.MarshalPKCS1PrivateKey(k)
		priv := &kmip.PrivateKey{KeyBlock: kmip.KeyBlock{KeyFormatType: kmip.KeyFormatTypePKCS1,
			KeyValue: &kmip.KeyValue{KeyMaterial: kmip.RawKeyMaterial(p1)}, CryptographicAlgorithm: ptr(kmip.CryptographicAlgorithmRSA), CryptographicLength: ptr(int32(2048))}}
		uid := e.register(t, priv, usage(1))
		got := e.get(t, uid, ptr(kmip.KeyFormatTypePKCS1)).Object.(*kmip.PrivateKey)
		if !bytes.Equal(got.KeyBlock.KeyValue.KeyMaterial.(kmip.RawKeyMaterial), p1) || got.KeyBlock.KeyFormatType != kmip.KeyFormatTypePKCS1 {
			t.Fatal("PKCS#1 round trip differs")
		}
		def := e.get(t, uid, nil).Object.(*kmip.PrivateKey)
		if def.KeyBlock.KeyFormatType != kmip.KeyFormatTypePKCS1 || !bytes.Equal(def.KeyBlock.KeyValue.KeyMaterial.(kmip.RawKeyMaterial), p1) {
			t.Fatalf("default format %s, want the registered PKCS_1", def.KeyBlock.KeyFormatType)
		}
		e.checkDigest(t, uid, kmip.KeyFormatTypePKCS1, p1)
		p8, _ := x509.MarshalPKCS8PrivateKey(k)
		if got := e.get(t, uid, ptr(kmip.KeyFormatTypePKCS8)).Object.(*kmip.PrivateKey); !bytes.Equal(got.KeyBlock.KeyValue.KeyMaterial.(kmip.RawKeyMaterial), p8) {
			t.Fatal("PKCS#8 export differs")
		}
		tr := e.get(t, uid, ptr(kmip.KeyFormatTypeTransparentRSAPrivateKey)).Object.(*kmip.PrivateKey).KeyBlock.KeyValue.KeyMaterial.(*kmip.TransparentRSAPrivateKey)
		if twosToBig(tr.Modulus).Cmp(k.N) != 0 || twosToBig(tr.PrivateExponent).Cmp(k.D) != 0 || twosToBig(tr.P).Cmp(k.Primes[0]) != 0 {
			t.Fatal("transparent RSA private key differs")
		}
		e.fails(t, &kmip.GetRequest{UniqueIdentifier: uid, KeyFormatType: ptr(kmip.KeyFormatTypeECPrivateKey)}, kmip.ResultReasonKeyFormatTypeNotSupported)

		pub := &kmip.PublicKey{KeyBlock: kmip.KeyBlock{KeyFormatType: kmip.KeyFormatTypePKCS1,
			KeyValue: &kmip.KeyValue{KeyMaterial: kmip.RawKeyMaterial(x509.MarshalPKCS1PublicKey(&k.PublicKey))}}}
		puid := e.register(t, pub, usage(2))
		spki, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if got := e.get(t, puid, ptr(kmip.KeyFormatTypeX509)).Object.(*kmip.PublicKey).KeyBlock.KeyValue.KeyMaterial.(kmip.RawKeyMaterial); !bytes.Equal(got, spki) {
			t.Fatal("public key X.509 differs")
		}
		if got := e.get(t, puid, nil).Object.(*kmip.PublicKey).KeyBlock; got.KeyFormatType != kmip.KeyFormatTypePKCS1 ||
			!bytes.Equal(got.KeyValue.KeyMaterial.(kmip.RawKeyMaterial), x509.MarshalPKCS1PublicKey(&k.PublicKey)) {
			t.Fatalf("public key default format %s, want the registered PKCS_1", got.KeyFormatType)
		}
		e.checkDigest(t, puid, kmip.KeyFormatTypePKCS1, x509.MarshalPKCS1PublicKey(&k.PublicKey))
		trp := e.get(t, puid, ptr(kmip.KeyFormatTypeTransparentRSAPublicKey)).Object.(*kmip.PublicKey).KeyBlock.KeyValue.KeyMaterial.(*kmip.TransparentRSAPublicKey)
		if twosToBig(trp.Modulus).Cmp(k.N) != 0 || twosToBig(trp.PublicExponent).Int64() != int64(k.E) {
			t.Fatal("transparent RSA public key differs")
		}
	})
	t.Run("transparent rsa private key in", func(t *testing.T) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		k.Precompute()
		tr := &kmip.TransparentRSAPrivateKey{Modulus: bigToTwos(k.N), PrivateExponent: bigToTwos(k.D), PublicExponent: bigToTwos(big.NewInt(int64(k.E))),
			P: bigToTwos(k.Primes[0]), Q: bigToTwos(k.Primes[1]), PrimeExponentP: bigToTwos(k.Precomputed.Dp),
			PrimeExponentQ: bigToTwos(k.Precomputed.Dq), CRTCoefficient: bigToTwos(k.Precomputed.Qinv)}
		priv := func(m *kmip.TransparentRSAPrivateKey) *kmip.PrivateKey {
			return &kmip.PrivateKey{KeyBlock: kmip.KeyBlock{KeyFormatType: kmip.KeyFormatTypeTransparentRSAPrivateKey, KeyValue: &kmip.KeyValue{KeyMaterial: m}}}
		}
		uid := e.register(t, priv(tr), usage(1))
		def := e.get(t, uid, nil).Object.(*kmip.PrivateKey).KeyBlock
		if def.KeyFormatType != kmip.KeyFormatTypeTransparentRSAPrivateKey || twosToBig(def.KeyValue.KeyMaterial.(*kmip.TransparentRSAPrivateKey).Modulus).Cmp(k.N) != 0 {
			t.Fatalf("default format %s, want the registered TransparentRSAPrivateKey", def.KeyFormatType)
		}
		e.checkDigest(t, uid, kmip.KeyFormatTypeTransparentRSAPrivateKey, x509.MarshalPKCS1PrivateKey(k))
		bad := *tr
		bad.P = bigToTwos(big.NewInt(7))
		e.fails(t, &kmip.RegisterRequest{ObjectType: kmip.ObjectTypePrivateKey, TemplateAttribute: usage(1), Object: priv(&bad)}, kmip.ResultReasonInvalidField)
		noQ := *tr
		noQ.Q = nil
		e.fails(t, &kmip.RegisterRequest{ObjectType: kmip.ObjectTypePrivateKey, TemplateAttribute: usage(1), Object: priv(&noQ)}, kmip.ResultReasonInvalidField)
	})
	t.Run("ec private key", func(t *testing.T) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		sec1, _ := x509.MarshalECPrivateKey(k)
		priv := &kmip.PrivateKey{KeyBlock: kmip.KeyBlock{KeyFormatType: kmip.KeyFormatTypeECPrivateKey,
			KeyValue: &kmip.KeyValue{KeyMaterial: kmip.RawKeyMaterial(sec1)}}}
		uid := e.register(t, priv, usage(1))
		got := e.get(t, uid, ptr(kmip.KeyFormatTypeECPrivateKey)).Object.(*kmip.PrivateKey)
		back, err := x509.ParseECPrivateKey(got.KeyBlock.KeyValue.KeyMaterial.(kmip.RawKeyMaterial))
		if err != nil || !back.Equal(k) {
			t.Fatalf("EC key differs: %v", err)
		}
		def := e.get(t, uid, nil).Object.(*kmip.PrivateKey).KeyBlock
		if def.KeyFormatType != kmip.KeyFormatTypeECPrivateKey || !bytes.Equal(def.KeyValue.KeyMaterial.(kmip.RawKeyMaterial), sec1) {
			t.Fatalf("default format %s, want the registered ECPrivateKey", def.KeyFormatType)
		}
		e.checkDigest(t, uid, kmip.KeyFormatTypeECPrivateKey, sec1)
	})
	t.Run("register errors", func(t *testing.T) {
		tests := []struct {
			name   string
			req    *kmip.RegisterRequest
			reason kmip.ResultReason
		}{
			{"type mismatch", &kmip.RegisterRequest{ObjectType: kmip.ObjectTypeSecretData, TemplateAttribute: usage(12), Object: symKey(raw)}, kmip.ResultReasonInvalidMessage},
			{"bad pkcs8", &kmip.RegisterRequest{ObjectType: kmip.ObjectTypePrivateKey, TemplateAttribute: usage(1), Object: &kmip.PrivateKey{KeyBlock: kmip.KeyBlock{
				KeyFormatType: kmip.KeyFormatTypePKCS8, KeyValue: &kmip.KeyValue{KeyMaterial: kmip.RawKeyMaterial("junk")}}}}, kmip.ResultReasonInvalidField},
			{"wrapped", &kmip.RegisterRequest{ObjectType: kmip.ObjectTypeSymmetricKey, TemplateAttribute: usage(12), Object: &kmip.SymmetricKey{KeyBlock: kmip.KeyBlock{
				KeyFormatType: kmip.KeyFormatTypeRaw, WrappedKeyValue: []byte("12345678"), KeyWrappingData: &kmip.KeyWrappingData{WrappingMethod: kmip.WrappingMethodEncrypt}}}}, kmip.ResultReasonFeatureNotSupported},
			{"wrong length for AES", &kmip.RegisterRequest{ObjectType: kmip.ObjectTypeSymmetricKey, TemplateAttribute: usage(12), Object: symKey(raw[:15])}, kmip.ResultReasonInvalidField},
			// TC-ECC-2: a password-encrypted PKCS#8 key (pbeWithSHAAnd3-KeyTripleDES-CBC).
			{"encrypted pkcs8", &kmip.RegisterRequest{ObjectType: kmip.ObjectTypePrivateKey, TemplateAttribute: usage(1), Object: &kmip.PrivateKey{KeyBlock: kmip.KeyBlock{
				KeyFormatType: kmip.KeyFormatTypePKCS8, KeyValue: &kmip.KeyValue{KeyMaterial: kmip.RawKeyMaterial(unhex(t, "301e3014060a2a864886f70d010c010330060401010201010406010203040506"))}}}}, kmip.ResultReasonFeatureNotSupported},
			// TC-ECC-3: secp256k1, which the standard library does not implement.
			{"unsupported curve", &kmip.RegisterRequest{ObjectType: kmip.ObjectTypePrivateKey, TemplateAttribute: usage(1), Object: &kmip.PrivateKey{KeyBlock: kmip.KeyBlock{
				KeyFormatType: kmip.KeyFormatTypeECPrivateKey, KeyValue: &kmip.KeyValue{KeyMaterial: kmip.RawKeyMaterial(unhex(t,
					"30740201010420db4d128c30ca309e62c4019758c00ba244dd64d9bf52a31078866b8a00c19c68a00706052b8104000aa14403420004dab5d3c253113db414abfc1c0ebf5a02559e656aa1c8b0aa8d870aa0324cda4899925ea1e6dbc259a6c7825cf46592ac7594cc40bd604b728d88b636f317d366"))}}}}, kmip.ResultReasonFeatureNotSupported},
			{"bad ec private key", &kmip.RegisterRequest{ObjectType: kmip.ObjectTypePrivateKey, TemplateAttribute: usage(1), Object: &kmip.PrivateKey{KeyBlock: kmip.KeyBlock{
				KeyFormatType: kmip.KeyFormatTypeECPrivateKey, KeyValue: &kmip.KeyValue{KeyMaterial: kmip.RawKeyMaterial("junk")}}}}, kmip.ResultReasonInvalidField},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) { e.fails(t, tt.req, tt.reason) })
		}
	})
}

// checkDigest requires the object's Digest to be the SHA-256 of content
// with Key Format Type f.
func (e *testEnv) checkDigest(t *testing.T, uid string, f kmip.KeyFormatType, content []byte) {
	t.Helper()
	p := e.ok(t, &kmip.GetAttributesRequest{UniqueIdentifier: uid, AttributeNames: []string{"Digest"}}).(*kmip.GetAttributesResponse)
	if len(p.Attributes) != 1 {
		t.Fatalf("Digest: %d attributes", len(p.Attributes))
	}
	d := p.Attributes[0].Value.(*kmip.Digest)
	sum := sha256.Sum256(content)
	if d.KeyFormatType == nil || *d.KeyFormatType != f || !bytes.Equal(d.DigestValue, sum[:]) {
		t.Fatalf("Digest = %+v, want SHA-256 over %s", d, f)
	}
}

func selfSignedDER(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: testT0.Add(-time.Hour), NotAfter: testT0.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestKeyPairs(t *testing.T) {
	e := newTestEnv(t, nil)
	req := &kmip.CreateKeyPairRequest{
		CommonTemplateAttribute: &kmip.TemplateAttribute{Attributes: []kmip.Attribute{
			{Name: "Cryptographic Algorithm", Value: kmip.CryptographicAlgorithmECDSA},
			{Name: "Cryptographic Length", Value: kmip.Integer(256)}}},
		PrivateKeyTemplateAttribute: &kmip.TemplateAttribute{Attributes: []kmip.Attribute{{Name: "Name", Value: &kmip.Name{Value: "priv", Type: kmip.NameTypeUninterpretedTextString}}}},
	}
	r := e.roundTrip(t, msg(item(req), item(&kmip.GetRequest{KeyFormatType: ptr(kmip.KeyFormatTypeECPrivateKey)})))
	if len(r.BatchItems) != 2 || r.BatchItems[1].ResultStatus != kmip.ResultStatusSuccess {
		t.Fatalf("%+v", r.BatchItems)
	}
	kp := r.BatchItems[0].Payload.(*kmip.CreateKeyPairResponse)
	if got := r.BatchItems[1].Payload.(*kmip.GetResponse); got.UniqueIdentifier != kp.PrivateKeyUniqueIdentifier || got.ObjectType != kmip.ObjectTypePrivateKey {
		t.Fatalf("placeholder is not the private key: %+v", got)
	}
	pub := e.get(t, kp.PublicKeyUniqueIdentifier, nil)
	if pub.Object.(*kmip.PublicKey).KeyBlock.KeyFormatType != kmip.KeyFormatTypeX509 {
		t.Fatal("public key not X.509")
	}
	// Re-key the pair; the new private key is linked to the old one.
	rk := e.ok(t, &kmip.ReKeyKeyPairRequest{PrivateKeyUniqueIdentifier: kp.PrivateKeyUniqueIdentifier}).(*kmip.ReKeyKeyPairResponse)
	if rk.PrivateKeyUniqueIdentifier == kp.PrivateKeyUniqueIdentifier || rk.PublicKeyUniqueIdentifier == kp.PublicKeyUniqueIdentifier {
		t.Fatalf("re-key returned old identifiers: %+v", rk)
	}
	links := e.ok(t, &kmip.GetAttributesRequest{UniqueIdentifier: rk.PrivateKeyUniqueIdentifier, AttributeNames: []string{"Link"}}).(*kmip.GetAttributesResponse)
	found := false
	for _, a := range links.Attributes {
		l := a.Value.(*kmip.Link)
		found = found || (l.Type == kmip.LinkTypeReplacedObjectLink && l.LinkedObjectID == kp.PrivateKeyUniqueIdentifier)
	}
	if !found {
		t.Fatalf("no Replaced Object Link: %+v", links.Attributes)
	}
	e.fails(t, &kmip.ReKeyKeyPairRequest{PrivateKeyUniqueIdentifier: kp.PublicKeyUniqueIdentifier}, kmip.ResultReasonIllegalOperation)
}

func TestReKey(t *testing.T) {
	e := newTestEnv(t, nil)
	uid := e.createAES(t, kmip.Attribute{Name: "Activation Date", Value: kmip.DateTime(testT0.Add(-time.Minute))})
	t.Run("no offset copies dates", func(t *testing.T) {
		n := e.ok(t, &kmip.ReKeyRequest{UniqueIdentifier: uid}).(*kmip.ReKeyResponse).UniqueIdentifier
		if n == uid {
			t.Fatal("same uid")
		}
		if s := e.state(t, n); s != kmip.StateActive {
			t.Fatalf("state %s, want Active (dates copied)", s)
		}
	})
	t.Run("offset", func(t *testing.T) {
		n := e.ok(t, &kmip.ReKeyRequest{UniqueIdentifier: uid, Offset: ptr(uint32(3600))}).(*kmip.ReKeyResponse).UniqueIdentifier
		if s := e.state(t, n); s != kmip.StatePreActive {
			t.Fatalf("state %s, want Pre-Active", s)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		e.fails(t, &kmip.ReKeyRequest{UniqueIdentifier: "nope"}, kmip.ResultReasonItemNotFound)
	})
}

func TestKeyWrapTC14(t *testing.T) {
	e := newTestEnv(t, nil)
	kekRaw := unhex(t, "000102030405060708090A0B0C0D0E0F")
	dataRaw := unhex(t, "00112233445566778899AABBCCDDEEFF")
	kek := e.register(t, symKey(kekRaw), kmip.TemplateAttribute{Attributes: []kmip.Attribute{
		{Name: "Cryptographic Usage Mask", Value: kmip.CryptographicUsageMask(0x10)},
		{Name: "Cryptographic Parameters", Value: &kmip.CryptographicParameters{BlockCipherMode: ptr(kmip.BlockCipherModeNISTKeyWrap)}},
	}})
	data := e.register(t, symKey(dataRaw), usage(12))
	spec := func(enc *kmip.EncodingOption, names ...string) *kmip.KeyWrappingSpecification {
		return &kmip.KeyWrappingSpecification{WrappingMethod: kmip.WrappingMethodEncrypt,
			EncryptionKeyInformation: &kmip.KeyInformation{UniqueIdentifier: kek,
				CryptographicParameters: &kmip.CryptographicParameters{BlockCipherMode: ptr(kmip.BlockCipherModeNISTKeyWrap)}},
			EncodingOption: enc, AttributeNames: names}
	}
	t.Run("no encoding", func(t *testing.T) {
		got := e.ok(t, &kmip.GetRequest{UniqueIdentifier: data, KeyWrappingSpecification: spec(ptr(kmip.EncodingOptionNoEncoding))}).(*kmip.GetResponse)
		want := &kmip.SymmetricKey{KeyBlock: kmip.KeyBlock{
			KeyFormatType:          kmip.KeyFormatTypeRaw,
			WrappedKeyValue:        unhex(t, "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"),
			CryptographicAlgorithm: ptr(kmip.CryptographicAlgorithmAES),
			CryptographicLength:    ptr(int32(128)),
			KeyWrappingData: &kmip.KeyWrappingData{WrappingMethod: kmip.WrappingMethodEncrypt,
				EncryptionKeyInformation: spec(nil).EncryptionKeyInformation, EncodingOption: ptr(kmip.EncodingOptionNoEncoding)},
		}}
		if d := cmp.Diff(want, got.Object); d != "" {
			t.Fatalf("(-want +got):\n%s", d)
		}
	})
	t.Run("ttlv encoding with attributes", func(t *testing.T) {
		got := e.ok(t, &kmip.GetRequest{UniqueIdentifier: data, KeyWrappingSpecification: spec(nil, "Cryptographic Usage Mask")}).(*kmip.GetResponse)
		wrapped := got.Object.(*kmip.SymmetricKey).KeyBlock.WrappedKeyValue
		plain, err := aesKeyUnwrap(kekRaw, wrapped)
		if err != nil {
			t.Fatal(err)
		}
		it, err := ttlv.Decode(plain)
		if err != nil {
			t.Fatal(err)
		}
		want := ttlv.Struct(kmip.TagKeyValue, ttlv.Bytes(kmip.TagKeyMaterial, dataRaw),
			ttlv.Struct(kmip.TagAttribute, ttlv.Text(kmip.TagAttributeName, "Cryptographic Usage Mask"), ttlv.Int(kmip.TagAttributeValue, 12)))
		if !it.Equal(want) {
			t.Fatalf("wrapped key value %+v", it)
		}
	})
	t.Run("errors", func(t *testing.T) {
		noWrap := e.register(t, symKey(kekRaw), usage(12))
		bad := spec(nil)
		bad.EncryptionKeyInformation = &kmip.KeyInformation{UniqueIdentifier: noWrap}
		missing := spec(nil)
		missing.EncryptionKeyInformation = &kmip.KeyInformation{UniqueIdentifier: "nope"}
		mac := spec(nil)
		mac.WrappingMethod = kmip.WrappingMethodMACSign
		gcm := spec(nil)
		gcm.EncryptionKeyInformation.CryptographicParameters = &kmip.CryptographicParameters{BlockCipherMode: ptr(kmip.BlockCipherModeGCM)}
		tests := []struct {
			name   string
			uid    string
			spec   *kmip.KeyWrappingSpecification
			reason kmip.ResultReason
		}{
			{"kek without Wrap Key usage", data, bad, kmip.ResultReasonPermissionDenied},
			{"kek not found", data, missing, kmip.ResultReasonItemNotFound},
			{"mac sign", data, mac, kmip.ResultReasonFeatureNotSupported},
			{"gcm", data, gcm, kmip.ResultReasonFeatureNotSupported},
			{"self wrap", kek, spec(nil), kmip.ResultReasonIllegalOperation},
			{"attributes without ttlv", data, spec(ptr(kmip.EncodingOptionNoEncoding), "State"), kmip.ResultReasonEncodingOptionError},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e.fails(t, &kmip.GetRequest{UniqueIdentifier: tt.uid, KeyWrappingSpecification: tt.spec}, tt.reason)
			})
		}
	})
}

func TestAttributeOperations(t *testing.T) {
	e := newTestEnv(t, nil)
	uid := e.createAES(t)
	add := func(a kmip.Attribute) *kmip.AddAttributeResponse {
		return e.ok(t, &kmip.AddAttributeRequest{UniqueIdentifier: uid, Attribute: a}).(*kmip.AddAttributeResponse)
	}
	add(xText("x-tag", "one"))
	second := add(xText("x-tag", "two"))
	if second.Attribute.Index == nil || *second.Attribute.Index != 1 {
		t.Fatalf("second instance index %v", second.Attribute.Index)
	}
	mod := e.ok(t, &kmip.ModifyAttributeRequest{UniqueIdentifier: uid, Attribute: kmip.Attribute{Name: "x-tag", Index: ptr(int32(1)),
		Value: kmip.RawValue{Item: ttlv.Text(kmip.TagAttributeValue, "deux")}}}).(*kmip.ModifyAttributeResponse)
	if d := cmp.Diff(kmip.Attribute{Name: "x-tag", Index: ptr(int32(1)), Value: kmip.RawValue{Item: ttlv.Text(kmip.TagAttributeValue, "deux")}}, mod.Attribute, cmp.Comparer(func(a, b ttlv.Item) bool { return a.Equal(b) })); d != "" {
		t.Fatalf("modify (-want +got):\n%s", d)
	}
	del := e.ok(t, &kmip.DeleteAttributeRequest{UniqueIdentifier: uid, AttributeName: "x-tag"}).(*kmip.DeleteAttributeResponse)
	if v := del.Attribute.Value.(kmip.RawValue).Item.Value; v != "one" {
		t.Fatalf("deleted %v", v)
	}
	list := e.ok(t, &kmip.GetAttributeListRequest{UniqueIdentifier: uid}).(*kmip.GetAttributeListResponse)
	for _, want := range []string{"Unique Identifier", "Object Type", "Cryptographic Algorithm", "Cryptographic Length", "Cryptographic Usage Mask", "State", "Initial Date", "x-tag"} {
		found := false
		for _, n := range list.AttributeNames {
			found = found || n == want
		}
		if !found {
			t.Errorf("attribute list lacks %q: %v", want, list.AttributeNames)
		}
	}
	all := e.ok(t, &kmip.GetAttributesRequest{UniqueIdentifier: uid}).(*kmip.GetAttributesResponse)
	if len(all.Attributes) < 8 {
		t.Fatalf("all attributes: %d", len(all.Attributes))
	}
	// Custom attribute value types survive the round trip.
	for _, it := range []ttlv.Item{
		ttlv.Int(kmip.TagAttributeValue, -5), ttlv.Long(kmip.TagAttributeValue, 1<<40), ttlv.Bool(kmip.TagAttributeValue, true),
		ttlv.Bytes(kmip.TagAttributeValue, []byte{1, 2}), ttlv.Enum(kmip.TagAttributeValue, 7),
		ttlv.DateTime(kmip.TagAttributeValue, testT0), ttlv.Interval(kmip.TagAttributeValue, 60),
		ttlv.BigInt(kmip.TagAttributeValue, unhex(t, "FFFFFFFFFFFFFF80")),
	} {
		got := add(kmip.Attribute{Name: "x-typed", Value: kmip.RawValue{Item: it}})
		if gi := got.Attribute.Value.(kmip.RawValue).Item; !gi.Equal(it) {
			t.Errorf("custom %s: got %+v", it.Type, gi)
		}
	}

	tests := []struct {
		name   string
		p      kmip.RequestPayload
		reason kmip.ResultReason
	}{
		{"add with index", &kmip.AddAttributeRequest{UniqueIdentifier: uid, Attribute: kmip.Attribute{Name: "x-a", Index: ptr(int32(3)), Value: kmip.RawValue{Item: ttlv.Text(kmip.TagAttributeValue, "v")}}}, kmip.ResultReasonInvalidField},
		{"add server-only", &kmip.AddAttributeRequest{UniqueIdentifier: uid, Attribute: kmip.Attribute{Name: "Destroy Date", Value: kmip.DateTime(testT0)}}, kmip.ResultReasonPermissionDenied},
		{"add second single-instance", &kmip.AddAttributeRequest{UniqueIdentifier: uid, Attribute: kmip.Attribute{Name: "Contact Information", Value: kmip.TextString("a")}}, 0},
		{"modify missing attribute", &kmip.ModifyAttributeRequest{UniqueIdentifier: uid, Attribute: kmip.Attribute{Name: "Object Group", Value: kmip.TextString("g")}}, kmip.ResultReasonPermissionDenied},
		{"modify missing instance", &kmip.ModifyAttributeRequest{UniqueIdentifier: uid, Attribute: kmip.Attribute{Name: "x-tag", Index: ptr(int32(9)), Value: kmip.RawValue{Item: ttlv.Text(kmip.TagAttributeValue, "v")}}}, kmip.ResultReasonItemNotFound},
		{"delete missing", &kmip.DeleteAttributeRequest{UniqueIdentifier: uid, AttributeName: "x-none"}, kmip.ResultReasonItemNotFound},
		{"delete server-only", &kmip.DeleteAttributeRequest{UniqueIdentifier: uid, AttributeName: "State"}, kmip.ResultReasonPermissionDenied},
		{"get attributes twice", &kmip.GetAttributesRequest{UniqueIdentifier: uid, AttributeNames: []string{"State", "State"}}, kmip.ResultReasonInvalidField},
		{"unknown uid", &kmip.GetAttributesRequest{UniqueIdentifier: "nope"}, kmip.ResultReasonItemNotFound},
		{"unknown uid list", &kmip.GetAttributeListRequest{UniqueIdentifier: "nope"}, kmip.ResultReasonItemNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.reason == 0 {
				e.ok(t, tt.p)
				e.fails(t, tt.p, kmip.ResultReasonIllegalOperation)
				return
			}
			e.fails(t, tt.p, tt.reason)
		})
	}
}

func TestLifecycle(t *testing.T) {
	e := newTestEnv(t, nil)
	uid := e.createAES(t)
	e.fails(t, &kmip.ObtainLeaseRequest{UniqueIdentifier: uid}, kmip.ResultReasonPermissionDenied)
	e.fails(t, &kmip.GetUsageAllocationRequest{UniqueIdentifier: uid, UsageLimitsCount: 1}, kmip.ResultReasonPermissionDenied)
	e.ok(t, &kmip.ActivateRequest{UniqueIdentifier: uid})
	e.fails(t, &kmip.ActivateRequest{UniqueIdentifier: uid}, kmip.ResultReasonPermissionDenied)
	lease := e.ok(t, &kmip.ObtainLeaseRequest{UniqueIdentifier: uid}).(*kmip.ObtainLeaseResponse)
	if lease.UniqueIdentifier != uid || lease.LeaseTime != 0 || !lease.LastChangeDate.Equal(testT0) {
		t.Fatalf("lease %+v", lease)
	}
	e.ok(t, &kmip.GetUsageAllocationRequest{UniqueIdentifier: uid, UsageLimitsCount: 500})
	e.fails(t, &kmip.GetUsageAllocationRequest{UniqueIdentifier: uid, UsageLimitsCount: 0}, kmip.ResultReasonInvalidField)
	// With Usage Limits (TC 5.1): the server sets Count = Total and each
	// allocation takes from it until it runs out.
	add := e.ok(t, &kmip.AddAttributeRequest{UniqueIdentifier: uid, Attribute: kmip.Attribute{Name: "Usage Limits",
		Value: &kmip.UsageLimits{Total: 1000, Count: ptr(int64(1)), Unit: kmip.UsageLimitsUnit(1)}}}).(*kmip.AddAttributeResponse)
	if ul := add.Attribute.Value.(*kmip.UsageLimits); ul.Total != 1000 || ul.Count == nil || *ul.Count != 1000 {
		t.Fatalf("added Usage Limits = %+v, want Count = Total", ul)
	}
	e.ok(t, &kmip.GetUsageAllocationRequest{UniqueIdentifier: uid, UsageLimitsCount: 600})
	e.fails(t, &kmip.GetUsageAllocationRequest{UniqueIdentifier: uid, UsageLimitsCount: 401}, kmip.ResultReasonPermissionDenied)
	e.ok(t, &kmip.GetUsageAllocationRequest{UniqueIdentifier: uid, UsageLimitsCount: 400})
	e.fails(t, &kmip.GetUsageAllocationRequest{UniqueIdentifier: uid, UsageLimitsCount: 1}, kmip.ResultReasonPermissionDenied)
	ga := e.ok(t, &kmip.GetAttributesRequest{UniqueIdentifier: uid, AttributeNames: []string{"Usage Limits"}}).(*kmip.GetAttributesResponse)
	if ul := ga.Attributes[0].Value.(*kmip.UsageLimits); *ul.Count != 0 {
		t.Fatalf("Usage Limits after allocations = %+v", ul)
	}
	e.ok(t, &kmip.CheckRequest{UniqueIdentifier: uid, CryptographicUsageMask: ptr(kmip.CryptographicUsageMask(4)), UsageLimitsCount: ptr(int64(10))})
	e.fails(t, &kmip.CheckRequest{UniqueIdentifier: uid, CryptographicUsageMask: ptr(kmip.CryptographicUsageMask(1))}, kmip.ResultReasonPermissionDenied)
	e.fails(t, &kmip.DestroyRequest{UniqueIdentifier: uid}, kmip.ResultReasonPermissionDenied)
	e.ok(t, &kmip.RevokeRequest{UniqueIdentifier: uid, RevocationReason: kmip.RevocationReason{Code: kmip.RevocationReasonCodeCessationOfOperation, Message: ptr("retired")}})
	if s := e.state(t, uid); s != kmip.StateDeactivated {
		t.Fatalf("state %s", s)
	}
	e.ok(t, &kmip.DestroyRequest{UniqueIdentifier: uid})
	e.fails(t, &kmip.GetRequest{UniqueIdentifier: uid}, kmip.ResultReasonItemNotFound)
	e.fails(t, &kmip.CheckRequest{UniqueIdentifier: uid}, kmip.ResultReasonItemNotFound)
	if s := e.state(t, uid); s != kmip.StateDestroyed {
		t.Fatalf("state %s", s)
	}

	comp := e.createAES(t)
	e.ok(t, &kmip.RevokeRequest{UniqueIdentifier: comp, RevocationReason: kmip.RevocationReason{Code: kmip.RevocationReasonCodeKeyCompromise},
		CompromiseOccurrenceDate: ptr(testT0)})
	if s := e.state(t, comp); s != kmip.StateCompromised {
		t.Fatalf("state %s", s)
	}
	for _, p := range []kmip.RequestPayload{
		&kmip.ActivateRequest{UniqueIdentifier: "nope"}, &kmip.RevokeRequest{UniqueIdentifier: "nope", RevocationReason: kmip.RevocationReason{Code: 1}},
		&kmip.DestroyRequest{UniqueIdentifier: "nope"}, &kmip.GetRequest{UniqueIdentifier: "nope"}, &kmip.ObtainLeaseRequest{UniqueIdentifier: "nope"},
	} {
		e.fails(t, p, kmip.ResultReasonItemNotFound)
	}
}

func TestLocate(t *testing.T) {
	e := newTestEnv(t, nil)
	name := func(s string) kmip.Attribute {
		return kmip.Attribute{Name: "Name", Value: &kmip.Name{Value: s, Type: kmip.NameTypeUninterpretedTextString}}
	}
	a := e.createAES(t, name("a"), kmip.Attribute{Name: "Object Group", Value: kmip.TextString("g")})
	e.clock.Add(time.Second)
	b := e.createAES(t, kmip.Attribute{Name: "Object Group", Value: kmip.TextString("g")})
	locate := func(p *kmip.LocateRequest) []string {
		t.Helper()
		return e.ok(t, p).(*kmip.LocateResponse).UniqueIdentifiers
	}
	tests := []struct {
		name string
		req  *kmip.LocateRequest
		want []string
	}{
		{"by name", &kmip.LocateRequest{Attributes: []kmip.Attribute{name("a")}}, []string{a}},
		{"by group newest first", &kmip.LocateRequest{Attributes: []kmip.Attribute{{Name: "Object Group", Value: kmip.TextString("g")}}}, []string{b, a}},
		{"maximum items", &kmip.LocateRequest{MaximumItems: ptr(int32(1)), Attributes: []kmip.Attribute{{Name: "Object Group", Value: kmip.TextString("g")}}}, []string{b}},
		{"fresh oldest first", &kmip.LocateRequest{MaximumItems: ptr(int32(1)), ObjectGroupMember: ptr(kmip.ObjectGroupMemberGroupMemberFresh),
			Attributes: []kmip.Attribute{{Name: "Object Group", Value: kmip.TextString("g")}}}, []string{a}},
		{"archival only", &kmip.LocateRequest{StorageStatusMask: ptr(kmip.StorageStatusMaskArchivalStorage)}, nil},
		{"no match", &kmip.LocateRequest{Attributes: []kmip.Attribute{name("zzz")}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, locate(tt.req)); d != "" {
				t.Fatalf("(-want +got):\n%s", d)
			}
		})
	}
	e.fails(t, &kmip.LocateRequest{MaximumItems: ptr(int32(-1))}, kmip.ResultReasonInvalidField)
}

func TestQuery(t *testing.T) {
	e := newTestEnv(t, nil)
	q := e.ok(t, &kmip.QueryRequest{QueryFunctions: []kmip.QueryFunction{
		kmip.QueryFunctionQueryOperations, kmip.QueryFunctionQueryObjects, kmip.QueryFunctionQueryServerInformation,
		kmip.QueryFunctionQueryApplicationNamespaces, kmip.QueryFunctionQueryExtensionList, kmip.QueryFunctionQueryExtensionMap,
		kmip.QueryFunctionQueryProfiles,
	}}).(*kmip.QueryResponse)
	if d := cmp.Diff(implemented, q.Operations); d != "" {
		t.Fatalf("operations (-want +got):\n%s", d)
	}
	if d := cmp.Diff(objectTypes, q.ObjectTypes); d != "" {
		t.Fatalf("objects (-want +got):\n%s", d)
	}
	if q.VendorIdentification == nil || *q.VendorIdentification != "Coffer" || q.ServerInformation == nil {
		t.Fatalf("server information %+v", q)
	}
	if len(q.ApplicationNamespaces) != 0 || len(q.ExtensionInformation) != 0 {
		t.Fatalf("namespaces/extensions %+v", q)
	}
	// Every operation Query lists is one the layer runs (none answers
	// Operation Not Supported).
	for _, op := range implemented {
		bi := e.roundTrip(t, msg(kmip.RequestBatchItem{Operation: op, Payload: emptyPayload(op)})).BatchItems[0]
		if bi.ResultReason != nil && *bi.ResultReason == kmip.ResultReasonOperationNotSupported {
			t.Errorf("%s listed but not supported", op)
		}
	}
}

// emptyPayload returns a minimal request payload for op.
func emptyPayload(op kmip.Operation) kmip.RequestPayload {
	switch op {
	case kmip.OperationCreate:
		return &kmip.CreateRequest{ObjectType: kmip.ObjectTypeSymmetricKey}
	case kmip.OperationCreateKeyPair:
		return &kmip.CreateKeyPairRequest{}
	case kmip.OperationRegister:
		return &kmip.RegisterRequest{ObjectType: kmip.ObjectTypeOpaqueObject, Object: &kmip.OpaqueObject{OpaqueDataType: 1, OpaqueDataValue: []byte("x")}}
	case kmip.OperationReKey:
		return &kmip.ReKeyRequest{UniqueIdentifier: "x"}
	case kmip.OperationLocate:
		return &kmip.LocateRequest{}
	case kmip.OperationCheck:
		return &kmip.CheckRequest{UniqueIdentifier: "x"}
	case kmip.OperationGet:
		return &kmip.GetRequest{UniqueIdentifier: "x"}
	case kmip.OperationGetAttributes:
		return &kmip.GetAttributesRequest{UniqueIdentifier: "x"}
	case kmip.OperationGetAttributeList:
		return &kmip.GetAttributeListRequest{UniqueIdentifier: "x"}
	case kmip.OperationAddAttribute:
		return &kmip.AddAttributeRequest{UniqueIdentifier: "x", Attribute: xText("x-a", "b")}
	case kmip.OperationModifyAttribute:
		return &kmip.ModifyAttributeRequest{UniqueIdentifier: "x", Attribute: xText("x-a", "b")}
	case kmip.OperationDeleteAttribute:
		return &kmip.DeleteAttributeRequest{UniqueIdentifier: "x", AttributeName: "x-a"}
	case kmip.OperationObtainLease:
		return &kmip.ObtainLeaseRequest{UniqueIdentifier: "x"}
	case kmip.OperationGetUsageAllocation:
		return &kmip.GetUsageAllocationRequest{UniqueIdentifier: "x", UsageLimitsCount: 1}
	case kmip.OperationActivate:
		return &kmip.ActivateRequest{UniqueIdentifier: "x"}
	case kmip.OperationRevoke:
		return &kmip.RevokeRequest{UniqueIdentifier: "x", RevocationReason: kmip.RevocationReason{Code: 1}}
	case kmip.OperationDestroy:
		return &kmip.DestroyRequest{UniqueIdentifier: "x"}
	case kmip.OperationQuery:
		return &kmip.QueryRequest{}
	case kmip.OperationReKeyKeyPair:
		return &kmip.ReKeyKeyPairRequest{PrivateKeyUniqueIdentifier: "x"}
	case kmip.OperationDiscoverVersions:
		return &kmip.DiscoverVersionsRequest{}
	}
	return nil
}

// TestOptionalOperations: what a KMIP 1.1 server may leave out answers
// Operation Not Supported, with the operation and batch item id echoed.
func TestOptionalOperations(t *testing.T) {
	e := newTestEnv(t, nil)
	tests := []kmip.RequestPayload{
		&kmip.ArchiveRequest{UniqueIdentifier: "x"},
		&kmip.RecoverRequest{UniqueIdentifier: "x"},
		&kmip.PollRequest{AsynchronousCorrelationValue: []byte{1}},
		&kmip.CancelRequest{AsynchronousCorrelationValue: []byte{1}},
		&kmip.CertifyRequest{UniqueIdentifier: "x"},
		&kmip.ReCertifyRequest{UniqueIdentifier: "x"},
		&kmip.ValidateRequest{UniqueIdentifiers: []string{"x"}},
		&kmip.DeriveKeyRequest{ObjectType: kmip.ObjectTypeSymmetricKey, UniqueIdentifiers: []string{"x"}, DerivationMethod: 1},
		&kmip.NotifyRequest{UniqueIdentifier: "x", Attributes: []kmip.Attribute{xText("x-a", "b")}},
	}
	for _, p := range tests {
		t.Run(p.Operation().String(), func(t *testing.T) {
			r := e.roundTrip(t, msg(itemID(p, "id")))
			bi := r.BatchItems[0]
			checkFailed(t, bi, kmip.ResultReasonOperationNotSupported)
			if bi.Operation != p.Operation() || string(bi.UniqueBatchItemID) != "id" {
				t.Fatalf("not echoed: %+v", bi)
			}
		})
	}
}

// TestNoKeyMaterialInLogs: the log lines of a Get name the operation,
// app, UID and result, and never the key.
func TestNoKeyMaterialInLogs(t *testing.T) {
	e := newTestEnv(t, nil)
	raw := unhex(t, "A1B2C3D4E5F60718293A4B5C6D7E8F90")
	uid := e.register(t, symKey(raw), usage(12))
	e.get(t, uid, nil)
	e.get(t, uid, ptr(kmip.KeyFormatTypeTransparentSymmetricKey))
	logs := e.logs.String()
	for _, s := range []string{hex.EncodeToString(raw), strings.ToUpper(hex.EncodeToString(raw)), string(raw)} {
		if strings.Contains(logs, s) {
			t.Fatal("key material in the log")
		}
	}
	for _, want := range []string{"app=vcenter", "op=Get", "uid=" + uid, "result=Success", "latency="} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}
