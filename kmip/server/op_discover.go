package server

import (
	"github.com/cofferhsm/coffer/kmip"
	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// implemented lists the operations Query Operations reports, in
// numeric order: every client-to-server operation this layer runs.
var implemented = []kmip.Operation{
	kmip.OperationCreate, kmip.OperationCreateKeyPair, kmip.OperationRegister, kmip.OperationReKey,
	kmip.OperationLocate, kmip.OperationCheck, kmip.OperationGet, kmip.OperationGetAttributes,
	kmip.OperationGetAttributeList, kmip.OperationAddAttribute, kmip.OperationModifyAttribute,
	kmip.OperationDeleteAttribute, kmip.OperationObtainLease, kmip.OperationGetUsageAllocation,
	kmip.OperationActivate, kmip.OperationRevoke, kmip.OperationDestroy, kmip.OperationQuery,
	kmip.OperationReKeyKeyPair, kmip.OperationDiscoverVersions,
}

// objectTypes lists the object types Query Objects reports (those the core
// stores; Split Key is not).
var objectTypes = []kmip.ObjectType{
	kmip.ObjectTypeCertificate, kmip.ObjectTypeSymmetricKey, kmip.ObjectTypePublicKey,
	kmip.ObjectTypePrivateKey, kmip.ObjectTypeTemplate, kmip.ObjectTypeSecretData,
	kmip.ObjectTypeOpaqueObject,
}

// discoverVersions answers Discover Versions [S 4.26]: with no versions in
// the request, every supported version in the server's preference order;
// otherwise those of the client's versions that are supported, in the
// server's preference order (empty when none is).
func (o *Ops) discoverVersions(p *kmip.DiscoverVersionsRequest) *kmip.DiscoverVersionsResponse {
	resp := &kmip.DiscoverVersionsResponse{}
	if len(p.ProtocolVersions) == 0 {
		resp.ProtocolVersions = append(resp.ProtocolVersions, o.versions...)
		return resp
	}
	for _, v := range o.versions {
		for _, c := range p.ProtocolVersions {
			if c == v {
				resp.ProtocolVersions = append(resp.ProtocolVersions, v)
				break
			}
		}
	}
	return resp
}

// query answers Query [S 4.25] for the KMIP 1.1 Query Functions; functions
// of later versions add nothing. Coffer defines no Application Namespaces
// and no vendor extensions, so those lists are empty.
func (o *Ops) query(p *kmip.QueryRequest) (kmip.ResponsePayload, string, error) {
	resp := &kmip.QueryResponse{}
	for _, f := range p.QueryFunctions {
		switch f {
		case kmip.QueryFunctionQueryOperations:
			resp.Operations = append([]kmip.Operation(nil), implemented...)
		case kmip.QueryFunctionQueryObjects:
			resp.ObjectTypes = append([]kmip.ObjectType(nil), objectTypes...)
		case kmip.QueryFunctionQueryServerInformation:
			v := o.vendor
			resp.VendorIdentification = &v
			si := ttlv.Struct(kmip.TagServerInformation)
			resp.ServerInformation = &si
		case kmip.QueryFunctionQueryApplicationNamespaces, kmip.QueryFunctionQueryExtensionList,
			kmip.QueryFunctionQueryExtensionMap:
			// Nothing to list.
		}
	}
	return resp, "", nil
}
