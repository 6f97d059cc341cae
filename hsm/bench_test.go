package hsm

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/cofferhsm/coffer/hsm/object"
	"github.com/cofferhsm/coffer/hsm/store"
)

// Aims (issue 3): Get >= 100k/s in-process, durable Create >= 5k/s with 16
// callers, Locate by name on 100k objects < 1 ms.

func benchCore(b *testing.B, db store.DB) *Core {
	b.Helper()
	m, err := key.NewMaster(bytes.Repeat([]byte{7}, key.MasterSize))
	if err != nil {
		b.Fatal(err)
	}
	c, err := New(Config{Store: db, Master: m})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func openBolt(b *testing.B) store.DB {
	b.Helper()
	db, err := store.Open(filepath.Join(b.TempDir(), "coffer.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func memDB(b *testing.B) store.DB {
	db := store.NewMemory()
	b.Cleanup(func() { db.Close() })
	return db
}

func BenchmarkGet(b *testing.B) {
	for _, backend := range []struct {
		name string
		open func(*testing.B) store.DB
	}{{"memory", memDB}, {"bolt", openBolt}} {
		b.Run(backend.name, func(b *testing.B) {
			c := benchCore(b, backend.open(b))
			ctx := context.Background()
			uid, err := c.Create(ctx, alice, object.TypeSymmetricKey, aesAttrs())
			if err != nil {
				b.Fatal(err)
			}
			if m, err := c.Get(ctx, alice, uid); err == nil { // clear Fresh
				m.Destroy()
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					m, err := c.Get(ctx, alice, uid)
					if err != nil {
						b.Error(err)
						return
					}
					m.Destroy()
				}
			})
		})
	}
}

// BenchmarkCreateDurable creates AES-256 keys on the bbolt store (each
// acknowledged after its commit is durable) from 1 and 16 callers.
func BenchmarkCreateDurable(b *testing.B) {
	for _, callers := range []int{1, 16} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			c := benchCore(b, openBolt(b))
			ctx := context.Background()
			b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			if callers == 1 {
				for b.Loop() {
					if _, err := c.Create(ctx, alice, object.TypeSymmetricKey, aesAttrs()); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Create(ctx, alice, object.TypeSymmetricKey, aesAttrs()); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// populate writes n named AES keys in batches (same records as Create).
func populate(b *testing.B, c *Core, n int) {
	b.Helper()
	ctx := context.Background()
	now := c.clock()
	const batch = 1000
	for i := 0; i < n; i += batch {
		objs := make([]*object.Object, 0, batch)
		for j := i; j < i+batch && j < n; j++ {
			o, err := c.newObject(ctx, alice, object.TypeSymmetricKey, now, aesAttrs(
				object.Attribute{Name: object.AttrName, Value: object.Name{Value: fmt.Sprintf("key-%06d", j), Type: object.NameText}},
				object.Attribute{Name: "x-Component", Value: "Virtual Machine"}))
			if err != nil {
				b.Fatal(err)
			}
			if o.Secret, err = key.GenerateSymmetric(c.rand, 256); err != nil {
				b.Fatal(err)
			}
			o.Format = object.FormatRaw
			objs = append(objs, o)
		}
		if err := c.save(ctx, now, objs...); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLocateByName100k(b *testing.B) {
	const n = 100_000
	for _, backend := range []struct {
		name string
		open func(*testing.B) store.DB
	}{{"memory", memDB}, {"bolt", openBolt}} {
		b.Run(backend.name, func(b *testing.B) {
			c := benchCore(b, backend.open(b))
			populate(b, c, n)
			ctx := context.Background()
			i := 0
			for b.Loop() {
				name := fmt.Sprintf("key-%06d", (i*7919)%n)
				i++
				got, err := c.Locate(ctx, alice, Query{Attrs: []object.Attribute{{Name: object.AttrName, Value: object.Name{Value: name, Type: object.NameText}}}})
				if err != nil || len(got) != 1 {
					b.Fatalf("Locate(%s) = %v, %v", name, got, err)
				}
			}
		})
	}
}
