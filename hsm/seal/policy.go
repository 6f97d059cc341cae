package seal

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"

	"github.com/google/go-tpm/tpm2"
)

// A Policy is a boot policy: the PCR values a release expects and the
// release's rollback version. The release signs it (SignPolicy) and the
// image carries the signed encoding; the TPM sealer unseals the master key
// only when the current PCRs equal PCRs and the TPM's rollback counter is
// not above Version.
type Policy struct {
	// Version is the security version (rollback epoch), at least 1.
	// Unsealing with version v advances the TPM's counter to v, after
	// which policies below v are refused. Bump it by one when older
	// releases must no longer boot (a security fix), not on every release:
	// releases of the same version can replace each other freely, and a
	// counter moves at most 1024 steps in one unseal.
	Version uint64
	// NVIndex is the TPM NV index of the rollback counter; 0 means
	// DefaultNVIndex. It must match the sealer's Config.NVIndex.
	NVIndex uint32
	// PCRs are the expected SHA-256 PCR values, in ascending index order,
	// each index at most once (at least 1, at most MaxPCR+1 entries).
	PCRs []PCRValue
}

// PCRValue is the expected value of one SHA-256 PCR.
type PCRValue struct {
	Index int
	Value []byte // 32 bytes
}

const (
	// MaxPCR is the highest PCR index a policy may name.
	MaxPCR = 23
	// policyMagic starts a signed policy; policyFormat is its format
	// version.
	policyMagic  = "CFBP"
	policyFormat = 1
	// sigSize is the size of the raw ECDSA P-256 signature r || s.
	sigSize = 64
	// maxPolicySize bounds the encoding.
	maxPolicySize = len(policyMagic) + 1 + 8 + 4 + 1 + (MaxPCR+1)*(1+sha256.Size) + sigSize
)

// policyRef qualifies every approved policy: a release signature over a
// policy for some other purpose does not authorize the master key.
var policyRef = []byte("coffer/seal/master-key/v1")

// PredictPCR returns the value of a SHA-256 PCR that started at zero and
// was extended with each of digests in turn.
func PredictPCR(digests ...[]byte) []byte {
	v := make([]byte, sha256.Size)
	for _, d := range digests {
		h := sha256.New()
		h.Write(v)
		h.Write(d)
		v = h.Sum(v[:0])
	}
	return v
}

// validate checks p's fields and fills in defaults.
func (p *Policy) validate() error {
	if p.Version == 0 {
		return fmt.Errorf("%w: version 0", ErrPolicy)
	}
	if p.NVIndex == 0 {
		p.NVIndex = DefaultNVIndex
	}
	if err := checkNVIndex(p.NVIndex); err != nil {
		return fmt.Errorf("%w: %v", ErrPolicy, err)
	}
	if len(p.PCRs) == 0 || len(p.PCRs) > MaxPCR+1 {
		return fmt.Errorf("%w: %d PCRs, want 1 to %d", ErrPolicy, len(p.PCRs), MaxPCR+1)
	}
	for i, v := range p.PCRs {
		if v.Index < 0 || v.Index > MaxPCR {
			return fmt.Errorf("%w: PCR index %d out of range", ErrPolicy, v.Index)
		}
		if i > 0 && v.Index <= p.PCRs[i-1].Index {
			return fmt.Errorf("%w: PCR indices not strictly ascending", ErrPolicy)
		}
		if len(v.Value) != sha256.Size {
			return fmt.Errorf("%w: PCR %d value is %d bytes, want %d", ErrPolicy, v.Index, len(v.Value), sha256.Size)
		}
	}
	return nil
}

func (p *Policy) indices() []int {
	out := make([]int, len(p.PCRs))
	for i, v := range p.PCRs {
		out[i] = v.Index
	}
	return out
}

// pcrDigest is the PolicyPCR digest: SHA-256 over the expected values in
// ascending index order.
func (p *Policy) pcrDigest() []byte {
	h := sha256.New()
	for _, v := range p.PCRs {
		h.Write(v.Value)
	}
	return h.Sum(nil)
}

