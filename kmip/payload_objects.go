package kmip

// CreateRequest is the Create request payload [S 4.1].
type CreateRequest struct {
	ObjectType        ObjectType
	TemplateAttribute TemplateAttribute
}

func (*CreateRequest) Operation() Operation { return OperationCreate }
func (p *CreateRequest) decode(r *reader) {
	p.ObjectType = reqEnum[ObjectType](r, TagObjectType)
	p.TemplateAttribute.decode(r.reqStruct(TagTemplateAttribute))
}
func (p *CreateRequest) encode(b *builder) {
	b.enum(TagObjectType, uint32(p.ObjectType))
	b.sub(TagTemplateAttribute, p.TemplateAttribute.encode)
}

// CreateResponse is the Create response payload [S 4.1].
type CreateResponse struct {
	ObjectType        ObjectType
	UniqueIdentifier  string
	TemplateAttribute *TemplateAttribute
}

func (*CreateResponse) Operation() Operation { return OperationCreate }
func (p *CreateResponse) decode(r *reader) {
	p.ObjectType = reqEnum[ObjectType](r, TagObjectType)
	p.UniqueIdentifier = r.reqText(TagUniqueIdentifier)
	p.TemplateAttribute = optTemplateAttribute(r, TagTemplateAttribute)
}
func (p *CreateResponse) encode(b *builder) {
	b.enum(TagObjectType, uint32(p.ObjectType))
	b.text(TagUniqueIdentifier, p.UniqueIdentifier)
	encodeOptTemplateAttribute(b, TagTemplateAttribute, p.TemplateAttribute)
}

// CreateKeyPairRequest is the Create Key Pair request payload [S 4.2].
type CreateKeyPairRequest struct {
	CommonTemplateAttribute     *TemplateAttribute
	PrivateKeyTemplateAttribute *TemplateAttribute
	PublicKeyTemplateAttribute  *TemplateAttribute
}

func (*CreateKeyPairRequest) Operation() Operation { return OperationCreateKeyPair }
func (p *CreateKeyPairRequest) decode(r *reader) {
	p.CommonTemplateAttribute = optTemplateAttribute(r, TagCommonTemplateAttribute)
	p.PrivateKeyTemplateAttribute = optTemplateAttribute(r, TagPrivateKeyTemplateAttribute)
	p.PublicKeyTemplateAttribute = optTemplateAttribute(r, TagPublicKeyTemplateAttribute)
}
func (p *CreateKeyPairRequest) encode(b *builder) {
	encodeOptTemplateAttribute(b, TagCommonTemplateAttribute, p.CommonTemplateAttribute)
	encodeOptTemplateAttribute(b, TagPrivateKeyTemplateAttribute, p.PrivateKeyTemplateAttribute)
	encodeOptTemplateAttribute(b, TagPublicKeyTemplateAttribute, p.PublicKeyTemplateAttribute)
}

// CreateKeyPairResponse is the Create Key Pair response payload [S 4.2]
// (also the Re-key Key Pair response).
type CreateKeyPairResponse struct {
	PrivateKeyUniqueIdentifier  string
	PublicKeyUniqueIdentifier   string
	PrivateKeyTemplateAttribute *TemplateAttribute
	PublicKeyTemplateAttribute  *TemplateAttribute
}

func (*CreateKeyPairResponse) Operation() Operation { return OperationCreateKeyPair }
func (p *CreateKeyPairResponse) decode(r *reader) {
	p.PrivateKeyUniqueIdentifier = r.reqText(TagPrivateKeyUniqueIdentifier)
	p.PublicKeyUniqueIdentifier = r.reqText(TagPublicKeyUniqueIdentifier)
	p.PrivateKeyTemplateAttribute = optTemplateAttribute(r, TagPrivateKeyTemplateAttribute)
	p.PublicKeyTemplateAttribute = optTemplateAttribute(r, TagPublicKeyTemplateAttribute)
}
func (p *CreateKeyPairResponse) encode(b *builder) {
	b.text(TagPrivateKeyUniqueIdentifier, p.PrivateKeyUniqueIdentifier)
	b.text(TagPublicKeyUniqueIdentifier, p.PublicKeyUniqueIdentifier)
	encodeOptTemplateAttribute(b, TagPrivateKeyTemplateAttribute, p.PrivateKeyTemplateAttribute)
	encodeOptTemplateAttribute(b, TagPublicKeyTemplateAttribute, p.PublicKeyTemplateAttribute)
}

// RegisterRequest is the Register request payload [S 4.3]. Object's type
// must match ObjectType.
type RegisterRequest struct {
	ObjectType        ObjectType
	TemplateAttribute TemplateAttribute
	Object            Object
}

