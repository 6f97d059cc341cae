package hsmtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/cofferhsm/coffer/hsm/object"
)

func links(t *testing.T, f *fixture, uid string) map[object.LinkType]string {
	t.Helper()
	as, err := f.API.GetAttributes(context.Background(), alice, uid, []string{object.AttrLink})
	if err != nil {
		t.Fatal(err)
	}
	m := map[object.LinkType]string{}
	for _, a := range as {
		l := a.Value.(object.Link)
		m[l.Type] = l.ID
	}
	return m
}

func ecPair(bits int32) []object.Attribute {
	return []object.Attribute{{Name: object.AttrAlgorithm, Value: object.AlgECDSA}, {Name: object.AttrLength, Value: bits}}
}

func testCreateKeyPair(t *testing.T, nf Factory) {
	ctx := context.Background()
	tests := []struct {
		name   string
		common []object.Attribute
		want   error
	}{
		{"P-256", ecPair(256), nil},
		{"P-384", ecPair(384), nil},
		{"P-521", ecPair(521), nil},
		{"RSA-2048", []object.Attribute{{Name: object.AttrAlgorithm, Value: object.AlgRSA}, {Name: object.AttrLength, Value: int32(2048)}}, nil},
		{"RSA-1024", []object.Attribute{{Name: object.AttrAlgorithm, Value: object.AlgRSA}, {Name: object.AttrLength, Value: int32(1024)}}, hsm.ErrInvalid},
		{"P-224", ecPair(224), hsm.ErrInvalid},
		{"AES", aesAttrs()[:2], hsm.ErrNotSupported},
		{"no length", ecPair(256)[:1], hsm.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nf)
			priv, pub, err := f.API.CreateKeyPair(ctx, alice, tt.common, nil, nil)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l := links(t, f, priv); l[object.LinkPublicKey] != pub {
				t.Errorf("private key links = %v", l)
			}
			if l := links(t, f, pub); l[object.LinkPrivateKey] != priv {
				t.Errorf("public key links = %v", l)
			}
			mp, err := f.API.Get(ctx, alice, priv)
			if err != nil {
				t.Fatal(err)
			}
			defer mp.Destroy()
			mq, err := f.API.Get(ctx, alice, pub)
			if err != nil {
				t.Fatal(err)
			}
			alg, bits, spki, err := key.DescribePrivate(mp.Secret)
			if err != nil || mp.Format != object.FormatPKCS8 || !bytes.Equal(spki, mq.Public) || mq.Format != object.FormatX509 {
				t.Fatalf("pair does not match: %v", err)
			}
			if int32(bits) != tt.common[1].Value.(int32) || mp.Length != int32(bits) || (alg == key.AlgRSA) != (mp.Algorithm == object.AlgRSA) {
				t.Errorf("key is %s/%d, attributes say %d/%d", alg, bits, mp.Algorithm, mp.Length)
			}
			if m, _ := f.attr(t, priv, object.AttrUsageMask); m != object.UsageSign {
				t.Errorf("private usage mask = %v", m)
			}
			if f.raw(t, pub).Secret != nil {
				t.Error("public key stored as secret")
			}
		})
	}
}

func selfSigned(t *testing.T) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: t0, NotAfter: t0.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return der, k
}

