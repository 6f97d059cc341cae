package hsmtest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/object"
)

// testAccessControl checks the owner / same-group policy: another
// identity gets ErrPermission from every operation on alice's object and
// Locate does not return it; a member of one of alice's groups may use it.
func testAccessControl(t *testing.T, nf Factory) {
	f := newFixture(t, nf)
	ctx := context.Background()
	name := object.Attribute{Name: object.AttrName, Value: object.Name{Value: "shared-name", Type: object.NameText}}
	uid := f.create(t, name)
	mallory := hsm.Identity{Name: "mallory", Groups: []string{"other"}}
	colleague := hsm.Identity{Name: "bob", Groups: []string{"x", "vcenter"}}

	ops := []struct {
		name string
		fn   func(id hsm.Identity) error
	}{
		{"Get", func(id hsm.Identity) error {
			m, err := f.API.Get(ctx, id, uid)
			m.Destroy()
			return err
		}},
		{"GetAttributes", func(id hsm.Identity) error { _, err := f.API.GetAttributes(ctx, id, uid, nil); return err }},
		{"GetAttributeList", func(id hsm.Identity) error { _, err := f.API.GetAttributeList(ctx, id, uid); return err }},
		{"AddAttribute", func(id hsm.Identity) error {
			_, err := f.API.AddAttribute(ctx, id, uid, object.Attribute{Name: "x-" + id.Name, Value: "v"})
			return err
		}},
		{"ModifyAttribute", func(id hsm.Identity) error {
			_, err := f.API.ModifyAttribute(ctx, id, uid, object.Attribute{Name: object.AttrContactInfo, Value: id.Name})
			return err
		}},
		{"Check", func(id hsm.Identity) error { return f.API.Check(ctx, id, uid, 0) }},
		{"ReKey", func(id hsm.Identity) error { _, err := f.API.ReKey(ctx, id, uid, -1, nil); return err }},
		{"Activate", func(id hsm.Identity) error { return f.API.Activate(ctx, id, uid) }},
		{"Revoke", func(id hsm.Identity) error {
			return f.API.Revoke(ctx, id, uid, object.RevocationReason{Code: object.RevokeCessationOfOperation}, time.Time{})
		}},
		{"Destroy", func(id hsm.Identity) error { return f.API.Destroy(ctx, id, uid) }},
	}
	if _, err := f.API.AddAttribute(ctx, alice, uid, object.Attribute{Name: object.AttrContactInfo, Value: "alice"}); err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		if err := op.fn(mallory); !errors.Is(err, hsm.ErrPermission) {
			t.Errorf("%s by another owner: err = %v, want ErrPermission", op.name, err)
		}
	}
	uids, err := f.API.Locate(ctx, mallory, hsm.Query{Attrs: []object.Attribute{name}})
	if err != nil || len(uids) != 0 {
		t.Errorf("Locate by another owner = %v, %v; want nothing", uids, err)
	}
	uids, err = f.API.Locate(ctx, mallory, hsm.Query{})
	if err != nil || len(uids) != 0 {
		t.Errorf("Locate all by another owner = %v, %v; want nothing", uids, err)
	}
	// mallory's own objects stay visible to mallory only, also with a
	// limit the store applies before filtering.
	own, err := f.API.Create(ctx, mallory, object.TypeSymmetricKey, aesAttrs(name))
	if err != nil {
		t.Fatal(err)
	}
	f.create(t, name) // newer than mallory's
	uids, err = f.API.Locate(ctx, mallory, hsm.Query{MaxItems: 1, Attrs: []object.Attribute{name}})
	if err != nil || !slices.Equal(uids, []string{own}) {
		t.Errorf("Locate(MaxItems 1) by mallory = %v, %v; want [%s]", uids, err, own)
	}
	uids, err = f.API.Locate(ctx, alice, hsm.Query{Attrs: []object.Attribute{name}})
	if err != nil || len(uids) != 2 || slices.Contains(uids, own) {
		t.Errorf("Locate by alice = %v, %v; want her 2 objects", uids, err)
	}
	// A member of alice's group "vcenter" may use the object (in this
	// order every operation succeeds, ending with Revoke and Destroy).
	uids, err = f.API.Locate(ctx, colleague, hsm.Query{Attrs: []object.Attribute{name}})
	if err != nil || !slices.Contains(uids, uid) {
		t.Errorf("Locate by a group member = %v, %v; want it to contain %s", uids, err, uid)
	}
	for _, op := range ops {
		if err := op.fn(colleague); err != nil {
			t.Errorf("%s by a group member: %v", op.name, err)
		}
	}
}
