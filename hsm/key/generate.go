package key

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
)

// ErrUnsupported is returned for a key size, curve or key encoding this
// package does not implement.
var ErrUnsupported = errors.New("key: unsupported mechanism")

// GenerateSymmetric reads bits/8 fresh bytes from rand with io.ReadFull:
// an AES or HMAC key. bits must be a multiple of 8 in [64, 4096]; callers
// check algorithm-specific sizes. Tink generates its symmetric keys the
// same way (random bytes); doing it here keeps rand injectable.
func GenerateSymmetric(rand io.Reader, bits int) (*Material, error) {
	if bits%8 != 0 || bits < 64 || bits > 4096 {
		return nil, fmt.Errorf("%w: symmetric key of %d bits", ErrUnsupported, bits)
	}
	b := make([]byte, bits/8)
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, fmt.Errorf("key: reading randomness: %w", err)
	}
	return adoptMaterial(b), nil
}

// GenerateDES3 returns a 24-byte three-key 3DES key with odd parity bits.
func GenerateDES3(rand io.Reader) (*Material, error) {
	m, err := GenerateSymmetric(rand, 192)
	if err != nil {
		return nil, err
	}
	for i, c := range m.b {
		c &^= 1
		ones := 0
		for v := c; v != 0; v >>= 1 {
			ones += int(v & 1)
		}
		if ones%2 == 0 {
			c |= 1
		}
		m.b[i] = c
	}
	return m, nil
}

// Curve returns the NIST curve with the given size in bits (256, 384, 521).
func Curve(bits int) (elliptic.Curve, error) {
	switch bits {
	case 256:
		return elliptic.P256(), nil
	case 384:
		return elliptic.P384(), nil
	case 521:
		return elliptic.P521(), nil
	}
	return nil, fmt.Errorf("%w: ECDSA curve of %d bits", ErrUnsupported, bits)
}

// GenerateRSA generates an RSA key pair of 2048, 3072 or 4096 bits with the
// standard library. It returns the private key as PKCS#8 DER (secret) and
// the public key as PKIX SubjectPublicKeyInfo DER. The standard library
// may draw its randomness from its own secure source instead of rand.
func GenerateRSA(rand io.Reader, bits int) (priv *Material, pub []byte, err error) {
	switch bits {
	case 2048, 3072, 4096:
	default:
		return nil, nil, fmt.Errorf("%w: RSA key of %d bits", ErrUnsupported, bits)
	}
	k, err := rsa.GenerateKey(rand, bits)
	if err != nil {
		return nil, nil, fmt.Errorf("key: generating RSA key: %w", err)
	}
	return marshalPair(k, &k.PublicKey)
}

// GenerateECDSA generates an ECDSA key pair on P-256, P-384 or P-521
// (bits = 256, 384, 521); encodings as for GenerateRSA.
func GenerateECDSA(rand io.Reader, bits int) (priv *Material, pub []byte, err error) {
	c, err := Curve(bits)
	if err != nil {
		return nil, nil, err
	}
	k, err := ecdsa.GenerateKey(c, rand)
	if err != nil {
		return nil, nil, fmt.Errorf("key: generating ECDSA key: %w", err)
	}
	return marshalPair(k, &k.PublicKey)
}

func marshalPair(priv, pub any) (*Material, []byte, error) {
	p8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("key: encoding private key: %w", err)
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		Zero(p8)
		return nil, nil, fmt.Errorf("key: encoding public key: %w", err)
	}
	return adoptMaterial(p8), spki, nil
}

// Asymmetric algorithms reported by Describe.
const (
	AlgRSA   = "RSA"
	AlgECDSA = "ECDSA"
)

// DescribePrivate parses a PKCS#8 private key and returns its algorithm
// (AlgRSA or AlgECDSA), its size in bits and its public key as PKIX DER.
// Other key types fail with ErrUnsupported.
func DescribePrivate(m *Material) (alg string, bits int, pub []byte, err error) {
	der, err := m.Bytes()
	if err != nil {
		return "", 0, nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return "", 0, nil, fmt.Errorf("%w: private key is not PKCS#8: %v", ErrUnsupported, err)
	}
	var pubKey any
	switch k := k.(type) {
	case *rsa.PrivateKey:
		alg, bits, pubKey = AlgRSA, k.N.BitLen(), &k.PublicKey
	case *ecdsa.PrivateKey:
		alg, bits, pubKey = AlgECDSA, k.Curve.Params().BitSize, &k.PublicKey
	default:
		return "", 0, nil, fmt.Errorf("%w: private key type %T", ErrUnsupported, k)
	}
	pub, err = x509.MarshalPKIXPublicKey(pubKey)
	if err != nil {
		return "", 0, nil, fmt.Errorf("key: encoding public key: %w", err)
	}
	return alg, bits, pub, nil
}

// DescribePublic parses a PKIX public key and returns its algorithm and
// size in bits.
func DescribePublic(der []byte) (alg string, bits int, err error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return "", 0, fmt.Errorf("%w: public key is not PKIX: %v", ErrUnsupported, err)
	}
	switch k := k.(type) {
	case *rsa.PublicKey:
		return AlgRSA, k.N.BitLen(), nil
	case *ecdsa.PublicKey:
		return AlgECDSA, k.Curve.Params().BitSize, nil
	}
	return "", 0, fmt.Errorf("%w: public key type %T", ErrUnsupported, k)
}
