package kmiptest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// fixedNow is the clock of the self-tests.
var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// replay is a fake server: it answers step i with the case's expected
// response, its identifiers replaced by its own ("uid-1", ...), masked fields
// changed and Date-Times moved to its clock, after checking that the request
// is the vector's request with the harness's substitutions undone.
type replay struct {
	t      testing.TB
	c      Case
	next   int
	ids    map[string]string // vector identifier → replay identifier
	rev    map[string]string
	shift  time.Duration
	mutate func(step int, resp ttlv.Item) ttlv.Item // optional
	raw    func(step int, resp []byte) []byte       // optional
}

func newReplay(t testing.TB, c Case) *replay {
	r := &replay{t: t, c: c, ids: map[string]string{}, rev: map[string]string{}}
	if c.shiftDates {
		for _, st := range c.Steps {
			if ts, ok := st.timeStamp(); ok {
				r.shift = fixedNow.Sub(ts)
				break
			}
		}
	}
	return r
}

func (r *replay) RoundTrip(_ context.Context, client string, req []byte) ([]byte, error) {
	if r.next >= len(r.c.Steps) {
		return nil, fmt.Errorf("replay: %s: request after the last step", r.c.Name)
	}
	i := r.next
	st := &r.c.Steps[i]
	r.next++
	if client != st.Client {
		r.t.Errorf("%s step %d: sent by client %s, vector says %s", r.c.Name, i, client, st.Client)
	}
	got, err := ttlv.Decode(req)
	if err != nil {
		r.t.Errorf("%s step %d: harness sent undecodable request: %v", r.c.Name, i, err)
		return nil, err
	}
	if back := r.undo(st, got, ""); !back.Equal(st.Request) {
		r.t.Errorf("%s step %d: request differs from the vector after undoing substitutions", r.c.Name, i)
	}
	resp := r.answer(st, st.Response, "")
	if r.mutate != nil {
		resp = r.mutate(i, resp)
	}
	b, err := ttlv.Encode(resp)
	if err != nil {
		r.t.Fatalf("%s step %d: encoding the replay response: %v", r.c.Name, i, err)
	}
	if r.raw != nil {
		b = r.raw(i, b)
	}
	return b, nil
}

// undo maps a request the harness sent back to vector values.
func (r *replay) undo(st *Step, it ttlv.Item, key string) ttlv.Item {
	switch v := it.Value.(type) {
	case []ttlv.Item:
		kids := make([]ttlv.Item, len(v))
		for i, k := range v {
			kids[i] = r.undo(st, k, childKey(key, i))
		}
		return ttlv.Struct(it.Tag, kids...)
	case string:
		if o, ok := r.rev[v]; ok {
			return ttlv.Text(it.Tag, o)
		}
	case []byte:
		if o, ok := r.rev[string(v)]; ok {
			return ttlv.Bytes(it.Tag, []byte(o))
		}
	case time.Time:
		if off, ok := st.reqNow[key]; ok {
			if want := fixedNow.Add(time.Duration(off) * time.Second); !v.Equal(want) {
				r.t.Errorf("%s: $NOW%+d sent as %v, want %v", r.c.Name, off, v, want)
			}
			return ttlv.DateTime(it.Tag, time.Unix(0, 0).UTC())
		}
		return ttlv.DateTime(it.Tag, v.Add(-r.shift))
	}
	return it
}

