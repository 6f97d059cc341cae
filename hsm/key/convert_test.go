package key

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"testing"
)

func TestConvert(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rp8, _ := x509.MarshalPKCS8PrivateKey(rk)
	ep8, _ := x509.MarshalPKCS8PrivateKey(ek)
	rspki, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	espki, _ := x509.MarshalPKIXPublicKey(&ek.PublicKey)
	sec1, _ := x509.MarshalECPrivateKey(ek)
	mat := func(b []byte) *Material {
		m, err := NewMaterial(b)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	tests := []struct {
		name string
		conv func() ([]byte, error)
		want []byte // nil: ErrUnsupported
	}{
		{"RSA private to PKCS1", func() ([]byte, error) { m, err := PrivatePKCS1(mat(rp8)); b, _ := m.Bytes(); return b, err }, x509.MarshalPKCS1PrivateKey(rk)},
		{"EC private to PKCS1", func() ([]byte, error) { _, err := PrivatePKCS1(mat(ep8)); return nil, err }, nil},
		{"EC private to SEC1", func() ([]byte, error) { m, err := PrivateSEC1(mat(ep8)); b, _ := m.Bytes(); return b, err }, sec1},
		{"RSA private to SEC1", func() ([]byte, error) { _, err := PrivateSEC1(mat(rp8)); return nil, err }, nil},
		{"garbage private", func() ([]byte, error) { _, err := PrivateSEC1(mat([]byte("junk"))); return nil, err }, nil},
		{"RSA public to PKCS1", func() ([]byte, error) { return PublicPKCS1(rspki) }, x509.MarshalPKCS1PublicKey(&rk.PublicKey)},
		{"EC public to PKCS1", func() ([]byte, error) { return PublicPKCS1(espki) }, nil},
		{"garbage public", func() ([]byte, error) { return PublicPKCS1([]byte{0x30, 0}) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.conv()
			if tt.want == nil {
				if !errors.Is(err, ErrUnsupported) {
					t.Fatalf("err = %v, want ErrUnsupported", err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("got %x, %v", got, err)
			}
		})
	}
	if _, err := PrivatePKCS1(&Material{}); !errors.Is(err, ErrDestroyed) {
		t.Errorf("destroyed material: %v", err)
	}
}
