package kmip

import "time"

// LocateRequest is the Locate request payload [S 4.9].
type LocateRequest struct {
	MaximumItems      *int32
	StorageStatusMask *StorageStatusMask
	ObjectGroupMember *ObjectGroupMember
	Attributes        []Attribute
}

func (*LocateRequest) Operation() Operation { return OperationLocate }
func (p *LocateRequest) decode(r *reader) {
	p.MaximumItems = r.optInt(TagMaximumItems)
	p.StorageStatusMask = optMask[StorageStatusMask](r, TagStorageStatusMask)
	p.ObjectGroupMember = optEnum[ObjectGroupMember](r, TagObjectGroupMember)
	p.Attributes = decodeAttributes(r, TagAttribute)
}
func (p *LocateRequest) encode(b *builder) {
	b.optInt(TagMaximumItems, p.MaximumItems)
	optMaskB(b, TagStorageStatusMask, p.StorageStatusMask)
	optEnumB(b, TagObjectGroupMember, p.ObjectGroupMember)
	encodeAttributes(b, TagAttribute, p.Attributes)
}

// LocateResponse is the Locate response payload [S 4.9].
type LocateResponse struct {
	UniqueIdentifiers []string
}

func (*LocateResponse) Operation() Operation { return OperationLocate }
func (p *LocateResponse) decode(r *reader)   { p.UniqueIdentifiers = r.texts(TagUniqueIdentifier) }
func (p *LocateResponse) encode(b *builder) {
	b.texts(TagUniqueIdentifier, p.UniqueIdentifiers)
}

// CheckRequest is the Check request payload [S 4.10].
type CheckRequest struct {
	UniqueIdentifier       string // "" means absent (ID Placeholder)
	UsageLimitsCount       *int64
	CryptographicUsageMask *CryptographicUsageMask
	LeaseTime              *uint32
}

func (*CheckRequest) Operation() Operation { return OperationCheck }
func (p *CheckRequest) decode(r *reader) {
	p.UniqueIdentifier = r.uid(TagUniqueIdentifier, false)
	p.UsageLimitsCount = r.optLong(TagUsageLimitsCount)
	p.CryptographicUsageMask = optMask[CryptographicUsageMask](r, TagCryptographicUsageMask)
	p.LeaseTime = r.optInterval(TagLeaseTime)
}
func (p *CheckRequest) encode(b *builder) {
	b.uid(TagUniqueIdentifier, p.UniqueIdentifier)
	b.optLong(TagUsageLimitsCount, p.UsageLimitsCount)
	optMaskB(b, TagCryptographicUsageMask, p.CryptographicUsageMask)
	b.optInterval(TagLeaseTime, p.LeaseTime)
}

// CheckResponse is the Check response payload [S 4.10].
type CheckResponse struct {
	UniqueIdentifier       string
	UsageLimitsCount       *int64
	CryptographicUsageMask *CryptographicUsageMask
	LeaseTime              *uint32
}

func (*CheckResponse) Operation() Operation { return OperationCheck }
func (p *CheckResponse) decode(r *reader) {
	p.UniqueIdentifier = r.reqText(TagUniqueIdentifier)
	p.UsageLimitsCount = r.optLong(TagUsageLimitsCount)
	p.CryptographicUsageMask = optMask[CryptographicUsageMask](r, TagCryptographicUsageMask)
	p.LeaseTime = r.optInterval(TagLeaseTime)
}
func (p *CheckResponse) encode(b *builder) {
	b.text(TagUniqueIdentifier, p.UniqueIdentifier)
	b.optLong(TagUsageLimitsCount, p.UsageLimitsCount)
	optMaskB(b, TagCryptographicUsageMask, p.CryptographicUsageMask)
	b.optInterval(TagLeaseTime, p.LeaseTime)
}

// GetRequest is the Get request payload [S 4.11].
type GetRequest struct {
	UniqueIdentifier         string // "" means absent (ID Placeholder)
	KeyFormatType            *KeyFormatType
	KeyCompressionType       *KeyCompressionType
	KeyWrappingSpecification *KeyWrappingSpecification
}

