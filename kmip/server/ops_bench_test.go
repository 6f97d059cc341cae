package server

import (
	"context"
	"testing"

	"github.com/cofferhsm/coffer/kmip"
)

// BenchmarkHandleGet measures one vCenter-style Get (Raw AES-256) through
// Ops.Handle over the in-memory core: parse, core Get, encode.
func BenchmarkHandleGet(b *testing.B) {
	e := newTestEnv(b, nil)
	uid := e.createAES(b)
	req := mustEncode(b, msg(kmip.RequestBatchItem{Operation: kmip.OperationGet, UniqueBatchItemID: vcID(1), Payload: &kmip.GetRequest{UniqueIdentifier: uid}}))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if out := e.ops.Handle(ctx, e.peer, req); len(out) == 0 {
			b.Fatal("no response")
		}
	}
}

// BenchmarkHandleCreate measures one Create of an AES-256 key.
func BenchmarkHandleCreate(b *testing.B) {
	e := newTestEnv(b, nil)
	req := mustEncode(b, msg(item(createReq())))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if out := e.ops.Handle(ctx, e.peer, req); len(out) == 0 {
			b.Fatal("no response")
		}
	}
}

// BenchmarkHandleDiscoverVersions measures the cheapest request (vCenter
// sends two per health check).
func BenchmarkHandleDiscoverVersions(b *testing.B) {
	e := newTestEnv(b, nil)
	req := mustEncode(b, msg(item(&kmip.DiscoverVersionsRequest{})))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e.ops.Handle(ctx, e.peer, req)
	}
}
