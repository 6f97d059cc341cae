// Package storetest is the conformance suite every store.DB backend must
// pass. Backends call Run from their tests.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cofferhsm/coffer/hsm/store"
	"github.com/google/go-cmp/cmp"
)

// Run runs the conformance suite. open must return a new, empty DB for
// each call; Run closes it (tests that close it themselves accept the
// resulting ErrClosed).
func Run(t *testing.T, open func(t *testing.T) store.DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db store.DB)
	}{
		{"PutGet", testPutGet},
		{"GetNotFound", testGetNotFound},
		{"CopySemantics", testCopySemantics},
		{"EmptyPut", testEmptyPut},
		{"MultiRecordPut", testMultiRecordPut},
		{"AtomicPutRejected", testAtomicPutRejected},
		{"InvalidPut", testInvalidPut},
		{"LimitsAccepted", testLimitsAccepted},
		{"TermsReplaced", testTermsReplaced},
		{"SequenceKeptOnUpdate", testSequenceKeptOnUpdate},
		{"FindAND", testFindAND},
		{"FindOrderAndLimit", testFindOrderAndLimit},
		{"FindTermEncoding", testFindTermEncoding},
		{"FindInvalid", testFindInvalid},
		{"NewUIDUnique", testNewUIDUnique},
		{"NewUIDSkipsExisting", testNewUIDSkipsExisting},
		{"ConcurrentPuts", testConcurrentPuts},
		{"CanceledContext", testCanceledContext},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := open(t)
			t.Cleanup(func() {
				if err := db.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, db)
		})
	}
}

func put(t *testing.T, db store.DB, recs ...store.Record) {
	t.Helper()
	if err := db.Put(context.Background(), recs...); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

func mustGet(t *testing.T, db store.DB, uid string) []byte {
	t.Helper()
	b, err := db.Get(context.Background(), uid)
	if err != nil {
		t.Fatalf("Get(%q): %v", uid, err)
	}
	return b
}

func find(t *testing.T, db store.DB, limit int, terms ...store.Term) []string {
	t.Helper()
	uids, err := db.Find(context.Background(), terms, limit)
	if err != nil {
		t.Fatalf("Find(%v, %d): %v", terms, limit, err)
	}
	return uids
}

// checkFind compares Find results, treating nil and empty alike.
func checkFind(t *testing.T, db store.DB, want []string, limit int, terms ...store.Term) {
	t.Helper()
	got := find(t, db, limit, terms...)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Find(%q, %d) mismatch (-want +got):\n%s", terms, limit, diff)
	}
}

func term(n, v string) store.Term { return store.Term{Name: n, Value: v} }

func testPutGet(t *testing.T, db store.DB) {
	put(t, db, store.Record{UID: "a", Data: []byte("alpha"), Terms: []store.Term{term("name", "a")}})
	if got := mustGet(t, db, "a"); string(got) != "alpha" {
		t.Errorf("Get = %q, want %q", got, "alpha")
	}
	put(t, db, store.Record{UID: "a", Data: []byte("alpha2")})
	if got := mustGet(t, db, "a"); string(got) != "alpha2" {
		t.Errorf("Get after overwrite = %q, want %q", got, "alpha2")
	}
	put(t, db, store.Record{UID: "empty"})
	if got := mustGet(t, db, "empty"); len(got) != 0 {
		t.Errorf("Get of empty record = %q, want empty", got)
	}
}

func testGetNotFound(t *testing.T, db store.DB) {
	put(t, db, store.Record{UID: "a", Data: []byte("x")})
	for _, uid := range []string{"b", "", "A", "a\x00", strings.Repeat("z", store.MaxUIDLen+1)} {
		if _, err := db.Get(context.Background(), uid); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(%q) error = %v, want ErrNotFound", uid, err)
		}
	}
}