func (*GetRequest) Operation() Operation { return OperationGet }
func (p *GetRequest) decode(r *reader) {
	p.UniqueIdentifier = r.uid(TagUniqueIdentifier, false)
	p.KeyFormatType = optEnum[KeyFormatType](r, TagKeyFormatType)
	p.KeyCompressionType = optEnum[KeyCompressionType](r, TagKeyCompressionType)
	if c := r.optStruct(TagKeyWrappingSpecification); c != nil {
		p.KeyWrappingSpecification = new(KeyWrappingSpecification)
		p.KeyWrappingSpecification.decode(c)
	}
}
func (p *GetRequest) encode(b *builder) {
	b.uid(TagUniqueIdentifier, p.UniqueIdentifier)
	optEnumB(b, TagKeyFormatType, p.KeyFormatType)
	optEnumB(b, TagKeyCompressionType, p.KeyCompressionType)
	if p.KeyWrappingSpecification != nil {
		b.sub(TagKeyWrappingSpecification, p.KeyWrappingSpecification.encode)
	}
}

// GetResponse is the Get response payload [S 4.11]. Object's type matches
// ObjectType.
type GetResponse struct {
	ObjectType       ObjectType
	UniqueIdentifier string
	Object           Object
}

func (*GetResponse) Operation() Operation { return OperationGet }
func (p *GetResponse) decode(r *reader) {
	p.ObjectType = reqEnum[ObjectType](r, TagObjectType)
	p.UniqueIdentifier = r.reqText(TagUniqueIdentifier)
	p.Object = readObject(r, p.ObjectType, false)
}
func (p *GetResponse) encode(b *builder) {
	b.enum(TagObjectType, uint32(p.ObjectType))
	b.text(TagUniqueIdentifier, p.UniqueIdentifier)
	writeObject(b, p.Object)
}

// GetAttributesRequest is the Get Attributes request payload [S 4.12]. No
// AttributeNames means all attributes.
type GetAttributesRequest struct {
	UniqueIdentifier string // "" means absent (ID Placeholder)
	AttributeNames   []string
}

func (*GetAttributesRequest) Operation() Operation { return OperationGetAttributes }
func (p *GetAttributesRequest) decode(r *reader) {
	p.UniqueIdentifier = r.uid(TagUniqueIdentifier, false)
	p.AttributeNames = r.texts(TagAttributeName)
}
func (p *GetAttributesRequest) encode(b *builder) {
	b.uid(TagUniqueIdentifier, p.UniqueIdentifier)
	b.texts(TagAttributeName, p.AttributeNames)
}

// GetAttributesResponse is the Get Attributes response payload [S 4.12].
type GetAttributesResponse struct {
	UniqueIdentifier string
	Attributes       []Attribute
}

func (*GetAttributesResponse) Operation() Operation { return OperationGetAttributes }
func (p *GetAttributesResponse) decode(r *reader) {
	p.UniqueIdentifier = r.reqText(TagUniqueIdentifier)
	p.Attributes = decodeAttributes(r, TagAttribute)
}
func (p *GetAttributesResponse) encode(b *builder) {
	b.text(TagUniqueIdentifier, p.UniqueIdentifier)
	encodeAttributes(b, TagAttribute, p.Attributes)
}

// GetAttributeListRequest is the Get Attribute List request payload [S 4.13].
type GetAttributeListRequest struct {
	UniqueIdentifier string // "" means absent (ID Placeholder)
}

func (*GetAttributeListRequest) Operation() Operation { return OperationGetAttributeList }
func (p *GetAttributeListRequest) decode(r *reader) {
	p.UniqueIdentifier = r.uid(TagUniqueIdentifier, false)
}
func (p *GetAttributeListRequest) encode(b *builder) { b.uid(TagUniqueIdentifier, p.UniqueIdentifier) }

// GetAttributeListResponse is the Get Attribute List response payload [S 4.13].
type GetAttributeListResponse struct {
	UniqueIdentifier string
	AttributeNames   []string
}

