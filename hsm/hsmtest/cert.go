package hsmtest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/object"
	"github.com/google/go-cmp/cmp"
)

// testCertificateAttributes: registering an X.509 certificate sets the
// attributes derived from it (TC 13.2).
func testCertificateAttributes(t *testing.T, nf Factory) {
	f := newFixture(t, nf)
	ctx := context.Background()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	name := pkix.Name{Country: []string{"US"}, Organization: []string{"TEST"}, OrganizationalUnit: []string{"OASIS"}, CommonName: "KMIP"}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x81), Subject: name, Issuer: name, DNSNames: []string{"kmip.example"},
		NotBefore: t0, NotAfter: t0.Add(time.Hour), SignatureAlgorithm: x509.SHA256WithRSA}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	uid, err := f.API.Register(ctx, alice, hsm.Content{Type: object.TypeCertificate, Format: object.FormatX509, Public: der}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const dn = "CN=KMIP,OU=OASIS,O=TEST,C=US"
	want := map[string]any{
		object.AttrCertificateType:     object.CertificateX509,
		object.AttrCertificateLength:   int32(len(der)),
		object.AttrX509CertIdentifier:  object.CertificateName{Name: cert.RawIssuer, Serial: []byte{0x00, 0x81}},
		object.AttrX509CertSubject:     object.CertificateName{Name: cert.RawSubject},
		object.AttrX509CertIssuer:      object.CertificateName{Name: cert.RawIssuer},
		object.AttrCertIdentifier:      object.CertificateName{Name: []byte(dn), Serial: []byte("81")},
		object.AttrCertSubject:         object.CertificateName{Name: []byte(dn), Alt: [][]byte{[]byte("kmip.example")}},
		object.AttrCertIssuer:          object.CertificateName{Name: []byte(dn)},
		object.AttrDigitalSignatureAlg: uint32(5), // SHA-256 with RSA
		object.AttrAlgorithm:           object.AlgRSA,
		object.AttrLength:              int32(2048),
	}
	got := map[string]any{}
	for n := range want {
		v, ok := f.attr(t, uid, n)
		if ok {
			got[n] = v
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("certificate attributes (-want +got):\n%s", d)
	}
	// They are the server's: a client cannot set or change them.
	if _, err := f.API.ModifyAttribute(ctx, alice, uid, object.Attribute{Name: object.AttrCertificateLength, Value: int32(1)}); !errors.Is(err, hsm.ErrPermission) {
		t.Errorf("modify Certificate Length: %v, want ErrPermission", err)
	}
	// A client-given Cryptographic Length must match the certificate's key.
	if _, err := f.API.Register(ctx, alice, hsm.Content{Type: object.TypeCertificate, Format: object.FormatX509, Public: der},
		[]object.Attribute{{Name: object.AttrLength, Value: int32(4096)}}); !errors.Is(err, hsm.ErrInvalid) {
		t.Errorf("mismatched length: %v, want ErrInvalid", err)
	}
}