func testCopySemantics(t *testing.T, db store.DB) {
	data := []byte("original")
	terms := []store.Term{term("k", "v")}
	put(t, db, store.Record{UID: "a", Data: data, Terms: terms})
	data[0] = 'X'
	terms[0].Value = "changed"
	got := mustGet(t, db, "a")
	if string(got) != "original" {
		t.Errorf("Put did not copy data: Get = %q", got)
	}
	got[0] = 'Y'
	if got := mustGet(t, db, "a"); string(got) != "original" {
		t.Errorf("Get returned an alias: second Get = %q", got)
	}
	checkFind(t, db, []string{"a"}, 0, term("k", "v"))
}

func testEmptyPut(t *testing.T, db store.DB) {
	if err := db.Put(context.Background()); err != nil {
		t.Fatalf("Put(): %v", err)
	}
	checkFind(t, db, nil, 0)
}

func testMultiRecordPut(t *testing.T, db store.DB) {
	var recs []store.Record
	for i := range 50 {
		recs = append(recs, store.Record{
			UID:   fmt.Sprint("r", i),
			Data:  []byte(fmt.Sprint("data", i)),
			Terms: []store.Term{term("batch", "1"), term("i", fmt.Sprint(i))},
		})
	}
	put(t, db, recs...)
	for i := range 50 {
		if got, want := string(mustGet(t, db, fmt.Sprint("r", i))), fmt.Sprint("data", i); got != want {
			t.Errorf("Get(r%d) = %q, want %q", i, got, want)
		}
	}
	// Records of one Put get sequences in argument order.
	var want []string
	for i := 49; i >= 0; i-- {
		want = append(want, fmt.Sprint("r", i))
	}
	checkFind(t, db, want, 0, term("batch", "1"))
	checkFind(t, db, []string{"r7"}, 0, term("i", "7"))
}

func testAtomicPutRejected(t *testing.T, db store.DB) {
	put(t, db, store.Record{UID: "keep", Data: []byte("v1"), Terms: []store.Term{term("t", "1")}})
	bad := [][]store.Record{
		{ // second record invalid
			{UID: "keep", Data: []byte("v2"), Terms: []store.Term{term("t", "2")}},
			{UID: "new1", Data: []byte("n")},
			{UID: "", Data: []byte("bad")},
		},
		{ // duplicate UID in one Put
			{UID: "new2", Data: []byte("n")},
			{UID: "keep", Data: []byte("v3")},
			{UID: "new2", Data: []byte("n")},
		},
	}
	for i, recs := range bad {
		if err := db.Put(context.Background(), recs...); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("case %d: Put error = %v, want ErrInvalid", i, err)
		}
	}
	if got := mustGet(t, db, "keep"); string(got) != "v1" {
		t.Errorf("rejected Put changed record: %q", got)
	}
	for _, uid := range []string{"new1", "new2"} {
		if _, err := db.Get(context.Background(), uid); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("rejected Put wrote %q: err = %v", uid, err)
		}
	}
	checkFind(t, db, []string{"keep"}, 0, term("t", "1"))
	checkFind(t, db, nil, 0, term("t", "2"))
	checkFind(t, db, []string{"keep"}, 0)
}

func testInvalidPut(t *testing.T, db store.DB) {
	many := make([]store.Term, store.MaxTerms+1)
	for i := range many {
		many[i] = term("n", fmt.Sprint(i))
	}
	tooMany := make([]store.Record, store.MaxPutRecords+1)
	for i := range tooMany {
		tooMany[i] = store.Record{UID: fmt.Sprint("u", i)}
	}
	tests := []struct {
		name string
		recs []store.Record
	}{
		{"EmptyUID", []store.Record{{UID: ""}}},
		{"LongUID", []store.Record{{UID: strings.Repeat("u", store.MaxUIDLen+1)}}},
		{"BigData", []store.Record{{UID: "a", Data: make([]byte, store.MaxDataLen+1)}}},
		{"TooManyTerms", []store.Record{{UID: "a", Terms: many}}},
		{"EmptyTermName", []store.Record{{UID: "a", Terms: []store.Term{term("", "v")}}}},
		{"LongTermName", []store.Record{{UID: "a", Terms: []store.Term{term(strings.Repeat("n", store.MaxTermNameLen+1), "v")}}}},
		{"LongTermValue", []store.Record{{UID: "a", Terms: []store.Term{term("n", strings.Repeat("v", store.MaxTermValueLen+1))}}}},
		{"TooManyRecords", tooMany},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := db.Put(context.Background(), tt.recs...); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Put error = %v, want ErrInvalid", err)
			}
		})
	}
	checkFind(t, db, nil, 0)
}

