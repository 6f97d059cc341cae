package server

import (
	"context"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/auth"
	"github.com/cofferhsm/coffer/hsm/object"
	"github.com/cofferhsm/coffer/kmip"
	"github.com/cofferhsm/coffer/kmip/kmiptest"
)

// inProcess carries kmiptest exchanges straight to Ops.Handle, checking on
// the way that every response parses with kmip.ParseResponseMessage. The
// vectors' clients A, B and C are one app (the OASIS documents assume the
// same credentials); 11.1 and 11.2 separate users by header credentials.
type inProcess struct {
	t *testing.T
	e *testEnv
}

func (rt inProcess) RoundTrip(ctx context.Context, client string, req []byte) ([]byte, error) {
	_ = client
	peer := Peer{App: auth.App{Name: vectorApp}}
	out := rt.e.ops.Handle(ctx, peer, req)
	if _, err := kmip.ParseResponseMessage(out); err != nil {
		rt.t.Errorf("response does not parse: %v", err)
	}
	return out, nil
}

// vectorApp is the app all vector clients connect as.
const vectorApp = "vectors"

// seeds prepares the server state a case assumes. 15.1 "assumes that the
// server has fresh objects available in the default group": one fresh
// AES-256 key in Object Group "default", owned by the vectors' app.
var seeds = map[string]func(t *testing.T, e *testEnv){
	"TC11-15.1": seedDefaultGroup,
	"TC-151-11": seedDefaultGroup,
}

func seedDefaultGroup(t *testing.T, e *testEnv) {
	attrs := []object.Attribute{
		{Name: object.AttrAlgorithm, Value: object.AlgAES},
		{Name: object.AttrLength, Value: int32(256)},
		{Name: object.AttrUsageMask, Value: object.UsageMaskCrypto},
		{Name: object.AttrObjectGroup, Value: "default"},
	}
	if _, err := e.core.Create(context.Background(), hsm.Identity{Name: vectorApp}, object.TypeSymmetricKey, attrs); err != nil {
		t.Fatal(err)
	}
}

// runVectors replays cases against a fresh core each, with recorded pauses
// advancing the test clock instead of sleeping.
func runVectors(t *testing.T, cases []kmiptest.Case) map[string]kmiptest.Result {
	out := map[string]kmiptest.Result{}
	for _, c := range cases {
		e := newTestEnv(t, nil)
		e.clock.t = time.Now().UTC().Truncate(time.Second)
		if seed := seeds[c.Name]; seed != nil {
			seed(t, e)
		}
		o := kmiptest.Options{
			Now:   e.clock.Now,
			Sleep: func(_ context.Context, d time.Duration) error { e.clock.Add(d); return nil },
		}
		r := c.RunWith(context.Background(), inProcess{t, e}, o)
		out[r.Name] = r
	}
	return out
}

// tc11Pass lists the OASIS KMIP 1.1 test cases that pass the full
// kmiptest comparison; the test fails if one of them regresses. The others
// need features the core does not have (see the report).
var tc11Pass = []string{
	"TC11-11.1", "TC11-11.2", "TC11-12.1", "TC11-12.2", "TC11-13.1", "TC11-13.2", "TC11-13.3", "TC11-14.1", "TC11-14.2", "TC11-15.1", "TC11-15.2", "TC11-15.3", "TC11-16.1",
	"TC11-17.1", "TC11-18.1", "TC11-18.2", "TC11-3.1.1", "TC11-3.1.2", "TC11-3.1.3", "TC11-3.1.4", "TC11-3.1.5", "TC11-4.1", "TC11-5.1", "TC11-6.1",
	"TC11-7.1", "TC11-7.2", "TC11-8.2", "TC11-9.1", "TC11-9.2", "TC11-9.3", "TC11-9.4", "TC11-9.5",
}

func TestTC11Vectors(t *testing.T) {
	cases := kmiptest.LoadTC11(t)
	results := runVectors(t, cases)
	var rs []kmiptest.Result
	for _, c := range cases {
		rs = append(rs, results[c.Name])
	}
	t.Log(kmiptest.Report(rs))
	for _, name := range tc11Pass {
		if r, ok := results[name]; !ok || !r.Pass {
			t.Errorf("%s regressed: %s", name, r.Reason)
		}
	}
}

// xmlPass lists the KMIP XML profile cases (protocol 1.1) that pass the
// full comparison; the test fails if one of them regresses.
var xmlPass = []string{
	"AKLC-M-1-11", "AKLC-M-2-11", "AKLC-M-3-11", "AKLC-O-1-11", "OMOS-M-1-11", "OMOS-O-1-11",
	"SKFF-M-1-11", "SKFF-M-10-11", "SKFF-M-11-11", "SKFF-M-12-11", "SKFF-M-2-11", "SKFF-M-3-11",
	"SKFF-M-4-11", "SKFF-M-5-11", "SKFF-M-6-11", "SKFF-M-7-11", "SKFF-M-8-11", "SKFF-M-9-11",
	"SKLC-M-1-11", "SKLC-M-2-11", "SKLC-M-3-11", "SKLC-O-1-11",
	"TC-111-11", "TC-112-11", "TC-122-11", "TC-131-11", "TC-133-11", "TC-132-11", "TC-141-11", "TC-142-11", "TC-151-11", "TC-153-11", "TC-161-11", "TC-181-11", "TC-182-11", "TC-ECC-1-11", "TC-311-11", "TC-312-11",
	"TC-313-11", "TC-314-11", "TC-315-11", "TC-41-11", "TC-51-11", "TC-61-11", "TC-71-11", "TC-72-11", "TC-82-11",
	"TC-91-11", "TC-92-11", "TC-93-11", "TC-94-11", "TC-95-11", "TC-I18N-1-11", "TC-I18N-3-11", "TC-REKEY-1-11",
}

func TestXMLVectors(t *testing.T) {
	cases := kmiptest.LoadXML(t, "xml_*_11.json")
	results := runVectors(t, cases)
	var rs []kmiptest.Result
	for _, c := range cases {
		rs = append(rs, results[c.Name])
	}
	t.Log(kmiptest.Report(rs))
	for _, name := range xmlPass {
		if r, ok := results[name]; !ok || !r.Pass {
			t.Errorf("%s regressed: %s", name, r.Reason)
		}
	}
}
