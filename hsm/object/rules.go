package object

import (
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"
)

// KMIP 1.1 attribute names (section 3).
const (
	AttrUniqueIdentifier   = "Unique Identifier"
	AttrName               = "Name"
	AttrObjectType         = "Object Type"
	AttrAlgorithm          = "Cryptographic Algorithm"
	AttrLength             = "Cryptographic Length"
	AttrParams             = "Cryptographic Parameters"
	AttrCertificateType    = "Certificate Type"
	AttrDigest             = "Digest"
	AttrPolicyName         = "Operation Policy Name"
	AttrUsageMask          = "Cryptographic Usage Mask"
	AttrLeaseTime          = "Lease Time"
	AttrState              = "State"
	AttrInitialDate        = "Initial Date"
	AttrActivationDate     = "Activation Date"
	AttrProcessStartDate   = "Process Start Date"
	AttrProtectStopDate    = "Protect Stop Date"
	AttrDeactivationDate   = "Deactivation Date"
	AttrDestroyDate        = "Destroy Date"
	AttrCompromiseOccurred = "Compromise Occurrence Date"
	AttrCompromiseDate     = "Compromise Date"
	AttrRevocationReason   = "Revocation Reason"
	AttrArchiveDate        = "Archive Date"
	AttrObjectGroup        = "Object Group"
	AttrFresh              = "Fresh"
	AttrLink               = "Link"
	AttrAppInfo            = "Application Specific Information"
	AttrContactInfo        = "Contact Information"
	AttrLastChangeDate     = "Last Change Date"
	AttrUsageLimits        = "Usage Limits"

	// Certificate attributes derived from a registered certificate.
	AttrCertificateLength   = "Certificate Length"
	AttrX509CertIdentifier  = "X.509 Certificate Identifier"
	AttrX509CertSubject     = "X.509 Certificate Subject"
	AttrX509CertIssuer      = "X.509 Certificate Issuer"
	AttrCertIdentifier      = "Certificate Identifier"
	AttrCertSubject         = "Certificate Subject"
	AttrCertIssuer          = "Certificate Issuer"
	AttrDigitalSignatureAlg = "Digital Signature Algorithm"
)

// Who may change an attribute after the object exists.
type change uint8

const (
	serverOnly   change = iota // only the server sets it
	clientCreate               // client may supply it at Create/Register only
	clientAny                  // client may add, modify and delete it
	clientDate                 // client may supply it at creation and modify it in some states
)

// Rule is the KMIP 1.1 rule set of one attribute.
type Rule struct {
	Name  string
	Kind  Kind
	Multi bool // multiple instances permitted
	who   change
	// modifyIn lists the states in which a client may modify (or add) the
	// attribute when who == clientDate.
	modifyIn []State
	// valid checks the value beyond its kind; nil = any value of Kind.
	valid func(any) error
}

// ClientMaySet reports whether a client may supply the attribute at
// creation (Create, Register, templates).
func (r *Rule) ClientMaySet() bool { return r.who != serverOnly }

// ClientMayModify reports whether a client may add or modify the attribute
// on an existing object in state s.
func (r *Rule) ClientMayModify(s State) bool {
	switch r.who {
	case clientAny:
		return !s.Destroyed()
	case clientDate:
		for _, m := range r.modifyIn {
			if m == s {
				return true
			}
		}
	}
	return false
}

// ClientMayDelete reports whether a client may delete the attribute.
func (r *Rule) ClientMayDelete(s State) bool { return r.who == clientAny && !s.Destroyed() }

func validState(v any) error {
	if s := v.(State); s < StatePreActive || s > StateDestroyedCompromised {
		return fmt.Errorf("%w: state %d", ErrInvalid, s)
	}
	return nil
}

func validPositive(v any) error {
	if v.(int32) <= 0 {
		return fmt.Errorf("%w: value must be positive", ErrInvalid)
	}
	return nil
}

func validMask(v any) error {
	if m := v.(int32); m <= 0 || m&^UsageMaskValid != 0 {
		return fmt.Errorf("%w: usage mask %#x", ErrInvalid, m)
	}
	return nil
}

func validNonEmpty(v any) error {
	if v.(string) == "" {
		return fmt.Errorf("%w: empty value", ErrInvalid)
	}
	return nil
}

var (
	preActive       = []State{StatePreActive}
	preActiveActive = []State{StatePreActive, StateActive}
)

