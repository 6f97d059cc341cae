package key

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
)

// PrivatePKCS1 returns the PKCS#1 RSAPrivateKey encoding of a PKCS#8 RSA
// private key. Other key types fail with ErrUnsupported.
func PrivatePKCS1(m *Material) (*Material, error) {
	k, err := parsePKCS8(m)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: PKCS#1 needs an RSA key, not %T", ErrUnsupported, k)
	}
	return adoptMaterial(x509.MarshalPKCS1PrivateKey(rk)), nil
}

// PrivateSEC1 returns the SEC 1 ECPrivateKey encoding of a PKCS#8 ECDSA
// private key. Other key types fail with ErrUnsupported.
func PrivateSEC1(m *Material) (*Material, error) {
	k, err := parsePKCS8(m)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: EC Private Key needs an ECDSA key, not %T", ErrUnsupported, k)
	}
	der, err := x509.MarshalECPrivateKey(ek)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	return adoptMaterial(der), nil
}

// PublicPKCS1 returns the PKCS#1 RSAPublicKey encoding of a PKIX RSA
// public key. Other key types fail with ErrUnsupported.
func PublicPKCS1(spki []byte) ([]byte, error) {
	k, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		return nil, fmt.Errorf("%w: public key is not PKIX: %v", ErrUnsupported, err)
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: PKCS#1 needs an RSA key, not %T", ErrUnsupported, k)
	}
	return x509.MarshalPKCS1PublicKey(rk), nil
}

func parsePKCS8(m *Material) (any, error) {
	der, err := m.Bytes()
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: private key is not PKCS#8: %v", ErrUnsupported, err)
	}
	return k, nil
}