func testLimitsAccepted(t *testing.T, db store.DB) {
	terms := make([]store.Term, store.MaxTerms)
	for i := range terms {
		terms[i] = term(strings.Repeat("n", store.MaxTermNameLen), fmt.Sprintf("%0*d", store.MaxTermValueLen, i))
	}
	data := bytes.Repeat([]byte{0xa5}, store.MaxDataLen)
	uid := strings.Repeat("u", store.MaxUIDLen)
	put(t, db, store.Record{UID: uid, Data: data, Terms: terms})
	if got := mustGet(t, db, uid); !bytes.Equal(got, data) {
		t.Errorf("Get of max-size record: %d bytes, mismatch", len(got))
	}
	checkFind(t, db, []string{uid}, 0, terms[0], terms[store.MaxTerms-1])
	recs := make([]store.Record, store.MaxPutRecords)
	for i := range recs {
		recs[i] = store.Record{UID: fmt.Sprint("m", i)}
	}
	put(t, db, recs...)
	if n := len(find(t, db, 0)); n != store.MaxPutRecords+1 {
		t.Errorf("Find all = %d records, want %d", n, store.MaxPutRecords+1)
	}
}

func testTermsReplaced(t *testing.T, db store.DB) {
	put(t, db, store.Record{UID: "a", Terms: []store.Term{term("state", "1"), term("name", "x")}})
	put(t, db, store.Record{UID: "a", Terms: []store.Term{term("state", "2"), term("name", "x"), term("name", "x")}})
	checkFind(t, db, nil, 0, term("state", "1"))
	checkFind(t, db, []string{"a"}, 0, term("state", "2"))
	checkFind(t, db, []string{"a"}, 0, term("name", "x"))
	put(t, db, store.Record{UID: "a"})
	checkFind(t, db, nil, 0, term("state", "2"))
	checkFind(t, db, nil, 0, term("name", "x"))
	checkFind(t, db, []string{"a"}, 0)
}

func testSequenceKeptOnUpdate(t *testing.T, db store.DB) {
	for _, uid := range []string{"first", "second", "third"} {
		put(t, db, store.Record{UID: uid, Terms: []store.Term{term("g", "1")}})
	}
	put(t, db, store.Record{UID: "first", Data: []byte("updated"), Terms: []store.Term{term("g", "1"), term("h", "1")}})
	checkFind(t, db, []string{"third", "second", "first"}, 0)
	checkFind(t, db, []string{"third", "second", "first"}, 0, term("g", "1"))
	put(t, db, store.Record{UID: "fourth", Terms: []store.Term{term("h", "1")}})
	checkFind(t, db, []string{"fourth", "first"}, 0, term("h", "1"))
}

