package kmip

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/kmip/ttlv"
	"github.com/google/go-cmp/cmp"
)

func ptr[T any](v T) *T { return &v }

// TestBuildCreateResponse builds the response of [TC 3.1.1] step 0 from the
// typed model and compares it with the recorded bytes.
func TestBuildCreateResponse(t *testing.T) {
	m := &ResponseMessage{
		Header: ResponseHeader{
			ProtocolVersion: ProtocolVersion{1, 1},
			TimeStamp:       time.Unix(0x4F9A54E5, 0).UTC(),
			BatchCount:      1,
		},
		BatchItems: []ResponseBatchItem{{
			Operation:    OperationCreate,
			ResultStatus: ResultStatusSuccess,
			Payload: &CreateResponse{
				ObjectType:       ObjectTypeSymmetricKey,
				UniqueIdentifier: "fb4b5b9c-6188-4c63-8142-fe9c328129fc",
			},
		}},
	}
	got, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := hex.DecodeString("42007B01000000C042007A0100000048420069010000002042006A0200000004000000010000000042006B020000000400000001000000004200920900000008000000004F9A54E542000D0200000004000000010000000042000F010000006842005C0500000004000000010000000042007F0500000004000000000000000042007C010000004042005705000000040000000200000000420094070000002466623462356239632D363138382D346336332D383134322D66653963333238313239666300000000")
	if !bytes.Equal(got, want) {
		t.Errorf("encoding differs\n got %X\nwant %X", got, want)
	}
}

