package store_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/hsm/store"
	"github.com/cofferhsm/coffer/hsm/store/storetest"
	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

func openBolt(t *testing.T, path string, opts *store.Options) *store.Bolt {
	t.Helper()
	db, err := store.Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

func TestBolt(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.DB {
		return openBolt(t, filepath.Join(t.TempDir(), "store.db"), &store.Options{UIDBlock: 16})
	})
}

func TestBoltSmallBatches(t *testing.T) {
	// MaxBatch 1 disables group commit: the same semantics must hold.
	storetest.Run(t, func(t *testing.T) store.DB {
		return openBolt(t, filepath.Join(t.TempDir(), "store.db"), &store.Options{MaxBatch: 1, UIDBlock: 1})
	})
}

func TestBoltReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "store.db")
	db := openBolt(t, path, &store.Options{UIDBlock: 4})
	seen := map[string]bool{}
	for range 10 {
		uid, err := db.NewUID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seen[uid] = true
	}
	for i := range 5 {
		err := db.Put(ctx, store.Record{UID: fmt.Sprint("r", i), Data: []byte{byte(i)}, Terms: []store.Term{{Name: "n", Value: strconv.Itoa(i % 2)}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	for round := range 3 {
		db = openBolt(t, path, &store.Options{UIDBlock: 4})
		for i := range 5 {
			got, err := db.Get(ctx, fmt.Sprint("r", i))
			if err != nil || len(got) != 1 || got[0] != byte(i) {
				t.Errorf("round %d: Get(r%d) = %v, %v", round, i, got, err)
			}
		}
		uids, err := db.Find(ctx, []store.Term{{Name: "n", Value: "0"}}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"r4", "r2", "r0"}, uids); diff != "" {
			t.Errorf("round %d: Find (-want +got):\n%s", round, diff)
		}
		// New records after reopen continue the sequence: newest first.
		newUID := fmt.Sprint("new", round)
		if err := db.Put(ctx, store.Record{UID: newUID, Terms: []store.Term{{Name: "n", Value: "new"}}}); err != nil {
			t.Fatal(err)
		}
		uids, err = db.Find(ctx, nil, 1)
		if err != nil || len(uids) != 1 || uids[0] != newUID {
			t.Errorf("round %d: newest = %v, %v; want %s", round, uids, err, newUID)
		}
		for range 3 {
			uid, err := db.NewUID(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if seen[uid] {
				t.Errorf("round %d: NewUID reused %q after reopen", round, uid)
			}
			seen[uid] = true
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

const childEnv = "COFFER_STORE_TEST_CHILD"

// TestBoltDurableChild is the child half of TestBoltDurableWithoutClose.
func TestBoltDurableChild(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("child process of TestBoltDurableWithoutClose")
	}
	db, err := store.Open(path, nil)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	for i := range 20 {
		if err := db.Put(ctx, store.Record{UID: fmt.Sprint("d", i), Data: []byte("durable")}); err != nil {
			fmt.Println("put:", err)
			os.Exit(2)
		}
	}
	for range 3 {
		uid, err := db.NewUID(ctx)
		if err != nil {
			fmt.Println("uid:", err)
			os.Exit(2)
		}
		fmt.Println("UID", uid)
	}
	// Exit without Close: nothing may depend on it.
	os.Exit(0)
}

// TestBoltDurableWithoutClose checks that what a Put or NewUID returned is
// on disk without Close: a child process writes and exits abruptly. (This
// does not simulate power loss; Put's fsync is bbolt's Commit.)
func TestBoltDurableWithoutClose(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in child")
	}
	path := filepath.Join(t.TempDir(), "store.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestBoltDurableChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	childUIDs := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if uid, ok := strings.CutPrefix(line, "UID "); ok {
			childUIDs[uid] = true
		}
	}
	if len(childUIDs) != 3 {
		t.Fatalf("child printed %d UIDs:\n%s", len(childUIDs), out)
	}
	db := openBolt(t, path, nil)
	defer db.Close()
	ctx := context.Background()
	for i := range 20 {
		if got, err := db.Get(ctx, fmt.Sprint("d", i)); err != nil || string(got) != "durable" {
			t.Errorf("Get(d%d) = %q, %v", i, got, err)
		}
	}
	for range 5 {
		uid, err := db.NewUID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if childUIDs[uid] {
			t.Errorf("NewUID reused %q from the crashed process", uid)
		}
	}
}

func TestBoltLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	db := openBolt(t, path, nil)
	defer db.Close()
	if db2, err := store.Open(path, &store.Options{LockTimeout: 20 * time.Millisecond}); err == nil {
		db2.Close()
		t.Fatal("second Open of a locked store succeeded")
	}
}

func TestBoltCloseWaitsForPuts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	db := openBolt(t, path, nil)
	ctx := context.Background()
	results := make(chan error, 32)
	for i := range 32 {
		go func() { results <- db.Put(ctx, store.Record{UID: fmt.Sprint("c", i)}) }()
	}
	time.Sleep(time.Millisecond) // let some Puts queue; the assertions hold either way
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	var ok []string
	for i := range 32 {
		err := <-results
		switch {
		case err == nil:
			ok = append(ok, strconv.Itoa(i))
		case errors.Is(err, store.ErrClosed):
		default:
			t.Errorf("Put during Close: %v", err)
		}
	}
	db = openBolt(t, path, nil)
	defer db.Close()
	all, err := db.Find(ctx, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(ok) {
		t.Errorf("%d Puts succeeded but %d records stored", len(ok), len(all))
	}
}

// corrupt opens the raw bbolt file and applies fn.
func corrupt(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	raw, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBoltCorrupt(t *testing.T) {
	put := func(b, k, v string) func(tx *bolt.Tx) error {
		return func(tx *bolt.Tx) error { return tx.Bucket([]byte(b)).Put([]byte(k), []byte(v)) }
	}
	del := func(b, k string) func(tx *bolt.Tx) error {
		return func(tx *bolt.Tx) error { return tx.Bucket([]byte(b)).Delete([]byte(k)) }
	}
	seq := func(n uint64) string { return string(binary.BigEndian.AppendUint64(nil, n)) }
	// termKey("t", "x") as laid out on disk.
	tk := "\x00\x01t\x00\x01x"
	ctx := context.Background()
	get := func(db store.DB) error { _, err := db.Get(ctx, "a"); return err }
	findAll := func(db store.DB) error { _, err := db.Find(ctx, nil, 0); return err }
	findTerm := func(db store.DB) error {
		_, err := db.Find(ctx, []store.Term{{Name: "t", Value: "x"}}, 0)
		return err
	}
	putA := func(db store.DB) error { return db.Put(ctx, store.Record{UID: "a"}) }
	tests := []struct {
		name   string
		mutate func(tx *bolt.Tx) error
		open   bool // Open itself must fail
		op     func(db store.DB) error
	}{
		{"RecordEmpty", put("rec", "a", ""), false, get},
		{"RecordBadVersion", put("rec", "a", "\x02"+seq(1)+"\x00\x00"), false, get},
		{"RecordSeqZero", put("rec", "a", "\x01"+seq(0)+"\x00\x00"), false, get},
		{"RecordTooManyTerms", put("rec", "a", "\x01"+seq(1)+"\xff\xff"), false, get},
		{"RecordTermOverrun", put("rec", "a", "\x01"+seq(1)+"\x00\x01\x00\x09t"), false, get},
		{"RecordTermEmptyName", put("rec", "a", "\x01"+seq(1)+"\x00\x01\x00\x00\x00\x00"), false, get},
		{"RecordCorruptOnUpdate", put("rec", "a", "\x01"), false, putA},
		{"IndexKeyShort", put("idx", tk+"\x00\x01", "a"), false, findTerm},
		{"IndexKeyLong", put("idx", tk+seq(5)+"\x00", "a"), false, findTerm},
		{"IndexMissingRecord", put("idx", tk+seq(7), "zz"), false, findTerm},
		{"IndexEmptyUID", put("idx", tk+seq(7), ""), false, findTerm},
		{"IndexSeqMismatch", put("idx", tk+seq(1)+"", "b"), false, findTerm},
		{"SeqKeyShort", put("seq", "\x01", "a"), false, findAll},
		{"SeqMissingRecord", del("rec", "b"), false, findAll},
		{"MetaSeqShort", put("meta", "seq", "\x01"), true, nil},
		{"MetaUIDShort", put("meta", "uid", "\x01\x02"), true, nil},
		{"MetaVersion", put("meta", "version", seq(2)), true, nil},
		{"MetaVersionMissing", del("meta", "version"), true, nil},
		{"BucketMissing", func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("idx")) }, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "store.db")
			db := openBolt(t, path, nil)
			err := db.Put(ctx,
				store.Record{UID: "a", Data: []byte("A"), Terms: []store.Term{{Name: "t", Value: "x"}}},
				store.Record{UID: "b", Data: []byte("B"), Terms: []store.Term{{Name: "t", Value: "x"}}},
			)
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
			corrupt(t, path, tt.mutate)
			db2, err := store.Open(path, nil)
			if tt.open {
				if !errors.Is(err, store.ErrCorrupt) {
					t.Fatalf("Open error = %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer db2.Close()
			if tt.op == nil {
				// A missing bucket is recreated empty by Open; the index
				// is gone, so Find by term finds nothing but must not fail
				// or panic, and the records are intact.
				if got, err := db2.Get(ctx, "a"); err != nil || string(got) != "A" {
					t.Errorf("Get = %q, %v", got, err)
				}
				return
			}
			if err := tt.op(db2); !errors.Is(err, store.ErrCorrupt) {
				t.Errorf("error = %v, want ErrCorrupt", err)
			}
		})
	}
}
