package audit

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var testKey = bytes.Repeat([]byte{0x42}, 32)

func fixedClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Millisecond)
		return t
	}
}

func openLog(t *testing.T, path string, key []byte) *Log {
	t.Helper()
	l, err := Open(path, Options{Key: key, Now: fixedClock()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func entry(i int) Entry {
	return Entry{
		Identity:  fmt.Sprint("app-", i%3),
		Operation: "Create",
		Object:    fmt.Sprint(i),
		Result:    ResultSuccess,
	}
}

// writeLog creates a log with n entries and returns its path.
func writeLog(t *testing.T, key []byte, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, path, key)
	for i := range n {
		if err := l.Append(context.Background(), entry(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// frames returns the [start, end) offsets of each frame in a log file.
func frames(t *testing.T, b []byte) [][2]int {
	t.Helper()
	var out [][2]int
	for off := headerLen; off < len(b); {
		n := int(binary.BigEndian.Uint32(b[off:]))
		end := off + lenLen + n + tagLen
		out = append(out, [2]int{off, end})
		off = end
	}
	return out
}

func TestAppendReadBack(t *testing.T) {
	for _, key := range [][]byte{nil, testKey} {
		t.Run(fmt.Sprintf("keyed=%v", key != nil), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			l := openLog(t, path, key)
			ctx := context.Background()
			at := time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))
			in := []Entry{
				{Time: at, Identity: "vcenter", Operation: "Create", Object: "17", Result: ResultSuccess},
				{Identity: "", Operation: "Login", Result: "permission-denied", Detail: "bad certificate"},
				{Identity: "admin", Operation: "Destroy", Object: "17", Result: "wrong-state", Detail: "ünïcode ✓"},
			}
			for _, e := range in {
				if err := l.Append(ctx, e); err != nil {
					t.Fatalf("Append: %v", err)
				}
			}
			got, err := l.Entries()
			if err != nil {
				t.Fatalf("Entries: %v", err)
			}
			want := []Record{
				{Seq: 1, Entry: in[0]},
				{Seq: 2, Entry: in[1]},
				{Seq: 3, Entry: in[2]},
			}
			want[0].Time = at.UTC()
			want[1].Time = time.Date(2026, 11, 26, 18, 0, 0, int(time.Millisecond), time.UTC)
			want[2].Time = want[1].Time.Add(time.Millisecond)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Entries (-want +got):\n%s", diff)
			}
			seq, head := l.Head()
			if seq != 3 || head == ([32]byte{}) {
				t.Errorf("Head = %d, %x", seq, head)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if n, err := Verify(path, key); n != 3 || err != nil {
				t.Errorf("Verify = %d, %v; want 3, nil", n, err)
			}
		})
	}
}

func TestRestartContinuesChain(t *testing.T) {
	for _, key := range [][]byte{nil, testKey} {
		t.Run(fmt.Sprintf("keyed=%v", key != nil), func(t *testing.T) {
			path := writeLog(t, key, 3)
			for round := range 3 {
				l := openLog(t, path, key)
				if r, ok := l.Recovery(); ok {
					t.Errorf("unexpected recovery: %v", r)
				}
				seq, _ := l.Head()
				if want := uint64(3 + 2*round); seq != want {
					t.Errorf("round %d: Head seq = %d, want %d", round, seq, want)
				}
				for i := range 2 {
					if err := l.Append(context.Background(), entry(100+i)); err != nil {
						t.Fatal(err)
					}
				}
				l.Close()
			}
			n, err := Verify(path, key)
			if n != 9 || err != nil {
				t.Errorf("Verify = %d, %v; want 9, nil", n, err)
			}
		})
	}
}

func TestWrongKey(t *testing.T) {
	other := bytes.Repeat([]byte{0x43}, 32)
	tests := []struct {
		name          string
		create, check []byte
	}{
		{"KeyedOpenedWithOtherKey", testKey, other},
		{"KeyedOpenedWithoutKey", testKey, nil},
		{"PlainOpenedWithKey", nil, testKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeLog(t, tt.create, 3)
			before, _ := os.ReadFile(path)
			if _, err := Verify(path, tt.check); !errors.Is(err, ErrKey) {
				t.Errorf("Verify error = %v, want ErrKey", err)
			}
			if l, err := Open(path, Options{Key: tt.check}); !errors.Is(err, ErrKey) {
				t.Errorf("Open error = %v, want ErrKey", err)
				if err == nil {
					l.Close()
				}
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Error("failed Open changed the file")
			}
		})
	}
	if _, err := Open(filepath.Join(t.TempDir(), "a"), Options{Key: []byte("short")}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Open with a short key: %v, want ErrInvalid", err)
	}
}

func TestTamper(t *testing.T) {
	const n = 5
	type mutation func(t *testing.T, b []byte, fr [][2]int, key []byte) []byte
	frame := func(b []byte, fr [][2]int, i int) []byte { return b[fr[i-1][0]:fr[i-1][1]] }
	without := func(b []byte, fr [][2]int, i int) []byte {
		return append(bytes.Clone(b[:fr[i-1][0]]), b[fr[i-1][1]:]...)
	}
	// rewrite replaces entry i by a re-encoded copy with fn applied, with a
	// correct tag (what an attacker without the key can do on a plain log).
	rewrite := func(b []byte, fr [][2]int, i int, key []byte, fn func(w *wireEntry)) []byte {
		f := frame(b, fr, i)
		var w wireEntry
		if err := decMode.Unmarshal(f[lenLen:len(f)-tagLen], &w); err != nil {
			panic(err)
		}
		fn(&w)
		body, err := encMode.Marshal(&w)
		if err != nil {
			panic(err)
		}
		tag := chain{key: key}.tag(body)
		nf := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
		nf = append(append(nf, body...), tag[:]...)
		out := append(bytes.Clone(b[:fr[i-1][0]]), nf...)
		return append(out, b[fr[i-1][1]:]...)
	}
	tests := []struct {
		name    string
		mutate  mutation
		wantN   int
		wantSeq uint64
		wantErr error
	}{
		{"ChangedByte", func(t *testing.T, b []byte, fr [][2]int, key []byte) []byte {
			b[fr[2][0]+10] ^= 1 // inside entry 3's CBOR
			return b
		}, 2, 3, ErrTampered},
		{"ChangedTag", func(t *testing.T, b []byte, fr [][2]int, key []byte) []byte {
			b[fr[2][1]-1] ^= 1
			return b
		}, 2, 3, ErrTampered},
		{"ChangedRetagged", func(t *testing.T, b []byte, fr [][2]int, key []byte) []byte {
			// Same tag key as the log: only possible without a key, or
			// with the key; the chain still breaks at the next entry.
			return rewrite(b, fr, 3, key, func(w *wireEntry) { w.Result = "forged" })
		}, 3, 4, ErrChain},
		{"ChangedRetaggedWithoutKey", func(t *testing.T, b []byte, fr [][2]int, key []byte) []byte {
			return rewrite(b, fr, 3, nil, func(w *wireEntry) { w.Result = "forged" })
		}, 2, 3, nil}, // plain log: ErrChain at 4; keyed log: ErrTampered at 3
		{"Removed", func(t *testing.T, b []byte, fr [][2]int, key []byte) []byte {
			return without(b, fr, 3)
		}, 2, 3, ErrChain},
		{"RemovedAndRenumbered", func(t *testing.T, b []byte, fr [][2]int, key []byte) []byte {
			bb := without(b, fr, 3)
			return rewrite(bb, frames(t, bb), 3, key, func(w *wireEntry) { w.Seq = 3 })
		}, 2, 3, ErrChain},
		{"RemovedFirst", func(t *testing.T, b []byte, fr [][2]int, key []byte) []byte {
			return without(b, fr, 1)
		}, 0, 1, ErrChain},
		{"Inserted", func(t *testing.T, b []byte, fr [][2]int, key []byte) []byte {
			out := append(bytes.Clone(b[:fr[2][0]]), frame(b, fr, 2)...)
			return append(out, b[fr[2][0]:]...)
		}, 2, 3, ErrChain},
		{"Reordered", func(t *testing.T, b []byte, fr [][2]int, key []byte) []byte {
			out := append(bytes.Clone(b[:fr[2][0]]), frame(b, fr, 4)...)
			out = append(out, frame(b, fr, 3)...)
			return append(out, b[fr[3][1]:]...)
		}, 2, 3, ErrChain},
		{"TruncatedInside", func(t *testing.T, b []byte, fr [][2]int, key []byte) []byte {
			return b[:fr[4][1]-5]
		}, 4, 5, ErrTruncated},
		{"BadLength", func(t *testing.T, b []byte, fr [][2]int, key []byte) []byte {
			binary.BigEndian.PutUint32(b[fr[1][0]:], maxEntryLen+1)
			return b
		}, 1, 2, ErrMalformed},
		{"Header", func(t *testing.T, b []byte, fr [][2]int, key []byte) []byte {
			b[3] ^= 1
			return b
		}, 0, 1, ErrKey},
	}
	for _, key := range [][]byte{nil, testKey} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/keyed=%v", tt.name, key != nil), func(t *testing.T) {
				path := writeLog(t, key, n)
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				b = tt.mutate(t, b, frames(t, b), key)
				if err := os.WriteFile(path, b, 0o600); err != nil {
					t.Fatal(err)
				}
				wantN, wantSeq, wantErr := tt.wantN, tt.wantSeq, tt.wantErr
				if wantErr == nil { // ChangedRetaggedWithoutKey
					if key == nil {
						wantN, wantSeq, wantErr = 3, 4, ErrChain
					} else {
						wantErr = ErrTampered
					}
				}
				gotN, err := Verify(path, key)
				var ve *VerifyError
				if !errors.As(err, &ve) || !errors.Is(err, wantErr) || ve.Seq != wantSeq || gotN != wantN {
					t.Errorf("Verify = %d, %v; want %d, %v at seq %d", gotN, err, wantN, wantErr, wantSeq)
				}
				recs, err := ReadAll(bytes.NewReader(b), key)
				if len(recs) != wantN || !errors.Is(err, wantErr) {
					t.Errorf("ReadAll = %d records, %v", len(recs), err)
				}
				// Open must refuse a damaged middle (not truncate it), and
				// leave the file as it was.
				if wantN+1 < n && !errors.Is(wantErr, ErrTruncated) {
					if l, err := Open(path, Options{Key: key}); err == nil {
						l.Close()
						t.Errorf("Open of a log damaged at entry %d succeeded", wantSeq)
					}
					after, _ := os.ReadFile(path)
					if !bytes.Equal(after, b) {
						t.Error("failed Open changed the file")
					}
				}
			})
		}
	}
}