func testFindAND(t *testing.T, db store.DB) {
	// uid -> terms: type t in {1,2}, state s in {1,2,3}, group even/odd.
	for i := range 30 {
		put(t, db, store.Record{UID: fmt.Sprint("k", i), Terms: []store.Term{
			term("type", fmt.Sprint(i%2)),
			term("state", fmt.Sprint(i%3)),
			term("group", map[bool]string{true: "even", false: "odd"}[i%4 < 2]),
		}})
	}
	want := func(pred func(i int) bool) []string {
		var out []string
		for i := 29; i >= 0; i-- {
			if pred(i) {
				out = append(out, fmt.Sprint("k", i))
			}
		}
		return out
	}
	tests := []struct {
		name  string
		terms []store.Term
		want  []string
	}{
		{"One", []store.Term{term("type", "1")}, want(func(i int) bool { return i%2 == 1 })},
		{"Two", []store.Term{term("type", "1"), term("state", "0")}, want(func(i int) bool { return i%2 == 1 && i%3 == 0 })},
		{"Three", []store.Term{term("state", "2"), term("type", "0"), term("group", "odd")}, want(func(i int) bool { return i%3 == 2 && i%2 == 0 && i%4 >= 2 })},
		{"Repeated", []store.Term{term("type", "0"), term("type", "0")}, want(func(i int) bool { return i%2 == 0 })},
		{"Contradiction", []store.Term{term("type", "0"), term("type", "1")}, nil},
		{"UnknownValue", []store.Term{term("type", "9")}, nil},
		{"UnknownName", []store.Term{term("nope", "0"), term("type", "0")}, nil},
		{"ValueIsNotPrefix", []store.Term{term("typ", "e")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkFind(t, db, tt.want, 0, tt.terms...)
			if len(tt.want) > 2 {
				checkFind(t, db, tt.want[:2], 2, tt.terms...)
			}
		})
	}
}

func testFindOrderAndLimit(t *testing.T, db store.DB) {
	var all []string
	for i := range 20 {
		uid := fmt.Sprintf("z%02d", 19-i) // UID order opposite to creation order
		put(t, db, store.Record{UID: uid, Terms: []store.Term{term("all", "")}})
		all = append([]string{uid}, all...)
	}
	for _, limit := range []int{-1, 0, 1, 5, 19, 20, 21} {
		want := all
		if limit > 0 && limit < len(all) {
			want = all[:limit]
		}
		checkFind(t, db, want, limit)
		checkFind(t, db, want, limit, term("all", ""))
	}
}

// testFindTermEncoding checks that terms whose concatenations collide are
// kept apart.
func testFindTermEncoding(t *testing.T, db store.DB) {
	terms := []store.Term{
		term("a\x00b", "c"),
		term("a", "b\x00c"),
		term("a", "b"),
		term("a", "bc"),
		term("ab", "c"),
		term("a", ""),
		term("a", "\x00"),
		term("a", "\xff\xff"),
		term("\xff", "\x00\x00\x00\x00\x00\x00\x00\x01"),
		term("\xff", "\x00\x00\x00\x00\x00\x00\x00\x01\x00"),
	}
	for i, tm := range terms {
		put(t, db, store.Record{UID: fmt.Sprint("u", i), Terms: []store.Term{tm}})
	}
	for i, tm := range terms {
		checkFind(t, db, []string{fmt.Sprint("u", i)}, 0, tm)
	}
}

func testFindInvalid(t *testing.T, db store.DB) {
	for _, terms := range [][]store.Term{
		{term("", "x")},
		{term(strings.Repeat("n", store.MaxTermNameLen+1), "x")},
		{term("n", strings.Repeat("v", store.MaxTermValueLen+1))},
	} {
		if _, err := db.Find(context.Background(), terms, 0); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Find(%.20q) error = %v, want ErrInvalid", terms, err)
		}
	}
}

