package hsm

import (
	"fmt"

	"github.com/cofferhsm/coffer/hsm/object"
)

// Key strength policy. Coffer refuses to create keys below about 112 bits
// of security (NIST SP 800-131A), even when KMIP and other servers allow
// them: single DES, SKIPJACK (80 bits), RC2, RC4, two-key Triple DES
// (112-bit key, disallowed for encryption since 2023), RSA under 2048
// bits and HMAC keys under 112 bits. OASIS test cases that create such
// keys (SKFF-O-1..6: SKIPJACK-80 and 3DES-112; 8.1: RSA-1024) fail on
// purpose. The refusal is a *WeakKeyError (Invalid Field on the wire).

// WeakKeyError refuses a key the strength policy forbids. It wraps
// ErrInvalid; Reason is written for the client.
type WeakKeyError struct {
	Algorithm object.Algorithm
	Bits      int
	Reason    string
}

func (e *WeakKeyError) Error() string { return "hsm: key refused by policy: " + e.Reason }

// Unwrap returns ErrInvalid.
func (e *WeakKeyError) Unwrap() error { return ErrInvalid }

// weakAlgorithms are refused whatever the length.
var weakAlgorithms = map[object.Algorithm]string{
	object.AlgDES: "single DES (56-bit key)",
	0x15:          "RC2",
	0x16:          "RC4",
	0x18:          "SKIPJACK (80-bit key)",
}

// checkStrength returns a *WeakKeyError when the policy forbids a key of
// algorithm alg and bits bits, nil otherwise (including for algorithms it
// does not judge: their support is checked elsewhere).
func checkStrength(alg object.Algorithm, bits int) error {
	if what, ok := weakAlgorithms[alg]; ok {
		return &WeakKeyError{Algorithm: alg, Bits: bits, Reason: what + " is too weak"}
	}
	switch {
	case alg == object.Alg3DES && bits == 112:
		return &WeakKeyError{Algorithm: alg, Bits: bits, Reason: "two-key Triple DES (112 bits) is too weak; use 168 bits or AES"}
	case alg == object.AlgRSA && bits < 2048:
		return &WeakKeyError{Algorithm: alg, Bits: bits, Reason: fmt.Sprintf("RSA keys of %d bits are too weak; use 2048 bits or more", bits)}
	case alg >= object.AlgHMACSHA1 && alg <= object.AlgHMACMD5 && bits < 112:
		return &WeakKeyError{Algorithm: alg, Bits: bits, Reason: fmt.Sprintf("HMAC keys of %d bits are too weak; use 112 bits or more", bits)}
	}
	return nil
}