func testRegister(t *testing.T, nf Factory) {
	ctx := context.Background()
	cert, ek := selfSigned(t)
	p8, _ := x509.MarshalPKCS8PrivateKey(ek)
	spki, _ := x509.MarshalPKIXPublicKey(&ek.PublicKey)
	mat := func(b []byte) *key.Material {
		m, err := key.NewMaterial(b)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	aes := []object.Attribute{{Name: object.AttrAlgorithm, Value: object.AlgAES}, {Name: object.AttrUsageMask, Value: object.UsageMaskCrypto}}
	tests := []struct {
		name    string
		content hsm.Content
		attrs   []object.Attribute
		want    error
		alg     object.Algorithm
		length  int32
	}{
		{"AES-128", hsm.Content{Type: object.TypeSymmetricKey, Format: object.FormatRaw, Secret: mat(bytes.Repeat([]byte{1}, 16))}, aes, nil, object.AlgAES, 128},
		{"AES bad length", hsm.Content{Type: object.TypeSymmetricKey, Format: object.FormatRaw, Secret: mat(bytes.Repeat([]byte{1}, 15))}, aes, hsm.ErrInvalid, 0, 0},
		{"AES length mismatch", hsm.Content{Type: object.TypeSymmetricKey, Format: object.FormatRaw, Secret: mat(bytes.Repeat([]byte{1}, 16))},
			append(aes, object.Attribute{Name: object.AttrLength, Value: int32(256)}), hsm.ErrInvalid, 0, 0},
		{"symmetric without algorithm", hsm.Content{Type: object.TypeSymmetricKey, Format: object.FormatRaw, Secret: mat([]byte("0123456789abcdef"))}, nil, hsm.ErrInvalid, 0, 0},
		{"symmetric as PKCS8", hsm.Content{Type: object.TypeSymmetricKey, Format: object.FormatPKCS8, Secret: mat([]byte("0123456789abcdef"))}, aes, hsm.ErrInvalid, 0, 0},
		{"private key", hsm.Content{Type: object.TypePrivateKey, Format: object.FormatPKCS8, Secret: mat(p8)}, nil, nil, object.AlgECDSA, 256},
		{"private key garbage", hsm.Content{Type: object.TypePrivateKey, Format: object.FormatPKCS8, Secret: mat([]byte("junk"))}, nil, hsm.ErrInvalid, 0, 0},
		{"private key wrong algorithm", hsm.Content{Type: object.TypePrivateKey, Format: object.FormatPKCS8, Secret: mat(p8)},
			[]object.Attribute{{Name: object.AttrAlgorithm, Value: object.AlgRSA}}, hsm.ErrInvalid, 0, 0},
		{"public key", hsm.Content{Type: object.TypePublicKey, Format: object.FormatX509, Public: spki}, nil, nil, object.AlgECDSA, 256},
		{"certificate", hsm.Content{Type: object.TypeCertificate, Format: object.FormatX509, Public: cert}, nil, nil, object.AlgECDSA, 256}, // of the certificate's key
		{"certificate garbage", hsm.Content{Type: object.TypeCertificate, Format: object.FormatX509, Public: []byte{0x30, 0}}, nil, hsm.ErrInvalid, 0, 0},
		{"secret data", hsm.Content{Type: object.TypeSecretData, Format: object.FormatRaw, Secret: mat([]byte("hunter2")), SubType: 1}, nil, nil, 0, 0},
		{"secret data bad type", hsm.Content{Type: object.TypeSecretData, Format: object.FormatRaw, Secret: mat([]byte("hunter2")), SubType: 9}, nil, hsm.ErrInvalid, 0, 0},
		{"opaque", hsm.Content{Type: object.TypeOpaqueObject, Format: object.FormatOpaque, Secret: mat([]byte{9, 9}), SubType: 0x80000001}, nil, nil, 0, 0},
		{"template", hsm.Content{Type: object.TypeTemplate, Template: aes}, nil, nil, 0, 0},
		{"template with server attr", hsm.Content{Type: object.TypeTemplate, Template: []object.Attribute{{Name: object.AttrState, Value: object.StateActive}}}, nil, hsm.ErrPermission, 0, 0},
		{"split key", hsm.Content{Type: object.TypeSplitKey}, nil, hsm.ErrNotSupported, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nf)
			uid, err := f.API.Register(ctx, alice, tt.content, tt.attrs)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m, err := f.API.Get(ctx, alice, uid)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Destroy()
			if m.Type != tt.content.Type || m.SubType != tt.content.SubType && tt.content.Type != object.TypeCertificate ||
				!bytes.Equal(m.Public, tt.content.Public) || !m.Secret.Equal(tt.content.Secret) && tt.content.Secret != nil {
				t.Errorf("Get = %+v, registered %+v", m, tt.content)
			}
			if m.Algorithm != tt.alg || m.Length != tt.length {
				t.Errorf("algorithm/length = %d/%d, want %d/%d", m.Algorithm, m.Length, tt.alg, tt.length)
			}
			if tt.content.Type == object.TypeTemplate && len(m.Template) != len(tt.content.Template) {
				t.Errorf("template = %+v", m.Template)
			}
			if o := f.raw(t, uid); o.Owner != "alice" || len(o.Groups) != 1 || o.Groups[0] != "vcenter" {
				t.Errorf("owner/groups = %q/%v", o.Owner, o.Groups)
			}
		})
	}
}