// rules is the KMIP 1.1 attribute table (section 3: "Initially set by",
// "Modifiable by client", "Deletable by client", "Multiple instances").
var ruleList = []Rule{
	{Name: AttrUniqueIdentifier, Kind: KindText, who: serverOnly},
	{Name: AttrName, Kind: KindName, Multi: true, who: clientAny},
	{Name: AttrObjectType, Kind: KindEnumeration, who: serverOnly},
	{Name: AttrAlgorithm, Kind: KindEnumeration, who: clientCreate},
	{Name: AttrLength, Kind: KindInteger, who: clientCreate, valid: validPositive},
	{Name: AttrParams, Kind: KindCryptoParams, Multi: true, who: clientAny},
	{Name: AttrCertificateType, Kind: KindEnumeration, who: serverOnly},
	{Name: AttrDigest, Kind: KindDigest, Multi: true, who: serverOnly},
	{Name: AttrPolicyName, Kind: KindText, who: clientAny, valid: validNonEmpty},
	{Name: AttrUsageMask, Kind: KindInteger, who: clientCreate, valid: validMask},
	{Name: AttrLeaseTime, Kind: KindInterval, who: serverOnly},
	{Name: AttrState, Kind: KindEnumeration, who: serverOnly, valid: validState},
	{Name: AttrInitialDate, Kind: KindDateTime, who: serverOnly},
	{Name: AttrActivationDate, Kind: KindDateTime, who: clientDate, modifyIn: preActive},
	{Name: AttrProcessStartDate, Kind: KindDateTime, who: clientDate, modifyIn: preActive},
	{Name: AttrProtectStopDate, Kind: KindDateTime, who: clientDate, modifyIn: preActiveActive},
	{Name: AttrDeactivationDate, Kind: KindDateTime, who: clientDate, modifyIn: preActiveActive},
	{Name: AttrDestroyDate, Kind: KindDateTime, who: serverOnly},
	{Name: AttrCompromiseOccurred, Kind: KindDateTime, who: serverOnly},
	{Name: AttrCompromiseDate, Kind: KindDateTime, who: serverOnly},
	{Name: AttrRevocationReason, Kind: KindRevocationReason, who: serverOnly},
	{Name: AttrArchiveDate, Kind: KindDateTime, who: serverOnly},
	{Name: AttrObjectGroup, Kind: KindText, Multi: true, who: clientCreate, valid: validNonEmpty},
	{Name: AttrFresh, Kind: KindBoolean, who: clientCreate},
	{Name: AttrLink, Kind: KindLink, Multi: true, who: clientAny},
	{Name: AttrAppInfo, Kind: KindAppInfo, Multi: true, who: clientAny},
	{Name: AttrContactInfo, Kind: KindText, who: clientAny},
	{Name: AttrLastChangeDate, Kind: KindDateTime, who: serverOnly},
	// Usage Limits: a client sets the Total (and Unit); the server sets
	// Count = Total on every client write and decrements it on Get Usage
	// Allocation.
	{Name: AttrUsageLimits, Kind: KindUsageLimits, who: clientAny},
	{Name: AttrCertificateLength, Kind: KindInteger, who: serverOnly, valid: validPositive},
	{Name: AttrX509CertIdentifier, Kind: KindCertificateName, who: serverOnly},
	{Name: AttrX509CertSubject, Kind: KindCertificateName, who: serverOnly},
	{Name: AttrX509CertIssuer, Kind: KindCertificateName, who: serverOnly},
	{Name: AttrCertIdentifier, Kind: KindCertificateName, who: serverOnly},
	{Name: AttrCertSubject, Kind: KindCertificateName, who: serverOnly},
	{Name: AttrCertIssuer, Kind: KindCertificateName, who: serverOnly},
	{Name: AttrDigitalSignatureAlg, Kind: KindEnumeration, who: serverOnly},
}

var rules = func() map[string]*Rule {
	m := make(map[string]*Rule, len(ruleList))
	for i := range ruleList {
		m[ruleList[i].Name] = &ruleList[i]
	}
	return m
}()

var (
	customClient = &Rule{Kind: KindInvalid, Multi: true, who: clientAny}
	customServer = &Rule{Kind: KindInvalid, Multi: true, who: serverOnly}
)

// RuleFor returns the rule of the named attribute. Custom attributes
// ("x-" set by clients, "y-" set by the server) take any value kind and
// may have several instances. Unknown names fail with ErrInvalid.
func RuleFor(name string) (*Rule, error) {
	if r, ok := rules[name]; ok {
		return r, nil
	}
	if len(name) > 2 && len(name) <= MaxNameLen && utf8.ValidString(name) {
		switch {
		case strings.HasPrefix(name, "x-"):
			r := *customClient
			r.Name = name
			return &r, nil
		case strings.HasPrefix(name, "y-"):
			r := *customServer
			r.Name = name
			return &r, nil
		}
	}
	return nil, fmt.Errorf("%w: unknown attribute %.64q", ErrInvalid, name)
}

// IsCustom reports whether name is a custom ("x-" or "y-") attribute name.
func IsCustom(name string) bool {
	return strings.HasPrefix(name, "x-") || strings.HasPrefix(name, "y-")
}

// Check validates a value for this attribute: its Go type must match the
// rule's kind (and for typed enums the exact named type), and it must pass
// the size and range checks.
func (r *Rule) Check(v any) error {
	k := KindOf(v)
	if k == KindInvalid {
		return fmt.Errorf("%w: %s: unsupported value type %T", ErrInvalid, r.Name, v)
	}
	if r.Kind != KindInvalid && k != r.Kind {
		return fmt.Errorf("%w: %s: value of kind %d, want %d", ErrInvalid, r.Name, k, r.Kind)
	}
	if k == KindEnumeration {
		if want := reflect.TypeOf(TypedEnum(r.Name, 0)); reflect.TypeOf(v) != want {
			return fmt.Errorf("%w: %s: value type %T, want %v", ErrInvalid, r.Name, v, want)
		}
	}
	if err := checkValue(v); err != nil {
		return fmt.Errorf("%s: %w", r.Name, err)
	}
	if r.valid != nil {
		return r.valid(v)
	}
	return nil
}

// TypedEnum converts a raw enumeration value of a standard attribute to
// its named Go type (uint32 for custom attributes).
func TypedEnum(name string, v uint32) any {
	switch name {
	case AttrObjectType:
		return Type(v)
	case AttrAlgorithm:
		return Algorithm(v)
	case AttrCertificateType:
		return CertificateType(v)
	case AttrState:
		return State(v)
	}
	return v
}
