package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/cofferhsm/coffer/hsm/store"
	"github.com/google/go-cmp/cmp"
)

// TestBoltMatchesMemory runs the same random Puts against both backends
// and compares random Finds (1 to 3 terms, with limits).
func TestBoltMatchesMemory(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	defer mem.Close()
	disk, err := store.Open(filepath.Join(t.TempDir(), "store.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	randTerm := func() store.Term {
		return store.Term{Name: fmt.Sprint("n", rng.IntN(4)), Value: fmt.Sprint(rng.IntN(5))}
	}
	for range 300 {
		var recs []store.Record
		for range 1 + rng.IntN(4) {
			uid := fmt.Sprint("u", rng.IntN(200))
			dup := false
			for _, r := range recs {
				dup = dup || r.UID == uid
			}
			if dup {
				continue
			}
			r := store.Record{UID: uid, Data: []byte(fmt.Sprint(rng.Uint64()))}
			for range rng.IntN(5) {
				r.Terms = append(r.Terms, randTerm())
			}
			recs = append(recs, r)
		}
		for _, db := range []store.DB{mem, disk} {
			if err := db.Put(ctx, recs...); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 500 {
		var terms []store.Term
		for range rng.IntN(4) {
			terms = append(terms, randTerm())
		}
		limit := rng.IntN(8) - 2
		want, err1 := mem.Find(ctx, terms, limit)
		got, err2 := disk.Find(ctx, terms, limit)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("query %d Find(%v, %d) (-memory +bolt):\n%s", i, terms, limit, diff)
		}
	}
	for i := range 200 {
		uid := fmt.Sprint("u", i)
		a, err1 := mem.Get(ctx, uid)
		b, err2 := disk.Get(ctx, uid)
		if string(a) != string(b) || (err1 == nil) != (err2 == nil) {
			t.Fatalf("Get(%s): memory %q %v, bolt %q %v", uid, a, err1, b, err2)
		}
	}
}
