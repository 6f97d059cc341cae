package key

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"
)

func TestMaterialRedactsAndZeroizes(t *testing.T) {
	raw := []byte("super secret key material 123456")
	m, err := NewMaterial(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(m), fmt.Sprintf("%v %+v %#v %s %x %q", m, m, m, m, m, m), fmt.Sprintf("%v", []*Material{m})} {
		if bytes.Contains([]byte(s), raw[:6]) || bytes.Contains([]byte(s), []byte(fmt.Sprintf("%x", raw[:6]))) {
			t.Fatalf("formatted material leaks secret: %q", s)
		}
	}
	if _, err := json.Marshal(m); !errors.Is(err, ErrMarshal) {
		t.Fatalf("json.Marshal err = %v, want ErrMarshal", err)
	}
	if _, err := json.Marshal(struct{ K *Material }{m}); err == nil {
		t.Fatal("json.Marshal of a struct holding material succeeded")
	}
	c, err := m.Clone()
	if err != nil || !c.Equal(m) {
		t.Fatal("clone differs")
	}
	b, _ := m.Bytes()
	m.Destroy()
	if !bytes.Equal(b, make([]byte, len(raw))) {
		t.Fatal("Destroy did not zero the bytes")
	}
	if _, err := m.Bytes(); !errors.Is(err, ErrDestroyed) {
		t.Fatalf("Bytes after Destroy: %v", err)
	}
	if m.Equal(c) || c.Equal(m) || m.Len() != 0 {
		t.Fatal("destroyed material still compares equal")
	}
	m.Destroy() // idempotent
	var nilM *Material
	nilM.Destroy()
	if _, err := NewMaterial(nil); err == nil {
		t.Error("empty material accepted")
	}
	if _, err := NewMaterial(make([]byte, MaxMaterialSize+1)); err == nil {
		t.Error("oversized material accepted")
	}
}

func TestGenerateSymmetric(t *testing.T) {
	for _, bits := range []int{128, 192, 256, 512} {
		m, err := GenerateSymmetric(rand.Reader, bits)
		if err != nil || m.Len() != bits/8 {
			t.Fatalf("%d bits: len %d, %v", bits, m.Len(), err)
		}
	}
	for _, bits := range []int{0, 56, 129, 4104} {
		if _, err := GenerateSymmetric(rand.Reader, bits); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%d bits: err = %v", bits, err)
		}
	}
	// A reader that delivers one byte at a time still fills the key
	// (io.ReadFull); a failing reader fails generation.
	src := bytes.Repeat([]byte{0xAB}, 32)
	m, err := GenerateSymmetric(iotest.OneByteReader(bytes.NewReader(src)), 256)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := m.Bytes(); !bytes.Equal(b, src) {
		t.Fatal("key bytes differ from the source")
	}
	if _, err := GenerateSymmetric(bytes.NewReader(src[:31]), 256); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short reader: err = %v", err)
	}
}

func TestGenerateDES3Parity(t *testing.T) {
	m, err := GenerateDES3(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.Bytes()
	if len(b) != 24 {
		t.Fatalf("len = %d", len(b))
	}
	for i, c := range b {
		ones := 0
		for v := c; v != 0; v >>= 1 {
			ones += int(v & 1)
		}
		if ones%2 != 1 {
			t.Fatalf("byte %d (%#x) has even parity", i, c)
		}
	}
}

func TestGenerateAsymmetric(t *testing.T) {
	for _, bits := range []int{256, 384, 521} {
		priv, pub, err := GenerateECDSA(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		alg, got, derived, err := DescribePrivate(priv)
		if err != nil || alg != AlgECDSA || got != bits || !bytes.Equal(derived, pub) {
			t.Fatalf("P-%d: %s/%d, %v", bits, alg, got, err)
		}
		if alg, got, err := DescribePublic(pub); err != nil || alg != AlgECDSA || got != bits {
			t.Fatalf("public P-%d: %s/%d, %v", bits, alg, got, err)
		}
	}
	if _, _, err := GenerateECDSA(rand.Reader, 224); !errors.Is(err, ErrUnsupported) {
		t.Errorf("P-224: %v", err)
	}
	if _, _, err := GenerateRSA(rand.Reader, 1024); !errors.Is(err, ErrUnsupported) {
		t.Errorf("RSA-1024: %v", err)
	}
	if testing.Short() {
		return
	}
	priv, pub, err := GenerateRSA(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if alg, bits, derived, err := DescribePrivate(priv); err != nil || alg != AlgRSA || bits != 2048 || !bytes.Equal(derived, pub) {
		t.Fatalf("RSA: %s/%d, %v", alg, bits, err)
	}
}

func TestDeriveAndRecordAEAD(t *testing.T) {
	m, err := NewMaster(bytes.Repeat([]byte{1}, MasterSize))
	if err != nil {
		t.Fatal(err)
	}
	a1, _ := m.Derive(LabelRecordKEK, 32)
	a2, _ := m.Derive(LabelRecordKEK, 32)
	b1, _ := m.Derive(LabelAuditMAC, 32)
	if !a1.Equal(a2) || a1.Equal(b1) {
		t.Fatal("derivation not deterministic or labels not independent")
	}
	if _, err := m.Derive("", 32); err == nil {
		t.Error("empty label accepted")
	}
	r, err := NewRecordAEAD(m)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := r.Seal([]byte("body"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := r.Open(ct, []byte("ad")); err != nil || string(pt) != "body" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	if _, err := r.Open(ct, []byte("other")); !errors.Is(err, ErrOpen) {
		t.Fatalf("wrong ad: %v", err)
	}
	ct[len(ct)-1] ^= 1
	if _, err := r.Open(ct, []byte("ad")); !errors.Is(err, ErrOpen) {
		t.Fatalf("flipped byte: %v", err)
	}
	m.Destroy()
	if _, err := NewRecordAEAD(m); !errors.Is(err, ErrDestroyed) {
		t.Fatalf("destroyed master: %v", err)
	}
	if s := fmt.Sprint(r); s != "key.RecordAEAD(REDACTED)" {
		t.Errorf("String = %q", s)
	}
}