func (*GetAttributeListResponse) Operation() Operation { return OperationGetAttributeList }
func (p *GetAttributeListResponse) decode(r *reader) {
	p.UniqueIdentifier = r.reqText(TagUniqueIdentifier)
	p.AttributeNames = r.texts(TagAttributeName)
}
func (p *GetAttributeListResponse) encode(b *builder) {
	b.text(TagUniqueIdentifier, p.UniqueIdentifier)
	b.texts(TagAttributeName, p.AttributeNames)
}

// AddAttributeRequest is the Add Attribute request payload [S 4.14].
type AddAttributeRequest struct {
	UniqueIdentifier string // "" means absent (ID Placeholder)
	Attribute        Attribute
}

func (*AddAttributeRequest) Operation() Operation { return OperationAddAttribute }
func (p *AddAttributeRequest) decode(r *reader) {
	p.UniqueIdentifier = r.uid(TagUniqueIdentifier, false)
	p.Attribute.decode(r.reqStruct(TagAttribute))
}
func (p *AddAttributeRequest) encode(b *builder) {
	b.uid(TagUniqueIdentifier, p.UniqueIdentifier)
	b.sub(TagAttribute, p.Attribute.encode)
}

// AddAttributeResponse is the Add Attribute response payload [S 4.14].
type AddAttributeResponse struct {
	UniqueIdentifier string
	Attribute        Attribute
}

func (*AddAttributeResponse) Operation() Operation { return OperationAddAttribute }
func (p *AddAttributeResponse) decode(r *reader) {
	p.UniqueIdentifier = r.reqText(TagUniqueIdentifier)
	p.Attribute.decode(r.reqStruct(TagAttribute))
}
func (p *AddAttributeResponse) encode(b *builder) {
	b.text(TagUniqueIdentifier, p.UniqueIdentifier)
	b.sub(TagAttribute, p.Attribute.encode)
}

// ModifyAttributeRequest is the Modify Attribute request payload [S 4.15].
type ModifyAttributeRequest struct {
	UniqueIdentifier string // "" means absent (ID Placeholder)
	Attribute        Attribute
}

func (*ModifyAttributeRequest) Operation() Operation { return OperationModifyAttribute }
func (p *ModifyAttributeRequest) decode(r *reader) {
	p.UniqueIdentifier = r.uid(TagUniqueIdentifier, false)
	p.Attribute.decode(r.reqStruct(TagAttribute))
}
func (p *ModifyAttributeRequest) encode(b *builder) {
	b.uid(TagUniqueIdentifier, p.UniqueIdentifier)
	b.sub(TagAttribute, p.Attribute.encode)
}

// ModifyAttributeResponse is the Modify Attribute response payload [S 4.15].
type ModifyAttributeResponse struct {
	UniqueIdentifier string
	Attribute        Attribute
}

func (*ModifyAttributeResponse) Operation() Operation { return OperationModifyAttribute }
func (p *ModifyAttributeResponse) decode(r *reader) {
	p.UniqueIdentifier = r.reqText(TagUniqueIdentifier)
	p.Attribute.decode(r.reqStruct(TagAttribute))
}
func (p *ModifyAttributeResponse) encode(b *builder) {
	b.text(TagUniqueIdentifier, p.UniqueIdentifier)
	b.sub(TagAttribute, p.Attribute.encode)
}

// DeleteAttributeRequest is the Delete Attribute request payload [S 4.16].
type DeleteAttributeRequest struct {
	UniqueIdentifier string // "" means absent (ID Placeholder)
	AttributeName    string
	AttributeIndex   *int32
}

