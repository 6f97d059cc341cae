package kmip

import (
	"errors"
	"testing"

	"github.com/cofferhsm/coffer/kmip/ttlv"
)

var (
	tv11   = ttlv.Struct(TagProtocolVersion, ttlv.Int(TagProtocolVersionMajor, 1), ttlv.Int(TagProtocolVersionMinor, 1))
	hdr11  = ttlv.Struct(TagRequestHeader, tv11, ttlv.Int(TagBatchCount, 1))
	uidFoo = ttlv.Text(TagUniqueIdentifier, "foo")
)

func reqMsg(header ttlv.Item, items ...ttlv.Item) ttlv.Item {
	return ttlv.Struct(TagRequestMessage, append([]ttlv.Item{header}, items...)...)
}

func batch(op Operation, payload ...ttlv.Item) ttlv.Item {
	return ttlv.Struct(TagBatchItem, ttlv.Enum(TagOperation, uint32(op)), ttlv.Struct(TagRequestPayload, payload...))
}

func attr(name string, v ttlv.Item) ttlv.Item {
	v.Tag = TagAttributeValue
	return ttlv.Struct(TagAttribute, ttlv.Text(TagAttributeName, name), v)
}

func TestMalformedRequests(t *testing.T) {
	tests := []struct {
		name   string
		msg    ttlv.Item
		reason ResultReason
		cause  error
	}{
		{"unknown tag in payload", reqMsg(hdr11, batch(OperationDestroy, uidFoo, ttlv.Text(0x540001, "x"))),
			ResultReasonInvalidField, ErrUnknownField},
		{"unknown 0x42 tag in payload", reqMsg(hdr11, batch(OperationDestroy, uidFoo, ttlv.Int(TagCryptographicLength, 1))),
			ResultReasonInvalidField, ErrUnknownField},
		{"wrong type", reqMsg(hdr11, batch(OperationDestroy, ttlv.Int(TagUniqueIdentifier, 1))),
			ResultReasonInvalidMessage, ErrWrongType},
		{"missing required field", reqMsg(hdr11, batch(OperationRevoke, uidFoo)),
			ResultReasonInvalidMessage, ErrMissingField},
		{"duplicated single field", reqMsg(hdr11, batch(OperationDestroy, uidFoo, uidFoo)),
			ResultReasonInvalidMessage, ErrDuplicateField},
		{"misplaced field", reqMsg(hdr11, batch(OperationGet, ttlv.Enum(TagKeyFormatType, 1), uidFoo)),
			ResultReasonInvalidMessage, ErrMisplacedField},
		{"unknown operation", reqMsg(hdr11, batch(Operation(0x7F))),
			ResultReasonOperationNotSupported, ErrUnknownOperation},
		{"KMIP 1.2 operation", reqMsg(hdr11, batch(OperationEncrypt)),
			ResultReasonOperationNotSupported, ErrUnknownOperation},
		{"missing batch count", reqMsg(ttlv.Struct(TagRequestHeader, tv11), batch(OperationDestroy, uidFoo)),
			ResultReasonInvalidMessage, ErrMissingField},
		{"unknown header field", reqMsg(ttlv.Struct(TagRequestHeader, tv11, ttlv.Int(TagBatchCount, 1), ttlv.Bool(0x540002, true)), batch(OperationDestroy)),
			ResultReasonInvalidField, ErrUnknownField},
		{"no batch item", reqMsg(hdr11), ResultReasonInvalidMessage, ErrMissingField},
		{"missing payload", reqMsg(hdr11, ttlv.Struct(TagBatchItem, ttlv.Enum(TagOperation, uint32(OperationDestroy)))),
			ResultReasonInvalidMessage, ErrMissingField},
		{"empty unique identifier", reqMsg(hdr11, batch(OperationDestroy, ttlv.Text(TagUniqueIdentifier, ""))),
			ResultReasonInvalidField, ErrInvalidValue},
		{"unknown attribute", reqMsg(hdr11, batch(OperationAddAttribute, uidFoo, attr("Colour", ttlv.Text(0, "red")))),
			ResultReasonInvalidField, ErrUnknownAttribute},
		{"attribute value of wrong type", reqMsg(hdr11, batch(OperationAddAttribute, uidFoo, attr(AttributeCryptographicLength, ttlv.Text(0, "128")))),
			ResultReasonInvalidField, ErrWrongType},
		{"unknown field in attribute structure", reqMsg(hdr11, batch(OperationAddAttribute, uidFoo,
			attr(AttributeLink, ttlv.Struct(0, ttlv.Enum(TagLinkType, 0x103), ttlv.Text(TagLinkedObjectIdentifier, "a"), ttlv.Text(TagNameValue, "b"))))),
			ResultReasonInvalidField, ErrUnknownField},
		{"object type does not match object", reqMsg(hdr11, batch(OperationRegister, ttlv.Enum(TagObjectType, uint32(ObjectTypeSymmetricKey)),
			ttlv.Struct(TagTemplateAttribute), ttlv.Struct(TagSecretData))),
			ResultReasonInvalidMessage, ErrMissingField},
		{"unsupported credential type", reqMsg(ttlv.Struct(TagRequestHeader, tv11,
			ttlv.Struct(TagAuthentication, ttlv.Struct(TagCredential, ttlv.Enum(TagCredentialType, 9), ttlv.Struct(TagCredentialValue))),
			ttlv.Int(TagBatchCount, 1)), batch(OperationDestroy)),
			ResultReasonInvalidField, ErrInvalidValue},
		{"negative attribute index", reqMsg(hdr11, batch(OperationDeleteAttribute, uidFoo, ttlv.Text(TagAttributeName, AttributeName), ttlv.Int(TagAttributeIndex, -1))),
			ResultReasonInvalidField, ErrInvalidValue},
		{"negative index in attribute", reqMsg(hdr11, batch(OperationModifyAttribute, uidFoo,
			ttlv.Struct(TagAttribute, ttlv.Text(TagAttributeName, AttributeObjectGroup), ttlv.Int(TagAttributeIndex, -2), ttlv.Text(TagAttributeValue, "g")))),
			ResultReasonInvalidField, ErrInvalidValue},
		{"batch count mismatch", reqMsg(hdr11, batch(OperationDestroy, uidFoo), batch(OperationDestroy, uidFoo)),
			ResultReasonInvalidMessage, ErrInvalidValue},
		{"attribute without value", reqMsg(hdr11, batch(OperationAddAttribute, uidFoo, ttlv.Struct(TagAttribute, ttlv.Text(TagAttributeName, AttributeObjectGroup)))),
			ResultReasonInvalidMessage, ErrMissingField},
		{"structured key material for raw format", reqMsg(hdr11, batch(OperationRegister, ttlv.Enum(TagObjectType, uint32(ObjectTypeSymmetricKey)),
			ttlv.Struct(TagTemplateAttribute), ttlv.Struct(TagSymmetricKey, ttlv.Struct(TagKeyBlock, ttlv.Enum(TagKeyFormatType, uint32(KeyFormatTypeRaw)),
				ttlv.Struct(TagKeyValue, ttlv.Struct(TagKeyMaterial, ttlv.Bytes(TagKey, []byte{1}))))))),
			ResultReasonInvalidField, ErrWrongType},
		{"wrong top-level tag", ttlv.Struct(TagResponseMessage, hdr11), ResultReasonInvalidMessage, ErrUnknownField},
		{"payload not a structure", reqMsg(hdr11, ttlv.Struct(TagBatchItem, ttlv.Enum(TagOperation, uint32(OperationDestroy)), ttlv.Text(TagRequestPayload, "x"))),
			ResultReasonInvalidMessage, ErrWrongType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ttlv.Encode(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			m, err := ParseRequestMessage(b)
			if err == nil {
				t.Fatalf("parsed without error: %+v", m)
			}
			var ke *Error
			if !errors.As(err, &ke) {
				t.Fatalf("error %T %v is not *kmip.Error", err, err)
			}
			if ke.Reason != tc.reason {
				t.Errorf("reason = %v, want %v (%v)", ke.Reason, tc.reason, err)
			}
			if !errors.Is(err, tc.cause) {
				t.Errorf("error %v does not wrap %v", err, tc.cause)
			}
		})
	}
}

func TestMalformedTTLV(t *testing.T) {
	b, err := ttlv.Encode(reqMsg(hdr11, batch(OperationDestroy, uidFoo)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseRequestMessage(b[:len(b)-8])
	var ke *Error
	if !errors.As(err, &ke) || ke.Reason != ResultReasonInvalidMessage {
		t.Fatalf("truncated message: got %v, want *kmip.Error with Invalid Message", err)
	}
	var de *ttlv.DecodeError
	if !errors.As(err, &de) {
		t.Errorf("error %v does not wrap *ttlv.DecodeError", err)
	}
	if _, err := ParseResponseMessage(b); err == nil {
		t.Error("ParseResponseMessage accepted a request")
	}
}

func TestErrorMessage(t *testing.T) {
	b, err := ttlv.Encode(reqMsg(hdr11, batch(OperationRevoke, uidFoo)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseRequestMessage(b)
	if got, want := err.Error(), "kmip: RequestPayload.RevocationReason: missing required field"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