func (*RegisterRequest) Operation() Operation { return OperationRegister }
func (p *RegisterRequest) decode(r *reader) {
	p.ObjectType = reqEnum[ObjectType](r, TagObjectType)
	p.TemplateAttribute.decode(r.reqStruct(TagTemplateAttribute))
	p.Object = readObject(r, p.ObjectType, false)
}
func (p *RegisterRequest) encode(b *builder) {
	b.enum(TagObjectType, uint32(p.ObjectType))
	b.sub(TagTemplateAttribute, p.TemplateAttribute.encode)
	writeObject(b, p.Object)
}

// RegisterResponse is the Register response payload [S 4.3].
type RegisterResponse struct {
	UniqueIdentifier  string
	TemplateAttribute *TemplateAttribute
}

func (*RegisterResponse) Operation() Operation { return OperationRegister }
func (p *RegisterResponse) decode(r *reader) {
	p.UniqueIdentifier = r.reqText(TagUniqueIdentifier)
	p.TemplateAttribute = optTemplateAttribute(r, TagTemplateAttribute)
}
func (p *RegisterResponse) encode(b *builder) {
	b.text(TagUniqueIdentifier, p.UniqueIdentifier)
	encodeOptTemplateAttribute(b, TagTemplateAttribute, p.TemplateAttribute)
}

// ReKeyRequest is the Re-key request payload [S 4.4]. UniqueIdentifier ""
// means absent (ID Placeholder); Offset is in seconds.
type ReKeyRequest struct {
	UniqueIdentifier  string
	Offset            *uint32
	TemplateAttribute *TemplateAttribute
}

func (*ReKeyRequest) Operation() Operation { return OperationReKey }
func (p *ReKeyRequest) decode(r *reader) {
	p.UniqueIdentifier = r.uid(TagUniqueIdentifier, false)
	p.Offset = r.optInterval(TagOffset)
	p.TemplateAttribute = optTemplateAttribute(r, TagTemplateAttribute)
}
func (p *ReKeyRequest) encode(b *builder) {
	b.uid(TagUniqueIdentifier, p.UniqueIdentifier)
	b.optInterval(TagOffset, p.Offset)
	encodeOptTemplateAttribute(b, TagTemplateAttribute, p.TemplateAttribute)
}

// ReKeyResponse is the Re-key response payload [S 4.4].
type ReKeyResponse struct {
	UniqueIdentifier  string
	TemplateAttribute *TemplateAttribute
}

func (*ReKeyResponse) Operation() Operation { return OperationReKey }
func (p *ReKeyResponse) decode(r *reader) {
	p.UniqueIdentifier = r.reqText(TagUniqueIdentifier)
	p.TemplateAttribute = optTemplateAttribute(r, TagTemplateAttribute)
}
func (p *ReKeyResponse) encode(b *builder) {
	b.text(TagUniqueIdentifier, p.UniqueIdentifier)
	encodeOptTemplateAttribute(b, TagTemplateAttribute, p.TemplateAttribute)
}

// ReKeyKeyPairRequest is the Re-key Key Pair request payload [S 4.5].
type ReKeyKeyPairRequest struct {
	PrivateKeyUniqueIdentifier  string // "" means absent (ID Placeholder)
	Offset                      *uint32
	CommonTemplateAttribute     *TemplateAttribute
	PrivateKeyTemplateAttribute *TemplateAttribute
	PublicKeyTemplateAttribute  *TemplateAttribute
}

func (*ReKeyKeyPairRequest) Operation() Operation { return OperationReKeyKeyPair }
func (p *ReKeyKeyPairRequest) decode(r *reader) {
	p.PrivateKeyUniqueIdentifier = r.uid(TagPrivateKeyUniqueIdentifier, false)
	p.Offset = r.optInterval(TagOffset)
	p.CommonTemplateAttribute = optTemplateAttribute(r, TagCommonTemplateAttribute)
	p.PrivateKeyTemplateAttribute = optTemplateAttribute(r, TagPrivateKeyTemplateAttribute)
	p.PublicKeyTemplateAttribute = optTemplateAttribute(r, TagPublicKeyTemplateAttribute)
}
func (p *ReKeyKeyPairRequest) encode(b *builder) {
	b.uid(TagPrivateKeyUniqueIdentifier, p.PrivateKeyUniqueIdentifier)
	b.optInterval(TagOffset, p.Offset)
	encodeOptTemplateAttribute(b, TagCommonTemplateAttribute, p.CommonTemplateAttribute)
	encodeOptTemplateAttribute(b, TagPrivateKeyTemplateAttribute, p.PrivateKeyTemplateAttribute)
	encodeOptTemplateAttribute(b, TagPublicKeyTemplateAttribute, p.PublicKeyTemplateAttribute)
}

