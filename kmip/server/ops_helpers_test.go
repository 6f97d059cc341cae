package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/auth"
	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/cofferhsm/coffer/hsm/store"
	"github.com/cofferhsm/coffer/kmip"
)

var testT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testClock is a settable clock shared by the core and Ops.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// opsLog is a log sink safe for concurrent writes.
type opsLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *opsLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *opsLog) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type testEnv struct {
	ops   *Ops
	core  *hsm.Core
	clock *testClock
	logs  *opsLog
	peer  Peer
}

// newTestEnv returns Ops over a real core on the in-memory store. mod may
// adjust the config.
func newTestEnv(t testing.TB, mod func(*OpsConfig)) *testEnv {
	t.Helper()
	clk := &testClock{t: testT0}
	master, err := key.GenerateMaster(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(master.Destroy)
	core, err := hsm.New(hsm.Config{Store: store.NewMemory(), Master: master, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	logs := &opsLog{}
	cfg := OpsConfig{Core: core, Now: clk.Now, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	if mod != nil {
		mod(&cfg)
	}
	ops, err := NewOps(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{ops: ops, core: core, clock: clk, logs: logs, peer: Peer{App: auth.App{Name: "vcenter"}}}
}

// v11 is the protocol version of most tests.
var v11 = kmip.ProtocolVersion{Major: 1, Minor: 1}

// msg builds a 1.1 request of items.
func msg(items ...kmip.RequestBatchItem) *kmip.RequestMessage {
	return &kmip.RequestMessage{
		Header:     kmip.RequestHeader{ProtocolVersion: v11, BatchCount: int32(len(items))},
		BatchItems: items,
	}
}

func item(p kmip.RequestPayload) kmip.RequestBatchItem {
	return kmip.RequestBatchItem{Operation: p.Operation(), Payload: p}
}

func itemID(p kmip.RequestPayload, id string) kmip.RequestBatchItem {
	return kmip.RequestBatchItem{Operation: p.Operation(), Payload: p, UniqueBatchItemID: []byte(id)}
}

// roundTrip encodes m, runs it through Handle and parses the response.
func (e *testEnv) roundTrip(t testing.TB, m *kmip.RequestMessage) *kmip.ResponseMessage {
	t.Helper()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return e.raw(t, b)
}

// raw runs request bytes through Handle and parses the response.
func (e *testEnv) raw(t testing.TB, b []byte) *kmip.ResponseMessage {
	t.Helper()
	out := e.ops.Handle(context.Background(), e.peer, b)
	resp, err := kmip.ParseResponseMessage(out)
	if err != nil {
		t.Fatalf("response does not parse: %v", err)
	}
	if int(resp.Header.BatchCount) != len(resp.BatchItems) {
		t.Fatalf("batch count %d, %d items", resp.Header.BatchCount, len(resp.BatchItems))
	}
	return resp
}

// one runs a single payload and returns its batch item.
func (e *testEnv) one(t testing.TB, p kmip.RequestPayload) kmip.ResponseBatchItem {
	t.Helper()
	r := e.roundTrip(t, msg(item(p)))
	if len(r.BatchItems) != 1 {
		t.Fatalf("%d batch items, want 1", len(r.BatchItems))
	}
	return r.BatchItems[0]
}

// ok runs a single payload, requires Success and returns the payload.
func (e *testEnv) ok(t testing.TB, p kmip.RequestPayload) kmip.ResponsePayload {
	t.Helper()
	bi := e.one(t, p)
	if bi.ResultStatus != kmip.ResultStatusSuccess {
		t.Fatalf("%s: %s %s %s", p.Operation(), bi.ResultStatus, reasonOf(bi), messageOf(bi))
	}
	return bi.Payload
}

// fails runs a single payload and requires failure with reason.
func (e *testEnv) fails(t testing.TB, p kmip.RequestPayload, reason kmip.ResultReason) kmip.ResponseBatchItem {
	t.Helper()
	bi := e.one(t, p)
	checkFailed(t, bi, reason)
	return bi
}

func checkFailed(t testing.TB, bi kmip.ResponseBatchItem, reason kmip.ResultReason) {
	t.Helper()
	if bi.ResultStatus != kmip.ResultStatusOperationFailed || bi.ResultReason == nil || *bi.ResultReason != reason {
		t.Fatalf("%s: got %s %s (%s), want Operation Failed %s", bi.Operation, bi.ResultStatus, reasonOf(bi), messageOf(bi), reason)
	}
	if bi.Payload != nil {
		t.Fatalf("failed item carries a payload")
	}
}

func reasonOf(bi kmip.ResponseBatchItem) string {
	if bi.ResultReason == nil {
		return "-"
	}
	return bi.ResultReason.String()
}

func messageOf(bi kmip.ResponseBatchItem) string {
	if bi.ResultMessage == nil {
		return ""
	}
	return *bi.ResultMessage
}

func ptr[T any](v T) *T { return &v }

// aesTemplate is the vCenter Create template (AES-256, Encrypt|Decrypt).
func aesTemplate(extra ...kmip.Attribute) kmip.TemplateAttribute {
	return kmip.TemplateAttribute{Attributes: append([]kmip.Attribute{
		{Name: kmip.AttributeCryptographicAlgorithm, Value: kmip.CryptographicAlgorithmAES},
		{Name: kmip.AttributeCryptographicUsageMask, Value: kmip.CryptographicUsageMask(12)},
		{Name: kmip.AttributeCryptographicLength, Value: kmip.Integer(256)},
	}, extra...)}
}

// createAES creates an AES-256 key and returns its UID.
func (e *testEnv) createAES(t testing.TB, extra ...kmip.Attribute) string {
	t.Helper()
	p := e.ok(t, &kmip.CreateRequest{ObjectType: kmip.ObjectTypeSymmetricKey, TemplateAttribute: aesTemplate(extra...)})
	return p.(*kmip.CreateResponse).UniqueIdentifier
}
