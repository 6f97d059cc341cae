package key

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

func TestMasterRedactsAndZeroizes(t *testing.T) {
	m, err := GenerateMaster(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.Bytes()
	raw := append([]byte(nil), b...)
	for _, s := range []string{fmt.Sprint(m), fmt.Sprintf("%v %+v %#v %s %x %q", m, m, m, m, m, m)} {
		if bytes.Contains([]byte(s), raw) || bytes.Contains([]byte(s), []byte(fmt.Sprintf("%x", raw))) {
			t.Fatalf("formatted master key leaks secret: %q", s)
		}
	}
	if _, err := json.Marshal(m); !errors.Is(err, ErrMarshal) {
		t.Fatalf("json.Marshal err = %v, want ErrMarshal", err)
	}
	m2, err := NewMaster(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Equal(m2) {
		t.Fatal("Equal = false for identical keys")
	}
	m.Destroy()
	if !bytes.Equal(b, make([]byte, MasterSize)) {
		t.Fatal("Destroy did not zero the key bytes")
	}
	if _, err := m.Bytes(); !errors.Is(err, ErrDestroyed) {
		t.Fatalf("Bytes after Destroy err = %v", err)
	}
	if m.Equal(m2) {
		t.Fatal("destroyed key equals live key")
	}
	if _, err := NewMaster(raw[:31]); err == nil {
		t.Fatal("NewMaster accepted a 31-byte key")
	}
}
