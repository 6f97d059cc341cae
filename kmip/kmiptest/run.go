package kmiptest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// RoundTripper carries one KMIP exchange to the server under test.
type RoundTripper interface {
	// RoundTrip sends the encoded request message req on the connection of
	// client ("A" or "B"; two-client cases use both) and returns the encoded
	// response message. An error means no response was obtained; the case
	// fails with it.
	RoundTrip(ctx context.Context, client string, req []byte) ([]byte, error)
}

// Options adjusts a run. The zero value is ready to use.
type Options struct {
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Sleep waits for d or until ctx is done; nil means a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxPause caps the pauses recorded between steps. Zero means
	// DefaultMaxPause; a negative value disables pauses.
	MaxPause time.Duration
}

// DefaultMaxPause lets case 9.2 wait the 120 s its Deactivation Date needs.
const DefaultMaxPause = 125 * time.Second

// sessionGap: recorded gaps longer than this separate sessions of the OASIS
// transcript (16.1's time stamps are months apart) and are not waited for.
const sessionGap = 10 * time.Minute

// nowMargin is added to the running time of a case when checking a response
// Date-Time given as $NOW±n.
const nowMargin = 60 * time.Second

// Result is the outcome of one Case.
type Result struct {
	Group, Name string
	Pass        bool
	Steps       int      // steps that passed
	Step        int      // index of the failing step; -1 when Pass
	Reason      string   // why the case failed: the first difference or the error
	Diffs       []string // every difference found in the failing step (capped)
}

// Run runs c against rt with default options.
func (c Case) Run(ctx context.Context, rt RoundTripper) Result {
	return c.RunWith(ctx, rt, Options{})
}

// RunWith sends the steps of c in order and compares each response, stopping
// at the first failing step.
func (c Case) RunWith(ctx context.Context, rt RoundTripper, o Options) Result {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	sleep := o.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	maxPause := o.MaxPause
	if maxPause == 0 {
		maxPause = DefaultMaxPause
	}
	res := Result{Group: c.Group, Name: c.Name, Step: -1}
	s := newSession(c.reg)
	start := now().Truncate(time.Second)
	s.now = start
	if c.shiftDates {
		for _, st := range c.Steps {
			if ts, ok := st.timeStamp(); ok {
				s.shift = start.Sub(ts)
				break
			}
		}
	}
	var prev time.Time
	for i := range c.Steps {
		st := &c.Steps[i]
		fail := func(reason string, diffs []string) Result {
			res.Step = i
			res.Reason = fmt.Sprintf("step %d (%s): %s", i, st.label(c.reg), reason)
			res.Diffs = diffs
			return res
		}
		ts, hasTS := st.timeStamp()
		if hasTS && !prev.IsZero() && maxPause > 0 {
			if gap := ts.Sub(prev); gap > 0 && gap <= sessionGap {
				if err := sleep(ctx, min(gap, maxPause)); err != nil {
					return fail("pause: "+err.Error(), nil)
				}
			}
		}
		if hasTS {
			prev = ts
		}
		req, err := s.rewriteRequest(st)
		if err != nil {
			return fail(err.Error(), nil)
		}
		b, err := ttlv.Encode(req)
		if err != nil {
			return fail("encoding the request: "+err.Error(), nil)
		}
		out, err := rt.RoundTrip(ctx, st.Client, b)
		if err != nil {
			return fail("round trip: "+err.Error(), nil)
		}
		act, err := ttlv.Decode(out)
		if err != nil {
			return fail("undecodable response: "+err.Error(), nil)
		}
		s.tol = now().Sub(start) + nowMargin
		if diffs := s.compareResponse(st, act); len(diffs) > 0 {
			return fail(diffs[0], diffs)
		}
		res.Steps++
	}
	res.Pass = true
	return res
}

