package seal

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// TPM is the TPM 2.0 sealer. See the package documentation for the design.
type TPM struct {
	t      transport.TPMCloser
	name   string
	cfg    Config
	closed bool
}

var _ Sealer = (*TPM)(nil)

// NewTPM returns a sealer over an open TPM transport; Close closes t. name
// describes the TPM for logs (e.g. "/dev/tpmrm0", "tcp:127.0.0.1:2321").
// cfg.Policy and cfg.ReleaseKey are checked when sealing or unsealing, not
// here, so that PID 1 can measure and cap PCRs before it has a policy.
func NewTPM(t transport.TPMCloser, name string, cfg Config) (*TPM, error) {
	if t == nil {
		return nil, errors.New("seal: nil TPM transport")
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return &TPM{t: t, name: name, cfg: cfg}, nil
}

// Name returns "tpm:" and the TPM's description.
func (s *TPM) Name() string { return "tpm:" + s.name }

// Transport returns the TPM connection, for ExtendPCR and CapPCR. It is
// valid until Close.
func (s *TPM) Transport() transport.TPM { return s.t }

// Close closes the TPM connection. Later calls do nothing.
func (s *TPM) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	return s.t.Close()
}

// sealedPublic is the template of the sealed master key: a keyed-hash
// data object that can never leave this TPM and is usable only through
// authPolicy (no password, no admin role).
func sealedPublic(authPolicy []byte) tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgKeyedHash,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			FixedTPM:        true,
			FixedParent:     true,
			AdminWithPolicy: true,
			NoDA:            true,
		},
		AuthPolicy: tpm2.TPM2BDigest{Buffer: authPolicy},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, &tpm2.TPMSKeyedHashParms{
			Scheme: tpm2.TPMTKeyedHashScheme{Scheme: tpm2.TPMAlgNull},
		}),
	}
}

// authorizePolicy is the sealed object's authPolicy: PolicyAuthorize by
// the release key with Coffer's policyRef.
func authorizePolicy(relName []byte) ([]byte, error) {
	calc, err := tpm2.NewPolicyCalculator(tpm2.TPMAlgSHA256)
	if err != nil {
		return nil, err
	}
	if err := (tpm2.PolicyAuthorize{
		PolicyRef: tpm2.TPM2BDigest{Buffer: policyRef},
		KeySign:   tpm2.TPM2BName{Buffer: relName},
	}).Update(calc); err != nil {
		return nil, err
	}
	return calc.Hash().Digest, nil
}

// Seal seals m to the configured signed policy. It provisions the rollback
// counter when missing, refuses a policy older than the counter
// (ErrRollback), and before returning unseals the new blob once to prove
// that the current boot state opens it: a boot state that does not match
// the policy fails here with ErrPCRMismatch instead of at the next boot.
func (s *TPM) Seal(m *key.Master) ([]byte, error) {
	secret, err := m.Bytes()
	if err != nil {
		return nil, err
	}
	sp, err := s.cfg.policy()
	if err != nil {
		return nil, err
	}
	relName, err := releaseName(s.cfg.ReleaseKey)
	if err != nil {
		return nil, err
	}
	if err := checkLockout(s.t); err != nil {
		return nil, err
	}
	srk, err := createSRK(s.t)
	if err != nil {
		return nil, err
	}
	defer srk.flush(s.t)
	ctr, err := openCounter(s.t, sp.NVIndex, true)
	if err != nil {
		return nil, err
	}
	cur, err := ctr.read(s.t)
	if err != nil {
		return nil, err
	}
	if cur > sp.Version {
		return nil, fmt.Errorf("%w: policy version %d, rollback counter at %d", ErrRollback, sp.Version, cur)
	}
	authPolicy, err := authorizePolicy(relName)
	if err != nil {
		return nil, err
	}
	rsp, err := tpm2.Create{
		ParentHandle: tpm2.AuthHandle{
			Handle: srk.handle,
			Name:   srk.name,
			// Salted to the SRK and encrypting the first parameter: the
			// master key never crosses the bus in the clear.
			Auth: tpm2.HMAC(tpm2.TPMAlgSHA256, 16,
				tpm2.AESEncryption(128, tpm2.EncryptIn),
				tpm2.Salted(srk.handle, srk.public)),
		},
		InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
			Data: tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: secret}),
		}},
		InPublic: tpm2.New2B(sealedPublic(authPolicy)),
	}.Execute(s.t)
	if err != nil {
		return nil, tpmError("creating sealed object", err)
	}
	b := tpmBlob{
		srkName:     srk.name.Buffer,
		releaseName: relName,
		public:      rsp.OutPublic.Bytes(),
		private:     rsp.OutPrivate.Buffer,
	}
	blob := b.encode()

	got, err := s.unseal(srk, sp, blob)
	if err != nil {
		return nil, fmt.Errorf("%w (trial unseal of the new blob, which was discarded)", err)
	}
	defer got.Destroy()
	if !got.Equal(m) {
		return nil, errors.New("seal: the new sealed key unsealed to a different value")
	}
	return blob, nil
}