func testNewUIDUnique(t *testing.T, db store.DB) {
	const workers, each = 8, 200
	var (
		mu   sync.Mutex
		seen = make(map[string]bool)
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for range each {
				uid, err := db.NewUID(context.Background())
				if err != nil {
					t.Errorf("NewUID: %v", err)
					return
				}
				mu.Lock()
				if seen[uid] {
					t.Errorf("NewUID returned %q twice", uid)
				}
				seen[uid] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != workers*each {
		t.Errorf("%d distinct UIDs, want %d", len(seen), workers*each)
	}
	for uid := range seen {
		if uid == "" || len(uid) > store.MaxUIDLen {
			t.Errorf("NewUID returned unusable UID %q", uid)
		}
	}
}

func testNewUIDSkipsExisting(t *testing.T, db store.DB) {
	// Occupy the first UIDs a counter-based backend would hand out, and
	// make sure a random-based backend does not collide either.
	var recs []store.Record
	for i := range 100 {
		recs = append(recs, store.Record{UID: fmt.Sprint(i)})
	}
	put(t, db, recs...)
	for range 200 {
		uid, err := db.NewUID(context.Background())
		if err != nil {
			t.Fatalf("NewUID: %v", err)
		}
		if _, err := db.Get(context.Background(), uid); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("NewUID returned %q, the UID of a stored record (Get err %v)", uid, err)
		}
		put(t, db, store.Record{UID: uid})
	}
}

func testConcurrentPuts(t *testing.T, db store.DB) {
	const workers, each = 16, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				uid := fmt.Sprintf("w%d-%d", w, i)
				err := db.Put(context.Background(),
					store.Record{UID: uid, Data: []byte(uid), Terms: []store.Term{term("w", fmt.Sprint(w)), term("i", fmt.Sprint(i))}},
					store.Record{UID: uid + "-pair", Data: []byte(uid), Terms: []store.Term{term("pair", uid)}},
				)
				if err != nil {
					t.Errorf("Put(%s): %v", uid, err)
				}
			}
		})
	}
	wg.Wait()
	all := find(t, db, 0)
	if len(all) != 2*workers*each {
		t.Fatalf("Find all = %d, want %d", len(all), 2*workers*each)
	}
	pos := make(map[string]int, len(all))
	for i, uid := range all {
		pos[uid] = i
	}
	for w := range workers {
		got := find(t, db, 0, term("w", fmt.Sprint(w)))
		var want []string
		for i := each - 1; i >= 0; i-- {
			uid := fmt.Sprintf("w%d-%d", w, i)
			want = append(want, uid)
			if got := string(mustGet(t, db, uid)); got != uid {
				t.Errorf("Get(%s) = %q", uid, got)
			}
			// Each writer's records were created in order, and each pair
			// in argument order.
			if pos[uid+"-pair"] >= pos[uid] {
				t.Errorf("%s-pair is not newer than %s", uid, uid)
			}
			checkFind(t, db, []string{uid + "-pair"}, 0, term("pair", uid))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Find(w=%d) (-want +got):\n%s", w, diff)
		}
	}
}

func testCanceledContext(t *testing.T, db store.DB) {
	put(t, db, store.Record{UID: "a"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := db.Put(ctx, store.Record{UID: "b"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Put error = %v, want context.Canceled", err)
	}
	if _, err := db.Get(ctx, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get error = %v, want context.Canceled", err)
	}
	if _, err := db.Find(ctx, nil, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Find error = %v, want context.Canceled", err)
	}
	if _, err := db.NewUID(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("NewUID error = %v, want context.Canceled", err)
	}
	if _, err := db.Get(context.Background(), "b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("canceled Put wrote the record: Get err = %v", err)
	}
}

func testClosed(t *testing.T, db store.DB) {
	put(t, db, store.Record{UID: "a", Terms: []store.Term{term("n", "v")}})
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	errs := map[string]error{}
	errs["Put"] = db.Put(ctx, store.Record{UID: "b"})
	_, errs["Get"] = db.Get(ctx, "a")
	_, errs["Find"] = db.Find(ctx, nil, 0)
	_, errs["FindTerm"] = db.Find(ctx, []store.Term{term("n", "v")}, 0)
	_, errs["NewUID"] = db.NewUID(ctx)
	errs["Close"] = db.Close()
	for _, name := range slices.Sorted(maps.Keys(errs)) {
		if !errors.Is(errs[name], store.ErrClosed) {
			t.Errorf("%s after Close: error = %v, want ErrClosed", name, errs[name])
		}
	}
}
