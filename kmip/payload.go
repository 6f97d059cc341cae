package kmip

// RequestPayload is the typed Request Payload of a batch item. The concrete
// type is *<Operation>Request, for example *CreateRequest or
// *GetAttributesRequest; Operation returns the operation it belongs to.
type RequestPayload interface {
	Operation() Operation
	decode(r *reader)
	encode(b *builder)
}

// ResponsePayload is the typed Response Payload of a batch item: the
// concrete type is *<Operation>Response. A Poll is answered with the payload
// of the polled operation, so PollResponse is empty.
type ResponsePayload interface {
	Operation() Operation
	decode(r *reader)
	encode(b *builder)
}

// newRequestPayload returns an empty request payload for op, or nil if op
// has no payload model (KMIP 1.2+ operations, unknown values).
func newRequestPayload(op Operation) RequestPayload {
	switch op {
	case OperationCreate:
		return new(CreateRequest)
	case OperationCreateKeyPair:
		return new(CreateKeyPairRequest)
	case OperationRegister:
		return new(RegisterRequest)
	case OperationReKey:
		return new(ReKeyRequest)
	case OperationDeriveKey:
		return new(DeriveKeyRequest)
	case OperationCertify:
		return new(CertifyRequest)
	case OperationReCertify:
		return new(ReCertifyRequest)
	case OperationLocate:
		return new(LocateRequest)
	case OperationCheck:
		return new(CheckRequest)
	case OperationGet:
		return new(GetRequest)
	case OperationGetAttributes:
		return new(GetAttributesRequest)
	case OperationGetAttributeList:
		return new(GetAttributeListRequest)
	case OperationAddAttribute:
		return new(AddAttributeRequest)
	case OperationModifyAttribute:
		return new(ModifyAttributeRequest)
	case OperationDeleteAttribute:
		return new(DeleteAttributeRequest)
	case OperationObtainLease:
		return new(ObtainLeaseRequest)
	case OperationGetUsageAllocation:
		return new(GetUsageAllocationRequest)
	case OperationActivate:
		return new(ActivateRequest)
	case OperationRevoke:
		return new(RevokeRequest)
	case OperationDestroy:
		return new(DestroyRequest)
	case OperationArchive:
		return new(ArchiveRequest)
	case OperationRecover:
		return new(RecoverRequest)
	case OperationValidate:
		return new(ValidateRequest)
	case OperationQuery:
		return new(QueryRequest)
	case OperationCancel:
		return new(CancelRequest)
	case OperationPoll:
		return new(PollRequest)
	case OperationNotify:
		return new(NotifyRequest)
	case OperationPut:
		return new(PutRequest)
	case OperationReKeyKeyPair:
		return new(ReKeyKeyPairRequest)
	case OperationDiscoverVersions:
		return new(DiscoverVersionsRequest)
	}
	return nil
}

// newResponsePayload returns an empty response payload for op, or nil.
func newResponsePayload(op Operation) ResponsePayload {
	switch op {
	case OperationCreate:
		return new(CreateResponse)
	case OperationCreateKeyPair:
		return new(CreateKeyPairResponse)
	case OperationRegister:
		return new(RegisterResponse)
	case OperationReKey:
		return new(ReKeyResponse)
	case OperationDeriveKey:
		return new(DeriveKeyResponse)
	case OperationCertify:
		return new(CertifyResponse)
	case OperationReCertify:
		return new(ReCertifyResponse)
	case OperationLocate:
		return new(LocateResponse)
	case OperationCheck:
		return new(CheckResponse)
	case OperationGet:
		return new(GetResponse)
	case OperationGetAttributes:
		return new(GetAttributesResponse)
	case OperationGetAttributeList:
		return new(GetAttributeListResponse)
	case OperationAddAttribute:
		return new(AddAttributeResponse)
	case OperationModifyAttribute:
		return new(ModifyAttributeResponse)
	case OperationDeleteAttribute:
		return new(DeleteAttributeResponse)
	case OperationObtainLease:
		return new(ObtainLeaseResponse)
	case OperationGetUsageAllocation:
		return new(GetUsageAllocationResponse)
	case OperationActivate:
		return new(ActivateResponse)
	case OperationRevoke:
		return new(RevokeResponse)
	case OperationDestroy:
		return new(DestroyResponse)
	case OperationArchive:
		return new(ArchiveResponse)
	case OperationRecover:
		return new(RecoverResponse)
	case OperationValidate:
		return new(ValidateResponse)
	case OperationQuery:
		return new(QueryResponse)
	case OperationCancel:
		return new(CancelResponse)
	case OperationPoll:
		return new(PollResponse)
	case OperationNotify:
		return new(NotifyResponse)
	case OperationPut:
		return new(PutResponse)
	case OperationReKeyKeyPair:
		return new(ReKeyKeyPairResponse)
	case OperationDiscoverVersions:
		return new(DiscoverVersionsResponse)
	}
	return nil
}