// Unseal opens a blob made by Seal. It checks, in order: the blob format
// (ErrFormat), the signed policy and release key (ErrPolicy), TPM lockout
// (ErrLockout), that this is the TPM that sealed it (ErrWrongTPM), the blob's
// integrity (ErrCorrupt), the rollback counter (ErrRollback) and the PCRs
// (ErrPCRMismatch). On success it advances the rollback counter to the
// policy's version, so older policies are refused from then on.
func (s *TPM) Unseal(blob []byte) (*key.Master, error) {
	if _, err := parseTPMBlob(blob); err != nil {
		return nil, err
	}
	sp, err := s.cfg.policy()
	if err != nil {
		return nil, err
	}
	if err := checkLockout(s.t); err != nil {
		return nil, err
	}
	srk, err := createSRK(s.t)
	if err != nil {
		return nil, err
	}
	defer srk.flush(s.t)
	return s.unseal(srk, sp, blob)
}

func (s *TPM) unseal(srk *srk, sp *signedPolicy, blob []byte) (*key.Master, error) {
	b, err := parseTPMBlob(blob)
	if err != nil {
		return nil, err
	}
	relName, err := releaseName(s.cfg.ReleaseKey)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(relName, b.releaseName) {
		return nil, fmt.Errorf("%w: the master key was sealed for a different release key", ErrPolicy)
	}
	if !bytes.Equal(srk.name.Buffer, b.srkName) {
		return nil, fmt.Errorf("%w (storage root key differs)", ErrWrongTPM)
	}
	load, err := tpm2.Load{
		ParentHandle: tpm2.AuthHandle{Handle: srk.handle, Name: srk.name, Auth: tpm2.PasswordAuth(nil)},
		InPrivate:    tpm2.TPM2BPrivate{Buffer: b.private},
		InPublic:     tpm2.BytesAs2B[tpm2.TPMTPublic](b.public),
	}.Execute(s.t)
	if err != nil {
		if isIntegrity(err) {
			return nil, fmt.Errorf("%w: TPM rejected the sealed object: %v", ErrCorrupt, err)
		}
		return nil, tpmError("loading sealed object", err)
	}
	defer flush(s.t, load.ObjectHandle)

	// Rollback: the TPM enforces counter <= version in the policy (PolicyNV
	// below); checking first gives the clearer error.
	ctr, err := openCounter(s.t, sp.NVIndex, false)
	if err != nil {
		return nil, err
	}
	cur, err := ctr.read(s.t)
	if err != nil {
		return nil, err
	}
	if cur > sp.Version {
		return nil, fmt.Errorf("%w: policy version %d, rollback counter at %d", ErrRollback, sp.Version, cur)
	}
	if sp.Version-cur > maxRatchet {
		return nil, fmt.Errorf("%w: policy version %d is more than %d above the rollback counter %d", ErrPolicy, sp.Version, maxRatchet, cur)
	}

	sess, closeSess, err := tpm2.PolicySession(s.t, tpm2.TPMAlgSHA256, 16,
		tpm2.AESEncryption(128, tpm2.EncryptOut),
		tpm2.Salted(srk.handle, srk.public))
	if err != nil {
		return nil, tpmError("starting policy session", err)
	}
	defer closeSess()

	if _, err := (tpm2.PolicyPCR{
		PolicySession: sess.Handle(),
		PcrDigest:     tpm2.TPM2BDigest{Buffer: sp.pcrDigest()},
		Pcrs:          pcrSelection(sp.indices()),
	}).Execute(s.t); err != nil {
		if errors.Is(err, tpm2.TPMRCValue) {
			return nil, s.mismatch(sp)
		}
		return nil, tpmError("PolicyPCR", err)
	}
	if _, err := (tpm2.PolicyNV{
		AuthHandle:    ctr.auth(),
		NVIndex:       ctr.handle(),
		PolicySession: sess.Handle(),
		OperandB:      tpm2.TPM2BOperand{Buffer: versionOperand(sp.Version)},
		Operation:     tpm2.TPMEOUnsignedLE,
	}).Execute(s.t); err != nil {
		if errors.Is(err, tpm2.TPMRCPolicy) {
			return nil, fmt.Errorf("%w: TPM refused policy version %d", ErrRollback, sp.Version)
		}
		return nil, tpmError("PolicyNV", err)
	}
	approved, err := sp.approvedPolicy()
	if err != nil {
		return nil, err
	}
	ticket, err := verifyInTPM(s.t, s.cfg, sp, relName)
	if err != nil {
		return nil, err
	}
	if _, err := (tpm2.PolicyAuthorize{
		PolicySession:  sess.Handle(),
		ApprovedPolicy: tpm2.TPM2BDigest{Buffer: approved},
		PolicyRef:      tpm2.TPM2BDigest{Buffer: policyRef},
		KeySign:        tpm2.TPM2BName{Buffer: relName},
		CheckTicket:    *ticket,
	}).Execute(s.t); err != nil {
		return nil, fmt.Errorf("%w: PolicyAuthorize: %v", ErrPolicy, err)
	}
	out, err := tpm2.Unseal{
		ItemHandle: tpm2.AuthHandle{Handle: load.ObjectHandle, Name: load.Name, Auth: sess},
	}.Execute(s.t)
	if err != nil {
		if errors.Is(err, tpm2.TPMRCPolicyFail) {
			return nil, fmt.Errorf("%w: TPM refused the policy session: %v", ErrPolicy, err)
		}
		return nil, tpmError("unsealing", err)
	}
	defer key.Zero(out.OutData.Buffer)
	m, err := key.NewMaster(out.OutData.Buffer)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if err := ctr.ratchet(s.t, cur, sp.Version); err != nil {
		m.Destroy()
		return nil, err
	}
	return m, nil
}

