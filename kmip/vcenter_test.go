package kmip

import (
	"testing"

	"github.com/cofferhsm/coffer/kmip/ttlv"
	"github.com/google/go-cmp/cmp"
)

// TestVCenterShapes checks the message shapes vCenter 7.0.3 sends
// (../shared/kmip/VCENTER.md): an empty Discover Versions without batch
// item id, and a 3-item Add Attribute batch of x-* Text Strings with 8-byte
// batch item ids.
func TestVCenterShapes(t *testing.T) {
	id := func(n byte) []byte { return []byte{'Q', 'L', 'K', 'C', n, 0, 0, 0} }
	add := func(n byte, name, v string) ttlv.Item {
		return ttlv.Struct(TagBatchItem,
			ttlv.Enum(TagOperation, uint32(OperationAddAttribute)),
			ttlv.Bytes(TagUniqueBatchItemID, id(n)),
			ttlv.Struct(TagRequestPayload, ttlv.Text(TagUniqueIdentifier, "k1"),
				ttlv.Struct(TagAttribute, ttlv.Text(TagAttributeName, name), ttlv.Text(TagAttributeValue, v))))
	}
	tests := []struct {
		name string
		msg  ttlv.Item
		want *RequestMessage
	}{
		{
			"empty discover versions",
			reqMsg(hdr11, batch(OperationDiscoverVersions)),
			&RequestMessage{
				Header:     RequestHeader{ProtocolVersion: ProtocolVersion{1, 1}, BatchCount: 1},
				BatchItems: []RequestBatchItem{{Operation: OperationDiscoverVersions, Payload: &DiscoverVersionsRequest{}}},
			},
		},
		{
			"add attribute batch",
			reqMsg(ttlv.Struct(TagRequestHeader, tv11, ttlv.Int(TagBatchCount, 3)),
				add(1, "x-Product_Version", "7.0.3 build-19480866"), add(2, "x-Vendor", "VMware, Inc."), add(3, "x-Product", "VMware vSphere")),
			&RequestMessage{
				Header: RequestHeader{ProtocolVersion: ProtocolVersion{1, 1}, BatchCount: 3},
				BatchItems: []RequestBatchItem{
					{Operation: OperationAddAttribute, UniqueBatchItemID: id(1), Payload: &AddAttributeRequest{UniqueIdentifier: "k1",
						Attribute: Attribute{Name: "x-Product_Version", Value: RawValue{ttlv.Text(TagAttributeValue, "7.0.3 build-19480866")}}}},
					{Operation: OperationAddAttribute, UniqueBatchItemID: id(2), Payload: &AddAttributeRequest{UniqueIdentifier: "k1",
						Attribute: Attribute{Name: "x-Vendor", Value: RawValue{ttlv.Text(TagAttributeValue, "VMware, Inc.")}}}},
					{Operation: OperationAddAttribute, UniqueBatchItemID: id(3), Payload: &AddAttributeRequest{UniqueIdentifier: "k1",
						Attribute: Attribute{Name: "x-Product", Value: RawValue{ttlv.Text(TagAttributeValue, "VMware vSphere")}}}},
				},
			},
		},
		{
			"get attributes state",
			reqMsg(hdr11, batch(OperationGetAttributes, ttlv.Text(TagUniqueIdentifier, "k1"), ttlv.Text(TagAttributeName, AttributeState))),
			&RequestMessage{
				Header: RequestHeader{ProtocolVersion: ProtocolVersion{1, 1}, BatchCount: 1},
				BatchItems: []RequestBatchItem{{Operation: OperationGetAttributes,
					Payload: &GetAttributesRequest{UniqueIdentifier: "k1", AttributeNames: []string{AttributeState}}}},
			},
		},
	}
	opts := cmp.Comparer(func(a, b ttlv.Item) bool { return a.Equal(b) })
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ttlv.Encode(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseRequestMessage(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, opts); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			out, err := tc.want.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != string(b) {
				t.Errorf("encoding of the typed message differs\n got %X\nwant %X", out, b)
			}
		})
	}
}