// approvedPolicy computes the policy digest the release approves:
// PolicyPCR(selection, digest) followed by PolicyNV(counter <= Version).
func (p *Policy) approvedPolicy() ([]byte, error) {
	calc, err := tpm2.NewPolicyCalculator(tpm2.TPMAlgSHA256)
	if err != nil {
		return nil, err
	}
	if err := (tpm2.PolicyPCR{
		PcrDigest: tpm2.TPM2BDigest{Buffer: p.pcrDigest()},
		Pcrs:      pcrSelection(p.indices()),
	}).Update(calc); err != nil {
		return nil, err
	}
	name, err := counterName(p.NVIndex)
	if err != nil {
		return nil, err
	}
	if err := (tpm2.PolicyNV{
		NVIndex:   tpm2.NamedHandle{Handle: tpm2.TPMHandle(p.NVIndex), Name: *name},
		OperandB:  tpm2.TPM2BOperand{Buffer: versionOperand(p.Version)},
		Offset:    0,
		Operation: tpm2.TPMEOUnsignedLE,
	}).Update(calc); err != nil {
		return nil, err
	}
	return calc.Hash().Digest, nil
}

// signedDigest is aHash, the digest TPM2_VerifySignature checks for
// TPM2_PolicyAuthorize: SHA-256(approvedPolicy || policyRef).
func (p *Policy) signedDigest() ([]byte, error) {
	approved, err := p.approvedPolicy()
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write(approved)
	h.Write(policyRef)
	return h.Sum(nil), nil
}

func versionOperand(v uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, v)
}

// SignPolicy validates p, signs it with the release key (ECDSA P-256) and
// returns the encoding an image carries. rand is the signing randomness.
func SignPolicy(rand io.Reader, releaseKey *ecdsa.PrivateKey, p Policy) ([]byte, error) {
	if releaseKey == nil || releaseKey.Curve != elliptic.P256() {
		return nil, errors.New("seal: release key must be ECDSA P-256")
	}
	p.PCRs = slices.Clone(p.PCRs)
	if err := p.validate(); err != nil {
		return nil, err
	}
	digest, err := p.signedDigest()
	if err != nil {
		return nil, err
	}
	r, s, err := ecdsa.Sign(rand, releaseKey, digest)
	if err != nil {
		return nil, fmt.Errorf("seal: signing policy: %w", err)
	}
	b := p.encode()
	b = append(b, r.FillBytes(make([]byte, 32))...)
	b = append(b, s.FillBytes(make([]byte, 32))...)
	return b, nil
}

// encode returns the unsigned part of the encoding:
//
//	"CFBP" | format u8 | version u64 | nv index u32 | n u8 |
//	n × (pcr u8 | value [32]) | r [32] | s [32]   (integers big-endian)
//
// Rules for changing it: a new layout gets a new format number and the
// parser keeps accepting every format a shipped image may carry.
func (p *Policy) encode() []byte {
	b := []byte(policyMagic)
	b = append(b, policyFormat)
	b = binary.BigEndian.AppendUint64(b, p.Version)
	b = binary.BigEndian.AppendUint32(b, p.NVIndex)
	b = append(b, byte(len(p.PCRs)))
	for _, v := range p.PCRs {
		b = append(b, byte(v.Index))
		b = append(b, v.Value...)
	}
	return b
}

// signedPolicy is a decoded policy and its signature.
type signedPolicy struct {
	Policy
	r, s []byte
}

// parsePolicy decodes a signed policy without verifying it. Errors wrap
// ErrPolicy.
func parsePolicy(b []byte) (*signedPolicy, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: no signed policy given", ErrPolicy)
	}
	if len(b) > maxPolicySize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrPolicy, len(b), maxPolicySize)
	}
	const head = len(policyMagic) + 1 + 8 + 4 + 1
	if len(b) < head || string(b[:4]) != policyMagic {
		return nil, fmt.Errorf("%w: not a signed boot policy", ErrPolicy)
	}
	if b[4] != policyFormat {
		return nil, fmt.Errorf("%w: unknown format %d", ErrPolicy, b[4])
	}
	var sp signedPolicy
	sp.Version = binary.BigEndian.Uint64(b[5:])
	sp.NVIndex = binary.BigEndian.Uint32(b[13:])
	n := int(b[17])
	if len(b) != head+n*(1+sha256.Size)+sigSize {
		return nil, fmt.Errorf("%w: length %d does not match %d PCRs", ErrPolicy, len(b), n)
	}
	rest := b[head:]
	for range n {
		sp.PCRs = append(sp.PCRs, PCRValue{Index: int(rest[0]), Value: bytes.Clone(rest[1 : 1+sha256.Size])})
		rest = rest[1+sha256.Size:]
	}
	sp.r, sp.s = bytes.Clone(rest[:32]), bytes.Clone(rest[32:64])
	if sp.NVIndex == 0 {
		return nil, fmt.Errorf("%w: NV index 0", ErrPolicy)
	}
	if err := sp.validate(); err != nil {
		return nil, err
	}
	return &sp, nil
}

