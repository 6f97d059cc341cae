package object

// Record schema (the on-disk format; the golden test in record_test.go is
// the compatibility gate).
//
// A stored object is an envelope:
//
//	envelope = {1: version uint, 2: uid text, 3: sealed bytes}
//
// where sealed = AEAD(body, ad) under the record KEK, ad = "coffer/record"
// || 0x00 || version (1 byte) || uid, and body is the CBOR map of
// recordBody below. Everything, not only the secret material, is sealed:
// a flipped byte anywhere fails authentication (ErrCorrupt).
//
// Encoding: CBOR core deterministic encoding (RFC 8949 4.2.1), integer map
// keys, no floats, no tags, definite lengths only. Decoding refuses
// duplicate map keys, indefinite lengths, any tag, unknown fields, nesting
// deeper than MaxNesting, arrays longer than MaxArray and maps larger than
// MaxMapPairs, and envelopes larger than MaxRecordSize.
//
// Rules for changing the schema:
//   - Never renumber or reuse a key; never change a field's type or meaning.
//   - A new field gets a new key and omitempty, so records without it
//     decode unchanged. Because decoding refuses unknown fields, an older
//     binary refuses records carrying a newer field: a downgrade fails
//     closed instead of dropping data.
//   - A change that old readers must not misread bumps RecordVersion;
//     readers refuse versions they do not know. Version is part of the
//     AEAD associated data, so it cannot be altered on disk.
//   - Add a golden record for every version and keep the old ones.

import (
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/fxamacker/cbor/v2"
)

// RecordVersion is the current record schema version.
const RecordVersion = 1

// Decoding limits.
const (
	MaxRecordSize = 256 << 10
	MaxNesting    = 8
	MaxArray      = 1024
	MaxMapPairs   = 32
)

// Sealer encrypts and authenticates record bodies (key.RecordAEAD).
type Sealer interface {
	Seal(plaintext, ad []byte) ([]byte, error)
	Open(ciphertext, ad []byte) ([]byte, error)
}

type envelope struct {
	Version uint   `cbor:"1,keyasint"`
	UID     string `cbor:"2,keyasint"`
	Sealed  []byte `cbor:"3,keyasint"`
}

type recordBody struct {
	Type     uint32       `cbor:"1,keyasint"`
	Owner    string       `cbor:"2,keyasint,omitempty"`
	Groups   []string     `cbor:"3,keyasint,omitempty"`
	Attrs    []recordAttr `cbor:"4,keyasint,omitempty"`
	Secret   []byte       `cbor:"5,keyasint,omitempty"`
	Public   []byte       `cbor:"6,keyasint,omitempty"`
	Format   uint32       `cbor:"7,keyasint,omitempty"`
	SubType  uint32       `cbor:"8,keyasint,omitempty"`
	Template []recordAttr `cbor:"9,keyasint,omitempty"`
	// ExportFormat (added after version 1 shipped; omitempty keeps older
	// records unchanged).
	ExportFormat uint32 `cbor:"10,keyasint,omitempty"`
	Retrieved    int64  `cbor:"11,keyasint,omitempty"` // added with ExportFormat
}

// AttrCBOR is the CBOR form of one attribute instance, used by records and
// by the core's RPC. Field use by kind:
//
//	Text S · Integer, LongInteger I · BigInteger I=sign, B=magnitude ·
//	Enumeration E[0] · Boolean I (0/1) · Bytes B · DateTime I (Unix seconds) ·
//	Interval I (seconds) · Name S, E[0]=type · Link E[0]=type, S=id ·
//	Digest E[0]=hash, E[1]=format, B · RevocationReason E[0]=code, S=message ·
//	CryptoParams E[0..3]=mode, padding, hash, role · AppInfo S, S2 ·
//	UsageLimits I=total, I2=count, E[0]=unit ·
//	CertificateName B=name, BL[0]=serial, BL[1:]=alternative names
type AttrCBOR struct {
	Name  string   `cbor:"1,keyasint"`
	Index int      `cbor:"2,keyasint,omitempty"`
	Kind  Kind     `cbor:"3,keyasint"`
	S     string   `cbor:"4,keyasint,omitempty"`
	S2    string   `cbor:"5,keyasint,omitempty"`
	I     int64    `cbor:"6,keyasint,omitempty"`
	B     []byte   `cbor:"7,keyasint,omitempty"`
	E     []uint32 `cbor:"8,keyasint,omitempty"`
	I2    int64    `cbor:"9,keyasint,omitempty"`  // added for UsageLimits
	BL    [][]byte `cbor:"10,keyasint,omitempty"` // added for CertificateName
}

