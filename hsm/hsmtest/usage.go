package hsmtest

import (
	"context"
	"errors"
	"testing"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/object"
)

// testUsageAllocation: Usage Limits' Count starts at the Total whatever
// the client sends, and Get Usage Allocation takes from it while the key
// is Active.
func testUsageAllocation(t *testing.T, nf Factory) {
	f := newFixture(t, nf)
	ctx := context.Background()
	ul := object.UsageLimits{Total: 1000, Count: 3, Unit: object.UsageUnitByte}
	uid := f.create(t, object.Attribute{Name: object.AttrUsageLimits, Value: ul})
	count := func() int64 {
		t.Helper()
		v, _ := f.attr(t, uid, object.AttrUsageLimits)
		u, ok := v.(object.UsageLimits)
		if !ok || u.Total != 1000 || u.Unit != object.UsageUnitByte {
			t.Fatalf("Usage Limits = %#v", v)
		}
		return u.Count
	}
	if c := count(); c != 1000 {
		t.Fatalf("Count after Create = %d, want the Total", c)
	}
	if err := f.API.GetUsageAllocation(ctx, alice, uid, 10); !errors.Is(err, hsm.ErrWrongState) {
		t.Fatalf("allocation on a Pre-Active key: %v, want ErrWrongState", err)
	}
	if err := f.API.Activate(ctx, alice, uid); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		n    int64
		want error
		left int64
	}{
		{0, hsm.ErrInvalid, 1000},
		{-1, hsm.ErrInvalid, 1000},
		{600, nil, 400},
		{401, hsm.ErrPermission, 400},
		{400, nil, 0},
		{1, hsm.ErrPermission, 0},
	}
	for _, s := range steps {
		if err := f.API.GetUsageAllocation(ctx, alice, uid, s.n); !errors.Is(err, s.want) || (s.want == nil && err != nil) {
			t.Fatalf("allocate %d: %v, want %v", s.n, err, s.want)
		}
		if c := count(); c != s.left {
			t.Fatalf("after allocating %d: Count %d, want %d", s.n, c, s.left)
		}
	}
	// A client write resets the Count to the new Total.
	if _, err := f.API.ModifyAttribute(ctx, alice, uid, object.Attribute{Name: object.AttrUsageLimits, Value: ul}); err != nil {
		t.Fatal(err)
	}
	if c := count(); c != 1000 {
		t.Fatalf("Count after Modify = %d", c)
	}
	// Without Usage Limits any count is granted.
	other := f.create(t, object.Attribute{Name: object.AttrActivationDate, Value: t0})
	if err := f.API.GetUsageAllocation(ctx, alice, other, 1<<40); err != nil {
		t.Fatalf("allocation without limits: %v", err)
	}
	if err := f.API.GetUsageAllocation(ctx, hsm.Identity{Name: "mallory"}, uid, 1); !errors.Is(err, hsm.ErrPermission) {
		t.Fatalf("allocation by another owner: %v", err)
	}
	bad := []object.UsageLimits{{Total: 0, Unit: 1}, {Total: 5, Unit: 9}}
	for _, b := range bad {
		if _, err := f.API.Create(ctx, alice, object.TypeSymmetricKey, aesAttrs(object.Attribute{Name: object.AttrUsageLimits, Value: b})); !errors.Is(err, hsm.ErrInvalid) {
			t.Errorf("Create with Usage Limits %+v: %v, want ErrInvalid", b, err)
		}
	}
}
