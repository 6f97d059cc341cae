package audit

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

// unhex decodes hex with spaces, newlines and "//" comments.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	var clean strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		clean.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGoldenFrame is the compatibility gate of the on-disk entry format.
func TestGoldenFrame(t *testing.T) {
	golden := unhex(t, `
		0000004c             // frame length 76
		a8                   // map, 8 pairs (object set, detail omitted)
		01 01                // 1 version: 1
		02 01                // 2 seq: 1
		03 5820 0000000000000000000000000000000000000000000000000000000000000000 // 3 prev: 32 zero bytes (first entry)
		04 1b 187ba05cebd94005 // 4 time: 1764180000000000005 ns
		05 63 617070         // 5 identity: "app"
		06 66 437265617465   // 6 operation: "Create"
		07 62 3137           // 7 object: "17"
		08 67 73756363657373 // 8 result: "success"
		b8df4cf32151ca941c9622a794346fc19b750ca6cb295578515af87f1b5f93f1 // SHA-256 of the 76 CBOR bytes
	`)
	e := Entry{Time: time.Unix(1764180000, 5), Identity: "app", Operation: "Create", Object: "17", Result: ResultSuccess}
	got, tag, err := chain{}.appendFrame(nil, 1, [tagLen]byte{}, &e)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, golden) {
		t.Errorf("frame:\n got %x\nwant %x", got, golden)
	}
	if !bytes.Equal(tag[:], golden[len(golden)-tagLen:]) {
		t.Errorf("tag %x", tag)
	}
	log := append(chain{}.header(), golden...)
	recs, err := ReadAll(bytes.NewReader(log), nil)
	if err != nil || len(recs) != 1 {
		t.Fatalf("ReadAll = %v, %v", recs, err)
	}
	want := e
	want.Time = want.Time.UTC()
	if recs[0].Entry != want || recs[0].Seq != 1 {
		t.Errorf("decoded %+v, want %+v", recs[0], want)
	}
	// Every proper prefix of a one-entry log fails.
	for j := range len(log) {
		if _, err := ReadAll(bytes.NewReader(log[:j]), nil); err == nil && j != headerLen {
			t.Errorf("ReadAll(log[:%d]) succeeded", j)
		}
	}
}

// TestStrictDecode re-tags non-canonical or unexpected encodings so that
// only the decoder can reject them.
func TestStrictDecode(t *testing.T) {
	zeros := "5820" + strings.Repeat("00", 32)
	tests := []struct {
		name string
		cbor string
	}{
		{"NonShortestInt", "a7 01 01 02 1801 03" + zeros + "04 00 05 60 06 61 47 08 61 6f"},
		{"UnknownField", "a8 01 01 02 01 03" + zeros + "04 00 05 60 06 61 47 08 61 6f 0a 00"},
		{"DuplicateKey", "a8 01 01 02 01 03" + zeros + "04 00 05 60 06 61 47 08 61 6f 08 61 6f"},
		{"UnsortedKeys", "a7 02 01 01 01 03" + zeros + "04 00 05 60 06 61 47 08 61 6f"},
		{"IndefiniteMap", "bf 01 01 02 01 03" + zeros + "04 00 05 60 06 61 47 08 61 6f ff"},
		{"Tagged", "a7 01 01 02 01 03" + zeros + "04 c1 00 05 60 06 61 47 08 61 6f"},
		{"Version2", "a7 01 02 02 01 03" + zeros + "04 00 05 60 06 61 47 08 61 6f"},
		{"NegativeTime", "a7 01 01 02 01 03" + zeros + "04 20 05 60 06 61 47 08 61 6f"},
		{"EmptyOperation", "a7 01 01 02 01 03" + zeros + "04 00 05 60 06 60 08 61 6f"},
		{"BadUTF8", "a7 01 01 02 01 03" + zeros + "04 00 05 61 ff 06 61 47 08 61 6f"},
		{"ShortPrev", "a7 01 01 02 01 03 41 00 04 00 05 60 06 61 47 08 61 6f"},
		{"NotAMap", "82 01 01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := unhex(t, tt.cbor)
			tag := chain{}.tag(body)
			log := chain{}.header()
			log = binary.BigEndian.AppendUint32(log, uint32(len(body)))
			log = append(append(log, body...), tag[:]...)
			recs, err := ReadAll(bytes.NewReader(log), nil)
			var ve *VerifyError
			if !errors.As(err, &ve) || ve.Seq != 1 || len(recs) != 0 {
				t.Fatalf("ReadAll = %v, %v; want a *VerifyError at seq 1", recs, err)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrChain) {
				t.Errorf("error %v, want ErrMalformed or ErrChain", err)
			}
		})
	}
	// The valid form of the same entry, for contrast.
	body := unhex(t, "a7 01 01 02 01 03"+zeros+"04 00 05 60 06 61 47 08 61 6f")
	tag := chain{}.tag(body)
	log := binary.BigEndian.AppendUint32(chain{}.header(), uint32(len(body)))
	log = append(append(log, body...), tag[:]...)
	if recs, err := ReadAll(bytes.NewReader(log), nil); err != nil || len(recs) != 1 {
		t.Errorf("valid entry: %v, %v", recs, err)
	}
}

// FuzzReadAll checks that any input either verifies or fails with a
// *VerifyError, without panicking.
func FuzzReadAll(f *testing.F) {
	log := chain{}.header()
	var prev [tagLen]byte
	for i := range 3 {
		e := entry(i)
		e.Time = time.Unix(int64(i), 0)
		var err error
		log, prev, err = chain{}.appendFrame(log, uint64(i+1), prev, &e)
		if err != nil {
			f.Fatal(err)
		}
	}
	f.Add(log)
	f.Add(log[:headerLen])
	f.Add(log[:len(log)-3])
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := ReadAll(bytes.NewReader(b), nil)
		var ve *VerifyError
		if err != nil && !errors.As(err, &ve) {
			t.Fatalf("error %v is not a *VerifyError", err)
		}
		for i, r := range recs {
			if r.Seq != uint64(i+1) {
				t.Fatalf("record %d has seq %d", i, r.Seq)
			}
		}
	})
}
