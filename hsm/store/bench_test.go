package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cofferhsm/coffer/hsm/store"
)

// BenchmarkFsync measures the disk's fsync latency (4 KiB write + Sync), to
// be read next to BenchmarkPut.
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "fsync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for b.Loop() {
		if _, err := f.WriteAt(buf, 0); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRecord(i int) store.Record {
	return store.Record{
		UID:  fmt.Sprint("obj-", i),
		Data: make([]byte, 512),
		Terms: []store.Term{
			{Name: "name", Value: fmt.Sprint("key-", i)},
			{Name: "type", Value: fmt.Sprint(i % 4)},
			{Name: "state", Value: fmt.Sprint(i % 3)},
			{Name: "group", Value: fmt.Sprint("g", i%1000)},
		},
	}
}

// BenchmarkPut measures durable single-record Puts with 1 and 16
// concurrent callers; ns/op is per Put (throughput), so 16 callers sharing
// commits show as a lower ns/op than one fsync.
func BenchmarkPut(b *testing.B) {
	for _, callers := range []int{1, 16} {
		b.Run(fmt.Sprint("callers=", callers), func(b *testing.B) {
			db, err := store.Open(filepath.Join(b.TempDir(), "store.db"), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			ctx := context.Background()
			var next atomic.Int64
			b.ResetTimer()
			var wg sync.WaitGroup
			for range callers {
				wg.Go(func() {
					for {
						i := int(next.Add(1))
						if i > b.N {
							return
						}
						if err := db.Put(ctx, benchRecord(i)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

// BenchmarkLarge measures Find and Get on a 100,000-record store.
func BenchmarkLarge(b *testing.B) {
	const n = 100_000
	db, err := store.Open(filepath.Join(b.TempDir(), "store.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	recs := make([]store.Record, 0, 1000)
	for i := range n {
		recs = append(recs, benchRecord(i))
		if len(recs) == cap(recs) {
			if err := db.Put(ctx, recs...); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	finds := []struct {
		name  string
		terms []store.Term
		limit int
		want  int
	}{
		{"Find/name(1match)", []store.Term{{Name: "name", Value: "key-4242"}}, 0, 1},
		{"Find/group(100matches)", []store.Term{{Name: "group", Value: "g42"}}, 0, 100},
		{"Find/type(25000matches)/limit=100", []store.Term{{Name: "type", Value: "2"}}, 100, 100},
		{"Find/group+state(33matches)", []store.Term{{Name: "group", Value: "g42"}, {Name: "state", Value: "0"}}, 0, 34},
		{"Find/type+state+group(0matches)", []store.Term{{Name: "type", Value: "1"}, {Name: "state", Value: "0"}, {Name: "group", Value: "g42"}}, 0, 0},
	}
	for _, f := range finds {
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				uids, err := db.Find(ctx, f.terms, f.limit)
				if err != nil {
					b.Fatal(err)
				}
				if len(uids) != f.want {
					b.Fatalf("%d matches, want %d", len(uids), f.want)
				}
			}
		})
	}
	b.Run("Get", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i = (i + 7919) % n
			if _, err := db.Get(ctx, fmt.Sprint("obj-", i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