func (*DeleteAttributeRequest) Operation() Operation { return OperationDeleteAttribute }
func (p *DeleteAttributeRequest) decode(r *reader) {
	p.UniqueIdentifier = r.uid(TagUniqueIdentifier, false)
	p.AttributeName = r.reqText(TagAttributeName)
	p.AttributeIndex = r.optInt(TagAttributeIndex)
	if p.AttributeIndex != nil && *p.AttributeIndex < 0 {
		r.failf(ResultReasonInvalidField, ErrInvalidValue, TagAttributeIndex, "negative")
	}
}
func (p *DeleteAttributeRequest) encode(b *builder) {
	b.uid(TagUniqueIdentifier, p.UniqueIdentifier)
	b.text(TagAttributeName, p.AttributeName)
	b.optInt(TagAttributeIndex, p.AttributeIndex)
}

// DeleteAttributeResponse is the Delete Attribute response payload [S 4.16].
type DeleteAttributeResponse struct {
	UniqueIdentifier string
	Attribute        Attribute
}

func (*DeleteAttributeResponse) Operation() Operation { return OperationDeleteAttribute }
func (p *DeleteAttributeResponse) decode(r *reader) {
	p.UniqueIdentifier = r.reqText(TagUniqueIdentifier)
	p.Attribute.decode(r.reqStruct(TagAttribute))
}
func (p *DeleteAttributeResponse) encode(b *builder) {
	b.text(TagUniqueIdentifier, p.UniqueIdentifier)
	b.sub(TagAttribute, p.Attribute.encode)
}

// ObtainLeaseRequest is the Obtain Lease request payload [S 4.17].
type ObtainLeaseRequest struct {
	UniqueIdentifier string // "" means absent (ID Placeholder)
}

func (*ObtainLeaseRequest) Operation() Operation { return OperationObtainLease }
func (p *ObtainLeaseRequest) decode(r *reader) {
	p.UniqueIdentifier = r.uid(TagUniqueIdentifier, false)
}
func (p *ObtainLeaseRequest) encode(b *builder) { b.uid(TagUniqueIdentifier, p.UniqueIdentifier) }

// ObtainLeaseResponse is the Obtain Lease response payload [S 4.17].
type ObtainLeaseResponse struct {
	UniqueIdentifier string
	LeaseTime        uint32
	LastChangeDate   time.Time
}

func (*ObtainLeaseResponse) Operation() Operation { return OperationObtainLease }
func (p *ObtainLeaseResponse) decode(r *reader) {
	p.UniqueIdentifier = r.reqText(TagUniqueIdentifier)
	p.LeaseTime = r.reqInterval(TagLeaseTime)
	p.LastChangeDate = r.reqTime(TagLastChangeDate)
}
func (p *ObtainLeaseResponse) encode(b *builder) {
	b.text(TagUniqueIdentifier, p.UniqueIdentifier)
	b.interval(TagLeaseTime, p.LeaseTime)
	b.time(TagLastChangeDate, p.LastChangeDate)
}

// GetUsageAllocationRequest is the Get Usage Allocation request payload [S 4.18].
type GetUsageAllocationRequest struct {
	UniqueIdentifier string // "" means absent (ID Placeholder)
	UsageLimitsCount int64
}

func (*GetUsageAllocationRequest) Operation() Operation { return OperationGetUsageAllocation }
func (p *GetUsageAllocationRequest) decode(r *reader) {
	p.UniqueIdentifier = r.uid(TagUniqueIdentifier, false)
	p.UsageLimitsCount = r.reqLong(TagUsageLimitsCount)
}
func (p *GetUsageAllocationRequest) encode(b *builder) {
	b.uid(TagUniqueIdentifier, p.UniqueIdentifier)
	b.long(TagUsageLimitsCount, p.UsageLimitsCount)
}

// GetUsageAllocationResponse is the Get Usage Allocation response payload [S 4.18].
type GetUsageAllocationResponse struct {
	UniqueIdentifier string
}

func (*GetUsageAllocationResponse) Operation() Operation { return OperationGetUsageAllocation }
func (p *GetUsageAllocationResponse) decode(r *reader) {
	p.UniqueIdentifier = r.reqText(TagUniqueIdentifier)
}
func (p *GetUsageAllocationResponse) encode(b *builder) {
	b.text(TagUniqueIdentifier, p.UniqueIdentifier)
}
