package kmip

import (
	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// RequestMessage is a KMIP request [S 7.1].
type RequestMessage struct {
	Header     RequestHeader
	BatchItems []RequestBatchItem
}

// RequestBatchItem is one operation of a request. Payload's concrete type
// is selected by Operation (for example *CreateRequest for OperationCreate).
type RequestBatchItem struct {
	Operation         Operation
	UniqueBatchItemID []byte // nil when absent
	Payload           RequestPayload
	MessageExtension  *MessageExtension
}

// ResponseMessage is a KMIP response [S 7.1].
type ResponseMessage struct {
	Header     ResponseHeader
	BatchItems []ResponseBatchItem
}

// ResponseBatchItem is the result of one operation. Operation is zero when
// absent (a response to an unparseable request). Payload is nil when
// absent; otherwise its type is selected by Operation.
type ResponseBatchItem struct {
	Operation                    Operation
	UniqueBatchItemID            []byte // nil when absent
	ResultStatus                 ResultStatus
	ResultReason                 *ResultReason
	ResultMessage                *string
	AsynchronousCorrelationValue []byte // nil when absent
	Payload                      ResponsePayload
	MessageExtension             *MessageExtension
}

// ParseRequestMessage decodes a TTLV-encoded request message with the
// default ttlv limits. Errors are *Error; a TTLV decoding failure has Reason
// ResultReasonInvalidMessage and wraps the *ttlv.DecodeError.
func ParseRequestMessage(b []byte) (*RequestMessage, error) {
	it, err := ttlv.Decode(b)
	if err != nil {
		return nil, errorf(ResultReasonInvalidMessage, err, "malformed TTLV")
	}
	return RequestMessageFromTTLV(it)
}

// RequestMessageFromTTLV converts a decoded item into a RequestMessage.
func RequestMessageFromTTLV(it ttlv.Item) (*RequestMessage, error) {
	if it.Tag != TagRequestMessage {
		return nil, errorf(ResultReasonInvalidMessage, ErrUnknownField, "top-level item is %s, want RequestMessage", TagString(it.Tag))
	}
	r, err := newReader(it)
	if err != nil {
		return nil, err
	}
	m := new(RequestMessage)
	m.Header.decode(r.reqStruct(TagRequestHeader))
	items := r.structs(TagBatchItem)
	r.done()
	if !r.failed() && len(items) == 0 {
		r.failf(ResultReasonInvalidMessage, ErrMissingField, TagBatchItem, "")
	}
	for _, c := range items {
		if r.failed() {
			break
		}
		var bi RequestBatchItem
		bi.decode(c)
		m.BatchItems = append(m.BatchItems, bi)
	}
	if !r.failed() && int(m.Header.BatchCount) != len(m.BatchItems) {
		r.failf(ResultReasonInvalidMessage, ErrInvalidValue, TagBatchCount, "%d, but %d batch items", m.Header.BatchCount, len(m.BatchItems))
	}
	if *r.err != nil {
		return nil, *r.err
	}
	return m, nil
}

func (bi *RequestBatchItem) decode(r *reader) {
	bi.Operation = reqEnum[Operation](r, TagOperation)
	bi.UniqueBatchItemID = r.optBytes(TagUniqueBatchItemID)
	p := r.reqStruct(TagRequestPayload)
	if r.failed() {
		return
	}
	bi.Payload = newRequestPayload(bi.Operation)
	if bi.Payload == nil {
		r.fail(errorf(ResultReasonOperationNotSupported, ErrUnknownOperation, "operation %s", bi.Operation))
		return
	}
	bi.Payload.decode(p)
	p.done()
	if c := r.optStruct(TagMessageExtension); c != nil {
		bi.MessageExtension = new(MessageExtension)
		bi.MessageExtension.decode(c)
	}
	r.done()
}

// ToTTLV returns the message as a TTLV item. It does not validate: fields
// are written as they are (a nil Payload is written as an empty payload).
func (m *RequestMessage) ToTTLV() ttlv.Item {
	var b builder
	b.sub(TagRequestHeader, m.Header.encode)
	for i := range m.BatchItems {
		bi := &m.BatchItems[i]
		b.sub(TagBatchItem, func(b *builder) {
			b.enum(TagOperation, uint32(bi.Operation))
			b.optBytes(TagUniqueBatchItemID, bi.UniqueBatchItemID)
			b.sub(TagRequestPayload, func(b *builder) {
				if bi.Payload != nil {
					bi.Payload.encode(b)
				}
			})
			if bi.MessageExtension != nil {
				b.sub(TagMessageExtension, bi.MessageExtension.encode)
			}
		})
	}
	return b.structure(TagRequestMessage)
}

// Encode returns the TTLV encoding of m.
func (m *RequestMessage) Encode() ([]byte, error) { return ttlv.Encode(m.ToTTLV()) }

// ParseResponseMessage decodes a TTLV-encoded response message with the
// default ttlv limits. Errors are *Error.
func ParseResponseMessage(b []byte) (*ResponseMessage, error) {
	it, err := ttlv.Decode(b)
	if err != nil {
		return nil, errorf(ResultReasonInvalidMessage, err, "malformed TTLV")
	}
	return ResponseMessageFromTTLV(it)
}

// ResponseMessageFromTTLV converts a decoded item into a ResponseMessage.
func ResponseMessageFromTTLV(it ttlv.Item) (*ResponseMessage, error) {
	if it.Tag != TagResponseMessage {
		return nil, errorf(ResultReasonInvalidMessage, ErrUnknownField, "top-level item is %s, want ResponseMessage", TagString(it.Tag))
	}
	r, err := newReader(it)
	if err != nil {
		return nil, err
	}
	m := new(ResponseMessage)
	m.Header.decode(r.reqStruct(TagResponseHeader))
	items := r.structs(TagBatchItem)
	r.done()
	if !r.failed() && len(items) == 0 {
		r.failf(ResultReasonInvalidMessage, ErrMissingField, TagBatchItem, "")
	}
	for _, c := range items {
		if r.failed() {
			break
		}
		var bi ResponseBatchItem
		bi.decode(c)
		m.BatchItems = append(m.BatchItems, bi)
	}
	if !r.failed() && int(m.Header.BatchCount) != len(m.BatchItems) {
		r.failf(ResultReasonInvalidMessage, ErrInvalidValue, TagBatchCount, "%d, but %d batch items", m.Header.BatchCount, len(m.BatchItems))
	}
	if *r.err != nil {
		return nil, *r.err
	}
	return m, nil
}

func (bi *ResponseBatchItem) decode(r *reader) {
	if op := optEnum[Operation](r, TagOperation); op != nil {
		bi.Operation = *op
		if *op == 0 {
			r.failf(ResultReasonInvalidField, ErrInvalidValue, TagOperation, "zero")
		}
	}
	bi.UniqueBatchItemID = r.optBytes(TagUniqueBatchItemID)
	bi.ResultStatus = reqEnum[ResultStatus](r, TagResultStatus)
	bi.ResultReason = optEnum[ResultReason](r, TagResultReason)
	bi.ResultMessage = r.optText(TagResultMessage)
	bi.AsynchronousCorrelationValue = r.optBytes(TagAsynchronousCorrelationValue)
	if p := r.optStruct(TagResponsePayload); p != nil {
		if r.failed() {
			return
		}
		bi.Payload = newResponsePayload(bi.Operation)
		if bi.Payload == nil {
			r.fail(errorf(ResultReasonOperationNotSupported, ErrUnknownOperation, "operation %s", bi.Operation))
			return
		}
		bi.Payload.decode(p)
		p.done()
	}
	if c := r.optStruct(TagMessageExtension); c != nil {
		bi.MessageExtension = new(MessageExtension)
		bi.MessageExtension.decode(c)
	}
	r.done()
}

// ToTTLV returns the message as a TTLV item, writing fields as they are.
func (m *ResponseMessage) ToTTLV() ttlv.Item {
	var b builder
	b.sub(TagResponseHeader, m.Header.encode)
	for i := range m.BatchItems {
		bi := &m.BatchItems[i]
		b.sub(TagBatchItem, func(b *builder) {
			if bi.Operation != 0 {
				b.enum(TagOperation, uint32(bi.Operation))
			}
			b.optBytes(TagUniqueBatchItemID, bi.UniqueBatchItemID)
			b.enum(TagResultStatus, uint32(bi.ResultStatus))
			optEnumB(b, TagResultReason, bi.ResultReason)
			b.optText(TagResultMessage, bi.ResultMessage)
			b.optBytes(TagAsynchronousCorrelationValue, bi.AsynchronousCorrelationValue)
			if bi.Payload != nil {
				b.sub(TagResponsePayload, bi.Payload.encode)
			}
			if bi.MessageExtension != nil {
				b.sub(TagMessageExtension, bi.MessageExtension.encode)
			}
		})
	}
	return b.structure(TagResponseMessage)
}

// Encode returns the TTLV encoding of m.
func (m *ResponseMessage) Encode() ([]byte, error) { return ttlv.Encode(m.ToTTLV()) }
