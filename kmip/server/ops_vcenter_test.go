package server

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cofferhsm/coffer/kmip"
	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// vcID is vCenter's 8-byte Unique Batch Item ID: "QLKC" and a
// little-endian counter.
func vcID(n uint32) []byte {
	b := []byte("QLKC\x00\x00\x00\x00")
	binary.LittleEndian.PutUint32(b[4:], n)
	return b
}

// vcRequest is a request exactly as vCenter 7.0.3 sends it: Protocol
// Version 1.1 and Batch Count only in the header.
func vcRequest(items ...kmip.RequestBatchItem) *kmip.RequestMessage { return msg(items...) }

func vcItem(p kmip.RequestPayload, id uint32) kmip.RequestBatchItem {
	return kmip.RequestBatchItem{Operation: p.Operation(), Payload: p, UniqueBatchItemID: vcID(id)}
}

func okItem(op kmip.Operation, id []byte, p kmip.ResponsePayload) kmip.ResponseBatchItem {
	return kmip.ResponseBatchItem{Operation: op, UniqueBatchItemID: id, ResultStatus: kmip.ResultStatusSuccess, Payload: p}
}

// checkResponse compares a response with the expected items; the header
// must be Protocol Version 1.1 with the test clock's time stamp.
func (e *testEnv) checkResponse(t *testing.T, step string, got *kmip.ResponseMessage, want ...kmip.ResponseBatchItem) {
	t.Helper()
	w := &kmip.ResponseMessage{
		Header:     kmip.ResponseHeader{ProtocolVersion: v11, TimeStamp: e.clock.Now(), BatchCount: int32(len(want))},
		BatchItems: want,
	}
	if d := cmp.Diff(w, got, cmp.Comparer(func(a, b ttlv.Item) bool { return a.Equal(b) })); d != "" {
		t.Fatalf("%s: response mismatch (-want +got):\n%s", step, d)
	}
}

func xText(name, v string) kmip.Attribute {
	return kmip.Attribute{Name: name, Value: kmip.RawValue{Item: ttlv.Text(kmip.TagAttributeValue, v)}}
}

