package server

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/cofferhsm/coffer/kmip"
)

// FuzzHandle: whatever arrives, Handle answers with a response message
// that parses, whose batch count matches its items, and never panics.
func FuzzHandle(f *testing.F) {
	files, _ := filepath.Glob("../../../shared/kmip/vectors/tc11_*.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		var doc struct {
			Steps []struct {
				Request string `json:"request_hex"`
			} `json:"steps"`
		}
		if json.Unmarshal(b, &doc) != nil {
			continue
		}
		for _, s := range doc.Steps {
			if req, err := hex.DecodeString(s.Request); err == nil {
				f.Add(req)
			}
		}
	}
	f.Add(mustEncode(f, msg(item(createReq()), item(&kmip.GetRequest{}))))
	e := newTestEnv(f, nil)
	f.Fuzz(func(t *testing.T, req []byte) {
		out := e.ops.Handle(context.Background(), e.peer, req)
		r, err := kmip.ParseResponseMessage(out)
		if err != nil {
			t.Fatalf("response does not parse: %v", err)
		}
		if len(r.BatchItems) == 0 {
			t.Fatal("no batch items")
		}
	})
}
