package hsm_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/audit"
	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/cofferhsm/coffer/hsm/object"
	"github.com/cofferhsm/coffer/hsm/store"
)

func TestAuditLogAdapter(t *testing.T) {
	log := audit.NewMemory()
	defer log.Close()
	m, _ := key.NewMaster(bytes.Repeat([]byte{1}, key.MasterSize))
	db := store.NewMemory()
	defer db.Close()
	c, err := hsm.New(hsm.Config{Store: db, Master: m, Audit: hsm.AuditLog(log)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := hsm.Identity{Name: "app1"}
	uid, err := c.Create(ctx, id, object.TypeSymmetricKey, []object.Attribute{
		{Name: object.AttrAlgorithm, Value: object.AlgAES}, {Name: object.AttrLength, Value: int32(128)},
		{Name: object.AttrUsageMask, Value: object.UsageMaskCrypto}})
	if err != nil {
		t.Fatal(err)
	}
	mk, err := c.Get(ctx, id, uid)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := mk.Secret.Bytes()
	raw = bytes.Clone(raw)
	mk.Destroy()
	if err := c.Destroy(ctx, id, uid); err != nil {
		t.Fatal(err)
	}
	if err := c.Activate(ctx, id, uid); err == nil {
		t.Fatal("Activate of a destroyed key succeeded")
	}
	recs, err := log.Entries()
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ op, result, detail string }{
		{"Create", "success", ""}, {"Get", "success", "export"}, {"Destroy", "success", ""}, {"Activate", "wrong-state", ""},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(recs), len(want), recs)
	}
	for i, w := range want {
		r := recs[i]
		if r.Operation != w.op || r.Result != w.result || r.Detail != w.detail || r.Object != uid || r.Identity != "app1" {
			t.Errorf("entry %d = %+v, want %+v", i, r.Entry, w)
		}
		for _, f := range []string{r.Identity, r.Operation, r.Object, r.Result, r.Detail} {
			if bytes.Contains([]byte(f), raw) {
				t.Fatal("key material in audit log")
			}
		}
	}
}