func testReKey(t *testing.T, nf Factory) {
	f := newFixture(t, nf)
	ctx := context.Background()
	name := object.Name{Value: "disk-kek", Type: object.NameText}
	old := f.create(t,
		object.Attribute{Name: object.AttrName, Value: name},
		object.Attribute{Name: object.AttrObjectGroup, Value: "vsan"},
		object.Attribute{Name: "x-Component", Value: "vSAN"},
		object.Attribute{Name: object.AttrActivationDate, Value: t0},
		object.Attribute{Name: object.AttrDeactivationDate, Value: t0.Add(24 * time.Hour)})
	f.clock.Add(time.Hour)
	nu, err := f.API.ReKey(ctx, alice, old, 10*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l := links(t, f, old); l[object.LinkReplacement] != nu {
		t.Errorf("old links = %v", l)
	}
	if l := links(t, f, nu); l[object.LinkReplaced] != old {
		t.Errorf("new links = %v", l)
	}
	if _, ok := f.attr(t, old, object.AttrName); ok {
		t.Error("old key kept its name")
	}
	if v, _ := f.attr(t, nu, object.AttrName); v != name {
		t.Errorf("new name = %v", v)
	}
	for _, n := range []string{object.AttrObjectGroup, "x-Component", object.AttrUsageMask, object.AttrAlgorithm, object.AttrLength} {
		a, _ := f.attr(t, old, n)
		b, _ := f.attr(t, nu, n)
		if a == nil || !object.Equal(a, b) {
			t.Errorf("%s: old %v, new %v", n, a, b)
		}
	}
	act := t0.Add(time.Hour + 10*time.Minute)
	if v, _ := f.attr(t, nu, object.AttrActivationDate); !v.(time.Time).Equal(act) {
		t.Errorf("new activation date = %v, want %v", v, act)
	}
	if v, _ := f.attr(t, nu, object.AttrDeactivationDate); !v.(time.Time).Equal(act.Add(24 * time.Hour)) {
		t.Errorf("new deactivation date = %v", v)
	}
	a, _ := f.API.Get(ctx, alice, old)
	b, _ := f.API.Get(ctx, alice, nu)
	if a.Secret.Equal(b.Secret) || b.Secret.Len() != 32 {
		t.Error("re-key did not make a new 256-bit key")
	}
	a.Destroy()
	b.Destroy()
	// Locate by the moved name finds the new key only.
	got, _ := f.API.Locate(ctx, alice, hsm.Query{Attrs: []object.Attribute{{Name: object.AttrName, Value: name}}})
	if len(got) != 1 || got[0] != nu {
		t.Errorf("Locate name = %v, want [%s]", got, nu)
	}
	if _, err := f.API.ReKey(ctx, alice, "missing", -1, nil); !errors.Is(err, hsm.ErrNotFound) {
		t.Errorf("ReKey missing: %v", err)
	}
	// A destroyed key cannot be re-keyed; a key pair needs ReKeyKeyPair.
	gone := f.create(t)
	if err := f.API.Destroy(ctx, alice, gone); err != nil {
		t.Fatal(err)
	}
	if _, err := f.API.ReKey(ctx, alice, gone, -1, nil); !errors.Is(err, hsm.ErrWrongState) {
		t.Errorf("ReKey destroyed: %v, want ErrWrongState", err)
	}
	priv, _, err := f.API.CreateKeyPair(ctx, alice, ecPair(256), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.API.ReKey(ctx, alice, priv, -1, nil); !errors.Is(err, hsm.ErrNotSupported) {
		t.Errorf("ReKey private key: %v, want ErrNotSupported", err)
	}
}

func testReKeyKeyPair(t *testing.T, nf Factory) {
	f := newFixture(t, nf)
	ctx := context.Background()
	priv, pub, err := f.API.CreateKeyPair(ctx, alice, ecPair(256),
		[]object.Attribute{{Name: object.AttrName, Value: object.Name{Value: "sign", Type: object.NameText}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	np, nq, err := f.API.ReKeyKeyPair(ctx, alice, priv, -1, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		uid  string
		want map[object.LinkType]string
	}{
		{priv, map[object.LinkType]string{object.LinkPublicKey: pub, object.LinkReplacement: np}},
		{pub, map[object.LinkType]string{object.LinkPrivateKey: priv, object.LinkReplacement: nq}},
		{np, map[object.LinkType]string{object.LinkPublicKey: nq, object.LinkReplaced: priv}},
		{nq, map[object.LinkType]string{object.LinkPrivateKey: np, object.LinkReplaced: pub}},
	}
	for _, c := range checks {
		got := links(t, f, c.uid)
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("%s: link %#x = %q, want %q (all %v)", c.uid, k, got[k], v, got)
			}
		}
	}
	if v, _ := f.attr(t, np, object.AttrName); v.(object.Name).Value != "sign" {
		t.Errorf("new private key name = %v", v)
	}
	if _, _, err := f.API.ReKeyKeyPair(ctx, alice, pub, -1, nil, nil, nil); !errors.Is(err, hsm.ErrInvalid) {
		t.Errorf("ReKeyKeyPair of a public key: %v", err)
	}
}