func TestTornTail(t *testing.T) {
	const n = 4
	// A frame that would have been entry n+1.
	next := func(t *testing.T, b []byte, key []byte) []byte {
		fr := frames(t, b)
		last := b[fr[n-1][0]:fr[n-1][1]]
		var prev [tagLen]byte
		copy(prev[:], last[len(last)-tagLen:])
		e := entry(99)
		e.Time = time.Unix(1, 0)
		f, _, err := chain{key: key}.appendFrame(nil, n+1, prev, &e)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	tests := []struct {
		name   string
		mutate func(t *testing.T, b []byte, key []byte) []byte
		keep   int // entries left after recovery
	}{
		{"PartialLength", func(t *testing.T, b []byte, key []byte) []byte { return append(b, next(t, b, key)[:2]...) }, n},
		{"LengthOnly", func(t *testing.T, b []byte, key []byte) []byte { return append(b, next(t, b, key)[:4]...) }, n},
		{"PartialBody", func(t *testing.T, b []byte, key []byte) []byte { return append(b, next(t, b, key)[:20]...) }, n},
		{"PartialTag", func(t *testing.T, b []byte, key []byte) []byte {
			f := next(t, b, key)
			return append(b, f[:len(f)-1]...)
		}, n},
		{"Zeros", func(t *testing.T, b []byte, key []byte) []byte { return append(b, make([]byte, 8192)...) }, n},
		{"CompleteThenPartial", func(t *testing.T, b []byte, key []byte) []byte {
			b = append(b, next(t, b, key)...)
			return append(b, 0, 0, 1)
		}, n + 1},
		{"LastEntryGarbled", func(t *testing.T, b []byte, key []byte) []byte {
			fr := frames(t, b)
			b[fr[n-1][1]-40] ^= 0xff
			return b
		}, n - 1},
	}
	for _, key := range [][]byte{nil, testKey} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/keyed=%v", tt.name, key != nil), func(t *testing.T) {
				path := writeLog(t, key, n)
				b, _ := os.ReadFile(path)
				b = tt.mutate(t, b, key)
				if err := os.WriteFile(path, b, 0o600); err != nil {
					t.Fatal(err)
				}
				if _, err := Verify(path, key); err == nil && tt.keep == n {
					t.Error("Verify accepted a torn log")
				}
				l := openLog(t, path, key)
				r, ok := l.Recovery()
				if !ok {
					t.Fatal("no recovery reported")
				}
				st, _ := os.Stat(path)
				if st.Size() != r.Offset || r.Dropped != int64(len(b))-r.Offset || r.Reason == nil {
					t.Errorf("Recovery = %+v, file size %d, was %d", r, st.Size(), len(b))
				}
				if seq, _ := l.Head(); seq != uint64(tt.keep) {
					t.Errorf("Head seq = %d, want %d", seq, tt.keep)
				}
				if err := l.Append(context.Background(), entry(7)); err != nil {
					t.Fatal(err)
				}
				l.Close()
				if got, err := Verify(path, key); got != tt.keep+1 || err != nil {
					t.Errorf("Verify after recovery = %d, %v; want %d, nil", got, err, tt.keep+1)
				}
			})
		}
	}
}

