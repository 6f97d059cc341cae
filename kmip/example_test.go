package kmip_test

import (
	"fmt"
	"time"

	"github.com/cofferhsm/coffer/kmip"
)

// A server parses a request, switches on the payload type and answers with
// typed response payloads.
func Example() {
	// What a client sends: Destroy "key-1". (An operation without a payload
	// model is refused by ParseRequestMessage with Operation Not Supported.)
	in, _ := (&kmip.RequestMessage{
		Header: kmip.RequestHeader{ProtocolVersion: kmip.ProtocolVersion{Major: 1, Minor: 1}, BatchCount: 1},
		BatchItems: []kmip.RequestBatchItem{{
			Operation: kmip.OperationDestroy,
			Payload:   &kmip.DestroyRequest{UniqueIdentifier: "key-1"},
		}},
	}).Encode()

	req, err := kmip.ParseRequestMessage(in)
	if err != nil {
		fmt.Println(err) // a *kmip.Error: answer with its Reason
		return
	}
	resp := &kmip.ResponseMessage{Header: kmip.ResponseHeader{
		ProtocolVersion: req.Header.ProtocolVersion,
		TimeStamp:       time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		BatchCount:      int32(len(req.BatchItems)),
	}}
	for _, bi := range req.BatchItems {
		out := kmip.ResponseBatchItem{Operation: bi.Operation, UniqueBatchItemID: bi.UniqueBatchItemID}
		switch p := bi.Payload.(type) {
		case *kmip.DestroyRequest:
			out.ResultStatus = kmip.ResultStatusSuccess
			out.Payload = &kmip.DestroyResponse{UniqueIdentifier: p.UniqueIdentifier}
		default:
			reason := kmip.ResultReasonOperationNotSupported
			out.ResultStatus = kmip.ResultStatusOperationFailed
			out.ResultReason = &reason
		}
		resp.BatchItems = append(resp.BatchItems, out)
	}
	b, err := resp.Encode()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(b), resp.BatchItems[0].Operation, resp.BatchItems[0].ResultStatus)
	// Output: 152 Destroy Success
}
