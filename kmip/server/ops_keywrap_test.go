package server

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 3394 section 4 test vectors.
var kwVectors = []struct {
	name, kek, data, wrapped string
}{
	{"4.1 128-bit data, 128-bit KEK", "000102030405060708090A0B0C0D0E0F", "00112233445566778899AABBCCDDEEFF",
		"1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"},
	{"4.2 128-bit data, 192-bit KEK", "000102030405060708090A0B0C0D0E0F1011121314151617", "00112233445566778899AABBCCDDEEFF",
		"96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D"},
	{"4.3 128-bit data, 256-bit KEK", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF",
		"64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7"},
	{"4.4 192-bit data, 192-bit KEK", "000102030405060708090A0B0C0D0E0F1011121314151617", "00112233445566778899AABBCCDDEEFF0001020304050607",
		"031D33264E15D33268F24EC260743EDCE1C6C7DDEE725A936BA814915C6762D2"},
	{"4.5 192-bit data, 256-bit KEK", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF0001020304050607",
		"A8F9BC1612C68B3FF6E6F4FBE30E71E4769C8B80A32CB8958CD5D17D6B254DA1"},
	{"4.6 256-bit data, 256-bit KEK", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
		"28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21"},
}

func TestAESKeyWrapRFC3394(t *testing.T) {
	for _, v := range kwVectors {
		t.Run(v.name, func(t *testing.T) {
			kek, data, want := unhex(t, v.kek), unhex(t, v.data), unhex(t, v.wrapped)
			got, err := aesKeyWrap(kek, data)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("wrap = %X, want %X", got, want)
			}
			back, err := aesKeyUnwrap(kek, want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back, data) {
				t.Fatalf("unwrap = %X, want %X", back, data)
			}
		})
	}
}

func TestAESKeyWrapRejects(t *testing.T) {
	kek := unhex(t, kwVectors[0].kek)
	wrapped := unhex(t, kwVectors[0].wrapped)
	tampered := append([]byte(nil), wrapped...)
	tampered[5] ^= 1
	tests := []struct {
		name string
		fn   func() error
	}{
		{"short data", func() error { _, err := aesKeyWrap(kek, make([]byte, 8)); return err }},
		{"unaligned data", func() error { _, err := aesKeyWrap(kek, make([]byte, 17)); return err }},
		{"bad kek", func() error { _, err := aesKeyWrap(make([]byte, 15), make([]byte, 16)); return err }},
		{"tampered", func() error { _, err := aesKeyUnwrap(kek, tampered); return err }},
		{"wrong kek", func() error { _, err := aesKeyUnwrap(make([]byte, 16), wrapped); return err }},
		{"short wrapped", func() error { _, err := aesKeyUnwrap(kek, wrapped[:16]); return err }},
		{"unaligned wrapped", func() error { _, err := aesKeyUnwrap(kek, wrapped[:23]); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.fn(); !errors.Is(err, errKeyWrap) {
				t.Fatalf("err = %v, want errKeyWrap", err)
			}
		})
	}
}

func BenchmarkAESKeyWrap256(b *testing.B) {
	kek := make([]byte, 32)
	data := make([]byte, 32)
	for b.Loop() {
		if _, err := aesKeyWrap(kek, data); err != nil {
			b.Fatal(err)
		}
	}
}