type recordAttr = AttrCBOR

var (
	encMode = mustEnc(cbor.CoreDetEncOptions().EncMode())
	decMode = mustDec(cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   MaxNesting,
		MaxArrayElements:  MaxArray,
		MaxMapPairs:       MaxMapPairs,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
		NaN:               cbor.NaNDecodeForbidden,
		Inf:               cbor.InfDecodeForbidden,
	}.DecMode())
)

// mustEnc and mustDec check constant options when the package loads.
func mustEnc(m cbor.EncMode, err error) cbor.EncMode {
	if err != nil {
		panic(err)
	}
	return m
}

func mustDec(m cbor.DecMode, err error) cbor.DecMode {
	if err != nil {
		panic(err)
	}
	return m
}

// unmarshal decodes b strictly into v.
func unmarshal(b []byte, v any) error { return decMode.Unmarshal(b, v) }

func associatedData(version uint, uid string) []byte {
	ad := make([]byte, 0, 16+len(uid))
	ad = append(ad, "coffer/record"...)
	ad = append(ad, 0, byte(version))
	return append(ad, uid...)
}

// SealRecord encodes o and seals it with s. The plaintext body, which holds
// the secret material, is zeroized before returning.
func SealRecord(s Sealer, o *Object) ([]byte, error) {
	body, err := encodeBody(o)
	if err != nil {
		return nil, err
	}
	defer key.Zero(body)
	sealed, err := s.Seal(body, associatedData(RecordVersion, o.UID))
	if err != nil {
		return nil, err
	}
	out, err := encMode.Marshal(envelope{Version: RecordVersion, UID: o.UID, Sealed: sealed})
	if err != nil {
		return nil, fmt.Errorf("object: encoding envelope: %w", err)
	}
	if len(out) > MaxRecordSize {
		return nil, fmt.Errorf("%w: record of %d bytes exceeds %d", ErrIllegal, len(out), MaxRecordSize)
	}
	return out, nil
}

// OpenRecord authenticates and decodes a sealed record stored under uid.
// Any failure (size, envelope, wrong UID, AEAD, body) wraps ErrCorrupt;
// no part of a corrupt record is returned.
func OpenRecord(s Sealer, uid string, data []byte) (*Object, error) {
	if len(data) > MaxRecordSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrCorrupt, len(data))
	}
	var env envelope
	if err := unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("%w: envelope: %v", ErrCorrupt, err)
	}
	if env.Version != RecordVersion {
		return nil, fmt.Errorf("%w: record version %d", ErrCorrupt, env.Version)
	}
	if env.UID != uid {
		return nil, fmt.Errorf("%w: record is for another object", ErrCorrupt)
	}
	body, err := s.Open(env.Sealed, associatedData(env.Version, uid))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	defer key.Zero(body)
	o, err := decodeBody(uid, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return o, nil
}

// encodeBody returns the deterministic CBOR body of o. The result holds
// the secret material: zero it after use.
func encodeBody(o *Object) ([]byte, error) {
	rb := recordBody{
		Type:    uint32(o.Type),
		Owner:   o.Owner,
		Groups:  o.Groups,
		Public:  o.Public,
		Format:  uint32(o.Format),
		SubType: o.SubType,

		ExportFormat: uint32(o.ExportFormat),
		Retrieved:    o.Retrieved,
	}
	var err error
	if rb.Attrs, err = encodeAttrs(o.Attrs); err != nil {
		return nil, err
	}
	if rb.Template, err = encodeAttrs(o.Template); err != nil {
		return nil, err
	}
	if o.Secret != nil {
		if rb.Secret, err = o.Secret.Bytes(); err != nil {
			return nil, err
		}
	}
	b, err := encMode.Marshal(rb)
	if err != nil {
		return nil, fmt.Errorf("object: encoding record: %w", err)
	}
	return b, nil
}

