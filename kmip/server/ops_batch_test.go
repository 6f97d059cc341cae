package server

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cofferhsm/coffer/hsm/auth"
	"github.com/cofferhsm/coffer/kmip"
	"github.com/cofferhsm/coffer/kmip/ttlv"
)

func createReq() *kmip.CreateRequest {
	return &kmip.CreateRequest{ObjectType: kmip.ObjectTypeSymmetricKey, TemplateAttribute: aesTemplate()}
}

// countKeys returns how many objects exist (Locate without filter).
func (e *testEnv) countKeys(t *testing.T) int {
	t.Helper()
	return len(e.ok(t, &kmip.LocateRequest{}).(*kmip.LocateResponse).UniqueIdentifiers)
}

func TestProtocolVersions(t *testing.T) {
	tests := []struct {
		req, resp kmip.ProtocolVersion
	}{
		{kmip.ProtocolVersion{Major: 1, Minor: 0}, kmip.ProtocolVersion{Major: 1, Minor: 0}},
		{kmip.ProtocolVersion{Major: 1, Minor: 1}, kmip.ProtocolVersion{Major: 1, Minor: 1}},
		{kmip.ProtocolVersion{Major: 1, Minor: 2}, kmip.ProtocolVersion{Major: 1, Minor: 2}},
		{kmip.ProtocolVersion{Major: 1, Minor: 3}, kmip.ProtocolVersion{Major: 1, Minor: 3}},
		{kmip.ProtocolVersion{Major: 1, Minor: 4}, kmip.ProtocolVersion{Major: 1, Minor: 4}},
		{kmip.ProtocolVersion{Major: 1, Minor: 7}, kmip.ProtocolVersion{Major: 1, Minor: 4}},
	}
	e := newTestEnv(t, nil)
	for _, tt := range tests {
		t.Run(tt.req.String(), func(t *testing.T) {
			m := msg(item(&kmip.QueryRequest{QueryFunctions: []kmip.QueryFunction{kmip.QueryFunctionQueryServerInformation}}))
			m.Header.ProtocolVersion = tt.req
			r := e.roundTrip(t, m)
			if r.Header.ProtocolVersion != tt.resp {
				t.Fatalf("response version %s, want %s", r.Header.ProtocolVersion, tt.resp)
			}
			if r.BatchItems[0].ResultStatus != kmip.ResultStatusSuccess {
				t.Fatalf("status %s", r.BatchItems[0].ResultStatus)
			}
		})
	}
	t.Run("major 2", func(t *testing.T) {
		m := msg(item(createReq()))
		m.Header.ProtocolVersion = kmip.ProtocolVersion{Major: 2, Minor: 0}
		r := e.roundTrip(t, m)
		if r.Header.ProtocolVersion != v11 || len(r.BatchItems) != 1 || r.BatchItems[0].Operation != 0 {
			t.Fatalf("got %+v", r)
		}
		checkFailed(t, r.BatchItems[0], kmip.ResultReasonInvalidMessage)
		if n := e.countKeys(t); n != 0 {
			t.Fatalf("%d objects created", n)
		}
	})
}

func TestDiscoverVersions(t *testing.T) {
	e := newTestEnv(t, nil)
	pv := func(minor int32) kmip.ProtocolVersion { return kmip.ProtocolVersion{Major: 1, Minor: minor} }
	tests := []struct {
		name      string
		req, want []kmip.ProtocolVersion
	}{
		{"empty", nil, []kmip.ProtocolVersion{pv(4), pv(3), pv(2), pv(1), pv(0)}},
		{"1.0", []kmip.ProtocolVersion{pv(0)}, []kmip.ProtocolVersion{pv(0)}},
		{"1.1", []kmip.ProtocolVersion{pv(1)}, []kmip.ProtocolVersion{pv(1)}},
		{"server order", []kmip.ProtocolVersion{pv(1), pv(4)}, []kmip.ProtocolVersion{pv(4), pv(1)}},
		{"unknown", []kmip.ProtocolVersion{{Major: 9, Minor: 31}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.ok(t, &kmip.DiscoverVersionsRequest{ProtocolVersions: tt.req}).(*kmip.DiscoverVersionsResponse)
			if d := cmp.Diff(tt.want, got.ProtocolVersions); d != "" {
				t.Fatalf("(-want +got):\n%s", d)
			}
		})
	}
	t.Run("configured", func(t *testing.T) {
		e := newTestEnv(t, func(c *OpsConfig) { c.Versions = []kmip.ProtocolVersion{pv(1), pv(0)} })
		got := e.ok(t, &kmip.DiscoverVersionsRequest{}).(*kmip.DiscoverVersionsResponse)
		if d := cmp.Diff([]kmip.ProtocolVersion{pv(1), pv(0)}, got.ProtocolVersions); d != "" {
			t.Fatalf("(-want +got):\n%s", d)
		}
	})
}

