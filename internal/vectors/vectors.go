// Package vectors locates the shared KMIP test material (../shared/kmip/vectors
// beside the checkout) for tests. It is imported by tests only.
package vectors

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Dir returns the path of shared/kmip/vectors. The test fails (it does not
// skip) when the folder is missing: CI always has it.
func Dir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("COFFER_VECTORS"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			v := filepath.Join(d, "..", "shared", "kmip", "vectors")
			if _, err := os.Stat(v); err != nil {
				t.Fatalf("KMIP vectors not found at %s (set COFFER_VECTORS): %v", v, err)
			}
			return v
		}
		if filepath.Dir(d) == d {
			t.Fatal("go.mod not found above " + wd)
		}
	}
}

// Message is one hex-encoded KMIP message of the OASIS KMIP 1.1 test cases.
type Message struct {
	File     string // base name, e.g. "tc11_3_1_1_create_destroy.json"
	Step     int    // index into the file's steps
	Response bool   // false: request_hex, true: response_hex
	Bytes    []byte
}

// Name identifies the message in test output.
func (m Message) Name() string {
	kind := "request"
	if m.Response {
		kind = "response"
	}
	return fmt.Sprintf("%s/step%d/%s", strings.TrimSuffix(m.File, ".json"), m.Step, kind)
}

// TC11 returns every request and response of the tc11_*.json files, in
// file and step order.
func TC11(t testing.TB) []Message {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(Dir(t), "tc11_*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no tc11_*.json vectors found: %v", err)
	}
	sort.Strings(files)
	var out []Message
	for _, f := range files {
		var doc struct {
			Steps []struct {
				RequestHex  string `json:"request_hex"`
				ResponseHex string `json:"response_hex"`
			} `json:"steps"`
		}
		readJSON(t, f, &doc)
		for i, s := range doc.Steps {
			for _, m := range []struct {
				hex  string
				resp bool
			}{{s.RequestHex, false}, {s.ResponseHex, true}} {
				if m.hex == "" {
					continue
				}
				b, err := hex.DecodeString(m.hex)
				if err != nil {
					t.Fatalf("%s step %d: %v", f, i, err)
				}
				out = append(out, Message{File: filepath.Base(f), Step: i, Response: m.resp, Bytes: b})
			}
		}
	}
	return out
}

// ReadJSON decodes the vector file name (relative to Dir) into v.
func ReadJSON(t testing.TB, name string, v any) {
	t.Helper()
	readJSON(t, filepath.Join(Dir(t), name), v)
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