func TestNotTorn(t *testing.T) {
	key := testKey
	tests := []struct {
		name   string
		mutate func(b []byte) []byte
	}{
		{"BigGarbageTail", func(b []byte) []byte { return append(b, bytes.Repeat([]byte{0xff}, maxWrite+1)...) }},
		{"DamagedBeforeGoodFrame", func(b []byte) []byte {
			fr := frames(t, b)
			b[fr[2][0]+8] ^= 1 // entry 3 of 4: entry 4 still verifies
			return b
		}},
		{"DuplicateLast", func(b []byte) []byte {
			fr := frames(t, b)
			return append(b, b[fr[3][0]:fr[3][1]]...)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeLog(t, key, 4)
			b, _ := os.ReadFile(path)
			b = tt.mutate(b)
			os.WriteFile(path, b, 0o600)
			l, err := Open(path, Options{Key: key})
			var ve *VerifyError
			if !errors.As(err, &ve) {
				if l != nil {
					l.Close()
				}
				t.Fatalf("Open error = %v, want *VerifyError", err)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(after, b) {
				t.Error("failed Open changed the file")
			}
		})
	}
}

func TestShortHeader(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 1, 16, headerLen - 1} {
		path := filepath.Join(dir, fmt.Sprint("h", size))
		os.WriteFile(path, chain{key: testKey}.header()[:size], 0o600)
		l := openLog(t, path, testKey)
		if _, ok := l.Recovery(); ok != (size > 0) {
			t.Errorf("size %d: recovery reported = %v", size, ok)
		}
		if err := l.Append(context.Background(), entry(1)); err != nil {
			t.Fatal(err)
		}
		l.Close()
		if n, err := Verify(path, testKey); n != 1 || err != nil {
			t.Errorf("size %d: Verify = %d, %v", size, n, err)
		}
	}
	path := filepath.Join(dir, "junk")
	os.WriteFile(path, []byte("junk"), 0o600)
	if _, err := Open(path, Options{}); !errors.Is(err, ErrKey) {
		t.Errorf("Open of a short non-log: %v, want ErrKey", err)
	}
}