// verifyInTPM has the TPM check the policy signature with the release key
// and returns the verification ticket PolicyAuthorize needs.
func verifyInTPM(t transport.TPM, cfg Config, sp *signedPolicy, relName []byte) (*tpm2.TPMTTKVerified, error) {
	pub, err := releasePublic(cfg.ReleaseKey)
	if err != nil {
		return nil, err
	}
	// Public part only, in the owner hierarchy: a key loaded in the null
	// hierarchy would yield a null ticket, which PolicyAuthorize refuses.
	ext, err := tpm2.LoadExternal{
		InPublic:  tpm2.New2B(pub),
		Hierarchy: tpm2.TPMRHOwner,
	}.Execute(t)
	if err != nil {
		return nil, tpmError("loading release key", err)
	}
	defer flush(t, ext.ObjectHandle)
	if !bytes.Equal(ext.Name.Buffer, relName) {
		return nil, fmt.Errorf("seal: TPM computed release key name %x, want %x", ext.Name.Buffer, relName)
	}
	digest, err := sp.signedDigest()
	if err != nil {
		return nil, err
	}
	rsp, err := tpm2.VerifySignature{
		KeyHandle: tpm2.NamedHandle{Handle: ext.ObjectHandle, Name: ext.Name},
		Digest:    tpm2.TPM2BDigest{Buffer: digest},
		Signature: tpm2.TPMTSignature{
			SigAlg: tpm2.TPMAlgECDSA,
			Signature: tpm2.NewTPMUSignature(tpm2.TPMAlgECDSA, &tpm2.TPMSSignatureECC{
				Hash:       tpm2.TPMAlgSHA256,
				SignatureR: tpm2.TPM2BECCParameter{Buffer: sp.r},
				SignatureS: tpm2.TPM2BECCParameter{Buffer: sp.s},
			}),
		},
	}.Execute(t)
	if err != nil {
		if errors.Is(err, tpm2.TPMRCSignature) {
			return nil, fmt.Errorf("%w: TPM rejected the policy signature", ErrPolicy)
		}
		return nil, tpmError("verifying policy signature", err)
	}
	return &rsp.Validation, nil
}

