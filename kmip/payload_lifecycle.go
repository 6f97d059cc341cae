package kmip

import (
	"time"

	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// ActivateRequest is the Activate request payload [S 4.19].
type ActivateRequest struct {
	UniqueIdentifier string // "" means absent (ID Placeholder)
}

func (*ActivateRequest) Operation() Operation { return OperationActivate }
func (p *ActivateRequest) decode(r *reader) {
	p.UniqueIdentifier = r.uid(TagUniqueIdentifier, false)
}
func (p *ActivateRequest) encode(b *builder) { b.uid(TagUniqueIdentifier, p.UniqueIdentifier) }

// ActivateResponse is the Activate response payload [S 4.19].
type ActivateResponse struct {
	UniqueIdentifier string
}

func (*ActivateResponse) Operation() Operation { return OperationActivate }
func (p *ActivateResponse) decode(r *reader) {
	p.UniqueIdentifier = r.reqText(TagUniqueIdentifier)
}
func (p *ActivateResponse) encode(b *builder) { b.text(TagUniqueIdentifier, p.UniqueIdentifier) }

// DestroyRequest is the Destroy request payload [S 4.21].
type DestroyRequest struct {
	UniqueIdentifier string // "" means absent (ID Placeholder)
}

func (*DestroyRequest) Operation() Operation { return OperationDestroy }
func (p *DestroyRequest) decode(r *reader) {
	p.UniqueIdentifier = r.uid(TagUniqueIdentifier, false)
}
func (p *DestroyRequest) encode(b *builder) { b.uid(TagUniqueIdentifier, p.UniqueIdentifier) }

// DestroyResponse is the Destroy response payload [S 4.21].
type DestroyResponse struct {
	UniqueIdentifier string
}

func (*DestroyResponse) Operation() Operation { return OperationDestroy }
func (p *DestroyResponse) decode(r *reader) {
	p.UniqueIdentifier = r.reqText(TagUniqueIdentifier)
}
func (p *DestroyResponse) encode(b *builder) { b.text(TagUniqueIdentifier, p.UniqueIdentifier) }

// ArchiveRequest is the Archive request payload [S 4.22].
type ArchiveRequest struct {
	UniqueIdentifier string // "" means absent (ID Placeholder)
}

func (*ArchiveRequest) Operation() Operation { return OperationArchive }
func (p *ArchiveRequest) decode(r *reader) {
	p.UniqueIdentifier = r.uid(TagUniqueIdentifier, false)
}
func (p *ArchiveRequest) encode(b *builder) { b.uid(TagUniqueIdentifier, p.UniqueIdentifier) }

// ArchiveResponse is the Archive response payload [S 4.22].
type ArchiveResponse struct {
	UniqueIdentifier string
}

func (*ArchiveResponse) Operation() Operation { return OperationArchive }
func (p *ArchiveResponse) decode(r *reader) {
	p.UniqueIdentifier = r.reqText(TagUniqueIdentifier)
}
func (p *ArchiveResponse) encode(b *builder) { b.text(TagUniqueIdentifier, p.UniqueIdentifier) }

// RecoverRequest is the Recover request payload [S 4.23].
type RecoverRequest struct {
	UniqueIdentifier string // "" means absent (ID Placeholder)
}

func (*RecoverRequest) Operation() Operation { return OperationRecover }
func (p *RecoverRequest) decode(r *reader) {
	p.UniqueIdentifier = r.uid(TagUniqueIdentifier, false)
}
func (p *RecoverRequest) encode(b *builder) { b.uid(TagUniqueIdentifier, p.UniqueIdentifier) }

// RecoverResponse is the Recover response payload [S 4.23].
type RecoverResponse struct {
	UniqueIdentifier string
}

func (*RecoverResponse) Operation() Operation { return OperationRecover }
func (p *RecoverResponse) decode(r *reader) {
	p.UniqueIdentifier = r.reqText(TagUniqueIdentifier)
}
func (p *RecoverResponse) encode(b *builder) { b.text(TagUniqueIdentifier, p.UniqueIdentifier) }

// RevokeRequest is the Revoke request payload [S 4.20].
type RevokeRequest struct {
	UniqueIdentifier         string // "" means absent (ID Placeholder)
	RevocationReason         RevocationReason
	CompromiseOccurrenceDate *time.Time
}

func (*RevokeRequest) Operation() Operation { return OperationRevoke }
func (p *RevokeRequest) decode(r *reader) {
	p.UniqueIdentifier = r.uid(TagUniqueIdentifier, false)
	c := r.reqStruct(TagRevocationReason)
	p.RevocationReason.decode(c)
	c.done()
	p.CompromiseOccurrenceDate = r.optTime(TagCompromiseOccurrenceDate)
}
func (p *RevokeRequest) encode(b *builder) {
	b.uid(TagUniqueIdentifier, p.UniqueIdentifier)
	b.sub(TagRevocationReason, p.RevocationReason.encode)
	b.optTime(TagCompromiseOccurrenceDate, p.CompromiseOccurrenceDate)
}

// RevokeResponse is the Revoke response payload [S 4.20].
type RevokeResponse struct {
	UniqueIdentifier string
}

func (*RevokeResponse) Operation() Operation { return OperationRevoke }
func (p *RevokeResponse) decode(r *reader) {
	p.UniqueIdentifier = r.reqText(TagUniqueIdentifier)
}
func (p *RevokeResponse) encode(b *builder) { b.text(TagUniqueIdentifier, p.UniqueIdentifier) }

// ValidateRequest is the Validate request payload [S 4.24].
type ValidateRequest struct {
	Certificates      []Certificate
	UniqueIdentifiers []string
	ValidityDate      *time.Time
}

func (*ValidateRequest) Operation() Operation { return OperationValidate }
func (p *ValidateRequest) decode(r *reader) {
	for _, c := range r.structs(TagCertificate) {
		var cert Certificate
		cert.decode(c)
		c.done()
		p.Certificates = append(p.Certificates, cert)
	}
	p.UniqueIdentifiers = r.uids(TagUniqueIdentifier)
	p.ValidityDate = r.optTime(TagValidityDate)
}
func (p *ValidateRequest) encode(b *builder) {
	for i := range p.Certificates {
		b.sub(TagCertificate, p.Certificates[i].encode)
	}
	b.texts(TagUniqueIdentifier, p.UniqueIdentifiers)
	b.optTime(TagValidityDate, p.ValidityDate)
}

// ValidateResponse is the Validate response payload [S 4.24].
type ValidateResponse struct {
	ValidityIndicator ValidityIndicator
}

func (*ValidateResponse) Operation() Operation { return OperationValidate }
func (p *ValidateResponse) decode(r *reader) {
	p.ValidityIndicator = reqEnum[ValidityIndicator](r, TagValidityIndicator)
}
func (p *ValidateResponse) encode(b *builder) {
	b.enum(TagValidityIndicator, uint32(p.ValidityIndicator))
}

// QueryRequest is the Query request payload [S 4.25].
type QueryRequest struct {
	QueryFunctions []QueryFunction
}

func (*QueryRequest) Operation() Operation { return OperationQuery }
func (p *QueryRequest) decode(r *reader) {
	p.QueryFunctions = enums[QueryFunction](r, TagQueryFunction)
}
func (p *QueryRequest) encode(b *builder) { enumsB(b, TagQueryFunction, p.QueryFunctions) }

// ExtensionInformation describes one vendor extension [S 2.1.9].
type ExtensionInformation struct {
	ExtensionName string
	ExtensionTag  *int32
	ExtensionType *int32
}

func (e *ExtensionInformation) decode(r *reader) {
	e.ExtensionName = r.reqText(TagExtensionName)
	e.ExtensionTag = r.optInt(TagExtensionTag)
	e.ExtensionType = r.optInt(TagExtensionType)
	r.done()
}
func (e *ExtensionInformation) encode(b *builder) {
	b.text(TagExtensionName, e.ExtensionName)
	b.optInt(TagExtensionTag, e.ExtensionTag)
	b.optInt(TagExtensionType, e.ExtensionType)
}

// QueryResponse is the Query response payload [S 4.25]. ServerInformation
// holds vendor-specific content and is kept as the raw structure (nil when
// absent).
type QueryResponse struct {
	Operations            []Operation
	ObjectTypes           []ObjectType
	VendorIdentification  *string
	ServerInformation     *ttlv.Item
	ApplicationNamespaces []string
	ExtensionInformation  []ExtensionInformation
}

func (*QueryResponse) Operation() Operation { return OperationQuery }
func (p *QueryResponse) decode(r *reader) {
	p.Operations = enums[Operation](r, TagOperation)
	p.ObjectTypes = enums[ObjectType](r, TagObjectType)
	p.VendorIdentification = r.optText(TagVendorIdentification)
	if it, ok := r.next(TagServerInformation, ttlv.TypeStructure, false, true); ok {
		p.ServerInformation = &it
	}
	p.ApplicationNamespaces = r.texts(TagApplicationNamespace)
	for _, c := range r.structs(TagExtensionInformation) {
		var e ExtensionInformation
		e.decode(c)
		p.ExtensionInformation = append(p.ExtensionInformation, e)
	}
}
func (p *QueryResponse) encode(b *builder) {
	enumsB(b, TagOperation, p.Operations)
	enumsB(b, TagObjectType, p.ObjectTypes)
	b.optText(TagVendorIdentification, p.VendorIdentification)
	if p.ServerInformation != nil {
		it := *p.ServerInformation
		it.Tag = TagServerInformation
		b.add(it)
	}
	b.texts(TagApplicationNamespace, p.ApplicationNamespaces)
	for i := range p.ExtensionInformation {
		b.sub(TagExtensionInformation, p.ExtensionInformation[i].encode)
	}
}

// CancelRequest is the Cancel request payload [S 4.26].
type CancelRequest struct {
	AsynchronousCorrelationValue []byte
}

func (*CancelRequest) Operation() Operation { return OperationCancel }
func (p *CancelRequest) decode(r *reader) {
	p.AsynchronousCorrelationValue = r.reqBytes(TagAsynchronousCorrelationValue)
}
func (p *CancelRequest) encode(b *builder) {
	b.bytes(TagAsynchronousCorrelationValue, p.AsynchronousCorrelationValue)
}

// CancelResponse is the Cancel response payload [S 4.26].
type CancelResponse struct {
	AsynchronousCorrelationValue []byte
	CancellationResult           CancellationResult
}

func (*CancelResponse) Operation() Operation { return OperationCancel }
func (p *CancelResponse) decode(r *reader) {
	p.AsynchronousCorrelationValue = r.reqBytes(TagAsynchronousCorrelationValue)
	p.CancellationResult = reqEnum[CancellationResult](r, TagCancellationResult)
}
func (p *CancelResponse) encode(b *builder) {
	b.bytes(TagAsynchronousCorrelationValue, p.AsynchronousCorrelationValue)
	b.enum(TagCancellationResult, uint32(p.CancellationResult))
}

// PollRequest is the Poll request payload [S 4.27].
type PollRequest struct {
	AsynchronousCorrelationValue []byte
}

func (*PollRequest) Operation() Operation { return OperationPoll }
func (p *PollRequest) decode(r *reader) {
	p.AsynchronousCorrelationValue = r.reqBytes(TagAsynchronousCorrelationValue)
}
func (p *PollRequest) encode(b *builder) {
	b.bytes(TagAsynchronousCorrelationValue, p.AsynchronousCorrelationValue)
}

// PollResponse is an empty payload: a completed Poll is answered with the
// polled operation's batch item (Operation and payload of that operation).
type PollResponse struct{}

func (*PollResponse) Operation() Operation { return OperationPoll }
func (*PollResponse) decode(*reader)       {}
func (*PollResponse) encode(*builder)      {}

// NotifyRequest is the Notify message payload (server to client) [S 5.1].
type NotifyRequest struct {
	UniqueIdentifier string
	Attributes       []Attribute
}

func (*NotifyRequest) Operation() Operation { return OperationNotify }
func (p *NotifyRequest) decode(r *reader) {
	p.UniqueIdentifier = r.reqText(TagUniqueIdentifier)
	p.Attributes = decodeAttributes(r, TagAttribute)
	if !r.failed() && len(p.Attributes) == 0 {
		r.failf(ResultReasonInvalidMessage, ErrMissingField, TagAttribute, "")
	}
}
func (p *NotifyRequest) encode(b *builder) {
	b.text(TagUniqueIdentifier, p.UniqueIdentifier)
	encodeAttributes(b, TagAttribute, p.Attributes)
}

// NotifyResponse is the (empty) Notify response payload [S 5.1].
type NotifyResponse struct{}

func (*NotifyResponse) Operation() Operation { return OperationNotify }
func (*NotifyResponse) decode(*reader)       {}
func (*NotifyResponse) encode(*builder)      {}

// PutRequest is the Put message payload (server to client) [S 5.2].
type PutRequest struct {
	UniqueIdentifier         string
	PutFunction              PutFunction
	ReplacedUniqueIdentifier string // "" when absent
	Object                   Object
	Attributes               []Attribute
}

func (*PutRequest) Operation() Operation { return OperationPut }
func (p *PutRequest) decode(r *reader) {
	p.UniqueIdentifier = r.reqText(TagUniqueIdentifier)
	p.PutFunction = reqEnum[PutFunction](r, TagPutFunction)
	p.ReplacedUniqueIdentifier = r.uid(TagReplacedUniqueIdentifier, false)
	p.Object = readAnyObject(r)
	p.Attributes = decodeAttributes(r, TagAttribute)
}
func (p *PutRequest) encode(b *builder) {
	b.text(TagUniqueIdentifier, p.UniqueIdentifier)
	b.enum(TagPutFunction, uint32(p.PutFunction))
	b.uid(TagReplacedUniqueIdentifier, p.ReplacedUniqueIdentifier)
	writeObject(b, p.Object)
	encodeAttributes(b, TagAttribute, p.Attributes)
}

// PutResponse is the (empty) Put response payload [S 5.2].
type PutResponse struct{}

func (*PutResponse) Operation() Operation { return OperationPut }
func (*PutResponse) decode(*reader)       {}
func (*PutResponse) encode(*builder)      {}

// DiscoverVersionsRequest is the Discover Versions request payload [S 4.28]:
// the client's versions in preference order (empty: all server versions).
type DiscoverVersionsRequest struct {
	ProtocolVersions []ProtocolVersion
}

func (*DiscoverVersionsRequest) Operation() Operation { return OperationDiscoverVersions }
func (p *DiscoverVersionsRequest) decode(r *reader) {
	p.ProtocolVersions = decodeVersions(r)
}
func (p *DiscoverVersionsRequest) encode(b *builder) { encodeVersions(b, p.ProtocolVersions) }

// DiscoverVersionsResponse is the Discover Versions response payload [S 4.28].
type DiscoverVersionsResponse struct {
	ProtocolVersions []ProtocolVersion
}

func (*DiscoverVersionsResponse) Operation() Operation { return OperationDiscoverVersions }
func (p *DiscoverVersionsResponse) decode(r *reader) {
	p.ProtocolVersions = decodeVersions(r)
}
func (p *DiscoverVersionsResponse) encode(b *builder) { encodeVersions(b, p.ProtocolVersions) }

func decodeVersions(r *reader) []ProtocolVersion {
	var out []ProtocolVersion
	for _, c := range r.structs(TagProtocolVersion) {
		var v ProtocolVersion
		v.decode(c)
		out = append(out, v)
	}
	return out
}

func encodeVersions(b *builder, vs []ProtocolVersion) {
	for _, v := range vs {
		b.sub(TagProtocolVersion, v.encode)
	}
}