func TestNewOpsErrors(t *testing.T) {
	e := newTestEnv(t, nil)
	tests := []struct {
		name string
		cfg  OpsConfig
	}{
		{"no core", OpsConfig{}},
		{"bad version", OpsConfig{Core: e.core, Versions: []kmip.ProtocolVersion{{Major: 2, Minor: 0}}}},
		{"fractional lease", OpsConfig{Core: e.core, LeaseTime: 1500 * 1e6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewOps(tt.cfg); err == nil {
				t.Fatal("NewOps succeeded")
			}
		})
	}
}

func TestBatchErrorContinuation(t *testing.T) {
	bad := &kmip.GetRequest{UniqueIdentifier: "no-such-object"}
	tests := []struct {
		name    string
		opt     *kmip.BatchErrorContinuationOption
		want    []kmip.ResultStatus
		created int
	}{
		{"default stop", nil, []kmip.ResultStatus{kmip.ResultStatusSuccess, kmip.ResultStatusOperationFailed}, 1},
		{"stop", ptr(kmip.BatchErrorContinuationOptionStop), []kmip.ResultStatus{kmip.ResultStatusSuccess, kmip.ResultStatusOperationFailed}, 1},
		{"continue", ptr(kmip.BatchErrorContinuationOptionContinue), []kmip.ResultStatus{kmip.ResultStatusSuccess, kmip.ResultStatusOperationFailed, kmip.ResultStatusSuccess}, 2},
		{"undo refused", ptr(kmip.BatchErrorContinuationOptionUndo), []kmip.ResultStatus{kmip.ResultStatusOperationFailed, kmip.ResultStatusOperationFailed, kmip.ResultStatusOperationFailed}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, nil)
			m := msg(itemID(createReq(), "a"), itemID(bad, "b"), itemID(createReq(), "c"))
			m.Header.BatchErrorContinuationOption = tt.opt
			r := e.roundTrip(t, m)
			var got []kmip.ResultStatus
			for i, bi := range r.BatchItems {
				got = append(got, bi.ResultStatus)
				if want := string(rune('a' + i)); string(bi.UniqueBatchItemID) != want {
					t.Errorf("item %d id %q, want %q", i, bi.UniqueBatchItemID, want)
				}
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Fatalf("statuses (-want +got):\n%s", d)
			}
			if tt.opt != nil && *tt.opt == kmip.BatchErrorContinuationOptionUndo {
				checkFailed(t, r.BatchItems[0], kmip.ResultReasonFeatureNotSupported)
			} else {
				checkFailed(t, r.BatchItems[1], kmip.ResultReasonItemNotFound)
			}
			if n := e.countKeys(t); n != tt.created {
				t.Fatalf("%d objects exist, want %d", n, tt.created)
			}
		})
	}
	t.Run("undo single item", func(t *testing.T) {
		e := newTestEnv(t, nil)
		m := msg(item(createReq()))
		m.Header.BatchErrorContinuationOption = ptr(kmip.BatchErrorContinuationOptionUndo)
		if r := e.roundTrip(t, m); r.BatchItems[0].ResultStatus != kmip.ResultStatusSuccess {
			t.Fatalf("status %s", r.BatchItems[0].ResultStatus)
		}
	})
}