// mismatch builds the ErrPCRMismatch error, naming the PCRs that differ
// from the policy when they can be read.
func (s *TPM) mismatch(sp *signedPolicy) error {
	cur, err := ReadPCRs(s.t, sp.indices())
	if err != nil {
		return ErrPCRMismatch
	}
	var differ []int
	for _, v := range sp.PCRs {
		if !bytes.Equal(cur[v.Index], v.Value) {
			differ = append(differ, v.Index)
		}
	}
	return fmt.Errorf("%w (policy version %d; PCRs differing: %v)", ErrPCRMismatch, sp.Version, differ)
}

// srk is a loaded storage root key.
type srk struct {
	handle tpm2.TPMHandle
	name   tpm2.TPM2BName
	public tpm2.TPMTPublic
}

// createSRK derives the storage root key: the TCG ECC P-256 SRK template
// under the owner hierarchy. The TPM derives it from its owner seed, so it
// is the same key on every boot of the same TPM and a different one on a
// different or cleared TPM; its Name identifies the TPM in the blob.
func createSRK(t transport.TPM) (*srk, error) {
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.TPMRHOwner,
		InPublic:      tpm2.New2B(tpm2.ECCSRKTemplate),
	}.Execute(t)
	if err != nil {
		return nil, tpmError("creating storage root key", err)
	}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		flush(t, rsp.ObjectHandle)
		return nil, tpmError("creating storage root key", err)
	}
	return &srk{handle: rsp.ObjectHandle, name: rsp.Name, public: *pub}, nil
}

func (k *srk) flush(t transport.TPM) { flush(t, k.handle) }

func flush(t transport.TPM, h tpm2.TPMHandle) {
	_, _ = tpm2.FlushContext{FlushHandle: h}.Execute(t)
}

// inLockout is TPMA_PERMANENT.inLockout.
const inLockout = 1 << 9

// checkLockout returns ErrLockout when the TPM is in dictionary-attack
// lockout. Coffer's own objects are exempt from lockout, but a TPM in
// lockout means someone has been guessing authorization values: the sealer
// fails closed until the lockout ends or is reset with lockout auth.
func checkLockout(t transport.TPM) error {
	rsp, err := tpm2.GetCapability{
		Capability:    tpm2.TPMCapTPMProperties,
		Property:      uint32(tpm2.TPMPTPermanent),
		PropertyCount: 1,
	}.Execute(t)
	if err != nil {
		return tpmError("reading TPM state", err)
	}
	props, err := rsp.CapabilityData.Data.TPMProperties()
	if err != nil {
		return tpmError("reading TPM state", err)
	}
	for _, p := range props.TPMProperty {
		if p.Property == tpm2.TPMPTPermanent && p.Value&inLockout != 0 {
			return ErrLockout
		}
	}
	return nil
}

// tpmError wraps a TPM or transport error, mapping TPM_RC_LOCKOUT to
// ErrLockout.
func tpmError(what string, err error) error {
	if errors.Is(err, tpm2.TPMRCLockout) {
		return fmt.Errorf("%w (%s: %v)", ErrLockout, what, err)
	}
	return fmt.Errorf("seal: %s: %w", what, err)
}

// isIntegrity reports whether the TPM refused a blob as corrupt.
func isIntegrity(err error) bool {
	return errors.Is(err, tpm2.TPMRCIntegrity) || errors.Is(err, tpm2.TPMRCSize) ||
		errors.Is(err, tpm2.TPMRCValue) || errors.Is(err, tpm2.TPMRCInsufficient) ||
		errors.Is(err, tpm2.TPMRCAttributes) || errors.Is(err, tpm2.TPMRCBinding)
}
