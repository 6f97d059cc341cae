package hsm

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"unicode/utf8"

	"github.com/cofferhsm/coffer/hsm/object"
)

// KMIP 1.1 Digital Signature Algorithm values of the signature algorithms
// the standard library recognizes; others leave the attribute unset.
var signatureAlgorithms = map[x509.SignatureAlgorithm]uint32{
	x509.MD2WithRSA:       1,
	x509.MD5WithRSA:       2,
	x509.SHA1WithRSA:      3,
	x509.SHA256WithRSA:    5,
	x509.SHA384WithRSA:    6,
	x509.SHA512WithRSA:    7,
	x509.SHA256WithRSAPSS: 8,
	x509.SHA384WithRSAPSS: 8,
	x509.SHA512WithRSAPSS: 8,
	x509.DSAWithSHA1:      9,
	x509.DSAWithSHA256:    11,
	x509.ECDSAWithSHA1:    12,
	x509.ECDSAWithSHA256:  14,
	x509.ECDSAWithSHA384:  15,
	x509.ECDSAWithSHA512:  16,
}

// certAttrs sets the attributes a registered certificate determines
// (KMIP 1.1 TC 13.2): Certificate Length; X.509 Certificate Identifier,
// Subject and Issuer (DER); Certificate Identifier, Subject and Issuer
// (RFC 4514 text, serial number in hex); Digital Signature Algorithm; and
// the Cryptographic Algorithm and Length of an RSA or ECDSA subject public
// key (checked against client-given values like a registered key's). Names
// too large for an attribute value are left out; at most
// object.MaxCertAltNames alternative names are kept.
func certAttrs(o *object.Object, c *x509.Certificate) error {
	set := func(name string, v any) error {
		if err := o.Set(name, v); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
	setName := func(name string, v object.CertificateName) error {
		if len(v.Alt) > object.MaxCertAltNames {
			v.Alt = v.Alt[:object.MaxCertAltNames]
		}
		for len(v.Alt) > 0 && nameSize(v) > object.MaxBytesLen {
			v.Alt = v.Alt[:len(v.Alt)-1]
		}
		if len(v.Name) == 0 || nameSize(v) > object.MaxBytesLen {
			return nil // not expressible within the bounds: left out
		}
		return set(name, v)
	}
	if err := set(object.AttrCertificateLength, int32(len(c.Raw))); err != nil {
		return err
	}
	serial := c.SerialNumber
	if serial == nil {
		serial = new(big.Int)
	}
	serialDER := serial.Bytes()
	if len(serialDER) == 0 || serialDER[0]&0x80 != 0 {
		serialDER = append([]byte{0}, serialDER...)
	}
	var sanText [][]byte
	for _, n := range c.DNSNames {
		sanText = append(sanText, []byte(text(n)))
	}
	for _, n := range c.EmailAddresses {
		sanText = append(sanText, []byte(text(n)))
	}
	for _, n := range c.IPAddresses {
		sanText = append(sanText, []byte(n.String()))
	}
	for _, n := range c.URIs {
		sanText = append(sanText, []byte(text(n.String())))
	}
	issuer, subject := text(c.Issuer.String()), text(c.Subject.String())
	for _, a := range []struct {
		name string
		v    object.CertificateName
	}{
		{object.AttrX509CertIdentifier, object.CertificateName{Name: c.RawIssuer, Serial: serialDER}},
		{object.AttrX509CertSubject, object.CertificateName{Name: c.RawSubject}},
		{object.AttrX509CertIssuer, object.CertificateName{Name: c.RawIssuer}},
		{object.AttrCertIdentifier, object.CertificateName{Name: []byte(issuer), Serial: []byte(hex.EncodeToString(serial.Bytes()))}},
		{object.AttrCertSubject, object.CertificateName{Name: []byte(subject), Alt: sanText}},
		{object.AttrCertIssuer, object.CertificateName{Name: []byte(issuer)}},
	} {
		if err := setName(a.name, a.v); err != nil {
			return err
		}
	}
	if v, ok := signatureAlgorithms[c.SignatureAlgorithm]; ok {
		if err := set(object.AttrDigitalSignatureAlg, v); err != nil {
			return err
		}
	}
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return setAsymAttrs(o, object.AlgRSA, k.N.BitLen())
	case *ecdsa.PublicKey:
		return setAsymAttrs(o, object.AlgECDSA, k.Curve.Params().BitSize)
	}
	return nil
}

func nameSize(v object.CertificateName) int {
	n := len(v.Name) + len(v.Serial)
	for _, a := range v.Alt {
		n += len(a)
	}
	return n
}

// text returns s as valid, bounded UTF-8 text.
func text(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}