// label names a step in reports: its description or its operations.
func (st *Step) label(reg *registry) string {
	if d := st.Description; d != "" {
		if r := []rune(d); len(r) > 60 {
			return string(r[:59]) + "…"
		}
		return d
	}
	var ops []string
	for _, bi := range st.Request.FindAll(tagBatchItem) {
		if op, ok := enumOf(bi, tagOperation); ok {
			ops = append(ops, reg.enumName(tagOperation, op))
		}
	}
	return strings.Join(ops, ", ")
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// rewriteRequest returns the step's request with the server's identifiers in
// place of the vector's, Date-Times shifted to the server's clock (hex cases)
// and $NOW evaluated (XML cases). A placeholder the case has not learnt yet is
// an error.
func (s *session) rewriteRequest(st *Step) (ttlv.Item, error) {
	var walk func(it ttlv.Item, key string) (ttlv.Item, error)
	walk = func(it ttlv.Item, key string) (ttlv.Item, error) {
		switch v := it.Value.(type) {
		case []ttlv.Item:
			kids := make([]ttlv.Item, len(v))
			for i, k := range v {
				nk, err := walk(k, childKey(key, i))
				if err != nil {
					return ttlv.Item{}, err
				}
				kids[i] = nk
			}
			return ttlv.Struct(it.Tag, kids...), nil
		case string:
			if m, ok := s.ids[v]; ok {
				return ttlv.Text(it.Tag, m), nil
			}
			if isPlaceholder(v) {
				return ttlv.Item{}, fmt.Errorf("request uses %s, which no earlier response provided", v)
			}
		case []byte:
			if m, ok := s.ids[string(v)]; ok {
				return ttlv.Bytes(it.Tag, []byte(m)), nil
			}
			if isPlaceholder(string(v)) {
				return ttlv.Item{}, fmt.Errorf("request uses %s, which no earlier response provided", v)
			}
		case time.Time:
			if off, ok := st.reqNow[key]; ok {
				return ttlv.DateTime(it.Tag, s.now.Add(time.Duration(off)*time.Second)), nil
			}
			return ttlv.DateTime(it.Tag, v.Add(s.shift).UTC()), nil
		}
		return it, nil
	}
	return walk(st.Request, "")
}

// Report summarises results: pass counts per group, then every case that
// did not pass with its reason and differences.
func Report(results []Result) string {
	type count struct{ pass, total int }
	groups := map[string]*count{}
	var names []string
	total := count{}
	for _, r := range results {
		g := groups[r.Group]
		if g == nil {
			g = &count{}
			groups[r.Group] = g
			names = append(names, r.Group)
		}
		g.total++
		total.total++
		if r.Pass {
			g.pass++
			total.pass++
		}
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "KMIP conformance: %d/%d cases pass\n", total.pass, total.total)
	for _, n := range names {
		fmt.Fprintf(&b, "  %-6s %3d/%-3d\n", n, groups[n].pass, groups[n].total)
	}
	failed := false
	for _, r := range results {
		if r.Pass {
			continue
		}
		if !failed {
			b.WriteString("Failing cases:\n")
			failed = true
		}
		fmt.Fprintf(&b, "  %s: %s\n", r.Name, r.Reason)
		for _, d := range r.Diffs[min(1, len(r.Diffs)):] {
			fmt.Fprintf(&b, "      also: %s\n", d)
		}
	}
	return b.String()
}

// RunAll runs every case in order (cases share the server, not their
// identifier mappings) and returns one Result per case. It stops early only
// when ctx ends; the remaining cases then fail with the context's error.
func RunAll(ctx context.Context, cases []Case, rt RoundTripper, o Options) []Result {
	out := make([]Result, 0, len(cases))
	for _, c := range cases {
		if err := ctx.Err(); err != nil {
			out = append(out, Result{Group: c.Group, Name: c.Name, Step: 0, Reason: "not run: " + err.Error()})
			continue
		}
		out = append(out, c.RunWith(ctx, rt, o))
	}
	return out
}