// ReKeyKeyPairResponse is the Re-key Key Pair response payload [S 4.5].
type ReKeyKeyPairResponse struct {
	PrivateKeyUniqueIdentifier  string
	PublicKeyUniqueIdentifier   string
	PrivateKeyTemplateAttribute *TemplateAttribute
	PublicKeyTemplateAttribute  *TemplateAttribute
}

func (*ReKeyKeyPairResponse) Operation() Operation { return OperationReKeyKeyPair }
func (p *ReKeyKeyPairResponse) decode(r *reader) {
	p.PrivateKeyUniqueIdentifier = r.reqText(TagPrivateKeyUniqueIdentifier)
	p.PublicKeyUniqueIdentifier = r.reqText(TagPublicKeyUniqueIdentifier)
	p.PrivateKeyTemplateAttribute = optTemplateAttribute(r, TagPrivateKeyTemplateAttribute)
	p.PublicKeyTemplateAttribute = optTemplateAttribute(r, TagPublicKeyTemplateAttribute)
}
func (p *ReKeyKeyPairResponse) encode(b *builder) {
	b.text(TagPrivateKeyUniqueIdentifier, p.PrivateKeyUniqueIdentifier)
	b.text(TagPublicKeyUniqueIdentifier, p.PublicKeyUniqueIdentifier)
	encodeOptTemplateAttribute(b, TagPrivateKeyTemplateAttribute, p.PrivateKeyTemplateAttribute)
	encodeOptTemplateAttribute(b, TagPublicKeyTemplateAttribute, p.PublicKeyTemplateAttribute)
}

// DerivationParameters [S 4.6]; byte fields are nil when absent.
type DerivationParameters struct {
	CryptographicParameters *CryptographicParameters
	InitializationVector    []byte
	DerivationData          []byte
	Salt                    []byte
	IterationCount          *int32
}

func (d *DerivationParameters) decode(r *reader) {
	if c := r.optStruct(TagCryptographicParameters); c != nil {
		d.CryptographicParameters = new(CryptographicParameters)
		d.CryptographicParameters.decode(c)
		c.done()
	}
	d.InitializationVector = r.optBytes(TagInitializationVector)
	d.DerivationData = r.optBytes(TagDerivationData)
	d.Salt = r.optBytes(TagSalt)
	d.IterationCount = r.optInt(TagIterationCount)
	r.done()
}
func (d *DerivationParameters) encode(b *builder) {
	if d.CryptographicParameters != nil {
		b.sub(TagCryptographicParameters, d.CryptographicParameters.encode)
	}
	b.optBytes(TagInitializationVector, d.InitializationVector)
	b.optBytes(TagDerivationData, d.DerivationData)
	b.optBytes(TagSalt, d.Salt)
	b.optInt(TagIterationCount, d.IterationCount)
}

// DeriveKeyRequest is the Derive Key request payload [S 4.6].
type DeriveKeyRequest struct {
	ObjectType           ObjectType
	UniqueIdentifiers    []string // empty means the ID Placeholder
	DerivationMethod     DerivationMethod
	DerivationParameters DerivationParameters
	TemplateAttribute    TemplateAttribute
}

func (*DeriveKeyRequest) Operation() Operation { return OperationDeriveKey }
func (p *DeriveKeyRequest) decode(r *reader) {
	p.ObjectType = reqEnum[ObjectType](r, TagObjectType)
	p.UniqueIdentifiers = r.uids(TagUniqueIdentifier)
	p.DerivationMethod = reqEnum[DerivationMethod](r, TagDerivationMethod)
	p.DerivationParameters.decode(r.reqStruct(TagDerivationParameters))
	p.TemplateAttribute.decode(r.reqStruct(TagTemplateAttribute))
}
func (p *DeriveKeyRequest) encode(b *builder) {
	b.enum(TagObjectType, uint32(p.ObjectType))
	b.texts(TagUniqueIdentifier, p.UniqueIdentifiers)
	b.enum(TagDerivationMethod, uint32(p.DerivationMethod))
	b.sub(TagDerivationParameters, p.DerivationParameters.encode)
	b.sub(TagTemplateAttribute, p.TemplateAttribute.encode)
}

// DeriveKeyResponse is the Derive Key response payload [S 4.6].
type DeriveKeyResponse struct {
	UniqueIdentifier  string
	TemplateAttribute *TemplateAttribute
}