// answer builds the replay's response from the expected one.
func (r *replay) answer(st *Step, it ttlv.Item, key string) ttlv.Item {
	if off, ok := st.respNow[key]; ok {
		return ttlv.DateTime(it.Tag, fixedNow.Add(time.Duration(off)*time.Second))
	}
	if v, ok := strValue(it); ok {
		if o, ok := r.ids[v]; ok {
			return withString(it, o)
		}
		if (st.masked[key] && isIDTag(it.Tag)) || isPlaceholder(v) {
			o := fmt.Sprintf("uid-%d", len(r.ids)+1)
			r.ids[v], r.rev[o] = o, v
			return withString(it, o)
		}
	}
	masked := st.masked[key] || it.Tag == tagTimeStamp || it.Tag == tagResultMessage
	switch v := it.Value.(type) {
	case []ttlv.Item:
		kids := make([]ttlv.Item, len(v))
		for i, k := range v {
			kids[i] = r.answer(st, k, childKey(key, i))
		}
		if masked && len(kids) > 1 {
			kids = kids[:len(kids)-1] // masked structures may differ in shape
		}
		return ttlv.Struct(it.Tag, kids...)
	case time.Time:
		if masked {
			return ttlv.DateTime(it.Tag, fixedNow.Add(time.Hour))
		}
		return ttlv.DateTime(it.Tag, v.Add(r.shift))
	}
	if !masked {
		return it
	}
	switch v := it.Value.(type) {
	case string:
		return ttlv.Text(it.Tag, "replay: "+v)
	case []byte:
		b := append([]byte(nil), v...)
		for i := range b {
			b[i] ^= 0x5A
		}
		return ttlv.Item{Tag: it.Tag, Type: it.Type, Value: b}
	case int32:
		return ttlv.Int(it.Tag, v+1)
	case uint32:
		return ttlv.Item{Tag: it.Tag, Type: it.Type, Value: v + 1}
	}
	return it
}

func withString(it ttlv.Item, s string) ttlv.Item {
	if it.Type == ttlv.TypeByteString {
		return ttlv.Bytes(it.Tag, []byte(s))
	}
	return ttlv.Text(it.Tag, s)
}

// pauses records the harness's pauses instead of sleeping.
type pauses []time.Duration

func (p *pauses) sleep(_ context.Context, d time.Duration) error {
	*p = append(*p, d)
	return nil
}

func runReplay(t *testing.T, c Case, r *replay) (Result, pauses) {
	t.Helper()
	var p pauses
	res := c.RunWith(context.Background(), r, Options{Now: func() time.Time { return fixedNow }, Sleep: p.sleep})
	return res, p
}

func TestReplayTC11(t *testing.T) {
	cases := LoadTC11(t)
	if len(cases) != 36 {
		t.Fatalf("loaded %d tc11 cases, want 36", len(cases))
	}
	steps := 0
	var results []Result
	for _, c := range cases {
		steps += len(c.Steps)
		res, p := runReplay(t, c, newReplay(t, c))
		results = append(results, res)
		if !res.Pass {
			t.Errorf("%s: %s\n%v", c.Name, res.Reason, res.Diffs)
		}
		if res.Steps != len(c.Steps) {
			t.Errorf("%s: %d of %d steps passed", c.Name, res.Steps, len(c.Steps))
		}
		if c.Name == "TC11-9.2" {
			if len(p) != 1 || p[0] != 120*time.Second {
				t.Errorf("9.2 pauses = %v, want [2m0s]", p)
			}
		}
		for _, d := range p {
			if d > DefaultMaxPause {
				t.Errorf("%s: pause %v above the cap", c.Name, d)
			}
		}
	}
	if steps != 260 {
		t.Errorf("%d steps, want 260", steps)
	}
	t.Log(Report(results))
}

func TestReplayXML(t *testing.T) {
	cases := LoadXML(t, "xml_*.json")
	steps := 0
	var results []Result
	for _, c := range cases {
		steps += len(c.Steps)
		res, p := runReplay(t, c, newReplay(t, c))
		results = append(results, res)
		if !res.Pass {
			t.Errorf("%s: %s\n%v", c.Name, res.Reason, res.Diffs)
		}
		if c.Name == "TC-92-11" && (len(p) != 1 || p[0] != 120*time.Second) {
			t.Errorf("TC-92-11 pauses = %v, want [2m0s]", p)
		}
	}
	if len(cases) != 77 || steps != 535 {
		t.Errorf("%d XML cases with %d steps, want 77 with 535", len(cases), steps)
	}
	t.Log(Report(results))
}