// TestVCenterConversation replays the vCenter 7.0.3 key creation flow of
// VCENTER.md through Ops.Handle and checks every response exactly.
func TestVCenterConversation(t *testing.T) {
	e := newTestEnv(t, nil)
	var id uint32

	// Discover Versions: empty payload, no batch item id.
	r := e.roundTrip(t, vcRequest(item(&kmip.DiscoverVersionsRequest{})))
	e.checkResponse(t, "discover", r, okItem(kmip.OperationDiscoverVersions, nil, &kmip.DiscoverVersionsResponse{
		ProtocolVersions: []kmip.ProtocolVersion{{Major: 1, Minor: 4}, {Major: 1, Minor: 3}, {Major: 1, Minor: 2}, {Major: 1, Minor: 1}, {Major: 1, Minor: 0}},
	}))

	// Query Server Information.
	id++
	r = e.roundTrip(t, vcRequest(vcItem(&kmip.QueryRequest{QueryFunctions: []kmip.QueryFunction{kmip.QueryFunctionQueryServerInformation}}, id)))
	si := ttlv.Struct(kmip.TagServerInformation)
	e.checkResponse(t, "query", r, okItem(kmip.OperationQuery, vcID(id), &kmip.QueryResponse{
		VendorIdentification: ptr("Coffer"), ServerInformation: &si,
	}))

	// Create AES-256, usage mask 12, no name.
	id++
	r = e.roundTrip(t, vcRequest(vcItem(&kmip.CreateRequest{ObjectType: kmip.ObjectTypeSymmetricKey, TemplateAttribute: kmip.TemplateAttribute{
		Attributes: []kmip.Attribute{
			{Name: "Cryptographic Algorithm", Value: kmip.CryptographicAlgorithmAES},
			{Name: "Cryptographic Usage Mask", Value: kmip.CryptographicUsageMask(12)},
			{Name: "Cryptographic Length", Value: kmip.Integer(256)},
		}}}, id)))
	if len(r.BatchItems) != 1 || r.BatchItems[0].Payload == nil {
		t.Fatalf("create failed: %+v", r.BatchItems)
	}
	uid := r.BatchItems[0].Payload.(*kmip.CreateResponse).UniqueIdentifier
	e.checkResponse(t, "create", r, okItem(kmip.OperationCreate, vcID(id), &kmip.CreateResponse{ObjectType: kmip.ObjectTypeSymmetricKey, UniqueIdentifier: uid}))

	// Get Attributes, one name per request: absent → Success, no Attribute.
	for _, n := range []string{"x-Product_Version", "x-Vendor", "x-Product"} {
		id++
		r = e.roundTrip(t, vcRequest(vcItem(&kmip.GetAttributesRequest{UniqueIdentifier: uid, AttributeNames: []string{n}}, id)))
		e.checkResponse(t, "get attributes "+n, r, okItem(kmip.OperationGetAttributes, vcID(id), &kmip.GetAttributesResponse{UniqueIdentifier: uid}))
	}

	// A 3-item Add Attribute batch of x- Text Strings.
	addBatch := func(attrs ...kmip.Attribute) {
		t.Helper()
		var items []kmip.RequestBatchItem
		var want []kmip.ResponseBatchItem
		for _, a := range attrs {
			id++
			items = append(items, vcItem(&kmip.AddAttributeRequest{UniqueIdentifier: uid, Attribute: a}, id))
			want = append(want, okItem(kmip.OperationAddAttribute, vcID(id), &kmip.AddAttributeResponse{UniqueIdentifier: uid, Attribute: a}))
		}
		e.checkResponse(t, "add attributes", e.roundTrip(t, vcRequest(items...)), want...)
	}
	addBatch(xText("x-Product_Version", "7.0.3 build-19480866"), xText("x-Vendor", "VMware, Inc."), xText("x-Product", "VMware vSphere"))

	// Get with only the UID on the Pre-Active key: Raw AES-256.
	id++
	r = e.roundTrip(t, vcRequest(vcItem(&kmip.GetRequest{UniqueIdentifier: uid}, id)))
	if len(r.BatchItems) != 1 || r.BatchItems[0].ResultStatus != kmip.ResultStatusSuccess {
		t.Fatalf("get failed: %+v", r.BatchItems)
	}
	sk := r.BatchItems[0].Payload.(*kmip.GetResponse).Object.(*kmip.SymmetricKey)
	raw, ok := sk.KeyBlock.KeyValue.KeyMaterial.(kmip.RawKeyMaterial)
	if !ok || len(raw) != 32 {
		t.Fatalf("key material %T of %d bytes, want 32 raw bytes", sk.KeyBlock.KeyValue.KeyMaterial, len(raw))
	}
	e.checkResponse(t, "get", r, okItem(kmip.OperationGet, vcID(id), &kmip.GetResponse{
		ObjectType: kmip.ObjectTypeSymmetricKey, UniqueIdentifier: uid,
		Object: &kmip.SymmetricKey{KeyBlock: kmip.KeyBlock{
			KeyFormatType:          kmip.KeyFormatTypeRaw,
			KeyValue:               &kmip.KeyValue{KeyMaterial: raw},
			CryptographicAlgorithm: ptr(kmip.CryptographicAlgorithmAES),
			CryptographicLength:    ptr(int32(256)),
		}},
	}))

	stateIs := func(want kmip.State) {
		t.Helper()
		id++
		r := e.roundTrip(t, vcRequest(vcItem(&kmip.GetAttributesRequest{UniqueIdentifier: uid, AttributeNames: []string{"State"}}, id)))
		e.checkResponse(t, "state", r, okItem(kmip.OperationGetAttributes, vcID(id), &kmip.GetAttributesResponse{
			UniqueIdentifier: uid, Attributes: []kmip.Attribute{{Name: "State", Value: want}},
		}))
	}
	stateIs(kmip.StatePreActive)
	id++
	r = e.roundTrip(t, vcRequest(vcItem(&kmip.ActivateRequest{UniqueIdentifier: uid}, id)))
	e.checkResponse(t, "activate", r, okItem(kmip.OperationActivate, vcID(id), &kmip.ActivateResponse{UniqueIdentifier: uid}))
	stateIs(kmip.StateActive)

	for _, n := range []string{"x-Identifier", "x-Component", "x-Name"} {
		id++
		r = e.roundTrip(t, vcRequest(vcItem(&kmip.GetAttributesRequest{UniqueIdentifier: uid, AttributeNames: []string{n}}, id)))
		e.checkResponse(t, "get attributes "+n, r, okItem(kmip.OperationGetAttributes, vcID(id), &kmip.GetAttributesResponse{UniqueIdentifier: uid}))
	}
	addBatch(xText("x-Identifier", "564d1d9e-5d2c-7b1a-0c6f-2e1c9d8a7b6c"), xText("x-Component", "Virtual Machine"), xText("x-Name", "vm-01"))

	// The custom attributes read back.
	id++
	r = e.roundTrip(t, vcRequest(vcItem(&kmip.GetAttributesRequest{UniqueIdentifier: uid, AttributeNames: []string{"x-Component"}}, id)))
	e.checkResponse(t, "read back", r, okItem(kmip.OperationGetAttributes, vcID(id), &kmip.GetAttributesResponse{
		UniqueIdentifier: uid, Attributes: []kmip.Attribute{xText("x-Component", "Virtual Machine")},
	}))
}

// TestVCenterDiscoverVersionsBytes pins the exact bytes of the first
// answer vCenter reads, built independently with the ttlv package.
func TestVCenterDiscoverVersionsBytes(t *testing.T) {
	e := newTestEnv(t, func(c *OpsConfig) { c.Versions = []kmip.ProtocolVersion{{Major: 1, Minor: 1}, {Major: 1, Minor: 0}} })
	req := mustEncode(t, vcRequest(item(&kmip.DiscoverVersionsRequest{})))
	pv := func(minor int32) ttlv.Item {
		return ttlv.Struct(kmip.TagProtocolVersion, ttlv.Int(kmip.TagProtocolVersionMajor, 1), ttlv.Int(kmip.TagProtocolVersionMinor, minor))
	}
	want, err := ttlv.Encode(ttlv.Struct(kmip.TagResponseMessage,
		ttlv.Struct(kmip.TagResponseHeader, pv(1), ttlv.DateTime(kmip.TagTimeStamp, testT0), ttlv.Int(kmip.TagBatchCount, 1)),
		ttlv.Struct(kmip.TagBatchItem,
			ttlv.Enum(kmip.TagOperation, uint32(kmip.OperationDiscoverVersions)),
			ttlv.Enum(kmip.TagResultStatus, uint32(kmip.ResultStatusSuccess)),
			ttlv.Struct(kmip.TagResponsePayload, pv(1), pv(0)))))
	if err != nil {
		t.Fatal(err)
	}
	got := e.ops.Handle(t.Context(), e.peer, req)
	if !bytes.Equal(got, want) {
		t.Fatalf("response\n got %x\nwant %x", got, want)
	}
}