func (*DeriveKeyResponse) Operation() Operation { return OperationDeriveKey }
func (p *DeriveKeyResponse) decode(r *reader) {
	p.UniqueIdentifier = r.reqText(TagUniqueIdentifier)
	p.TemplateAttribute = optTemplateAttribute(r, TagTemplateAttribute)
}
func (p *DeriveKeyResponse) encode(b *builder) {
	b.text(TagUniqueIdentifier, p.UniqueIdentifier)
	encodeOptTemplateAttribute(b, TagTemplateAttribute, p.TemplateAttribute)
}

// CertifyRequest is the Certify request payload [S 4.7].
type CertifyRequest struct {
	UniqueIdentifier       string // "" means absent (ID Placeholder)
	CertificateRequestType *CertificateRequestType
	CertificateRequest     []byte // nil when absent
	TemplateAttribute      *TemplateAttribute
}

func (*CertifyRequest) Operation() Operation { return OperationCertify }
func (p *CertifyRequest) decode(r *reader) {
	p.UniqueIdentifier = r.uid(TagUniqueIdentifier, false)
	p.CertificateRequestType = optEnum[CertificateRequestType](r, TagCertificateRequestType)
	p.CertificateRequest = r.optBytes(TagCertificateRequest)
	p.TemplateAttribute = optTemplateAttribute(r, TagTemplateAttribute)
}
func (p *CertifyRequest) encode(b *builder) {
	b.uid(TagUniqueIdentifier, p.UniqueIdentifier)
	optEnumB(b, TagCertificateRequestType, p.CertificateRequestType)
	b.optBytes(TagCertificateRequest, p.CertificateRequest)
	encodeOptTemplateAttribute(b, TagTemplateAttribute, p.TemplateAttribute)
}

// CertifyResponse is the Certify response payload [S 4.7].
type CertifyResponse struct {
	UniqueIdentifier  string
	TemplateAttribute *TemplateAttribute
}

func (*CertifyResponse) Operation() Operation { return OperationCertify }
func (p *CertifyResponse) decode(r *reader) {
	p.UniqueIdentifier = r.reqText(TagUniqueIdentifier)
	p.TemplateAttribute = optTemplateAttribute(r, TagTemplateAttribute)
}
func (p *CertifyResponse) encode(b *builder) {
	b.text(TagUniqueIdentifier, p.UniqueIdentifier)
	encodeOptTemplateAttribute(b, TagTemplateAttribute, p.TemplateAttribute)
}

// ReCertifyRequest is the Re-certify request payload [S 4.8].
type ReCertifyRequest struct {
	UniqueIdentifier       string // "" means absent (ID Placeholder)
	CertificateRequestType *CertificateRequestType
	CertificateRequest     []byte // nil when absent
	Offset                 *uint32
	TemplateAttribute      *TemplateAttribute
}

func (*ReCertifyRequest) Operation() Operation { return OperationReCertify }
func (p *ReCertifyRequest) decode(r *reader) {
	p.UniqueIdentifier = r.uid(TagUniqueIdentifier, false)
	p.CertificateRequestType = optEnum[CertificateRequestType](r, TagCertificateRequestType)
	p.CertificateRequest = r.optBytes(TagCertificateRequest)
	p.Offset = r.optInterval(TagOffset)
	p.TemplateAttribute = optTemplateAttribute(r, TagTemplateAttribute)
}
func (p *ReCertifyRequest) encode(b *builder) {
	b.uid(TagUniqueIdentifier, p.UniqueIdentifier)
	optEnumB(b, TagCertificateRequestType, p.CertificateRequestType)
	b.optBytes(TagCertificateRequest, p.CertificateRequest)
	b.optInterval(TagOffset, p.Offset)
	encodeOptTemplateAttribute(b, TagTemplateAttribute, p.TemplateAttribute)
}

// ReCertifyResponse is the Re-certify response payload [S 4.8].
type ReCertifyResponse struct {
	UniqueIdentifier  string
	TemplateAttribute *TemplateAttribute
}

func (*ReCertifyResponse) Operation() Operation { return OperationReCertify }
func (p *ReCertifyResponse) decode(r *reader) {
	p.UniqueIdentifier = r.reqText(TagUniqueIdentifier)
	p.TemplateAttribute = optTemplateAttribute(r, TagTemplateAttribute)
}
func (p *ReCertifyResponse) encode(b *builder) {
	b.text(TagUniqueIdentifier, p.UniqueIdentifier)
	encodeOptTemplateAttribute(b, TagTemplateAttribute, p.TemplateAttribute)
}