// verify checks the signature with the release key in software.
func (sp *signedPolicy) verify(releaseKey *ecdsa.PublicKey) error {
	digest, err := sp.signedDigest()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPolicy, err)
	}
	r, s := new(big.Int).SetBytes(sp.r), new(big.Int).SetBytes(sp.s)
	if !ecdsa.Verify(releaseKey, digest, r, s) {
		return fmt.Errorf("%w: signature does not verify with the release key", ErrPolicy)
	}
	return nil
}

// VerifyPolicy decodes a signed policy and checks its signature with the
// release key. Errors wrap ErrPolicy.
func VerifyPolicy(signed []byte, releaseKey *ecdsa.PublicKey) (*Policy, error) {
	if err := checkReleaseKey(releaseKey); err != nil {
		return nil, err
	}
	sp, err := parsePolicy(signed)
	if err != nil {
		return nil, err
	}
	if err := sp.verify(releaseKey); err != nil {
		return nil, err
	}
	p := sp.Policy
	return &p, nil
}

func checkReleaseKey(k *ecdsa.PublicKey) error {
	if k == nil {
		return fmt.Errorf("%w: no release key configured", ErrPolicy)
	}
	if k.Curve != elliptic.P256() {
		return fmt.Errorf("%w: release key is not ECDSA P-256", ErrPolicy)
	}
	return nil
}

// releasePublic is the TPM public area of the release key, as loaded with
// TPM2_LoadExternal. Its Name is what PolicyAuthorize binds to.
func releasePublic(k *ecdsa.PublicKey) (tpm2.TPMTPublic, error) {
	pt, err := k.Bytes() // uncompressed point 04 || X || Y
	if err != nil || len(pt) != 65 {
		return tpm2.TPMTPublic{}, fmt.Errorf("%w: invalid release key", ErrPolicy)
	}
	return tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgECC,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			SignEncrypt:  true,
			UserWithAuth: true,
		},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
			Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
			Scheme: tpm2.TPMTECCScheme{
				Scheme: tpm2.TPMAlgECDSA,
				Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSigSchemeECDSA{
					HashAlg: tpm2.TPMAlgSHA256,
				}),
			},
			CurveID: tpm2.TPMECCNistP256,
			KDF:     tpm2.TPMTKDFScheme{Scheme: tpm2.TPMAlgNull},
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
			X: tpm2.TPM2BECCParameter{Buffer: pt[1:33]},
			Y: tpm2.TPM2BECCParameter{Buffer: pt[33:65]},
		}),
	}, nil
}

// releaseName is the TPM Name of the release key.
func releaseName(k *ecdsa.PublicKey) ([]byte, error) {
	pub, err := releasePublic(k)
	if err != nil {
		return nil, err
	}
	name, err := tpm2.ObjectName(&pub)
	if err != nil {
		return nil, fmt.Errorf("%w: release key name: %v", ErrPolicy, err)
	}
	return name.Buffer, nil
}

// pcrSelection is the SHA-256 PCR selection of indices.
func pcrSelection(indices []int) tpm2.TPMLPCRSelection {
	u := make([]uint, len(indices))
	for i, x := range indices {
		u[i] = uint(x)
	}
	return tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{
		Hash:      tpm2.TPMAlgSHA256,
		PCRSelect: tpm2.PCClientCompatible.PCRs(u...),
	}}}
}
