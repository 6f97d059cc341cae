package seal

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func testPolicy() Policy {
	return Policy{
		Version: 3,
		PCRs: []PCRValue{
			{Index: 7, Value: bytes.Repeat([]byte{0x07}, 32)},
			{Index: 11, Value: PredictPCR([]byte("manifest"))},
		},
	}
}

func releaseKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestPolicyRoundTrip(t *testing.T) {
	k := releaseKey(t)
	signed, err := SignPolicy(rand.Reader, k, testPolicy())
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyPolicy(signed, &k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	want := testPolicy()
	want.NVIndex = DefaultNVIndex
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("VerifyPolicy mismatch (-want +got):\n%s", diff)
	}
	if _, err := VerifyPolicy(signed, &releaseKey(t).PublicKey); !errors.Is(err, ErrPolicy) {
		t.Errorf("other key: %v, want ErrPolicy", err)
	}
	if _, err := VerifyPolicy(signed, nil); !errors.Is(err, ErrPolicy) {
		t.Errorf("nil key: %v, want ErrPolicy", err)
	}
}

// TestPolicyMalleability: every prefix, every extension and every
// single-bit change of a signed policy is refused with ErrPolicy.
func TestPolicyMalleability(t *testing.T) {
	k := releaseKey(t)
	signed, err := SignPolicy(rand.Reader, k, testPolicy())
	if err != nil {
		t.Fatal(err)
	}
	for j := range len(signed) {
		if _, err := VerifyPolicy(signed[:j], &k.PublicKey); !errors.Is(err, ErrPolicy) {
			t.Fatalf("prefix %d: %v, want ErrPolicy", j, err)
		}
	}
	if _, err := VerifyPolicy(append(bytes.Clone(signed), 0), &k.PublicKey); !errors.Is(err, ErrPolicy) {
		t.Errorf("extended: %v, want ErrPolicy", err)
	}
	for i := range len(signed) {
		for bit := range 8 {
			b := bytes.Clone(signed)
			b[i] ^= 1 << bit
			if _, err := VerifyPolicy(b, &k.PublicKey); !errors.Is(err, ErrPolicy) {
				t.Fatalf("byte %d bit %d flipped: %v, want ErrPolicy", i, bit, err)
			}
		}
	}
}

// TestPolicyEncoding pins the unsigned part of the encoding.
func TestPolicyEncoding(t *testing.T) {
	p := Policy{Version: 2, NVIndex: 0x0180C0FF, PCRs: []PCRValue{{Index: 23, Value: make([]byte, 32)}}}
	want := "43464250" + // "CFBP"
		"01" + // format
		"0000000000000002" + // version
		"0180c0ff" + // NV index
		"01" + // one PCR
		"17" + "0000000000000000000000000000000000000000000000000000000000000000" // PCR 23, value
	if got := hex.EncodeToString(p.encode()); got != want {
		t.Errorf("encode =\n%s\nwant\n%s", got, want)
	}
}

func TestPolicyValidate(t *testing.T) {
	v := make([]byte, 32)
	tests := []struct {
		name string
		p    Policy
	}{
		{"version 0", Policy{PCRs: []PCRValue{{0, v}}}},
		{"no PCRs", Policy{Version: 1}},
		{"PCR out of range", Policy{Version: 1, PCRs: []PCRValue{{24, v}}}},
		{"negative PCR", Policy{Version: 1, PCRs: []PCRValue{{-1, v}}}},
		{"duplicate PCR", Policy{Version: 1, PCRs: []PCRValue{{1, v}, {1, v}}}},
		{"unsorted", Policy{Version: 1, PCRs: []PCRValue{{2, v}, {1, v}}}},
		{"short value", Policy{Version: 1, PCRs: []PCRValue{{1, v[:20]}}}},
		{"platform NV index", Policy{Version: 1, NVIndex: 0x01400000, PCRs: []PCRValue{{1, v}}}},
	}
	k := releaseKey(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := SignPolicy(rand.Reader, k, tt.p); !errors.Is(err, ErrPolicy) {
				t.Errorf("SignPolicy = %v, want ErrPolicy", err)
			}
		})
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SignPolicy(rand.Reader, p384, testPolicy()); err == nil {
		t.Error("SignPolicy accepted a P-384 key")
	}
}

func TestPredictPCR(t *testing.T) {
	zero := make([]byte, 32)
	if got := PredictPCR(); !bytes.Equal(got, zero) {
		t.Errorf("PredictPCR() = %x", got)
	}
	d1, d2 := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))
	h := sha256.Sum256(append(zero, d1[:]...))
	h = sha256.Sum256(append(h[:], d2[:]...))
	if got := PredictPCR(d1[:], d2[:]); !bytes.Equal(got, h[:]) {
		t.Errorf("PredictPCR(a, b) = %x, want %x", got, h)
	}
}

func TestConfigPolicyCoverage(t *testing.T) {
	k := releaseKey(t)
	signed, err := SignPolicy(rand.Reader, k, testPolicy()) // PCRs 7, 11
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults need 0,2,4,7,9,11", Config{}, false},
		{"7 and boot 11", Config{PCRs: []int{7}}, true},
		{"boot PCR not covered", Config{PCRs: []int{7}, BootPCR: 23}, false},
		{"other counter", Config{PCRs: []int{7}, NVIndex: 0x01800001}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Policy, tt.cfg.ReleaseKey = signed, &k.PublicKey
			_, err := tt.cfg.policy()
			if tt.ok && err != nil {
				t.Errorf("policy() = %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrPolicy) {
				t.Errorf("policy() = %v, want ErrPolicy", err)
			}
		})
	}
}

func TestTPMBlobEncoding(t *testing.T) {
	b := tpmBlob{srkName: []byte{1, 2}, releaseName: []byte{3}, public: []byte{4, 5, 6}, private: []byte{7}}
	enc := b.encode()
	want := "43465453" + "01" + // "CFTS", format 1
		"0002" + "0102" + // SRK name
		"0001" + "03" + // release key name
		"0003" + "040506" + // public
		"0001" + "07" // private
	if got := hex.EncodeToString(enc); got != want {
		t.Errorf("encode = %s, want %s", got, want)
	}
	got, err := parseTPMBlob(enc)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(b, *got, cmp.AllowUnexported(tpmBlob{})); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	for j := range len(enc) {
		if _, err := parseTPMBlob(enc[:j]); !errors.Is(err, ErrFormat) {
			t.Fatalf("prefix %d: %v, want ErrFormat", j, err)
		}
	}
}

func FuzzParsePolicy(f *testing.F) {
	k := releaseKey(f)
	signed, err := SignPolicy(rand.Reader, k, testPolicy())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add([]byte("CFBP"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sp, err := parsePolicy(b)
		if err != nil {
			if !errors.Is(err, ErrPolicy) {
				t.Fatalf("error %v does not wrap ErrPolicy", err)
			}
			return
		}
		re := append(append(sp.encode(), sp.r...), sp.s...)
		if !bytes.Equal(re, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", re, b)
		}
	})
}

func FuzzParseTPMBlob(f *testing.F) {
	f.Add((&tpmBlob{srkName: []byte{1}, releaseName: []byte{2}, public: []byte{3}, private: []byte{4}}).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		tb, err := parseTPMBlob(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		if re := tb.encode(); !bytes.Equal(re, b) {
			t.Fatalf("re-encoding differs")
		}
	})
}