func TestIDPlaceholder(t *testing.T) {
	e := newTestEnv(t, nil)
	t.Run("create then use", func(t *testing.T) {
		r := e.roundTrip(t, msg(item(createReq()),
			item(&kmip.AddAttributeRequest{Attribute: xText("x-Purpose", "test")}),
			item(&kmip.ActivateRequest{}),
			item(&kmip.GetAttributesRequest{AttributeNames: []string{"State"}})))
		if len(r.BatchItems) != 4 {
			t.Fatalf("%d items: %+v", len(r.BatchItems), r.BatchItems)
		}
		uid := r.BatchItems[0].Payload.(*kmip.CreateResponse).UniqueIdentifier
		if got := r.BatchItems[2].Payload.(*kmip.ActivateResponse).UniqueIdentifier; got != uid {
			t.Fatalf("activate used %q, want %q", got, uid)
		}
		ga := r.BatchItems[3].Payload.(*kmip.GetAttributesResponse)
		want := &kmip.GetAttributesResponse{UniqueIdentifier: uid, Attributes: []kmip.Attribute{{Name: "State", Value: kmip.StateActive}}}
		if d := cmp.Diff(want, ga); d != "" {
			t.Fatalf("(-want +got):\n%s", d)
		}
	})
	t.Run("locate one then get", func(t *testing.T) {
		uid := e.createAES(t, kmip.Attribute{Name: "Name", Value: &kmip.Name{Value: "only", Type: kmip.NameTypeUninterpretedTextString}})
		r := e.roundTrip(t, msg(item(&kmip.LocateRequest{Attributes: []kmip.Attribute{{Name: "Name", Value: &kmip.Name{Value: "only", Type: kmip.NameTypeUninterpretedTextString}}}}),
			item(&kmip.GetRequest{})))
		if r.BatchItems[1].ResultStatus != kmip.ResultStatusSuccess || r.BatchItems[1].Payload.(*kmip.GetResponse).UniqueIdentifier != uid {
			t.Fatalf("get via placeholder: %+v", r.BatchItems[1])
		}
	})
	t.Run("locate many sets none", func(t *testing.T) {
		r := e.roundTrip(t, msg(item(&kmip.LocateRequest{}), item(&kmip.GetRequest{})))
		if n := len(r.BatchItems[0].Payload.(*kmip.LocateResponse).UniqueIdentifiers); n < 2 {
			t.Fatalf("locate found %d", n)
		}
		checkFailed(t, r.BatchItems[1], kmip.ResultReasonInvalidField)
	})
	t.Run("empty locate clears an earlier placeholder", func(t *testing.T) {
		r := e.roundTrip(t, msg(item(&kmip.CreateRequest{ObjectType: kmip.ObjectTypeSymmetricKey, TemplateAttribute: aesTemplate()}),
			item(&kmip.LocateRequest{Attributes: []kmip.Attribute{{Name: "Name", Value: &kmip.Name{Value: "no such key", Type: kmip.NameTypeUninterpretedTextString}}}}),
			item(&kmip.GetRequest{})))
		if len(r.BatchItems) != 3 || len(r.BatchItems[1].Payload.(*kmip.LocateResponse).UniqueIdentifiers) != 0 {
			t.Fatalf("items %+v", r.BatchItems)
		}
		checkFailed(t, r.BatchItems[2], kmip.ResultReasonInvalidField)
	})
	t.Run("not shared across requests", func(t *testing.T) {
		e.createAES(t)
		e.fails(t, &kmip.GetRequest{}, kmip.ResultReasonInvalidField)
	})
}

