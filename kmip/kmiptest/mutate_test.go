package kmiptest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// edit returns it with f applied to the first item reached by path (tags of
// successive children below it). f returns the replacement items: none
// deletes the item, two insert one.
func edit(it ttlv.Item, path []ttlv.Tag, f func(ttlv.Item) []ttlv.Item) ttlv.Item {
	kids := it.Items()
	for i, k := range kids {
		if k.Tag != path[0] {
			continue
		}
		out := append([]ttlv.Item(nil), kids[:i]...)
		if len(path) == 1 {
			out = append(out, f(k)...)
		} else {
			out = append(out, edit(k, path[1:], f))
		}
		out = append(out, kids[i+1:]...)
		return ttlv.Struct(it.Tag, out...)
	}
	return it
}

func set(v any) func(ttlv.Item) []ttlv.Item {
	return func(it ttlv.Item) []ttlv.Item { it.Value = v; return []ttlv.Item{it} }
}

func drop(ttlv.Item) []ttlv.Item { return nil }

var (
	payload = []ttlv.Tag{tagBatchItem, tagResponsePayload}
	payUID  = []ttlv.Tag{tagBatchItem, tagResponsePayload, tagUniqueIdentifier}
)

func findCase(t *testing.T, cases []Case, name string) Case {
	t.Helper()
	for _, c := range cases {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("case %s not found", name)
	return Case{}
}

func TestMutatedResponsesFail(t *testing.T) {
	tc11 := LoadTC11(t)
	xmlCases := LoadXML(t, "xml_tc_92_11.json")
	all := append(tc11, xmlCases...)
	tests := []struct {
		name   string
		cas    string
		step   int
		mutate func(ttlv.Item) ttlv.Item
		raw    func([]byte) []byte
		want   string
	}{{
		name: "result status",
		cas:  "TC11-3.1.1", step: 1,
		mutate: func(r ttlv.Item) ttlv.Item {
			r = edit(r, []ttlv.Tag{tagBatchItem, tagResultStatus}, func(it ttlv.Item) []ttlv.Item {
				return []ttlv.Item{ttlv.Enum(tagResultStatus, 1), ttlv.Enum(tagResultReason, 1), ttlv.Text(tagResultMessage, "no such key")}
			})
			return edit(r, payload, drop)
		},
		want: `step 1 (Destroy (symmetric key)): ResponseMessage/BatchItem (Destroy)/ResultStatus: expected Success, got OperationFailed / ItemNotFound ("no such key")`,
	}, {
		name: "wrong identifier echo",
		cas:  "TC11-3.1.1", step: 1,
		mutate: func(r ttlv.Item) ttlv.Item { return edit(r, payUID, set("uid-999")) },
		want:   `ResponseMessage/BatchItem/ResponsePayload/UniqueIdentifier: wrong identifier: expected the server's "uid-1" (vector "fb4b5b9c-6188-4c63-8142-fe9c328129fc"), got "uid-999"`,
	}, {
		name: "changed unmasked field",
		cas:  "TC11-3.1.1", step: 0,
		mutate: func(r ttlv.Item) ttlv.Item {
			return edit(r, []ttlv.Tag{tagBatchItem, tagResponsePayload, 0x420057}, set(uint32(3)))
		},
		want: "ResponseMessage/BatchItem/ResponsePayload/ObjectType: expected SymmetricKey, got PublicKey",
	}, {
		name: "unexpected extra field",
		cas:  "TC11-3.1.1", step: 0,
		mutate: func(r ttlv.Item) ttlv.Item {
			return edit(r, payUID, func(it ttlv.Item) []ttlv.Item { return []ttlv.Item{it, ttlv.Text(tagUniqueIdentifier, "x")} })
		},
		want: `ResponseMessage/BatchItem/ResponsePayload/UniqueIdentifier: unexpected item "x"`,
	}, {
		name: "missing attribute",
		cas:  "TC11-3.1.2", step: 2,
		mutate: func(r ttlv.Item) ttlv.Item {
			return edit(r, []ttlv.Tag{tagBatchItem, tagResponsePayload, tagAttribute}, drop)
		},
		want: `ResponseMessage/BatchItem/ResponsePayload/Attribute["Object Group",0]: missing attribute`,
	}, {
		name: "attribute value",
		cas:  "TC11-3.1.2", step: 2,
		mutate: func(r ttlv.Item) ttlv.Item {
			return edit(r, []ttlv.Tag{tagBatchItem, tagResponsePayload, tagAttribute, tagAttributeValue}, set("Group2"))
		},
		want: `ResponseMessage/BatchItem/ResponsePayload/Attribute["Object Group",0]/AttributeValue: expected "Group1", got "Group2"`,
	}, {
		name: "locate misses the object",
		cas:  "TC11-3.1.3", step: 1,
		mutate: func(r ttlv.Item) ttlv.Item { return edit(r, payUID, set("uid-other")) },
		want:   `Locate result lacks "uid-1"`,
	}, {
		name: "locate finds a destroyed object",
		cas:  "TC11-3.1.3", step: 4,
		mutate: func(r ttlv.Item) ttlv.Item {
			return edit(r, []ttlv.Tag{tagBatchItem, tagResponsePayload}, func(it ttlv.Item) []ttlv.Item {
				return []ttlv.Item{ttlv.Struct(tagResponsePayload, ttlv.Text(tagUniqueIdentifier, "uid-1"))}
			})
		},
		want: `Locate returned "uid-1" (the case's object`,
	}, {
		name: "one identifier for two objects",
		cas:  "TC11-8.1", step: 0,
		mutate: func(r ttlv.Item) ttlv.Item {
			return edit(r, []ttlv.Tag{tagBatchItem, tagResponsePayload, tagPublicKeyUID}, set("uid-1"))
		},
		want: `server returned identifier "uid-1" again`,
	}, {
		name: "echoed date not shifted",
		cas:  "TC11-9.2", step: 1,
		mutate: func(r ttlv.Item) ttlv.Item {
			return edit(r, []ttlv.Tag{tagBatchItem, tagResponsePayload, tagAttribute, tagAttributeValue},
				set(time.Date(2012, 4, 27, 8, 12, 27, 0, time.UTC)))
		},
		want: "AttributeValue: expected 2026-03-01T12:00:00Z (vector 2012-04-27T08:12:27Z shifted by",
	}, {
		name: "$NOW far off",
		cas:  "TC-92-11", step: 1,
		mutate: func(r ttlv.Item) ttlv.Item {
			return edit(r, []ttlv.Tag{tagBatchItem, tagResponsePayload, tagAttribute, tagAttributeValue},
				set(fixedNow.Add(-3*time.Hour)))
		},
		want: "AttributeValue: expected $NOW+0",
	}, {
		name: "missing status",
		cas:  "TC11-3.1.1", step: 0,
		mutate: func(r ttlv.Item) ttlv.Item {
			return edit(r, []ttlv.Tag{tagBatchItem, tagResultStatus}, drop)
		},
		want: "expected Success, got no Result Status",
	}, {
		name: "no response time stamp",
		cas:  "TC11-3.1.1", step: 0,
		mutate: func(r ttlv.Item) ttlv.Item {
			return edit(r, []ttlv.Tag{tagResponseHeader, tagTimeStamp}, drop)
		},
		want: "ResponseMessage/ResponseHeader/TimeStamp: expected TimeStamp, got BatchCount 1",
	}, {
		name: "truncated response",
		cas:  "TC11-3.1.1", step: 0,
		raw:  func(b []byte) []byte { return b[:len(b)-8] },
		want: "step 0 (Create (symmetric key)): undecodable response: ttlv: offset",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := findCase(t, all, tc.cas)
			r := newReplay(t, c)
			if tc.mutate != nil {
				r.mutate = func(step int, resp ttlv.Item) ttlv.Item {
					if step == tc.step {
						return tc.mutate(resp)
					}
					return resp
				}
			}
			if tc.raw != nil {
				r.raw = func(step int, b []byte) []byte {
					if step == tc.step {
						return tc.raw(b)
					}
					return b
				}
			}
			res, _ := runReplay(t, c, r)
			if res.Pass || res.Step != tc.step {
				t.Fatalf("Pass=%v Step=%d, want a failure at step %d (reason %q)", res.Pass, res.Step, tc.step, res.Reason)
			}
			if !strings.Contains(res.Reason, tc.want) {
				t.Errorf("reason = %q\nwant it to contain %q", res.Reason, tc.want)
			}
			if res.Steps != tc.step || len(res.Diffs) == 0 && tc.raw == nil {
				t.Errorf("Steps=%d Diffs=%q", res.Steps, res.Diffs)
			}
		})
	}
}