func TestAppendInvalid(t *testing.T) {
	l := NewMemory()
	defer l.Close()
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name string
		e    Entry
	}{
		{"NoOperation", Entry{Result: ResultSuccess}},
		{"NoResult", Entry{Operation: "Get"}},
		{"LongIdentity", Entry{Identity: long(MaxIdentityLen + 1), Operation: "Get", Result: "ok"}},
		{"LongOperation", Entry{Operation: long(MaxOperationLen + 1), Result: "ok"}},
		{"LongObject", Entry{Object: long(MaxObjectLen + 1), Operation: "Get", Result: "ok"}},
		{"LongResult", Entry{Operation: "Get", Result: long(MaxResultLen + 1)}},
		{"LongDetail", Entry{Operation: "Get", Result: "ok", Detail: long(MaxDetailLen + 1)}},
		{"BadUTF8", Entry{Operation: "Get", Result: "ok", Detail: "\xff"}},
		{"TimeBefore1970", Entry{Time: time.Unix(-1, 0), Operation: "Get", Result: "ok"}},
		{"TimeAfter2262", Entry{Time: time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC), Operation: "Get", Result: "ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := l.Append(context.Background(), tt.e); !errors.Is(err, ErrInvalid) {
				t.Errorf("Append error = %v, want ErrInvalid", err)
			}
		})
	}
	max := Entry{
		Identity: long(MaxIdentityLen), Operation: long(MaxOperationLen), Object: long(MaxObjectLen),
		Result: long(MaxResultLen), Detail: long(MaxDetailLen), Time: time.Unix(0, 1<<62),
	}
	if err := l.Append(context.Background(), max); err != nil {
		t.Errorf("Append of a maximal entry: %v", err)
	}
	recs, err := l.Entries()
	if err != nil || len(recs) != 1 {
		t.Fatalf("Entries = %d, %v", len(recs), err)
	}
}

func TestConcurrentAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(path, Options{Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 16, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				e := Entry{Identity: fmt.Sprint("w", w), Operation: "Create", Object: fmt.Sprint(i), Result: ResultSuccess}
				if err := l.Append(context.Background(), e); err != nil {
					t.Errorf("Append: %v", err)
				}
			}
		})
	}
	wg.Wait()
	recs, err := l.Entries()
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if len(recs) != workers*each {
		t.Fatalf("%d entries, want %d", len(recs), workers*each)
	}
	next := map[string]int{}
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
			t.Errorf("entry %d has seq %d", i, r.Seq)
		}
		if want := fmt.Sprint(next[r.Identity]); r.Object != want {
			t.Errorf("%s: entry %s out of order, want %s", r.Identity, r.Object, want)
		}
		next[r.Identity]++
	}
	if n, err := Verify(path, testKey); n != workers*each || err != nil {
		t.Errorf("Verify = %d, %v", n, err)
	}
}

func TestClosedAndLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openLog(t, path, nil)
	if l2, err := Open(path, Options{}); err == nil {
		l2.Close()
		t.Error("second Open of a locked log succeeded")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(context.Background(), entry(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
	if _, err := l.Entries(); !errors.Is(err, ErrClosed) {
		t.Errorf("Entries after Close: %v", err)
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	l = openLog(t, path, nil) // lock released
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := NewMemory()
	defer m.Close()
	if err := m.Append(ctx, entry(1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with canceled ctx: %v", err)
	}
}

// failSink fails Sync after ok successful ones.
type failSink struct {
	bytes.Buffer
	ok int
}

func (f *failSink) Sync() error {
	if f.ok == 0 {
		return errors.New("injected fsync failure")
	}
	f.ok--
	return nil
}
func (f *failSink) Close() error { return nil }

func TestFailClosed(t *testing.T) {
	s := &failSink{ok: 2}
	l := &Log{w: s}
	l.start(Options{Now: fixedClock()})
	defer l.Close()
	ctx := context.Background()
	for i := range 2 {
		if err := l.Append(ctx, entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if err := l.Append(ctx, entry(i)); !errors.Is(err, ErrFailed) {
			t.Errorf("Append %d after fsync failure: %v, want ErrFailed", i, err)
		}
	}
	if seq, _ := l.Head(); seq != 2 {
		t.Errorf("Head seq = %d after failure, want 2", seq)
	}
}

func TestMemory(t *testing.T) {
	l := NewMemory()
	ctx := context.Background()
	for i := range 3 {
		if err := l.Append(ctx, entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := l.Entries()
	if err != nil || len(recs) != 3 || recs[2].Object != "2" || recs[2].Seq != 3 {
		t.Errorf("Entries = %+v, %v", recs, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNoKeyInStrings(t *testing.T) {
	key := []byte("0123456789abcdef-secret-audit-key")
	path := filepath.Join(t.TempDir(), "audit.log")
	opts := Options{Key: key}
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, s := range []string{
		fmt.Sprint(opts), fmt.Sprintf("%+v", opts), fmt.Sprintf("%#v", opts),
		fmt.Sprint(l), fmt.Sprintf("%+v", l), fmt.Sprintf("%#v", l),
		fmt.Sprintf("%x", key[:0]) + fmt.Sprintf("%v", []any{opts, l}),
	} {
		if strings.Contains(s, "secret") || strings.Contains(s, fmt.Sprint(key[:4])) || strings.Contains(s, "3031323334") {
			t.Errorf("key leaked: %s", s)
		}
	}
}