// TestParseCreateRequest builds the request of [TC 3.1.1] step 0 from the
// typed model and checks the parsed view.
func TestParseCreateRequest(t *testing.T) {
	msg := &RequestMessage{
		Header: RequestHeader{ProtocolVersion: ProtocolVersion{1, 1}, BatchCount: 1},
		BatchItems: []RequestBatchItem{{
			Operation: OperationCreate,
			Payload: &CreateRequest{
				ObjectType: ObjectTypeSymmetricKey,
				TemplateAttribute: TemplateAttribute{Attributes: []Attribute{
					{Name: AttributeCryptographicAlgorithm, Value: CryptographicAlgorithmAES},
					{Name: AttributeCryptographicLength, Value: Integer(128)},
					{Name: AttributeCryptographicUsageMask, Value: CryptographicUsageMaskEncrypt | CryptographicUsageMaskDecrypt},
				}},
			},
		}},
	}
	enc, err := msg.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := hex.DecodeString(loadTC11(t)["tc11_3_1_1_create_destroy.json"].Steps[0].RequestHex)
	if !bytes.Equal(enc, want) {
		t.Errorf("encoding differs from [TC 3.1.1] step 0\n got %X\nwant %X", enc, want)
	}
	got, err := ParseRequestMessage(enc)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(msg, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	p, ok := got.BatchItems[0].Payload.(*CreateRequest)
	if !ok {
		t.Fatalf("payload is %T", got.BatchItems[0].Payload)
	}
	if m, ok := p.TemplateAttribute.Attributes[2].Value.(CryptographicUsageMask); !ok || m.String() != "Encrypt|Decrypt" {
		t.Errorf("usage mask = %v", p.TemplateAttribute.Attributes[2].Value)
	}
}

// TestAttributeValuesRoundTrip encodes and decodes one attribute of every
// modelled value type, including custom attributes of several item types.
func TestAttributeValuesRoundTrip(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	attrs := []Attribute{
		{Name: AttributeUniqueIdentifier, Value: TextString("u1")},
		{Name: AttributeName, Index: ptr(int32(1)), Value: &Name{Value: "k", Type: NameTypeUninterpretedTextString}},
		{Name: AttributeObjectType, Value: ObjectTypeSymmetricKey},
		{Name: AttributeCryptographicParameters, Value: &CryptographicParameters{BlockCipherMode: ptr(BlockCipherModeNISTKeyWrap), HashingAlgorithm: ptr(HashingAlgorithmSHA256)}},
		{Name: AttributeCryptographicDomainParameters, Value: &CryptographicDomainParameters{RecommendedCurve: ptr(RecommendedCurveP256)}},
		{Name: AttributeCertificateType, Value: CertificateTypeX509},
		{Name: AttributeCertificateLength, Value: Integer(1024)},
		{Name: AttributeX509CertificateIdentifier, Value: &X509CertificateIdentifier{IssuerDistinguishedName: []byte{1}, CertificateSerialNumber: []byte{2}}},
		{Name: AttributeX509CertificateSubject, Value: &X509CertificateSubject{SubjectDistinguishedName: []byte{3}, SubjectAlternativeNames: [][]byte{{4}, {5}}}},
		{Name: AttributeX509CertificateIssuer, Value: &X509CertificateIssuer{IssuerDistinguishedName: []byte{6}}},
		{Name: AttributeCertificateIdentifier, Value: &CertificateIdentifier{Issuer: "ca", SerialNumber: ptr("7")}},
		{Name: AttributeCertificateSubject, Value: &CertificateSubject{DistinguishedName: "CN=a", AlternativeNames: []string{"b"}}},
		{Name: AttributeCertificateIssuer, Value: &CertificateIssuer{DistinguishedName: "CN=ca"}},
		{Name: AttributeDigitalSignatureAlgorithm, Value: DigitalSignatureAlgorithmSHA256WithRSAEncryptionPKCS1V15},
		{Name: AttributeDigest, Value: &Digest{HashingAlgorithm: HashingAlgorithmSHA256, DigestValue: []byte{8}, KeyFormatType: ptr(KeyFormatTypeRaw)}},
		{Name: AttributeOperationPolicyName, Value: TextString("default")},
		{Name: AttributeLeaseTime, Value: Interval(3600)},
		{Name: AttributeUsageLimits, Value: &UsageLimits{Total: 10, Count: ptr(int64(3)), Unit: UsageLimitsUnitObject}},
		{Name: AttributeState, Value: StateActive},
		{Name: AttributeActivationDate, Value: DateTime(at)},
		{Name: AttributeRevocationReason, Value: &RevocationReason{Code: RevocationReasonCodeKeyCompromise, Message: ptr("lost")}},
		{Name: AttributeObjectGroup, Value: TextString("g")},
		{Name: AttributeFresh, Value: Boolean(true)},
		{Name: AttributeLink, Value: &Link{Type: LinkTypePublicKeyLink, LinkedObjectID: "pk"}},
		{Name: AttributeApplicationSpecificInformation, Value: &ApplicationSpecificInformation{ApplicationNamespace: "ssl", ApplicationData: "www.example.com"}},
		{Name: AttributeContactInformation, Value: TextString("ops")},
		{Name: "x-VMware-VM", Value: RawValue{ttlv.Text(TagAttributeValue, "vm-42")}},
		{Name: "x-count", Value: RawValue{ttlv.Long(TagAttributeValue, -5)}},
		{Name: "y-server", Value: RawValue{ttlv.Struct(TagAttributeValue, ttlv.Text(0x540010, "nested"))}},
	}
	in := &GetAttributesResponse{UniqueIdentifier: "u1", Attributes: attrs}
	m := &ResponseMessage{
		Header:     ResponseHeader{ProtocolVersion: ProtocolVersion{1, 1}, TimeStamp: at, BatchCount: 1},
		BatchItems: []ResponseBatchItem{{Operation: OperationGetAttributes, ResultStatus: ResultStatusSuccess, Payload: in}},
	}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseResponseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	opts := cmp.Comparer(func(a, b ttlv.Item) bool { return a.Equal(b) })
	if diff := cmp.Diff(m, got, opts); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// TestObjectsRoundTrip round-trips every managed object type through Get
// and Register payloads.
func TestObjectsRoundTrip(t *testing.T) {
	big := []byte{0, 0, 0, 0, 0, 1, 0, 1}
	kb := func(f KeyFormatType, m KeyMaterial) KeyBlock {
		return KeyBlock{KeyFormatType: f, KeyValue: &KeyValue{KeyMaterial: m}, CryptographicAlgorithm: ptr(CryptographicAlgorithmRSA), CryptographicLength: ptr(int32(2048))}
	}
	objects := []Object{
		&Certificate{CertificateType: CertificateTypeX509, CertificateValue: []byte{0x30, 0x82}},
		&SymmetricKey{KeyBlock: KeyBlock{KeyFormatType: KeyFormatTypeRaw, KeyValue: &KeyValue{KeyMaterial: RawKeyMaterial{1, 2, 3}}}},
		&SymmetricKey{KeyBlock: KeyBlock{KeyFormatType: KeyFormatTypeTransparentSymmetricKey, KeyValue: &KeyValue{KeyMaterial: &TransparentSymmetricKey{Key: []byte{9}}}}},
		&SymmetricKey{KeyBlock: KeyBlock{KeyFormatType: KeyFormatTypeRaw, WrappedKeyValue: []byte{7, 7},
			KeyWrappingData: &KeyWrappingData{WrappingMethod: WrappingMethodEncrypt, EncryptionKeyInformation: &EncryptionKeyInformation{UniqueIdentifier: "kek",
				CryptographicParameters: &CryptographicParameters{BlockCipherMode: ptr(BlockCipherModeNISTKeyWrap)}}, IVCounterNonce: []byte{1}, EncodingOption: ptr(EncodingOptionNoEncoding)}}},
		&PublicKey{KeyBlock: kb(KeyFormatTypeTransparentRSAPublicKey, &TransparentRSAPublicKey{Modulus: big, PublicExponent: big})},
		&PrivateKey{KeyBlock: kb(KeyFormatTypeTransparentRSAPrivateKey, &TransparentRSAPrivateKey{Modulus: big, PrivateExponent: big, P: big, CRTCoefficient: big})},
		&PrivateKey{KeyBlock: kb(KeyFormatTypeTransparentDSAPrivateKey, &TransparentDSAPrivateKey{P: big, Q: big, G: big, X: big})},
		&PublicKey{KeyBlock: kb(KeyFormatTypeTransparentDSAPublicKey, &TransparentDSAPublicKey{P: big, Q: big, G: big, Y: big})},
		&PrivateKey{KeyBlock: kb(KeyFormatTypeTransparentDHPrivateKey, &TransparentDHPrivateKey{P: big, G: big, J: big, X: big})},
		&PublicKey{KeyBlock: kb(KeyFormatTypeTransparentDHPublicKey, &TransparentDHPublicKey{P: big, Q: big, G: big, Y: big})},
		&PrivateKey{KeyBlock: kb(KeyFormatTypeTransparentECDSAPrivateKey, &TransparentECPrivateKey{RecommendedCurve: RecommendedCurveP256, D: big})},
		&PublicKey{KeyBlock: kb(KeyFormatTypeTransparentECDHPublicKey, &TransparentECPublicKey{RecommendedCurve: RecommendedCurveP384, QString: []byte{4, 1}})},
		&PrivateKey{KeyBlock: KeyBlock{KeyFormatType: KeyFormatTypePKCS8, KeyValue: &KeyValue{KeyMaterial: RawKeyMaterial{0x30},
			Attributes: []Attribute{{Name: AttributeCryptographicLength, Value: Integer(256)}}}}},
		&SplitKey{SplitKeyParts: 3, KeyPartIdentifier: 1, SplitKeyThreshold: 2, SplitKeyMethod: SplitKeyMethodXOR, PrimeFieldSize: big,
			KeyBlock: KeyBlock{KeyFormatType: KeyFormatTypeRaw, KeyValue: &KeyValue{KeyMaterial: RawKeyMaterial{5}}}},
		&Template{Attributes: []Attribute{{Name: AttributeObjectGroup, Value: TextString("g")}}},
		&SecretData{SecretDataType: SecretDataTypePassword, KeyBlock: KeyBlock{KeyFormatType: KeyFormatTypeOpaque, KeyValue: &KeyValue{KeyMaterial: RawKeyMaterial("pw")}}},
		&OpaqueObject{OpaqueDataType: OpaqueDataType(0x80000001), OpaqueDataValue: []byte{1}},
	}
	for i, o := range objects {
		t.Run(fmt.Sprintf("%d-%s", i, o.ObjectType()), func(t *testing.T) {
			m := &ResponseMessage{
				Header: ResponseHeader{ProtocolVersion: ProtocolVersion{1, 1}, TimeStamp: time.Unix(1, 0).UTC(), BatchCount: 1},
				BatchItems: []ResponseBatchItem{{Operation: OperationGet, ResultStatus: ResultStatusSuccess,
					Payload: &GetResponse{ObjectType: o.ObjectType(), UniqueIdentifier: "id", Object: o}}},
			}
			b, err := m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseResponseMessage(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(m, got); diff != "" {
				t.Errorf("Get round trip (-want +got):\n%s", diff)
			}
			rq := &RequestMessage{
				Header:     RequestHeader{ProtocolVersion: ProtocolVersion{1, 1}, BatchCount: 1},
				BatchItems: []RequestBatchItem{{Operation: OperationRegister, Payload: &RegisterRequest{ObjectType: o.ObjectType(), Object: o}}},
			}
			if b, err = rq.Encode(); err != nil {
				t.Fatal(err)
			}
			gotReq, err := ParseRequestMessage(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(rq, gotReq); diff != "" {
				t.Errorf("Register round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPayloadsRoundTrip round-trips one populated request and response
// payload of every KMIP 1.1 operation.
func TestPayloadsRoundTrip(t *testing.T) {
	at := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	ta := &TemplateAttribute{Names: []Name{{Value: "n", Type: NameTypeUninterpretedTextString}},
		Attributes: []Attribute{{Name: AttributeCryptographicLength, Value: Integer(256)}}}
	sym := &SymmetricKey{KeyBlock: KeyBlock{KeyFormatType: KeyFormatTypeRaw, KeyValue: &KeyValue{KeyMaterial: RawKeyMaterial{1}}}}
	a := Attribute{Name: AttributeObjectGroup, Index: ptr(int32(0)), Value: TextString("g")}
	reqs := []RequestPayload{
		&CreateRequest{ObjectType: ObjectTypeSymmetricKey, TemplateAttribute: *ta},
		&CreateKeyPairRequest{CommonTemplateAttribute: ta, PrivateKeyTemplateAttribute: ta, PublicKeyTemplateAttribute: ta},
		&RegisterRequest{ObjectType: ObjectTypeSymmetricKey, TemplateAttribute: *ta, Object: sym},
		&ReKeyRequest{UniqueIdentifier: "a", Offset: ptr(uint32(5)), TemplateAttribute: ta},
		&ReKeyKeyPairRequest{PrivateKeyUniqueIdentifier: "a", Offset: ptr(uint32(5)), CommonTemplateAttribute: ta},
		&DeriveKeyRequest{ObjectType: ObjectTypeSymmetricKey, UniqueIdentifiers: []string{"a", "b"}, DerivationMethod: DerivationMethodHASH,
			DerivationParameters: DerivationParameters{CryptographicParameters: &CryptographicParameters{HashingAlgorithm: ptr(HashingAlgorithmSHA256)},
				InitializationVector: []byte{1}, DerivationData: []byte{2}, Salt: []byte{3}, IterationCount: ptr(int32(4))}, TemplateAttribute: *ta},
		&CertifyRequest{UniqueIdentifier: "a", CertificateRequestType: ptr(CertificateRequestTypePKCS10), CertificateRequest: []byte{1}, TemplateAttribute: ta},
		&ReCertifyRequest{UniqueIdentifier: "a", CertificateRequestType: ptr(CertificateRequestTypePEM), CertificateRequest: []byte{1}, Offset: ptr(uint32(1))},
		&LocateRequest{MaximumItems: ptr(int32(2)), StorageStatusMask: ptr(StorageStatusMaskOnLineStorage), ObjectGroupMember: ptr(ObjectGroupMemberGroupMemberFresh), Attributes: []Attribute{a}},
		&CheckRequest{UniqueIdentifier: "a", UsageLimitsCount: ptr(int64(1)), CryptographicUsageMask: ptr(CryptographicUsageMaskEncrypt), LeaseTime: ptr(uint32(9))},
		&GetRequest{UniqueIdentifier: "a", KeyFormatType: ptr(KeyFormatTypeRaw), KeyCompressionType: ptr(KeyCompressionTypeECPublicKeyTypeUncompressed),
			KeyWrappingSpecification: &KeyWrappingSpecification{WrappingMethod: WrappingMethodEncrypt, MACSignatureKeyInformation: &MACSignatureKeyInformation{UniqueIdentifier: "m"},
				AttributeNames: []string{"x-a"}, EncodingOption: ptr(EncodingOptionTTLVEncoding)}},
		&GetAttributesRequest{UniqueIdentifier: "a", AttributeNames: []string{AttributeState, AttributeName}},
		&GetAttributeListRequest{UniqueIdentifier: "a"},
		&AddAttributeRequest{UniqueIdentifier: "a", Attribute: a},
		&ModifyAttributeRequest{Attribute: a},
		&DeleteAttributeRequest{UniqueIdentifier: "a", AttributeName: AttributeObjectGroup, AttributeIndex: ptr(int32(1))},
		&ObtainLeaseRequest{UniqueIdentifier: "a"},
		&GetUsageAllocationRequest{UniqueIdentifier: "a", UsageLimitsCount: 7},
		&ActivateRequest{UniqueIdentifier: "a"},
		&RevokeRequest{UniqueIdentifier: "a", RevocationReason: RevocationReason{Code: RevocationReasonCodeKeyCompromise}, CompromiseOccurrenceDate: &at},
		&DestroyRequest{},
		&ArchiveRequest{UniqueIdentifier: "a"},
		&RecoverRequest{UniqueIdentifier: "a"},
		&ValidateRequest{Certificates: []Certificate{{CertificateType: CertificateTypeX509, CertificateValue: []byte{1}}}, UniqueIdentifiers: []string{"a"}, ValidityDate: &at},
		&QueryRequest{QueryFunctions: []QueryFunction{QueryFunctionQueryOperations, QueryFunctionQueryObjects}},
		&CancelRequest{AsynchronousCorrelationValue: []byte{1}},
		&PollRequest{AsynchronousCorrelationValue: []byte{1}},
		&NotifyRequest{UniqueIdentifier: "a", Attributes: []Attribute{a}},
		&PutRequest{UniqueIdentifier: "a", PutFunction: PutFunctionReplace, ReplacedUniqueIdentifier: "b", Object: sym, Attributes: []Attribute{a}},
		&DiscoverVersionsRequest{ProtocolVersions: []ProtocolVersion{{1, 1}, {1, 0}}},
	}
	resps := []ResponsePayload{
		&CreateResponse{ObjectType: ObjectTypeSymmetricKey, UniqueIdentifier: "a", TemplateAttribute: ta},
		&CreateKeyPairResponse{PrivateKeyUniqueIdentifier: "a", PublicKeyUniqueIdentifier: "b", PublicKeyTemplateAttribute: ta},
		&RegisterResponse{UniqueIdentifier: "a", TemplateAttribute: ta},
		&ReKeyResponse{UniqueIdentifier: "a"},
		&ReKeyKeyPairResponse{PrivateKeyUniqueIdentifier: "a", PublicKeyUniqueIdentifier: "b"},
		&DeriveKeyResponse{UniqueIdentifier: "a"},
		&CertifyResponse{UniqueIdentifier: "a"},
		&ReCertifyResponse{UniqueIdentifier: "a", TemplateAttribute: ta},
		&LocateResponse{UniqueIdentifiers: []string{"a", "b"}},
		&LocateResponse{},
		&CheckResponse{UniqueIdentifier: "a", UsageLimitsCount: ptr(int64(2)), CryptographicUsageMask: ptr(CryptographicUsageMaskSign), LeaseTime: ptr(uint32(0))},
		&GetResponse{ObjectType: ObjectTypeSymmetricKey, UniqueIdentifier: "a", Object: sym},
		&GetAttributesResponse{UniqueIdentifier: "a", Attributes: []Attribute{a}},
		&GetAttributeListResponse{UniqueIdentifier: "a", AttributeNames: []string{AttributeState}},
		&AddAttributeResponse{UniqueIdentifier: "a", Attribute: a},
		&ModifyAttributeResponse{UniqueIdentifier: "a", Attribute: a},
		&DeleteAttributeResponse{UniqueIdentifier: "a", Attribute: a},
		&ObtainLeaseResponse{UniqueIdentifier: "a", LeaseTime: 60, LastChangeDate: at},
		&GetUsageAllocationResponse{UniqueIdentifier: "a"},
		&ActivateResponse{UniqueIdentifier: "a"},
		&RevokeResponse{UniqueIdentifier: "a"},
		&DestroyResponse{UniqueIdentifier: "a"},
		&ArchiveResponse{UniqueIdentifier: "a"},
		&RecoverResponse{UniqueIdentifier: "a"},
		&ValidateResponse{ValidityIndicator: ValidityIndicatorValid},
		&QueryResponse{Operations: []Operation{OperationCreate, OperationGet}, ObjectTypes: []ObjectType{ObjectTypeSymmetricKey}, VendorIdentification: ptr("Coffer"),
			ServerInformation:     &ttlv.Item{Tag: TagServerInformation, Type: ttlv.TypeStructure, Value: []ttlv.Item{ttlv.Text(0x540001, "v1")}},
			ApplicationNamespaces: []string{"ssl"}, ExtensionInformation: []ExtensionInformation{{ExtensionName: "e", ExtensionTag: ptr(int32(0x540001)), ExtensionType: ptr(int32(7))}}},
		&CancelResponse{AsynchronousCorrelationValue: []byte{1}, CancellationResult: CancellationResultCanceled},
		&PollResponse{},
		&NotifyResponse{},
		&PutResponse{},
		&DiscoverVersionsResponse{ProtocolVersions: []ProtocolVersion{{1, 1}}},
	}
	seen := map[Operation]int{}
	opts := cmp.Comparer(func(a, b ttlv.Item) bool { return a.Equal(b) })
	for _, p := range reqs {
		seen[p.Operation()]++
		t.Run("request/"+p.Operation().String(), func(t *testing.T) {
			m := &RequestMessage{Header: RequestHeader{ProtocolVersion: ProtocolVersion{1, 1}, BatchCount: 1},
				BatchItems: []RequestBatchItem{{Operation: p.Operation(), UniqueBatchItemID: []byte{1}, Payload: p}}}
			b, err := m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseRequestMessage(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(m, got, opts); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for _, p := range resps {
		seen[p.Operation()] += 100
		t.Run("response/"+p.Operation().String(), func(t *testing.T) {
			m := &ResponseMessage{Header: ResponseHeader{ProtocolVersion: ProtocolVersion{1, 1}, TimeStamp: at, BatchCount: 1},
				BatchItems: []ResponseBatchItem{{Operation: p.Operation(), ResultStatus: ResultStatusSuccess, Payload: p}}}
			b, err := m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseResponseMessage(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(m, got, opts); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for op := OperationCreate; op <= OperationDiscoverVersions; op++ {
		if seen[op] < 101 {
			t.Errorf("%s: request or response payload not covered", op)
		}
	}
}

// TestFullHeaders round-trips request and response items with every header
// and batch item field set.
func TestFullHeaders(t *testing.T) {
	at := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	rq := &RequestMessage{
		Header: RequestHeader{
			ProtocolVersion: ProtocolVersion{1, 4}, MaximumResponseSize: ptr(int32(4096)), ClientCorrelationValue: ptr("c"), ServerCorrelationValue: ptr("s"),
			AsynchronousIndicator: ptr(true), AttestationCapableIndicator: ptr(false), AttestationTypes: []AttestationType{AttestationTypeTPMQuote, AttestationTypeSAMLAssertion},
			Authentication:               &Authentication{Credential{Type: CredentialTypeDevice, Value: &DeviceCredential{DeviceSerialNumber: ptr("s"), Password: ptr("secret"), MediaIdentifier: ptr("m")}}},
			BatchErrorContinuationOption: ptr(BatchErrorContinuationOptionUndo), BatchOrderOption: ptr(true), TimeStamp: &at, BatchCount: 2,
		},
		BatchItems: []RequestBatchItem{
			{Operation: OperationDestroy, UniqueBatchItemID: []byte{}, Payload: &DestroyRequest{UniqueIdentifier: "a"},
				MessageExtension: &MessageExtension{VendorIdentification: "acme", CriticalityIndicator: true, VendorExtension: ttlv.Struct(TagVendorExtension, ttlv.Int(0x540003, 1))}},
			{Operation: OperationQuery, Payload: &QueryRequest{}},
		},
	}
	b, err := rq.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseRequestMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	opts := cmp.Comparer(func(a, b ttlv.Item) bool { return a.Equal(b) })
	if diff := cmp.Diff(rq, got, opts); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	rs := &ResponseMessage{
		Header: ResponseHeader{ProtocolVersion: ProtocolVersion{1, 1}, TimeStamp: at, BatchCount: 2},
		BatchItems: []ResponseBatchItem{
			{Operation: OperationLocate, UniqueBatchItemID: []byte{9}, ResultStatus: ResultStatusOperationPending, AsynchronousCorrelationValue: []byte{1, 2}},
			{ResultStatus: ResultStatusOperationFailed, ResultReason: ptr(ResultReasonInvalidMessage), ResultMessage: ptr("bad")},
		},
	}
	if b, err = rs.Encode(); err != nil {
		t.Fatal(err)
	}
	gotRs, err := ParseResponseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rs, gotRs, opts); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCredentialRedaction(t *testing.T) {
	vals := []CredentialValue{
		&UsernamePasswordCredential{Username: "alice", Password: ptr("hunter2")},
		&DeviceCredential{DeviceSerialNumber: ptr("sn"), Password: ptr("hunter2")},
	}
	for _, v := range vals {
		for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
			if s := fmt.Sprintf(f, v); strings.Contains(s, "hunter2") {
				t.Errorf("%T printed with %s shows the password: %s", v, f, s)
			}
		}
	}
}

func FuzzParseRequestMessage(f *testing.F) {
	for _, vf := range loadTC11(f) {
		for _, s := range vf.Steps {
			b, _ := hex.DecodeString(s.RequestHex)
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseRequestMessage(b)
		if err != nil {
			var ke *Error
			if !errors.As(err, &ke) {
				t.Fatalf("error %T is not *kmip.Error: %v", err, err)
			}
			return
		}
		out, err := m.Encode()
		if err != nil {
			t.Fatalf("parsed message does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs\n in %X\nout %X", b, out)
		}
	})
}

func FuzzParseResponseMessage(f *testing.F) {
	for _, vf := range loadTC11(f) {
		for _, s := range vf.Steps {
			b, _ := hex.DecodeString(s.ResponseHex)
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseResponseMessage(b)
		if err != nil {
			var ke *Error
			if !errors.As(err, &ke) {
				t.Fatalf("error %T is not *kmip.Error: %v", err, err)
			}
			return
		}
		out, err := m.Encode()
		if err != nil {
			t.Fatalf("parsed message does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs\n in %X\nout %X", b, out)
		}
	})
}