func TestMaximumResponseSize(t *testing.T) {
	e := newTestEnv(t, nil)
	q := &kmip.QueryRequest{QueryFunctions: []kmip.QueryFunction{kmip.QueryFunctionQueryOperations, kmip.QueryFunctionQueryObjects}}
	m := msg(item(q))
	full := e.roundTrip(t, m)
	b, _ := full.Encode()
	size := len(b)

	m.Header.MaximumResponseSize = ptr(int32(256))
	r := e.roundTrip(t, m)
	if len(r.BatchItems) != 1 || r.BatchItems[0].Operation != 0 {
		t.Fatalf("got %+v", r.BatchItems)
	}
	checkFailed(t, r.BatchItems[0], kmip.ResultReasonResponseTooLarge)
	wantMsg := "Response size: " + itoa(size) + ", Maximum Response Size indicated in request: 256"
	if got := messageOf(r.BatchItems[0]); got != wantMsg {
		t.Fatalf("message %q, want %q", got, wantMsg)
	}
	m.Header.MaximumResponseSize = ptr(int32(size))
	if r := e.roundTrip(t, m); r.BatchItems[0].ResultStatus != kmip.ResultStatusSuccess {
		t.Fatalf("exact size refused: %+v", r.BatchItems[0])
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestMessageExtension(t *testing.T) {
	ext := func(critical bool) *kmip.MessageExtension {
		return &kmip.MessageExtension{VendorIdentification: "Acme", CriticalityIndicator: critical,
			VendorExtension: ttlv.Struct(kmip.TagVendorExtension, ttlv.Text(0x540001, "na"))}
	}
	e := newTestEnv(t, nil)
	bi := item(createReq())
	bi.MessageExtension = ext(true)
	r := e.roundTrip(t, msg(bi))
	checkFailed(t, r.BatchItems[0], kmip.ResultReasonFeatureNotSupported)
	if got := messageOf(r.BatchItems[0]); got != "Critical Message Extension not recognized" {
		t.Fatalf("message %q", got)
	}
	if r.BatchItems[0].Operation != kmip.OperationCreate {
		t.Fatalf("operation %s not echoed", r.BatchItems[0].Operation)
	}
	if n := e.countKeys(t); n != 0 {
		t.Fatalf("critical extension: %d objects created", n)
	}
	bi.MessageExtension = ext(false)
	if r := e.roundTrip(t, msg(bi)); r.BatchItems[0].ResultStatus != kmip.ResultStatusSuccess {
		t.Fatalf("non-critical extension: %+v", r.BatchItems[0])
	}
}

func TestAsynchronousIndicator(t *testing.T) {
	e := newTestEnv(t, nil)
	m := msg(itemID(createReq(), "1"), itemID(&kmip.LocateRequest{}, "2"))
	m.Header.AsynchronousIndicator = ptr(true)
	r := e.roundTrip(t, m)
	if len(r.BatchItems) != 2 {
		t.Fatalf("%d items", len(r.BatchItems))
	}
	for _, bi := range r.BatchItems {
		checkFailed(t, bi, kmip.ResultReasonFeatureNotSupported)
		if bi.AsynchronousCorrelationValue != nil {
			t.Fatal("correlation value sent")
		}
	}
	if n := e.countKeys(t); n != 0 {
		t.Fatalf("%d objects created", n)
	}
	m.Header.AsynchronousIndicator = ptr(false)
	if r := e.roundTrip(t, m); r.BatchItems[0].ResultStatus != kmip.ResultStatusSuccess {
		t.Fatalf("async false: %+v", r.BatchItems[0])
	}
}

func TestUnparseableRequests(t *testing.T) {
	e := newTestEnv(t, nil)
	good, err := msg(item(createReq())).Encode()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"garbage", []byte("GET / HTTP/1.1\r\n\r\n")},
		{"truncated", good[:len(good)-8]},
		{"response message", mustEncode(t, &kmip.ResponseMessage{Header: kmip.ResponseHeader{ProtocolVersion: v11, BatchCount: 1},
			BatchItems: []kmip.ResponseBatchItem{{ResultStatus: kmip.ResultStatusSuccess}}})},
		{"batch count mismatch", func() []byte {
			m := msg(item(createReq()))
			m.Header.BatchCount = 2
			return mustEncode(t, m)
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.raw(t, tt.b)
			if len(r.BatchItems) != 1 || r.BatchItems[0].Operation != 0 || r.Header.ProtocolVersion != v11 {
				t.Fatalf("got %+v", r)
			}
			checkFailed(t, r.BatchItems[0], kmip.ResultReasonInvalidMessage)
		})
	}
	if n := e.countKeys(t); n != 0 {
		t.Fatalf("%d objects created", n)
	}
}

type encoder interface{ Encode() ([]byte, error) }

