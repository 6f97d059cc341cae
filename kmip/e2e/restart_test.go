package e2e

import (
	"bytes"
	"context"
	"testing"

	"github.com/cofferhsm/coffer/kmip"
	"github.com/cofferhsm/coffer/kmip/client"
)

// TestRestartKeepsKeys stops the server and starts it again on the same
// data directory: every key keeps its UID, material and state, and the
// app's credentials still work.
func TestRestartKeepsKeys(t *testing.T) {
	dir := newDataDir(t)
	srv := startCoffer(t, dir)
	cfg := appTLS(t, srv.Host.Authority, "vcenter")
	ctx := context.Background()
	c := dial(t, srv.Addr, cfg)

	type key struct {
		uid      string
		material []byte
		state    kmip.State
	}
	var keys []key
	for i := range 3 {
		uid, err := c.Create(ctx, kmip.CryptographicAlgorithmAES, 256, kmip.CryptographicUsageMaskEncrypt|kmip.CryptographicUsageMaskDecrypt)
		if err != nil {
			t.Fatal(err)
		}
		state := kmip.StatePreActive
		if i%2 == 0 {
			if err := c.Activate(ctx, uid); err != nil {
				t.Fatal(err)
			}
			state = kmip.StateActive
		}
		g, err := c.Get(ctx, uid)
		if err != nil {
			t.Fatal(err)
		}
		m, err := client.SymmetricKey(g)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key{uid, m, state})
	}
	c.Close()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	srv = startCoffer(t, dir)
	if srv.Host.Created {
		t.Fatal("restart generated a new master key")
	}
	c = dial(t, srv.Addr, cfg)
	for _, k := range keys {
		g, err := c.Get(ctx, k.uid)
		if err != nil {
			t.Fatalf("Get %s after restart: %v", k.uid, err)
		}
		m, err := client.SymmetricKey(g)
		if err != nil || !bytes.Equal(m, k.material) {
			t.Errorf("%s: material differs after restart (%v)", k.uid, err)
		}
		attrs, err := c.GetAttributes(ctx, k.uid, kmip.AttributeState)
		if err != nil || len(attrs) != 1 || attrs[0].Value != k.state {
			t.Errorf("%s: state %v (%v), want %s", k.uid, attrs, err, k.state)
		}
	}
	// New keys get new UIDs.
	uid, err := c.Create(ctx, kmip.CryptographicAlgorithmAES, 128, kmip.CryptographicUsageMaskEncrypt)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.uid == uid {
			t.Fatalf("UID %s reused after restart", uid)
		}
	}
}
