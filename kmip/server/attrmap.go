package server

import (
	"math/big"
	"time"

	"github.com/cofferhsm/coffer/hsm/object"
	"github.com/cofferhsm/coffer/kmip"
	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// maxAttrsPerRequest bounds the attributes one payload may carry.
const maxAttrsPerRequest = 256

// coreAttr converts a wire attribute to the core's form. The Attribute
// Index is copied (0 when absent). Attributes the core cannot hold fail
// with Feature Not Supported (structures it does not model) or Invalid
// Field (a value that does not fit).
func coreAttr(a kmip.Attribute) (object.Attribute, error) {
	out := object.Attribute{Name: a.Name}
	if a.Index != nil {
		out.Index = int(*a.Index)
	}
	v, err := coreValue(a.Name, a.Value)
	if err != nil {
		return out, err
	}
	out.Value = v
	return out, nil
}

func coreValue(name string, v kmip.AttributeValue) (any, error) {
	switch v := v.(type) {
	case nil:
		return nil, failf(kmip.ResultReasonInvalidMessage, "attribute %.64q has no value", name)
	case kmip.TextString:
		return string(v), nil
	case kmip.Integer:
		return int32(v), nil
	case kmip.CryptographicUsageMask:
		return int32(uint32(v)), nil
	case kmip.Boolean:
		return bool(v), nil
	case kmip.Interval:
		return time.Duration(v) * time.Second, nil
	case kmip.DateTime:
		return time.Time(v).UTC(), nil
	case kmip.ObjectType:
		return object.Type(v), nil
	case kmip.CryptographicAlgorithm:
		return object.Algorithm(v), nil
	case kmip.CertificateType:
		return object.CertificateType(v), nil
	case kmip.State:
		return object.State(v), nil
	case *kmip.Name:
		return object.Name{Value: v.Value, Type: object.NameType(v.Type)}, nil
	case *kmip.Link:
		return object.Link{Type: object.LinkType(v.Type), ID: v.LinkedObjectID}, nil
	case *kmip.RevocationReason:
		r := object.RevocationReason{Code: object.RevocationReasonCode(v.Code)}
		if v.Message != nil {
			r.Message = *v.Message
		}
		return r, nil
	case *kmip.ApplicationSpecificInformation:
		return object.AppInfo{Namespace: v.ApplicationNamespace, Data: v.ApplicationData}, nil
	case *kmip.CryptographicParameters:
		var p object.CryptoParams
		if v.BlockCipherMode != nil {
			p.BlockCipherMode = uint32(*v.BlockCipherMode)
		}
		if v.PaddingMethod != nil {
			p.PaddingMethod = uint32(*v.PaddingMethod)
		}
		if v.HashingAlgorithm != nil {
			p.HashingAlgorithm = object.HashAlgorithm(*v.HashingAlgorithm)
		}
		if v.KeyRoleType != nil {
			p.KeyRoleType = uint32(*v.KeyRoleType)
		}
		return p, nil
	case *kmip.Digest:
		d := object.Digest{Algorithm: object.HashAlgorithm(v.HashingAlgorithm), Value: v.DigestValue}
		if v.KeyFormatType != nil {
			d.Format = object.KeyFormat(*v.KeyFormatType)
		}
		return d, nil
	case *kmip.UsageLimits:
		// The Count is the server's: the core sets it from the Total.
		return object.UsageLimits{Total: v.Total, Count: v.Total, Unit: uint32(v.Unit)}, nil
	case kmip.RawValue:
		return coreCustom(name, v.Item)
	}
	return nil, failf(kmip.ResultReasonFeatureNotSupported, "attribute %.64q is not supported", name)
}

// coreCustom converts the value of an x-/y- attribute.
func coreCustom(name string, it ttlv.Item) (any, error) {
	switch it.Type {
	case ttlv.TypeTextString, ttlv.TypeInteger, ttlv.TypeLongInteger, ttlv.TypeEnumeration,
		ttlv.TypeBoolean, ttlv.TypeByteString, ttlv.TypeDateTime:
		if t, ok := it.Value.(time.Time); ok {
			return t.UTC(), nil
		}
		return it.Value, nil
	case ttlv.TypeInterval:
		v, _ := it.Value.(uint32)
		return time.Duration(v) * time.Second, nil
	case ttlv.TypeBigInteger:
		b, _ := it.Value.([]byte)
		return twosToBig(b), nil
	}
	return nil, failf(kmip.ResultReasonFeatureNotSupported, "custom attribute %.64q has an unsupported value type", name)
}

// wireAttr converts a core attribute to its wire form; ok is false for a
// value this layer cannot express (it is then left out, and logged by the
// caller's tests, never sent half-formed).
func wireAttr(a object.Attribute) (kmip.Attribute, bool) {
	v, ok := wireValue(a.Name, a.Value)
	if !ok {
		return kmip.Attribute{}, false
	}
	out := kmip.Attribute{Name: a.Name, Value: v}
	if a.Index != 0 {
		i := int32(a.Index)
		out.Index = &i
	}
	return out, true
}

func wireValue(name string, v any) (kmip.AttributeValue, bool) {
	if object.IsCustom(name) {
		return wireCustom(v)
	}
	switch v := v.(type) {
	case string:
		return kmip.TextString(v), true
	case int32:
		if name == object.AttrUsageMask {
			return kmip.CryptographicUsageMask(uint32(v)), true
		}
		return kmip.Integer(v), true
	case bool:
		return kmip.Boolean(v), true
	case time.Duration:
		return kmip.Interval(uint32(v / time.Second)), true
	case time.Time:
		return kmip.DateTime(v.UTC()), true
	case object.Type:
		return kmip.ObjectType(v), true
	case object.Algorithm:
		return kmip.CryptographicAlgorithm(v), true
	case object.CertificateType:
		return kmip.CertificateType(v), true
	case object.State:
		return kmip.State(v), true
	case object.Name:
		return &kmip.Name{Value: v.Value, Type: kmip.NameType(v.Type)}, true
	case object.Link:
		return &kmip.Link{Type: kmip.LinkType(v.Type), LinkedObjectID: v.ID}, true
	case object.RevocationReason:
		r := &kmip.RevocationReason{Code: kmip.RevocationReasonCode(v.Code)}
		if v.Message != "" {
			m := v.Message
			r.Message = &m
		}
		return r, true
	case object.AppInfo:
		return &kmip.ApplicationSpecificInformation{ApplicationNamespace: v.Namespace, ApplicationData: v.Data}, true
	case object.CryptoParams:
		p := &kmip.CryptographicParameters{}
		if v.BlockCipherMode != 0 {
			m := kmip.BlockCipherMode(v.BlockCipherMode)
			p.BlockCipherMode = &m
		}
		if v.PaddingMethod != 0 {
			m := kmip.PaddingMethod(v.PaddingMethod)
			p.PaddingMethod = &m
		}
		if v.HashingAlgorithm != 0 {
			m := kmip.HashingAlgorithm(v.HashingAlgorithm)
			p.HashingAlgorithm = &m
		}
		if v.KeyRoleType != 0 {
			m := kmip.KeyRoleType(v.KeyRoleType)
			p.KeyRoleType = &m
		}
		return p, true
	case uint32:
		if name == object.AttrDigitalSignatureAlg {
			return kmip.DigitalSignatureAlgorithm(v), true
		}
	case object.CertificateName:
		return wireCertName(name, v)
	case object.UsageLimits:
		n := v.Count
		return &kmip.UsageLimits{Total: v.Total, Count: &n, Unit: kmip.UsageLimitsUnit(v.Unit)}, true
	case object.Digest:
		d := &kmip.Digest{HashingAlgorithm: kmip.HashingAlgorithm(v.Algorithm), DigestValue: append([]byte(nil), v.Value...)}
		if v.Format != 0 {
			f := kmip.KeyFormatType(v.Format)
			d.KeyFormatType = &f
		}
		return d, true
	}
	return nil, false
}

// wireCertName converts the certificate naming attributes (see
// object.CertificateName).
func wireCertName(name string, v object.CertificateName) (kmip.AttributeValue, bool) {
	alts := func() []string {
		var out []string
		for _, a := range v.Alt {
			out = append(out, string(a))
		}
		return out
	}
	switch name {
	case object.AttrX509CertIdentifier:
		return &kmip.X509CertificateIdentifier{IssuerDistinguishedName: append([]byte(nil), v.Name...), CertificateSerialNumber: append([]byte(nil), v.Serial...)}, true
	case object.AttrX509CertSubject:
		return &kmip.X509CertificateSubject{SubjectDistinguishedName: append([]byte(nil), v.Name...), SubjectAlternativeNames: v.Alt}, true
	case object.AttrX509CertIssuer:
		return &kmip.X509CertificateIssuer{IssuerDistinguishedName: append([]byte(nil), v.Name...), IssuerAlternativeNames: v.Alt}, true
	case object.AttrCertIdentifier:
		id := &kmip.CertificateIdentifier{Issuer: string(v.Name)}
		if len(v.Serial) > 0 {
			s := string(v.Serial)
			id.SerialNumber = &s
		}
		return id, true
	case object.AttrCertSubject:
		return &kmip.CertificateSubject{DistinguishedName: string(v.Name), AlternativeNames: alts()}, true
	case object.AttrCertIssuer:
		return &kmip.CertificateIssuer{DistinguishedName: string(v.Name), AlternativeNames: alts()}, true
	}
	return nil, false
}

func wireCustom(v any) (kmip.AttributeValue, bool) {
	const t = kmip.TagAttributeValue
	var it ttlv.Item
	switch v := v.(type) {
	case string:
		it = ttlv.Text(t, v)
	case int32:
		it = ttlv.Int(t, v)
	case int64:
		it = ttlv.Long(t, v)
	case *big.Int:
		it = ttlv.BigInt(t, bigToTwos(v))
	case uint32:
		it = ttlv.Enum(t, v)
	case bool:
		it = ttlv.Bool(t, v)
	case []byte:
		it = ttlv.Bytes(t, append([]byte(nil), v...))
	case time.Time:
		it = ttlv.DateTime(t, v.UTC())
	case time.Duration:
		it = ttlv.Interval(t, uint32(v/time.Second))
	default:
		if n, ok := object.EnumValue(v); ok {
			it = ttlv.Enum(t, n)
		} else {
			return nil, false
		}
	}
	return kmip.RawValue{Item: it}, true
}

// twosToBig decodes a big-endian two's complement integer.
func twosToBig(b []byte) *big.Int {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return n
}

// bigToTwos encodes n as big-endian two's complement, sign-extended to a
// multiple of 8 bytes (the TTLV Big Integer form).
func bigToTwos(n *big.Int) []byte {
	size := (n.BitLen()/8 + 1 + 7) / 8 * 8
	if size == 0 {
		size = 8
	}
	v := new(big.Int).Set(n)
	if n.Sign() < 0 {
		v.Add(v, new(big.Int).Lsh(big.NewInt(1), uint(8*size)))
	}
	return v.FillBytes(make([]byte, size))
}

// unsignedTwos encodes a non-negative magnitude (big-endian) as a TTLV Big
// Integer.
func unsignedTwos(mag []byte) []byte { return bigToTwos(new(big.Int).SetBytes(mag)) }

// coreAttrs converts a list of wire attributes.
func coreAttrs(in []kmip.Attribute) ([]object.Attribute, error) {
	if len(in) > maxAttrsPerRequest {
		return nil, failf(kmip.ResultReasonInvalidMessage, "too many attributes")
	}
	out := make([]object.Attribute, 0, len(in))
	for _, a := range in {
		c, err := coreAttr(a)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// wireAttrs converts core attributes, skipping those without a wire form.
func wireAttrs(in []object.Attribute) []kmip.Attribute {
	out := make([]kmip.Attribute, 0, len(in))
	for _, a := range in {
		if w, ok := wireAttr(a); ok {
			out = append(out, w)
		}
	}
	return out
}