func mustEncode(t testing.TB, m encoder) []byte {
	t.Helper()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMalformedItemInBatch: a batch item that does not parse fails alone
// (Operation and Unique Batch Item ID echoed); the others run.
func TestMalformedItemInBatch(t *testing.T) {
	e := newTestEnv(t, nil)
	m := msg(itemID(createReq(), "1"), itemID(&kmip.GetRequest{UniqueIdentifier: "x"}, "2"), itemID(createReq(), "3"), itemID(createReq(), "4"))
	m.Header.BatchErrorContinuationOption = ptr(kmip.BatchErrorContinuationOptionContinue)
	it := m.ToTTLV()
	items := it.Value.([]ttlv.Item)
	// Item 2: Unique Identifier as an Integer. Item 3: an unknown operation.
	items[2] = ttlv.Struct(kmip.TagBatchItem, ttlv.Enum(kmip.TagOperation, uint32(kmip.OperationGet)),
		ttlv.Bytes(kmip.TagUniqueBatchItemID, []byte("2")),
		ttlv.Struct(kmip.TagRequestPayload, ttlv.Int(kmip.TagUniqueIdentifier, 7)))
	items[3] = ttlv.Struct(kmip.TagBatchItem, ttlv.Enum(kmip.TagOperation, 0x99),
		ttlv.Bytes(kmip.TagUniqueBatchItemID, []byte("3")), ttlv.Struct(kmip.TagRequestPayload))
	b, err := ttlv.Encode(it)
	if err != nil {
		t.Fatal(err)
	}
	r := e.raw(t, b)
	if len(r.BatchItems) != 4 {
		t.Fatalf("%d items", len(r.BatchItems))
	}
	if r.BatchItems[0].ResultStatus != kmip.ResultStatusSuccess || r.BatchItems[3].ResultStatus != kmip.ResultStatusSuccess {
		t.Fatalf("good items failed: %+v", r.BatchItems)
	}
	if bi := r.BatchItems[1]; bi.Operation != kmip.OperationGet || string(bi.UniqueBatchItemID) != "2" || bi.ResultStatus != kmip.ResultStatusOperationFailed {
		t.Fatalf("item 2: %+v", bi)
	}
	checkFailed(t, r.BatchItems[2], kmip.ResultReasonOperationNotSupported)
	if bi := r.BatchItems[2]; bi.Operation != 0x99 || string(bi.UniqueBatchItemID) != "3" {
		t.Fatalf("item 3: %+v", bi)
	}
}

// fakePasswords is a PasswordChecker with fixed passwords.
type fakePasswords map[string]string

func (f fakePasswords) HasPassword(app string) (bool, error) { _, ok := f[app]; return ok, nil }
func (f fakePasswords) CheckPassword(app, pw string) error {
	if p, ok := f[app]; ok && p == pw {
		return nil
	}
	return auth.ErrBadPassword
}

func TestAuthentication(t *testing.T) {
	cred := func(user, pw string) *kmip.Authentication {
		return &kmip.Authentication{Credential: kmip.Credential{Type: kmip.CredentialTypeUsernameAndPassword,
			Value: &kmip.UsernamePasswordCredential{Username: user, Password: &pw}}}
	}
	tests := []struct {
		name string
		app  string
		auth *kmip.Authentication
		ok   bool
	}{
		{"password required, absent", "vcenter", nil, false},
		{"password right", "vcenter", cred("vcenter", "s3cret"), true},
		{"password wrong", "vcenter", cred("vcenter", "guess"), false},
		{"other app's name", "vcenter", cred("other", "x"), false},
		{"no password, none sent", "other", nil, true},
		{"no password, one sent", "other", cred("other", "x"), false},
		{"device credential", "vcenter", &kmip.Authentication{Credential: kmip.Credential{Type: kmip.CredentialTypeDevice, Value: &kmip.DeviceCredential{Password: ptr("s3cret")}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, func(c *OpsConfig) { c.Passwords = fakePasswords{"vcenter": "s3cret"} })
			e.peer.App.Name = tt.app
			m := msg(item(createReq()))
			m.Header.Authentication = tt.auth
			r := e.roundTrip(t, m)
			if tt.ok {
				if r.BatchItems[0].ResultStatus != kmip.ResultStatusSuccess {
					t.Fatalf("refused: %+v", r.BatchItems[0])
				}
				return
			}
			checkFailed(t, r.BatchItems[0], kmip.ResultReasonAuthenticationNotSuccessful)
			if strings.Contains(e.logs.String(), "s3cret") {
				t.Fatal("password logged")
			}
		})
	}
	t.Run("ignored without checker", func(t *testing.T) {
		e := newTestEnv(t, nil)
		m := msg(item(createReq()))
		m.Header.Authentication = cred("anyone", "anything")
		if r := e.roundTrip(t, m); r.BatchItems[0].ResultStatus != kmip.ResultStatusSuccess {
			t.Fatalf("refused: %+v", r.BatchItems[0])
		}
	})
}

func TestRefuse(t *testing.T) {
	e := newTestEnv(t, nil)
	m := msg(itemID(createReq(), "1"), itemID(&kmip.DiscoverVersionsRequest{}, "2"))
	out := e.ops.Refuse(context.Background(), Peer{}, mustEncode(t, m), auth.ErrUntrusted)
	r, err := kmip.ParseResponseMessage(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.BatchItems) != 2 {
		t.Fatalf("%d items", len(r.BatchItems))
	}
	for i, bi := range r.BatchItems {
		checkFailed(t, bi, kmip.ResultReasonAuthenticationNotSuccessful)
		if bi.Operation != m.BatchItems[i].Operation || string(bi.UniqueBatchItemID) != string(m.BatchItems[i].UniqueBatchItemID) {
			t.Fatalf("item %d not echoed: %+v", i, bi)
		}
		if strings.Contains(messageOf(bi), "trusted") {
			t.Fatalf("internal error text sent: %q", messageOf(bi))
		}
	}
	if n := e.countKeys(t); n != 0 {
		t.Fatalf("%d objects created", n)
	}
	if !strings.Contains(e.logs.String(), auth.ErrUntrusted.Error()) {
		t.Fatal("refusal reason not logged")
	}
	if out := e.ops.Refuse(context.Background(), Peer{}, []byte("junk"), auth.ErrNoCert); len(out) == 0 {
		t.Fatal("no answer to unparseable refused request")
	}
}

func TestContextCancelled(t *testing.T) {
	e := newTestEnv(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := e.ops.Handle(ctx, e.peer, mustEncode(t, msg(item(createReq()))))
	r, err := kmip.ParseResponseMessage(out)
	if err != nil {
		t.Fatal(err)
	}
	checkFailed(t, r.BatchItems[0], kmip.ResultReasonGeneralFailure)
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatal("context not cancelled")
	}
}

func TestEmptyIdentityRefusedByCore(t *testing.T) {
	e := newTestEnv(t, nil)
	e.peer = Peer{}
	e.fails(t, createReq(), kmip.ResultReasonPermissionDenied)
}

// TestConcurrentRequests runs vCenter-like flows on parallel connections
// through one Ops (run with -race).
func TestConcurrentRequests(t *testing.T) {
	e := newTestEnv(t, nil)
	const workers = 8
	errs := make(chan error, workers)
	req := mustEncode(t, msg(item(createReq()), item(&kmip.GetRequest{}), item(&kmip.ActivateRequest{})))
	for w := 0; w < workers; w++ {
		go func() {
			out := e.ops.Handle(context.Background(), e.peer, req)
			r, err := kmip.ParseResponseMessage(out)
			if err == nil {
				for _, bi := range r.BatchItems {
					if bi.ResultStatus != kmip.ResultStatusSuccess {
						err = errors.New("item failed: " + messageOf(bi))
					}
				}
				if len(r.BatchItems) != 3 {
					err = errors.New("wrong item count")
				}
			}
			errs <- err
		}()
	}
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := e.countKeys(t); n != workers {
		t.Fatalf("%d keys, want %d", n, workers)
	}
}

// TestAuthenticationWithAuthority uses the real app registry.
func TestAuthenticationWithAuthority(t *testing.T) {
	a, err := auth.Load(t.TempDir(), auth.Options{PasswordIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"vcenter", "plain"} {
		if _, _, err := a.CreateApp(app); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.SetPassword("vcenter", "s3cret"); err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, func(c *OpsConfig) { c.Passwords = a })
	run := func(app, pw string) kmip.ResponseBatchItem {
		e.peer.App.Name = app
		m := msg(item(&kmip.DiscoverVersionsRequest{}))
		if pw != "" {
			m.Header.Authentication = &kmip.Authentication{Credential: kmip.Credential{Type: kmip.CredentialTypeUsernameAndPassword,
				Value: &kmip.UsernamePasswordCredential{Username: app, Password: &pw}}}
		}
		return e.roundTrip(t, m).BatchItems[0]
	}
	if bi := run("vcenter", "s3cret"); bi.ResultStatus != kmip.ResultStatusSuccess {
		t.Fatalf("right password refused: %+v", bi)
	}
	checkFailed(t, run("vcenter", ""), kmip.ResultReasonAuthenticationNotSuccessful)
	checkFailed(t, run("vcenter", "wrong"), kmip.ResultReasonAuthenticationNotSuccessful)
	if bi := run("plain", ""); bi.ResultStatus != kmip.ResultStatusSuccess {
		t.Fatalf("app without password refused: %+v", bi)
	}
	checkFailed(t, run("ghost", ""), kmip.ResultReasonAuthenticationNotSuccessful)
}