func decodeBody(uid string, b []byte) (*Object, error) {
	var rb recordBody
	if err := unmarshal(b, &rb); err != nil {
		return nil, err
	}
	defer key.Zero(rb.Secret)
	o := &Object{
		UID:     uid,
		Type:    Type(rb.Type),
		Owner:   rb.Owner,
		Groups:  rb.Groups,
		Public:  rb.Public,
		Format:  KeyFormat(rb.Format),
		SubType: rb.SubType,

		ExportFormat: KeyFormat(rb.ExportFormat),
		Retrieved:    rb.Retrieved,
	}
	if !o.Type.Supported() {
		return nil, fmt.Errorf("object type %d", rb.Type)
	}
	var err error
	if o.Attrs, err = decodeAttrs(rb.Attrs); err != nil {
		return nil, err
	}
	if o.Template, err = decodeAttrs(rb.Template); err != nil {
		return nil, err
	}
	if len(rb.Secret) > 0 {
		if o.Secret, err = key.NewMaterial(rb.Secret); err != nil {
			return nil, err
		}
	}
	return o, nil
}

func encodeAttrs(as []Attribute) ([]recordAttr, error) {
	if len(as) == 0 {
		return nil, nil
	}
	out := make([]recordAttr, len(as))
	for i, a := range as {
		ra, err := encodeAttr(a)
		if err != nil {
			return nil, err
		}
		out[i] = ra
	}
	return out, nil
}

// ToCBOR converts an attribute to its CBOR form. It fails with ErrInvalid
// for a value of an unsupported Go type (it does not apply attribute rules).
func ToCBOR(a Attribute) (AttrCBOR, error) { return encodeAttr(a) }

