package kmip

import (
	"time"

	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// ProtocolVersion is a KMIP protocol version (Major.Minor).
type ProtocolVersion struct {
	Major int32
	Minor int32
}

func (v *ProtocolVersion) decode(r *reader) {
	v.Major = r.reqInt(TagProtocolVersionMajor)
	v.Minor = r.reqInt(TagProtocolVersionMinor)
	r.done()
}

func (v ProtocolVersion) encode(b *builder) {
	b.int(TagProtocolVersionMajor, v.Major)
	b.int(TagProtocolVersionMinor, v.Minor)
}

func (v ProtocolVersion) String() string { return sprintf("%d.%d", v.Major, v.Minor) }

// RequestHeader is the header of a request message [S 7.2]. Nil pointers are
// absent optional fields. The fields marked KMIP 1.2/1.4 do not exist in
// KMIP 1.1; they are parsed whatever the Protocol Version says, and the
// server decides whether to accept them for the version it negotiated.
type RequestHeader struct {
	ProtocolVersion              ProtocolVersion
	MaximumResponseSize          *int32
	ClientCorrelationValue       *string // KMIP 1.4
	ServerCorrelationValue       *string // KMIP 1.4
	AsynchronousIndicator        *bool
	AttestationCapableIndicator  *bool             // KMIP 1.2
	AttestationTypes             []AttestationType // KMIP 1.2
	Authentication               *Authentication
	BatchErrorContinuationOption *BatchErrorContinuationOption
	BatchOrderOption             *bool
	TimeStamp                    *time.Time
	BatchCount                   int32
}

func (h *RequestHeader) decode(r *reader) {
	h.ProtocolVersion.decode(r.reqStruct(TagProtocolVersion))
	h.MaximumResponseSize = r.optInt(TagMaximumResponseSize)
	h.ClientCorrelationValue = r.optText(TagClientCorrelationValue)
	h.ServerCorrelationValue = r.optText(TagServerCorrelationValue)
	h.AsynchronousIndicator = r.optBool(TagAsynchronousIndicator)
	h.AttestationCapableIndicator = r.optBool(TagAttestationCapableIndicator)
	h.AttestationTypes = enums[AttestationType](r, TagAttestationType)
	if c := r.optStruct(TagAuthentication); c != nil {
		h.Authentication = new(Authentication)
		h.Authentication.decode(c)
	}
	h.BatchErrorContinuationOption = optEnum[BatchErrorContinuationOption](r, TagBatchErrorContinuationOption)
	h.BatchOrderOption = r.optBool(TagBatchOrderOption)
	h.TimeStamp = r.optTime(TagTimeStamp)
	h.BatchCount = r.reqInt(TagBatchCount)
	r.done()
}

func (h *RequestHeader) encode(b *builder) {
	b.sub(TagProtocolVersion, h.ProtocolVersion.encode)
	b.optInt(TagMaximumResponseSize, h.MaximumResponseSize)
	b.optText(TagClientCorrelationValue, h.ClientCorrelationValue)
	b.optText(TagServerCorrelationValue, h.ServerCorrelationValue)
	b.optBool(TagAsynchronousIndicator, h.AsynchronousIndicator)
	b.optBool(TagAttestationCapableIndicator, h.AttestationCapableIndicator)
	enumsB(b, TagAttestationType, h.AttestationTypes)
	if h.Authentication != nil {
		b.sub(TagAuthentication, h.Authentication.encode)
	}
	optEnumB(b, TagBatchErrorContinuationOption, h.BatchErrorContinuationOption)
	b.optBool(TagBatchOrderOption, h.BatchOrderOption)
	b.optTime(TagTimeStamp, h.TimeStamp)
	b.int(TagBatchCount, h.BatchCount)
}

// ResponseHeader is the header of a response message [S 7.2].
type ResponseHeader struct {
	ProtocolVersion ProtocolVersion
	TimeStamp       time.Time
	BatchCount      int32
}

func (h *ResponseHeader) decode(r *reader) {
	h.ProtocolVersion.decode(r.reqStruct(TagProtocolVersion))
	h.TimeStamp = r.reqTime(TagTimeStamp)
	h.BatchCount = r.reqInt(TagBatchCount)
	r.done()
}

func (h *ResponseHeader) encode(b *builder) {
	b.sub(TagProtocolVersion, h.ProtocolVersion.encode)
	b.time(TagTimeStamp, h.TimeStamp)
	b.int(TagBatchCount, h.BatchCount)
}

// Authentication carries the client's credential [S 6.6].
type Authentication struct {
	Credential Credential
}

func (a *Authentication) decode(r *reader) {
	a.Credential.decode(r.reqStruct(TagCredential))
	r.done()
}

func (a *Authentication) encode(b *builder) { b.sub(TagCredential, a.Credential.encode) }

// Credential is a Credential structure [S 2.1.2]. Value is
// *UsernamePasswordCredential for CredentialTypeUsernameAndPassword and
// *DeviceCredential for CredentialTypeDevice; other types are refused
// (Invalid Field).
type Credential struct {
	Type  CredentialType
	Value CredentialValue
}

// CredentialValue is *UsernamePasswordCredential or *DeviceCredential.
type CredentialValue interface {
	CredentialType() CredentialType
	encode(b *builder)
}

func (c *Credential) decode(r *reader) {
	c.Type = reqEnum[CredentialType](r, TagCredentialType)
	v := r.reqStruct(TagCredentialValue)
	if r.failed() {
		return
	}
	switch c.Type {
	case CredentialTypeUsernameAndPassword:
		u := new(UsernamePasswordCredential)
		u.Username = v.reqText(TagUsername)
		u.Password = v.optText(TagPassword)
		c.Value = u
	case CredentialTypeDevice:
		d := new(DeviceCredential)
		d.DeviceSerialNumber = v.optText(TagDeviceSerialNumber)
		d.Password = v.optText(TagPassword)
		d.DeviceIdentifier = v.optText(TagDeviceIdentifier)
		d.NetworkIdentifier = v.optText(TagNetworkIdentifier)
		d.MachineIdentifier = v.optText(TagMachineIdentifier)
		d.MediaIdentifier = v.optText(TagMediaIdentifier)
		c.Value = d
	default:
		r.failf(ResultReasonInvalidField, ErrInvalidValue, TagCredentialType, "unsupported credential type %s", c.Type)
		return
	}
	v.done()
	r.done()
}

func (c *Credential) encode(b *builder) {
	b.enum(TagCredentialType, uint32(c.Type))
	if c.Value != nil {
		b.sub(TagCredentialValue, c.Value.encode)
	}
}

// UsernamePasswordCredential is the Username and Password credential value.
// Its String method never prints the password.
type UsernamePasswordCredential struct {
	Username string
	Password *string
}

func (*UsernamePasswordCredential) CredentialType() CredentialType {
	return CredentialTypeUsernameAndPassword
}

func (u *UsernamePasswordCredential) encode(b *builder) {
	b.text(TagUsername, u.Username)
	b.optText(TagPassword, u.Password)
}

// String returns the username with the password redacted.
func (u *UsernamePasswordCredential) String() string {
	return sprintf("UsernamePassword{%q, password redacted}", u.Username)
}

// GoString is String: the password never appears in %#v output.
func (u *UsernamePasswordCredential) GoString() string { return u.String() }

// DeviceCredential is the Device credential value; all fields are optional.
// Its String method never prints the password.
type DeviceCredential struct {
	DeviceSerialNumber *string
	Password           *string
	DeviceIdentifier   *string
	NetworkIdentifier  *string
	MachineIdentifier  *string
	MediaIdentifier    *string
}

func (*DeviceCredential) CredentialType() CredentialType { return CredentialTypeDevice }

func (d *DeviceCredential) encode(b *builder) {
	b.optText(TagDeviceSerialNumber, d.DeviceSerialNumber)
	b.optText(TagPassword, d.Password)
	b.optText(TagDeviceIdentifier, d.DeviceIdentifier)
	b.optText(TagNetworkIdentifier, d.NetworkIdentifier)
	b.optText(TagMachineIdentifier, d.MachineIdentifier)
	b.optText(TagMediaIdentifier, d.MediaIdentifier)
}

// String describes the credential with the password redacted.
func (d *DeviceCredential) String() string {
	s := func(p *string) string {
		if p == nil {
			return "-"
		}
		return *p
	}
	return sprintf("Device{serial=%q device=%q network=%q machine=%q media=%q, password redacted}",
		s(d.DeviceSerialNumber), s(d.DeviceIdentifier), s(d.NetworkIdentifier), s(d.MachineIdentifier), s(d.MediaIdentifier))
}

// GoString is String: the password never appears in %#v output.
func (d *DeviceCredential) GoString() string { return d.String() }

// MessageExtension is a vendor message extension [S 6.16]. VendorExtension
// is kept as the raw structure.
type MessageExtension struct {
	VendorIdentification string
	CriticalityIndicator bool
	VendorExtension      ttlv.Item
}

func (m *MessageExtension) decode(r *reader) {
	m.VendorIdentification = r.reqText(TagVendorIdentification)
	m.CriticalityIndicator = r.reqBool(TagCriticalityIndicator)
	it, ok := r.next(TagVendorExtension, ttlv.TypeStructure, true, true)
	if ok {
		m.VendorExtension = it
	}
	r.done()
}

func (m *MessageExtension) encode(b *builder) {
	b.text(TagVendorIdentification, m.VendorIdentification)
	b.bool(TagCriticalityIndicator, m.CriticalityIndicator)
	ve := m.VendorExtension
	ve.Tag = TagVendorExtension
	if ve.Type == 0 {
		ve = ttlv.Struct(TagVendorExtension)
	}
	b.add(ve)
}
