package hsmtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/object"
	"github.com/google/go-cmp/cmp"
)

func testLocate(t *testing.T, nf Factory) {
	f := newFixture(t, nf)
	ctx := context.Background()
	nm := func(s string) object.Attribute {
		return object.Attribute{Name: object.AttrName, Value: object.Name{Value: s, Type: object.NameText}}
	}
	grp := func(s string) object.Attribute { return object.Attribute{Name: object.AttrObjectGroup, Value: s} }
	// Created one minute apart: k0 oldest.
	var k [5]string
	k[0] = f.create(t, nm("k0"), grp("g1"), object.Attribute{Name: "x-Component", Value: "Virtual Machine"})
	f.clock.Add(time.Minute)
	k[1] = f.create(t, nm("k1"), grp("g1"), object.Attribute{Name: "x-Component", Value: "ESXi Server"})
	f.clock.Add(time.Minute)
	k[2] = f.create(t, nm("k2"), grp("g2"), object.Attribute{Name: "x-Component", Value: "Virtual Machine"}, object.Attribute{Name: "x-Blob", Value: []byte{1, 2}})
	f.clock.Add(time.Minute)
	uid, err := f.API.Create(ctx, alice, object.TypeSymmetricKey, []object.Attribute{
		{Name: object.AttrAlgorithm, Value: object.AlgHMACSHA256}, {Name: object.AttrLength, Value: int32(256)},
		{Name: object.AttrUsageMask, Value: object.UsageMACGen | object.UsageMACVerify}, grp("g1")})
	if err != nil {
		t.Fatal(err)
	}
	k[3] = uid
	f.clock.Add(time.Minute)
	k[4], err = f.API.Register(ctx, alice, hsm.Content{Type: object.TypeTemplate, Template: aesAttrs()}, []object.Attribute{nm("tmpl")})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.API.Activate(ctx, alice, k[1]); err != nil {
		t.Fatal(err)
	}
	m, err := f.API.Get(ctx, alice, k[0]) // k0 is no longer fresh
	if err != nil {
		t.Fatal(err)
	}
	m.Destroy()

	at := func(d time.Duration) time.Time { return t0.Add(d) }
	tests := []struct {
		name string
		q    hsm.Query
		want []string
	}{
		{"all, newest first", hsm.Query{}, []string{k[4], k[3], k[2], k[1], k[0]}},
		{"max items", hsm.Query{MaxItems: 2}, []string{k[4], k[3]}},
		{"name", hsm.Query{Attrs: []object.Attribute{nm("k1")}}, []string{k[1]}},
		{"name missing", hsm.Query{Attrs: []object.Attribute{nm("nope")}}, nil},
		{"type", hsm.Query{Attrs: []object.Attribute{{Name: object.AttrObjectType, Value: object.TypeTemplate}}}, []string{k[4]}},
		{"group", hsm.Query{Attrs: []object.Attribute{grp("g1")}}, []string{k[3], k[1], k[0]}},
		{"group, max 1", hsm.Query{MaxItems: 1, Attrs: []object.Attribute{grp("g1")}}, []string{k[3]}},
		{"group fresh, oldest first", hsm.Query{GroupMember: object.GroupMemberFresh, Attrs: []object.Attribute{grp("g1")}}, []string{k[1], k[3]}},
		{"group fresh, max 1", hsm.Query{MaxItems: 1, GroupMember: object.GroupMemberFresh, Attrs: []object.Attribute{grp("g1")}}, []string{k[1]}},
		// k0 was retrieved: the oldest never-retrieved member is the default.
		{"group default", hsm.Query{GroupMember: object.GroupMemberDefault, Attrs: []object.Attribute{grp("g1")}}, []string{k[1]}},
		{"custom text", hsm.Query{Attrs: []object.Attribute{{Name: "x-Component", Value: "Virtual Machine"}}}, []string{k[2], k[0]}},
		{"custom bytes (post-filter)", hsm.Query{Attrs: []object.Attribute{{Name: "x-Blob", Value: []byte{1, 2}}}}, []string{k[2]}},
		{"custom and group", hsm.Query{Attrs: []object.Attribute{{Name: "x-Component", Value: "Virtual Machine"}, grp("g1")}}, []string{k[0]}},
		{"state active", hsm.Query{Attrs: []object.Attribute{{Name: object.AttrState, Value: object.StateActive}}}, []string{k[1]}},
		{"algorithm", hsm.Query{Attrs: []object.Attribute{{Name: object.AttrAlgorithm, Value: object.AlgHMACSHA256}}}, []string{k[3]}},
		{"post-filter with max items", hsm.Query{MaxItems: 2, Attrs: []object.Attribute{{Name: object.AttrUsageMask, Value: object.UsageEncrypt}}}, []string{k[2], k[1]}},
		{"usage mask subset", hsm.Query{Attrs: []object.Attribute{{Name: object.AttrUsageMask, Value: object.UsageEncrypt}}}, []string{k[2], k[1], k[0]}},
		{"initial date exact", hsm.Query{Attrs: []object.Attribute{{Name: object.AttrInitialDate, Value: at(time.Minute)}}}, []string{k[1]}},
		{"initial date range", hsm.Query{Attrs: []object.Attribute{
			{Name: object.AttrInitialDate, Value: at(time.Minute)}, {Name: object.AttrInitialDate, Index: 1, Value: at(3 * time.Minute)}}},
			[]string{k[3], k[2], k[1]}},
		{"unique identifier", hsm.Query{Attrs: []object.Attribute{{Name: object.AttrUniqueIdentifier, Value: k[2]}}}, []string{k[2]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.API.Locate(ctx, alice, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// testLocateDefaultRoundRobin: Locate of the default group member
// followed by Get serves the group's members in turn (TC 15.3), within one
// clock second too, and Get does not change their Last Change Date.
func testLocateDefaultRoundRobin(t *testing.T, nf Factory) {
	f := newFixture(t, nf)
	ctx := context.Background()
	grp := object.Attribute{Name: object.AttrObjectGroup, Value: "rr"}
	var k [3]string
	for i := range k {
		k[i] = f.create(t, grp)
	}
	other := f.create(t) // not in the group
	q := hsm.Query{MaxItems: 1, GroupMember: object.GroupMemberDefault, Attrs: []object.Attribute{grp}}
	var got []string
	for range 7 {
		uids, err := f.API.Locate(ctx, alice, q)
		if err != nil || len(uids) != 1 {
			t.Fatalf("Locate = %v, %v", uids, err)
		}
		got = append(got, uids[0])
		m, err := f.API.Get(ctx, alice, uids[0])
		if err != nil {
			t.Fatal(err)
		}
		m.Destroy()
	}
	want := []string{k[0], k[1], k[2], k[0], k[1], k[2], k[0]}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("default members (-want +got):\n%s", d)
	}
	// A Locate without Get does not advance the turn.
	for range 2 {
		if uids, _ := f.API.Locate(ctx, alice, q); len(uids) != 1 || uids[0] != k[1] {
			t.Fatalf("Locate without Get = %v, want [%s]", uids, k[1])
		}
	}
	f.clock.Add(time.Hour)
	for _, uid := range []string{k[1], other} {
		m, err := f.API.Get(ctx, alice, uid) // k1 was fresh no more; other was
		if err != nil {
			t.Fatal(err)
		}
		m.Destroy()
	}
	if v, _ := f.attr(t, k[1], object.AttrLastChangeDate); !v.(time.Time).Equal(t0) {
		t.Errorf("Last Change Date after a Get of a grouped key = %v, want %v", v, t0)
	}
	if v, _ := f.attr(t, other, object.AttrLastChangeDate); !v.(time.Time).Equal(t0.Add(time.Hour)) {
		t.Errorf("Last Change Date after the first Get = %v (Fresh was cleared)", v)
	}
}

func testLocateInvalid(t *testing.T, nf Factory) {
	f := newFixture(t, nf)
	ctx := context.Background()
	bad := []hsm.Query{
		{MaxItems: -1},
		{Attrs: []object.Attribute{{Name: "Bogus", Value: "x"}}},
		{Attrs: []object.Attribute{{Name: object.AttrName, Value: "not a Name"}}},
		{Attrs: []object.Attribute{{Name: "x-a", Value: 1.5}}},
		{Attrs: []object.Attribute{{Name: object.AttrInitialDate, Value: t0}, {Name: object.AttrInitialDate, Value: t0}, {Name: object.AttrInitialDate, Value: t0}}},
		{Attrs: make([]object.Attribute, hsm.MaxLocateAttrs+1)},
	}
	for i, q := range bad {
		if _, err := f.API.Locate(ctx, alice, q); !errors.Is(err, hsm.ErrInvalid) {
			t.Errorf("query %d: err = %v, want hsm.ErrInvalid", i, err)
		}
	}
}