// FromCBOR converts the CBOR form back. It checks the form's consistency
// and the value's kind-level limits, not the attribute rules, so that the
// core can report a rule violation with its proper error. Failures wrap
// ErrInvalid.
func FromCBOR(c AttrCBOR) (Attribute, error) {
	if _, err := RuleFor(c.Name); err != nil {
		return Attribute{}, err
	}
	a, err := decodeValue(c)
	if err != nil {
		return Attribute{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := checkValue(a.Value); err != nil {
		return Attribute{}, err
	}
	return a, nil
}

func encodeAttr(a Attribute) (recordAttr, error) {
	r := recordAttr{Name: a.Name, Index: a.Index, Kind: KindOf(a.Value)}
	switch v := a.Value.(type) {
	case string:
		r.S = v
	case int32:
		r.I = int64(v)
	case int64:
		r.I = v
	case *big.Int:
		r.I, r.B = int64(v.Sign()), v.Bytes()
	case bool:
		if v {
			r.I = 1
		}
	case []byte:
		r.B = v
	case time.Time:
		r.I = v.Unix()
	case time.Duration:
		r.I = int64(v / time.Second)
	case Name:
		r.S, r.E = v.Value, []uint32{uint32(v.Type)}
	case Link:
		r.S, r.E = v.ID, []uint32{uint32(v.Type)}
	case Digest:
		r.B, r.E = v.Value, []uint32{uint32(v.Algorithm), uint32(v.Format)}
	case RevocationReason:
		r.S, r.E = v.Message, []uint32{uint32(v.Code)}
	case CryptoParams:
		r.E = []uint32{v.BlockCipherMode, v.PaddingMethod, uint32(v.HashingAlgorithm), v.KeyRoleType}
	case AppInfo:
		r.S, r.S2 = v.Namespace, v.Data
	case UsageLimits:
		r.I, r.I2, r.E = v.Total, v.Count, []uint32{v.Unit}
	case CertificateName:
		// Empty byte strings, never CBOR null, so that encoding is canonical.
		r.B, r.BL = v.Name, [][]byte{append([]byte{}, v.Serial...)}
		for _, a := range v.Alt {
			r.BL = append(r.BL, append([]byte{}, a...))
		}
	default:
		e, ok := EnumValue(v)
		if !ok {
			return r, fmt.Errorf("%w: %s: value type %T", ErrInvalid, a.Name, v)
		}
		r.E = []uint32{e}
	}
	return r, nil
}

var errBadAttr = errors.New("malformed attribute")

func decodeAttrs(rs []recordAttr) ([]Attribute, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	if len(rs) > MaxAttrs {
		return nil, fmt.Errorf("%d attributes", len(rs))
	}
	out := make([]Attribute, len(rs))
	for i, r := range rs {
		a, err := decodeAttr(r)
		if err != nil {
			return nil, err
		}
		if i > 0 && compareAttr(out[i-1], a) >= 0 {
			return nil, fmt.Errorf("attributes out of order at %q", a.Name)
		}
		out[i] = a
	}
	return out, nil
}

func decodeAttr(r recordAttr) (Attribute, error) {
	a, err := decodeValue(r)
	return a, err
}

func decodeValue(r recordAttr) (Attribute, error) {
	a := Attribute{Name: r.Name, Index: r.Index}
	e := func(n int) (uint32, error) {
		if len(r.E) != n {
			return 0, fmt.Errorf("%w %q", errBadAttr, r.Name)
		}
		return r.E[0], nil
	}
	var err error
	switch r.Kind {
	case KindText:
		a.Value = r.S
	case KindInteger:
		if int64(int32(r.I)) != r.I {
			return a, fmt.Errorf("%w %q", errBadAttr, r.Name)
		}
		a.Value = int32(r.I)
	case KindLongInteger:
		a.Value = r.I
	case KindBigInteger:
		v := new(big.Int).SetBytes(r.B)
		if r.I < 0 {
			v.Neg(v)
		}
		a.Value = v
	case KindEnumeration:
		var v uint32
		v, err = e(1)
		a.Value = TypedEnum(r.Name, v)
	case KindBoolean:
		a.Value = r.I != 0
	case KindBytes:
		a.Value = append([]byte{}, r.B...)
	case KindDateTime:
		a.Value = time.Unix(r.I, 0).UTC()
	case KindInterval:
		a.Value = time.Duration(r.I) * time.Second
	case KindName:
		var t uint32
		t, err = e(1)
		a.Value = Name{Value: r.S, Type: NameType(t)}
	case KindLink:
		var t uint32
		t, err = e(1)
		a.Value = Link{Type: LinkType(t), ID: r.S}
	case KindDigest:
		if len(r.E) != 2 {
			return a, fmt.Errorf("%w %q", errBadAttr, r.Name)
		}
		a.Value = Digest{Algorithm: HashAlgorithm(r.E[0]), Format: KeyFormat(r.E[1]), Value: append([]byte{}, r.B...)}
	case KindRevocationReason:
		var c uint32
		c, err = e(1)
		a.Value = RevocationReason{Code: RevocationReasonCode(c), Message: r.S}
	case KindCryptoParams:
		if len(r.E) != 4 {
			return a, fmt.Errorf("%w %q", errBadAttr, r.Name)
		}
		a.Value = CryptoParams{BlockCipherMode: r.E[0], PaddingMethod: r.E[1], HashingAlgorithm: HashAlgorithm(r.E[2]), KeyRoleType: r.E[3]}
	case KindAppInfo:
		a.Value = AppInfo{Namespace: r.S, Data: r.S2}
	case KindCertificateName:
		if len(r.BL) == 0 || len(r.BL) > MaxCertAltNames+1 {
			return a, fmt.Errorf("%w %q", errBadAttr, r.Name)
		}
		c := CertificateName{Name: append([]byte{}, r.B...), Serial: append([]byte(nil), r.BL[0]...)}
		for _, b := range r.BL[1:] {
			c.Alt = append(c.Alt, append([]byte{}, b...))
		}
		a.Value = c
	case KindUsageLimits:
		var u uint32
		u, err = e(1)
		a.Value = UsageLimits{Total: r.I, Count: r.I2, Unit: u}
	default:
		return a, fmt.Errorf("%w %q: kind %d", errBadAttr, r.Name, r.Kind)
	}
	return a, err
}
