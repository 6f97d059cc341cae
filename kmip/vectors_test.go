package kmip

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/cofferhsm/coffer/internal/vectors"
)

type vectorFile struct {
	ID    string `json:"id"`
	Steps []struct {
		Description string `json:"description"`
		RequestHex  string `json:"request_hex"`
		ResponseHex string `json:"response_hex"`
	} `json:"steps"`
}

func loadTC11(t testing.TB) map[string]vectorFile {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(vectors.Dir(t), "tc11_*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 36 {
		t.Fatalf("found %d tc11_*.json files, want 36", len(files))
	}
	out := make(map[string]vectorFile, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v vectorFile
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = v
	}
	return out
}

// TestVectorsRoundTrip parses every request and response of the KMIP 1.1
// test cases into the typed model and checks that re-encoding gives the
// identical bytes.
func TestVectorsRoundTrip(t *testing.T) {
	var total, ok int
	for name, vf := range loadTC11(t) {
		t.Run(name, func(t *testing.T) {
			for i, s := range vf.Steps {
				for _, kind := range []string{"request", "response"} {
					h := s.RequestHex
					if kind == "response" {
						h = s.ResponseHex
					}
					total++
					in, err := hex.DecodeString(h)
					if err != nil {
						t.Fatalf("step %d %s: bad hex: %v", i, kind, err)
					}
					var out []byte
					if kind == "request" {
						var m *RequestMessage
						if m, err = ParseRequestMessage(in); err == nil {
							out, err = m.Encode()
						}
					} else {
						var m *ResponseMessage
						if m, err = ParseResponseMessage(in); err == nil {
							out, err = m.Encode()
						}
					}
					if err != nil {
						t.Errorf("%s step %d (%s) %s: %v", vf.ID, i, s.Description, kind, err)
						continue
					}
					if !bytes.Equal(in, out) {
						t.Errorf("%s step %d (%s) %s: re-encoding differs\n in: %X\nout: %X", vf.ID, i, s.Description, kind, in, out)
						continue
					}
					ok++
				}
			}
		})
	}
	t.Logf("%d/%d messages round-trip", ok, total)
	if total != 520 {
		t.Errorf("saw %d messages, want 520", total)
	}
}
