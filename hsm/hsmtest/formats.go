package hsmtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/cofferhsm/coffer/hsm/object"
)

// testExportFormat: the format a key was registered in is Get's
// ExportFormat and the Digest's Key Format Type, the Digest being computed
// over the key in that format; formats that do not fit the object type
// are refused.
func testExportFormat(t *testing.T, nf Factory) {
	ctx := context.Background()
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p8, _ := x509.MarshalPKCS8PrivateKey(ek)
	sec1, _ := x509.MarshalECPrivateKey(ek)
	spki, _ := x509.MarshalPKIXPublicKey(&ek.PublicKey)
	raw := bytes.Repeat([]byte{3}, 32)
	mat := func(b []byte) *key.Material {
		m, err := key.NewMaterial(b)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	aes := []object.Attribute{{Name: object.AttrAlgorithm, Value: object.AlgAES}}
	tests := []struct {
		name    string
		content hsm.Content
		attrs   []object.Attribute
		want    error
		export  object.KeyFormat
		digest  []byte // content the digest covers
	}{
		{"raw symmetric", hsm.Content{Type: object.TypeSymmetricKey, Format: object.FormatRaw, Secret: mat(raw)}, aes, nil, object.FormatRaw, raw},
		{"transparent symmetric", hsm.Content{Type: object.TypeSymmetricKey, Format: object.FormatRaw, Secret: mat(raw), ExportFormat: object.FormatTransparentSymmetric}, aes, nil, object.FormatTransparentSymmetric, raw},
		{"EC private key", hsm.Content{Type: object.TypePrivateKey, Format: object.FormatPKCS8, Secret: mat(p8), ExportFormat: object.FormatECPrivateKey}, nil, nil, object.FormatECPrivateKey, sec1},
		{"PKCS8 private key", hsm.Content{Type: object.TypePrivateKey, Format: object.FormatPKCS8, Secret: mat(p8), ExportFormat: object.FormatPKCS8}, nil, nil, object.FormatPKCS8, p8},
		{"public key", hsm.Content{Type: object.TypePublicKey, Format: object.FormatX509, Public: spki}, nil, nil, object.FormatX509, spki},
		{"EC key as PKCS1", hsm.Content{Type: object.TypePrivateKey, Format: object.FormatPKCS8, Secret: mat(p8), ExportFormat: object.FormatPKCS1}, nil, hsm.ErrInvalid, 0, nil},
		{"EC public key as PKCS1", hsm.Content{Type: object.TypePublicKey, Format: object.FormatX509, Public: spki, ExportFormat: object.FormatPKCS1}, nil, hsm.ErrInvalid, 0, nil},
		{"symmetric as EC", hsm.Content{Type: object.TypeSymmetricKey, Format: object.FormatRaw, Secret: mat(raw), ExportFormat: object.FormatECPrivateKey}, aes, hsm.ErrInvalid, 0, nil},
		{"secret data as transparent", hsm.Content{Type: object.TypeSecretData, Format: object.FormatRaw, Secret: mat(raw), SubType: 1, ExportFormat: object.FormatTransparentSymmetric}, nil, hsm.ErrInvalid, 0, nil},
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
			if m.ExportFormat != tt.export || m.Format != tt.content.Format {
				t.Errorf("Get formats = %d (export %d), want %d (export %d)", m.Format, m.ExportFormat, tt.content.Format, tt.export)
			}
			v, _ := f.attr(t, uid, object.AttrDigest)
			d, _ := v.(object.Digest)
			if d.Format != tt.export || !bytes.Equal(d.Value, sha256Sum(tt.digest)) || d.Algorithm != object.HashSHA256 {
				t.Errorf("Digest = %+v, want SHA-256 over the key in format %d", d, tt.export)
			}
		})
	}
}