type failingRT struct{}

func (failingRT) RoundTrip(context.Context, string, []byte) ([]byte, error) {
	return nil, errors.New("connection refused")
}

// TestToleratedDifferences: responses that differ from the vectors in ways
// a conforming server may choose still pass.
func TestToleratedDifferences(t *testing.T) {
	cases := LoadTC11(t)
	tests := []struct {
		name   string
		cas    string
		step   int
		mutate func(ttlv.Item) ttlv.Item
	}{{
		name: "operation echoed in a failed batch item without one (12.1)",
		cas:  "TC11-12.1", step: 0,
		mutate: func(r ttlv.Item) ttlv.Item {
			return edit(r, []ttlv.Tag{tagBatchItem, tagResultStatus}, func(it ttlv.Item) []ttlv.Item {
				return []ttlv.Item{ttlv.Enum(tagOperation, opQuery), it}
			})
		},
	}, {
		name: "result message added",
		cas:  "TC11-3.1.1", step: 0,
		mutate: func(r ttlv.Item) ttlv.Item {
			return edit(r, []ttlv.Tag{tagBatchItem, tagResultStatus}, func(it ttlv.Item) []ttlv.Item {
				return []ttlv.Item{it, ttlv.Text(tagResultMessage, "ok")}
			})
		},
	}, {
		name: "result message removed",
		cas:  "TC11-12.1", step: 0,
		mutate: func(r ttlv.Item) ttlv.Item {
			return edit(r, []ttlv.Tag{tagBatchItem, tagResultMessage}, drop)
		},
	}, {
		name: "locate returns other objects too",
		cas:  "TC11-3.1.3", step: 1,
		mutate: func(r ttlv.Item) ttlv.Item {
			return edit(r, payUID, func(it ttlv.Item) []ttlv.Item {
				return []ttlv.Item{ttlv.Text(tagUniqueIdentifier, "someone-else"), it}
			})
		},
	}, {
		name: "get attributes: extra attribute, other order, no digest",
		cas:  "TC11-3.1.2", step: 2,
		mutate: func(r ttlv.Item) ttlv.Item {
			extra := ttlv.Struct(tagAttribute, ttlv.Text(tagAttributeName, "State"), ttlv.Enum(tagAttributeValue, 1))
			r = edit(r, []ttlv.Tag{tagBatchItem, tagResponsePayload, tagAttribute}, func(it ttlv.Item) []ttlv.Item {
				return nil // moved to the end below
			})
			return edit(r, payload, func(p ttlv.Item) []ttlv.Item {
				kids := append(append([]ttlv.Item(nil), p.Items()...), extra,
					ttlv.Struct(tagAttribute, ttlv.Text(tagAttributeName, "Object Group"), ttlv.Text(tagAttributeValue, "Group1")))
				return []ttlv.Item{ttlv.Struct(tagResponsePayload, kids...)}
			})
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := findCase(t, cases, tc.cas)
			r := newReplay(t, c)
			r.mutate = func(step int, resp ttlv.Item) ttlv.Item {
				if step == tc.step {
					return tc.mutate(resp)
				}
				return resp
			}
			if res, _ := runReplay(t, c, r); !res.Pass {
				t.Errorf("%s\n%q", res.Reason, res.Diffs)
			}
		})
	}
}

