package seal

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/cofferhsm/coffer/hsm/seal/sealtest"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// Tests use the debug PCR 16 as the "firmware" PCR and PCR 23 as the boot
// PCR PID 1 extends: both start at zero on every swtpm start.
const (
	testFirmwarePCR = 16
	testBootPCR     = 23
)

var manifestV1 = sha256.Sum256([]byte("image manifest v1"))

// fixture is a swtpm, a release key and a boot state.
type fixture struct {
	sw      *sealtest.SWTPM
	release *ecdsa.PrivateKey
	last    *TPM // closed by the next open: swtpm serves one connection at a time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	sw := sealtest.Start(t)
	release, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{sw: sw, release: release}
}

// policy signs a policy of the given version expecting PCR 16 at zero and
// PCR 23 extended once with manifest.
func (f *fixture) policy(t *testing.T, version uint64, manifest []byte) []byte {
	t.Helper()
	b, err := SignPolicy(rand.Reader, f.release, Policy{
		Version: version,
		PCRs: []PCRValue{
			{Index: testFirmwarePCR, Value: PredictPCR()},
			{Index: testBootPCR, Value: PredictPCR(manifest)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *fixture) config(policy []byte) Config {
	return Config{
		PCRs:       []int{testFirmwarePCR},
		BootPCR:    testBootPCR,
		Policy:     policy,
		ReleaseKey: &f.release.PublicKey,
	}
}

// open connects a TPM sealer; with manifest non-nil it first extends the
// boot PCR with it, as PID 1 does.
func (f *fixture) open(t *testing.T, cfg Config, manifest []byte) *TPM {
	t.Helper()
	if f.last != nil {
		f.last.Close()
		f.last = nil
	}
	tr, err := f.sw.Open()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewTPM(tr, "swtpm", cfg)
	if err != nil {
		tr.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f.last = s
	if manifest != nil {
		if err := ExtendPCR(s.Transport(), testBootPCR, manifest); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func newMaster(t *testing.T) *key.Master {
	t.Helper()
	m, err := key.GenerateMaster(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func wantMaster(t *testing.T, got, want *key.Master) {
	t.Helper()
	if !got.Equal(want) {
		t.Fatal("unsealed master key differs from the sealed one")
	}
}

func TestTPMSealUnseal(t *testing.T) {
	f := newFixture(t)
	cfg := f.config(f.policy(t, 1, manifestV1[:]))
	s := f.open(t, cfg, manifestV1[:])
	m := newMaster(t)
	blob, err := s.Seal(m)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	got, err := s.Unseal(blob)
	if err != nil {
		t.Fatalf("Unseal: %v", err)
	}
	wantMaster(t, got, m)
	if bytes.Contains(blob, func() []byte { b, _ := m.Bytes(); return b }()) {
		t.Error("blob contains the master key in the clear")
	}
	if s.Name() != "tpm:swtpm" {
		t.Errorf("Name = %q", s.Name())
	}
}

func readCounter(t *testing.T, tr transport.TPM) uint64 {
	t.Helper()
	c, err := openCounter(tr, DefaultNVIndex, false)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.read(tr)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var manifestV2 = sha256.Sum256([]byte("image manifest v2"))

// TestTPMRestart seals, restarts swtpm (a reboot: same TPM, PCRs reset),
// and unseals after PID 1 measured the same manifest again.
func TestTPMRestart(t *testing.T) {
	f := newFixture(t)
	cfg := f.config(f.policy(t, 1, manifestV1[:]))
	m := newMaster(t)
	blob, err := f.open(t, cfg, manifestV1[:]).Seal(m)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	f.sw.Restart(t)
	got, err := f.open(t, cfg, manifestV1[:]).Unseal(blob)
	if err != nil {
		t.Fatalf("Unseal after restart: %v", err)
	}
	wantMaster(t, got, m)
}

// TestTPMPCRMismatch: any boot state other than the policy's is refused
// with ErrPCRMismatch, including the same state after CapPCR.
func TestTPMPCRMismatch(t *testing.T) {
	f := newFixture(t)
	cfg := f.config(f.policy(t, 1, manifestV1[:]))
	blob, err := f.open(t, cfg, manifestV1[:]).Seal(newMaster(t))
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	other := sha256.Sum256([]byte("tampered image"))
	tests := []struct {
		name string
		boot func(t *testing.T, tr transport.TPM)
	}{
		{"not measured", func(t *testing.T, tr transport.TPM) {}},
		{"other manifest", func(t *testing.T, tr transport.TPM) {
			if err := ExtendPCR(tr, testBootPCR, other[:]); err != nil {
				t.Fatal(err)
			}
		}},
		{"capped", func(t *testing.T, tr transport.TPM) {
			if err := ExtendPCR(tr, testBootPCR, manifestV1[:]); err != nil {
				t.Fatal(err)
			}
			if err := CapPCR(tr, testBootPCR); err != nil {
				t.Fatal(err)
			}
		}},
		{"firmware PCR extended", func(t *testing.T, tr transport.TPM) {
			if err := ExtendPCR(tr, testBootPCR, manifestV1[:]); err != nil {
				t.Fatal(err)
			}
			if err := ExtendPCR(tr, testFirmwarePCR, other[:]); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.sw.Restart(t)
			s := f.open(t, cfg, nil)
			tt.boot(t, s.Transport())
			_, err := s.Unseal(blob)
			if !errors.Is(err, ErrPCRMismatch) {
				t.Fatalf("Unseal = %v, want ErrPCRMismatch", err)
			}
			t.Log(err)
		})
	}
	// The same boot, uncapped, still unseals: the refusals above were
	// about the boot state only.
	f.sw.Restart(t)
	if _, err := f.open(t, cfg, manifestV1[:]).Unseal(blob); err != nil {
		t.Fatalf("Unseal in the sealed boot state: %v", err)
	}
}

// TestTPMCapAfterUnseal is PID 1's sequence: measure, unseal, cap; a
// second unseal in the same boot is refused.
func TestTPMCapAfterUnseal(t *testing.T) {
	f := newFixture(t)
	cfg := f.config(f.policy(t, 1, manifestV1[:]))
	s := f.open(t, cfg, manifestV1[:])
	blob, err := s.Seal(newMaster(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Unseal(blob); err != nil {
		t.Fatal(err)
	}
	if err := CapPCR(s.Transport(), testBootPCR); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Unseal(blob); !errors.Is(err, ErrPCRMismatch) {
		t.Fatalf("Unseal after CapPCR = %v, want ErrPCRMismatch", err)
	}
}

// TestTPMUpgradeAndRollback: a key sealed under signed policy v1 unseals
// in image v2 with policy v2 (no re-seal); afterwards image v1 with policy
// v1 is refused as a rollback, even across a restart.
func TestTPMUpgradeAndRollback(t *testing.T) {
	f := newFixture(t)
	p1, p2 := f.policy(t, 1, manifestV1[:]), f.policy(t, 2, manifestV2[:])
	m := newMaster(t)
	blob, err := f.open(t, f.config(p1), manifestV1[:]).Seal(m)
	if err != nil {
		t.Fatal(err)
	}

	// Image v2 cannot use policy v1 (its PCRs differ) ...
	f.sw.Restart(t)
	if _, err := f.open(t, f.config(p1), manifestV2[:]).Unseal(blob); !errors.Is(err, ErrPCRMismatch) {
		t.Fatalf("image v2 with policy v1: %v, want ErrPCRMismatch", err)
	}
	// ... but unseals with policy v2, which advances the counter.
	f.sw.Restart(t)
	s := f.open(t, f.config(p2), manifestV2[:])
	got, err := s.Unseal(blob)
	if err != nil {
		t.Fatalf("image v2 with policy v2: %v", err)
	}
	wantMaster(t, got, m)
	if c := readCounter(t, s.Transport()); c != 2 {
		t.Errorf("rollback counter = %d, want 2", c)
	}

	// Rolling back to image v1 with its genuine signed policy fails.
	f.sw.Restart(t)
	if _, err := f.open(t, f.config(p1), manifestV1[:]).Unseal(blob); !errors.Is(err, ErrRollback) {
		t.Fatalf("rollback to v1: %v, want ErrRollback", err)
	}
	// Nor can v1 seal a new key.
	if _, err := f.open(t, f.config(p1), nil).Seal(newMaster(t)); !errors.Is(err, ErrRollback) {
		t.Fatalf("Seal with v1 after v2: %v, want ErrRollback", err)
	}
	// v2 still works.
	f.sw.Restart(t)
	if _, err := f.open(t, f.config(p2), manifestV2[:]).Unseal(blob); err != nil {
		t.Fatalf("v2 again: %v", err)
	}
}

// TestTPMEnforcesRollback checks that the TPM itself, not only the
// software check, refuses an old policy: PolicyNV for version 1 fails
// once the counter is at 2.
func TestTPMEnforcesRollback(t *testing.T) {
	f := newFixture(t)
	s := f.open(t, f.config(f.policy(t, 2, manifestV1[:])), manifestV1[:])
	if _, err := s.Seal(newMaster(t)); err != nil {
		t.Fatal(err)
	}
	tr := s.Transport()
	ctr, err := openCounter(tr, DefaultNVIndex, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		version uint64
		wantErr bool
	}{{1, true}, {2, false}, {3, false}} {
		sess, closeSess, err := tpm2.PolicySession(tr, tpm2.TPMAlgSHA256, 16)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tpm2.PolicyNV{
			AuthHandle:    ctr.auth(),
			NVIndex:       ctr.handle(),
			PolicySession: sess.Handle(),
			OperandB:      tpm2.TPM2BOperand{Buffer: versionOperand(tt.version)},
			Operation:     tpm2.TPMEOUnsignedLE,
		}.Execute(tr)
		closeSess()
		if gotErr := errors.Is(err, tpm2.TPMRCPolicy); gotErr != tt.wantErr || (err != nil && !gotErr) {
			t.Errorf("PolicyNV(counter <= %d) = %v, want error %v", tt.version, err, tt.wantErr)
		}
	}
}

// TestApprovedPolicyMatchesTPM computes the approved policy in a TPM trial
// session and compares it with the software computation the release tool
// signs.
func TestApprovedPolicyMatchesTPM(t *testing.T) {
	f := newFixture(t)
	s := f.open(t, f.config(f.policy(t, 7, manifestV1[:])), manifestV1[:])
	if _, err := s.Seal(newMaster(t)); err != nil {
		t.Fatal(err)
	}
	sp, err := s.cfg.policy()
	if err != nil {
		t.Fatal(err)
	}
	tr := s.Transport()
	ctr, err := openCounter(tr, DefaultNVIndex, false)
	if err != nil {
		t.Fatal(err)
	}
	sess, closeSess, err := tpm2.PolicySession(tr, tpm2.TPMAlgSHA256, 16, tpm2.Trial())
	if err != nil {
		t.Fatal(err)
	}
	defer closeSess()
	if _, err := (tpm2.PolicyPCR{PolicySession: sess.Handle(), PcrDigest: tpm2.TPM2BDigest{Buffer: sp.pcrDigest()}, Pcrs: pcrSelection(sp.indices())}).Execute(tr); err != nil {
		t.Fatal(err)
	}
	if _, err := (tpm2.PolicyNV{AuthHandle: ctr.auth(), NVIndex: ctr.handle(), PolicySession: sess.Handle(),
		OperandB: tpm2.TPM2BOperand{Buffer: versionOperand(7)}, Operation: tpm2.TPMEOUnsignedLE}).Execute(tr); err != nil {
		t.Fatal(err)
	}
	got, err := tpm2.PolicyGetDigest{PolicySession: sess.Handle()}.Execute(tr)
	if err != nil {
		t.Fatal(err)
	}
	want, err := sp.approvedPolicy()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.PolicyDigest.Buffer, want) {
		t.Errorf("TPM policy digest %x, software %x", got.PolicyDigest.Buffer, want)
	}
}

// TestTPMBadPolicy: unsigned, tampered, foreign-signed or incomplete
// policies are refused with ErrPolicy, both for Seal and Unseal.
func TestTPMBadPolicy(t *testing.T) {
	f := newFixture(t)
	good := f.policy(t, 1, manifestV1[:])
	blob, err := f.open(t, f.config(good), manifestV1[:]).Seal(newMaster(t))
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := SignPolicy(rand.Reader, other, Policy{Version: 1, PCRs: []PCRValue{
		{Index: testFirmwarePCR, Value: PredictPCR()},
		{Index: testBootPCR, Value: PredictPCR(manifestV1[:])},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// The attacker's image measures its own manifest and edits the policy
	// to expect it: the signature no longer matches.
	evil := sha256.Sum256([]byte("attacker image"))
	tampered := bytes.Clone(good)
	copy(tampered[len(tampered)-sigSize-sha256.Size:], PredictPCR(evil[:]))
	bumped := bytes.Clone(good)
	bumped[12]++ // version
	noBoot, err := SignPolicy(rand.Reader, f.release, Policy{Version: 1, PCRs: []PCRValue{
		{Index: testFirmwarePCR, Value: PredictPCR()},
	}})
	if err != nil {
		t.Fatal(err)
	}
	otherNV, err := SignPolicy(rand.Reader, f.release, Policy{Version: 1, NVIndex: 0x01800123, PCRs: []PCRValue{
		{Index: testFirmwarePCR, Value: PredictPCR()},
		{Index: testBootPCR, Value: PredictPCR(manifestV1[:])},
	}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		policy   []byte
		release  *ecdsa.PublicKey
		manifest []byte
		sealOK   bool // a valid policy of another release key may seal anew
	}{
		{"none", nil, &f.release.PublicKey, manifestV1[:], false},
		{"garbage", []byte("not a policy"), &f.release.PublicKey, manifestV1[:], false},
		{"foreign signer", foreign, &f.release.PublicKey, manifestV1[:], false},
		{"tampered PCR", tampered, &f.release.PublicKey, evil[:], false},
		{"tampered version", bumped, &f.release.PublicKey, manifestV1[:], false},
		{"missing boot PCR", noBoot, &f.release.PublicKey, manifestV1[:], false},
		{"other NV index", otherNV, &f.release.PublicKey, manifestV1[:], false},
		{"no release key", good, nil, manifestV1[:], false},
		{"other release key", foreign, &other.PublicKey, manifestV1[:], true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.sw.Restart(t)
			cfg := f.config(tt.policy)
			cfg.ReleaseKey = tt.release
			s := f.open(t, cfg, tt.manifest)
			if _, err := s.Unseal(blob); !errors.Is(err, ErrPolicy) {
				t.Errorf("Unseal = %v, want ErrPolicy", err)
			} else {
				t.Log(err)
			}
			_, err := s.Seal(newMaster(t))
			if tt.sealOK {
				if err != nil {
					t.Errorf("Seal = %v, want success", err)
				}
			} else if !errors.Is(err, ErrPolicy) {
				t.Errorf("Seal = %v, want ErrPolicy", err)
			}
		})
	}
}

// TestTPMFreshState: a blob from one TPM on a TPM with fresh state (a
// different or cleared TPM) is ErrWrongTPM.
func TestTPMFreshState(t *testing.T) {
	f := newFixture(t)
	cfg := f.config(f.policy(t, 1, manifestV1[:]))
	blob, err := f.open(t, cfg, manifestV1[:]).Seal(newMaster(t))
	if err != nil {
		t.Fatal(err)
	}
	f.sw.Stop()
	f.sw = sealtest.Start(t)
	if _, err := f.open(t, cfg, manifestV1[:]).Unseal(blob); !errors.Is(err, ErrWrongTPM) {
		t.Fatalf("Unseal on fresh TPM = %v, want ErrWrongTPM", err)
	}
}

// TestTPMCorruptBlob: a flipped bit in the TPM's private blob is
// ErrCorrupt; every truncation and trailing garbage is ErrFormat.
func TestTPMCorruptBlob(t *testing.T) {
	f := newFixture(t)
	s := f.open(t, f.config(f.policy(t, 1, manifestV1[:])), manifestV1[:])
	blob, err := s.Seal(newMaster(t))
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(blob)
	flipped[len(flipped)-5] ^= 1
	if _, err := s.Unseal(flipped); !errors.Is(err, ErrCorrupt) {
		t.Errorf("flipped private: %v, want ErrCorrupt", err)
	}
	for j := range len(blob) {
		if _, err := s.Unseal(blob[:j]); !errors.Is(err, ErrFormat) {
			t.Fatalf("prefix %d: %v, want ErrFormat", j, err)
		}
	}
	if _, err := s.Unseal(append(bytes.Clone(blob), 0)); !errors.Is(err, ErrFormat) {
		t.Errorf("trailing byte: %v, want ErrFormat", err)
	}
	v2 := bytes.Clone(blob)
	v2[4] = 2
	if _, err := s.Unseal(v2); !errors.Is(err, ErrFormat) {
		t.Errorf("format 2: %v, want ErrFormat", err)
	}
	if _, err := s.Unseal(blob); err != nil {
		t.Errorf("original blob: %v", err)
	}
}

// TestTPMCounterDeleted: deleting the rollback counter does not reopen
// the door to rollback; Unseal fails closed with ErrRollback.
func TestTPMCounterDeleted(t *testing.T) {
	f := newFixture(t)
	s := f.open(t, f.config(f.policy(t, 1, manifestV1[:])), manifestV1[:])
	blob, err := s.Seal(newMaster(t))
	if err != nil {
		t.Fatal(err)
	}
	ctr, err := openCounter(s.Transport(), DefaultNVIndex, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (tpm2.NVUndefineSpace{AuthHandle: tpm2.TPMRHOwner, NVIndex: ctr.handle()}).Execute(s.Transport()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Unseal(blob); !errors.Is(err, ErrRollback) {
		t.Fatalf("Unseal without counter = %v, want ErrRollback", err)
	}
}

// TestTPMSealRefusesMismatch: Seal fails when the current boot state does
// not match the policy, instead of producing a key that won't unseal.
func TestTPMSealRefusesMismatch(t *testing.T) {
	f := newFixture(t)
	s := f.open(t, f.config(f.policy(t, 1, manifestV1[:])), manifestV2[:])
	if _, err := s.Seal(newMaster(t)); !errors.Is(err, ErrPCRMismatch) {
		t.Fatalf("Seal = %v, want ErrPCRMismatch", err)
	}
}

// TestTPMLockout drives the TPM into dictionary-attack lockout with wrong
// passwords on a DA-protected NV index; Seal and Unseal report ErrLockout.
func TestTPMLockout(t *testing.T) {
	f := newFixture(t)
	cfg := f.config(f.policy(t, 1, manifestV1[:]))
	s := f.open(t, cfg, manifestV1[:])
	blob, err := s.Seal(newMaster(t))
	if err != nil {
		t.Fatal(err)
	}
	tr := s.Transport()
	const index = tpm2.TPMHandle(0x01800777)
	if _, err := (tpm2.NVDefineSpace{
		AuthHandle: tpm2.TPMRHOwner,
		Auth:       tpm2.TPM2BAuth{Buffer: []byte("right")},
		PublicInfo: tpm2.New2B(tpm2.TPMSNVPublic{
			NVIndex: index, NameAlg: tpm2.TPMAlgSHA256,
			Attributes: tpm2.TPMANV{AuthRead: true, AuthWrite: true, NT: tpm2.TPMNTOrdinary},
			DataSize:   8,
		}),
	}).Execute(tr); err != nil {
		t.Fatal(err)
	}
	rp, err := tpm2.NVReadPublic{NVIndex: index}.Execute(tr)
	if err != nil {
		t.Fatal(err)
	}
	locked := false
	for range 64 {
		_, err := tpm2.NVWrite{
			AuthHandle: tpm2.AuthHandle{Handle: index, Name: rp.NVName, Auth: tpm2.PasswordAuth([]byte("wrong"))},
			NVIndex:    tpm2.NamedHandle{Handle: index, Name: rp.NVName},
			Data:       tpm2.TPM2BMaxNVBuffer{Buffer: make([]byte, 8)},
		}.Execute(tr)
		if errors.Is(err, tpm2.TPMRCLockout) {
			locked = true
			break
		}
	}
	if !locked {
		t.Fatal("could not drive swtpm into lockout")
	}
	if _, err := s.Unseal(blob); !errors.Is(err, ErrLockout) {
		t.Errorf("Unseal in lockout = %v, want ErrLockout", err)
	}
	if _, err := s.Seal(newMaster(t)); !errors.Is(err, ErrLockout) {
		t.Errorf("Seal in lockout = %v, want ErrLockout", err)
	}
}

// TestTPMOpenSpec opens the swtpm through Open's tcp: spec.
func TestTPMOpenSpec(t *testing.T) {
	f := newFixture(t)
	cfg := f.config(f.policy(t, 1, manifestV1[:]))
	sl, err := Open(f.sw.Spec(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Close()
	s := sl.(*TPM)
	if err := ExtendPCR(s.Transport(), testBootPCR, manifestV1[:]); err != nil {
		t.Fatal(err)
	}
	m := newMaster(t)
	blob, err := sl.Seal(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sl.Unseal(blob)
	if err != nil {
		t.Fatal(err)
	}
	wantMaster(t, got, m)
	if want := "tpm:" + f.sw.Spec(); sl.Name() != want {
		t.Errorf("Name = %q, want %q", sl.Name(), want)
	}
}

func newMasterB() (*key.Master, error) { return key.GenerateMaster(rand.Reader) }

// BenchmarkTPMUnseal measures one full unseal (SRK, load, policy session,
// signature check, unseal) against swtpm over loopback TCP.
func BenchmarkTPMUnseal(b *testing.B) {
	sw := sealtest.Start(b)
	release, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	policy, err := SignPolicy(rand.Reader, release, Policy{Version: 1, PCRs: []PCRValue{
		{Index: testFirmwarePCR, Value: PredictPCR()},
		{Index: testBootPCR, Value: PredictPCR(manifestV1[:])},
	}})
	if err != nil {
		b.Fatal(err)
	}
	sl, err := Open(sw.Spec(), Config{PCRs: []int{testFirmwarePCR}, BootPCR: testBootPCR, Policy: policy, ReleaseKey: &release.PublicKey})
	if err != nil {
		b.Fatal(err)
	}
	defer sl.Close()
	if err := ExtendPCR(sl.(*TPM).Transport(), testBootPCR, manifestV1[:]); err != nil {
		b.Fatal(err)
	}
	m, err := newMasterB()
	if err != nil {
		b.Fatal(err)
	}
	blob, err := sl.Seal(m)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		got, err := sl.Unseal(blob)
		if err != nil {
			b.Fatal(err)
		}
		got.Destroy()
	}
}

// TestCounterRedefineDoesNotReset backs a claim of the package
// documentation: deleting the rollback counter and defining it again does
// not bring its value back below what it was.
func TestCounterRedefineDoesNotReset(t *testing.T) {
	f := newFixture(t)
	s := f.open(t, f.config(f.policy(t, 5, manifestV1[:])), manifestV1[:])
	if _, err := s.Seal(newMaster(t)); err != nil {
		t.Fatal(err)
	}
	tr := s.Transport()
	if c := readCounter(t, tr); c != 5 {
		t.Fatalf("counter = %d, want 5", c)
	}
	ctr, err := openCounter(tr, DefaultNVIndex, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (tpm2.NVUndefineSpace{AuthHandle: tpm2.TPMRHOwner, NVIndex: ctr.handle()}).Execute(tr); err != nil {
		t.Fatal(err)
	}
	if _, err := openCounter(tr, DefaultNVIndex, true); err != nil {
		t.Fatal(err)
	}
	if c := readCounter(t, tr); c < 5 {
		t.Errorf("redefined counter = %d, want >= 5", c)
	}
}

// TestTPMVersionJumpBounded: a policy version more than maxRatchet above
// the counter is refused instead of incrementing the counter for ever.
func TestTPMVersionJumpBounded(t *testing.T) {
	f := newFixture(t)
	s := f.open(t, f.config(f.policy(t, maxRatchet+2, manifestV1[:])), manifestV1[:])
	if _, err := s.Seal(newMaster(t)); !errors.Is(err, ErrPolicy) {
		t.Fatalf("Seal = %v, want ErrPolicy", err)
	}
	if c := readCounter(t, s.Transport()); c != 1 {
		t.Errorf("counter = %d, want 1 (untouched)", c)
	}
}

// TestReadExtendPCRs reads all 24 PCRs (more than one TPM2_PCR_Read
// returns), extends PCR 16 and checks that exactly it changed, to the
// value PredictPCR computes.
func TestReadExtendPCRs(t *testing.T) {
	f := newFixture(t)
	tr := f.open(t, Config{}, nil).Transport()
	all := make([]int, MaxPCR+1)
	for i := range all {
		all[i] = i
	}
	before, err := ReadPCRs(tr, all)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != len(all) {
		t.Fatalf("read %d PCRs, want %d", len(before), len(all))
	}
	d := sha256.Sum256([]byte("measurement"))
	if err := ExtendPCR(tr, testFirmwarePCR, d[:]); err != nil {
		t.Fatal(err)
	}
	after, err := ReadPCRs(tr, all)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range all {
		want := before[i]
		if i == testFirmwarePCR {
			want = PredictPCR(d[:])
		}
		if !bytes.Equal(after[i], want) {
			t.Errorf("PCR %d = %x, want %x", i, after[i], want)
		}
	}
	for _, bad := range []struct {
		pcr    int
		digest []byte
	}{{-1, d[:]}, {24, d[:]}, {16, d[:20]}, {16, nil}} {
		if err := ExtendPCR(tr, bad.pcr, bad.digest); err == nil {
			t.Errorf("ExtendPCR(%d, %d bytes) succeeded", bad.pcr, len(bad.digest))
		}
	}
	if _, err := ReadPCRs(tr, []int{24}); err == nil {
		t.Error("ReadPCRs(24) succeeded")
	}
}

// TestTPMForeignNVIndex: an index at the counter's handle with other
// attributes is not used (nor written) as the rollback counter.
func TestTPMForeignNVIndex(t *testing.T) {
	f := newFixture(t)
	s := f.open(t, f.config(f.policy(t, 1, manifestV1[:])), manifestV1[:])
	tr := s.Transport()
	if _, err := (tpm2.NVDefineSpace{
		AuthHandle: tpm2.TPMRHOwner,
		PublicInfo: tpm2.New2B(tpm2.TPMSNVPublic{
			NVIndex: tpm2.TPMHandle(DefaultNVIndex), NameAlg: tpm2.TPMAlgSHA256,
			Attributes: tpm2.TPMANV{AuthRead: true, AuthWrite: true, NoDA: true, NT: tpm2.TPMNTOrdinary},
			DataSize:   8,
		}),
	}).Execute(tr); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seal(newMaster(t)); !errors.Is(err, ErrRollback) {
		t.Fatalf("Seal = %v, want ErrRollback", err)
	}
	rp, err := tpm2.NVReadPublic{NVIndex: tpm2.TPMHandle(DefaultNVIndex)}.Execute(tr)
	if err != nil {
		t.Fatal(err)
	}
	if pub, err := rp.NVPublic.Contents(); err != nil || pub.Attributes.Written {
		t.Errorf("foreign index was written (err %v)", err)
	}
}

// TestSignCurrentPolicy is host mode: sign the current PCRs (the default
// set) with a local key, seal, restart, unseal.
func TestSignCurrentPolicy(t *testing.T) {
	f := newFixture(t)
	s := f.open(t, Config{}, nil)
	if err := ExtendPCR(s.Transport(), DefaultBootPCR, manifestV1[:]); err != nil {
		t.Fatal(err)
	}
	policy, err := SignCurrentPolicy(rand.Reader, s.Transport(), f.release, 1, DefaultPCRs)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Policy: policy, ReleaseKey: &f.release.PublicKey}
	s = f.open(t, cfg, nil)
	m := newMaster(t)
	blob, err := s.Seal(m)
	if err != nil {
		t.Fatal(err)
	}
	f.sw.Restart(t)
	s = f.open(t, cfg, nil)
	if _, err := s.Unseal(blob); !errors.Is(err, ErrPCRMismatch) {
		t.Fatalf("Unseal before measuring = %v, want ErrPCRMismatch", err)
	}
	if err := ExtendPCR(s.Transport(), DefaultBootPCR, manifestV1[:]); err != nil {
		t.Fatal(err)
	}
	got, err := s.Unseal(blob)
	if err != nil {
		t.Fatal(err)
	}
	wantMaster(t, got, m)
}