func TestRoundTripError(t *testing.T) {
	c := findCase(t, LoadTC11(t), "TC11-3.1.1")
	res := c.Run(context.Background(), failingRT{})
	if res.Pass || res.Step != 0 || !strings.Contains(res.Reason, "round trip: connection refused") {
		t.Errorf("got %+v", res)
	}
}

func TestUnresolvedPlaceholder(t *testing.T) {
	c := findCase(t, LoadXML(t, "xml_tc_311_11.json"), "TC-311-11")
	c.Steps = c.Steps[1:] // Destroy $UNIQUE_IDENTIFIER_0 without the Create
	res, _ := runReplay(t, c, newReplay(t, c))
	if res.Pass || !strings.Contains(res.Reason, "request uses $UNIQUE_IDENTIFIER_0, which no earlier response provided") {
		t.Errorf("got %+v", res)
	}
}

func TestPauses(t *testing.T) {
	c := findCase(t, LoadTC11(t), "TC11-16.1") // time stamps months apart
	for _, tc := range []struct {
		name string
		max  time.Duration
	}{{"default", 0}, {"disabled", -1}} {
		var p pauses
		res := c.RunWith(context.Background(), newReplay(t, c), Options{Now: func() time.Time { return fixedNow }, Sleep: p.sleep, MaxPause: tc.max})
		if !res.Pass || len(p) != 0 {
			t.Errorf("%s: pass=%v pauses=%v, want a pass without pauses", tc.name, res.Pass, p)
		}
	}
	c = findCase(t, LoadTC11(t), "TC11-9.2")
	var p pauses
	res := c.RunWith(context.Background(), newReplay(t, c), Options{Now: func() time.Time { return fixedNow }, Sleep: p.sleep, MaxPause: 5 * time.Second})
	if !res.Pass || len(p) != 1 || p[0] != 5*time.Second {
		t.Errorf("9.2 capped: pass=%v pauses=%v, want [5s]", res.Pass, p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res = c.RunWith(ctx, newReplay(t, c), Options{Now: func() time.Time { return fixedNow }})
	if res.Pass || res.Step != 3 || !strings.Contains(res.Reason, "pause: context canceled") {
		t.Errorf("canceled 9.2: %+v", res)
	}
}

func TestReport(t *testing.T) {
	got := Report([]Result{
		{Group: "TC11", Name: "TC11-3.1.1", Pass: true, Step: -1, Steps: 2},
		{Group: "TC11", Name: "TC11-9.2", Step: 3, Reason: "step 3 (Get Attribute): a", Diffs: []string{"a", "b"}},
		{Group: "SKLC", Name: "SKLC-M-1-11", Pass: true, Step: -1},
	})
	want := `KMIP conformance: 2/3 cases pass
  SKLC     1/1  
  TC11     1/2  
Failing cases:
  TC11-9.2: step 3 (Get Attribute): a
      also: b
`
	if got != want {
		t.Errorf("Report:\n%s\nwant:\n%s", got, want)
	}
}

func TestRunAll(t *testing.T) {
	cases := LoadXML(t, "xml_sklc_*.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rt := &perCase{t: t, cases: cases}
	got := RunAll(ctx, cases, rt, Options{Now: func() time.Time { return fixedNow }, MaxPause: -1})
	if len(got) != 4 {
		t.Fatalf("%d results, want 4", len(got))
	}
	for _, r := range got {
		if !r.Pass {
			t.Errorf("%s: %s", r.Name, r.Reason)
		}
	}
	cancel()
	got = RunAll(ctx, cases, rt, Options{})
	if got[0].Pass || !strings.Contains(got[0].Reason, "not run: context canceled") {
		t.Errorf("canceled: %+v", got[0])
	}
}

// perCase replays each case in turn with its own replay server.
type perCase struct {
	t     *testing.T
	cases []Case
	cur   int
	r     *replay
}

func (p *perCase) RoundTrip(ctx context.Context, client string, req []byte) ([]byte, error) {
	if p.r == nil || p.r.next == len(p.r.c.Steps) {
		if p.r != nil {
			p.cur++
		}
		p.r = newReplay(p.t, p.cases[p.cur])
	}
	return p.r.RoundTrip(ctx, client, req)
}
