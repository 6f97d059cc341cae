package seal

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// capDigest is what CapPCR extends: a fixed value nobody's policy expects.
var capDigest = sha256.Sum256([]byte("coffer: boot PCR capped, no further unseal this boot"))

// ExtendPCR extends the SHA-256 bank of PCR pcr with a 32-byte digest
// (e.g. SHA-256 of the image manifest). Only the SHA-256 bank is extended;
// Coffer's policies use no other.
func ExtendPCR(t transport.TPM, pcr int, digest []byte) error {
	if pcr < 0 || pcr > MaxPCR {
		return fmt.Errorf("seal: PCR %d out of range 0..%d", pcr, MaxPCR)
	}
	if len(digest) != sha256.Size {
		return fmt.Errorf("seal: PCR digest is %d bytes, want %d", len(digest), sha256.Size)
	}
	_, err := tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(pcr), Auth: tpm2.PasswordAuth(nil)},
		Digests: tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{
			HashAlg: tpm2.TPMAlgSHA256,
			Digest:  slices.Clone(digest),
		}}},
	}.Execute(t)
	if err != nil {
		return tpmError(fmt.Sprintf("extending PCR %d", pcr), err)
	}
	return nil
}

// CapPCR extends PCR pcr with a fixed cap value, so that no policy that
// expects its pre-cap value is satisfied again until the next reboot. PID 1
// caps the boot PCR right after unsealing, before starting anything else.
func CapPCR(t transport.TPM, pcr int) error {
	return ExtendPCR(t, pcr, capDigest[:])
}

// ReadPCRs returns the SHA-256 values of the given PCRs, keyed by index.
func ReadPCRs(t transport.TPM, pcrs []int) (map[int][]byte, error) {
	out := make(map[int][]byte, len(pcrs))
	todo := slices.Clone(pcrs)
	slices.Sort(todo)
	todo = slices.Compact(todo)
	for _, p := range todo {
		if p < 0 || p > MaxPCR {
			return nil, fmt.Errorf("seal: PCR %d out of range 0..%d", p, MaxPCR)
		}
	}
	// A TPM returns at most a few digests per TPM2_PCR_Read; ask again for
	// the rest until every PCR has been read.
	for len(todo) > 0 {
		rsp, err := tpm2.PCRRead{PCRSelectionIn: pcrSelection(todo)}.Execute(t)
		if err != nil {
			return nil, tpmError("reading PCRs", err)
		}
		var got []int
		for _, sel := range rsp.PCRSelectionOut.PCRSelections {
			if sel.Hash != tpm2.TPMAlgSHA256 {
				continue
			}
			for i, b := range sel.PCRSelect {
				for bit := range 8 {
					if b&(1<<bit) != 0 {
						got = append(got, i*8+bit)
					}
				}
			}
		}
		if len(got) == 0 || len(got) != len(rsp.PCRValues.Digests) {
			return nil, fmt.Errorf("seal: TPM returned no SHA-256 PCR values (is the SHA-256 bank active?)")
		}
		for i, p := range got {
			out[p] = slices.Clone(rsp.PCRValues.Digests[i].Buffer)
		}
		before := len(todo)
		todo = slices.DeleteFunc(todo, func(p int) bool { _, ok := out[p]; return ok })
		if len(todo) == before {
			return nil, fmt.Errorf("seal: TPM did not return PCRs %v", todo)
		}
	}
	return out, nil
}

// SignCurrentPolicy reads the current values of pcrs from the TPM and signs
// a policy of the given version expecting exactly them. It serves host mode
// (coffer serve with swtpm), where no release pipeline predicts the PCRs:
// whoever holds releaseKey can approve any boot state, so the protection is
// only as good as that key's storage.
func SignCurrentPolicy(rand io.Reader, t transport.TPM, releaseKey *ecdsa.PrivateKey, version uint64, pcrs []int) ([]byte, error) {
	cur, err := ReadPCRs(t, pcrs)
	if err != nil {
		return nil, err
	}
	p := Policy{Version: version}
	for _, i := range slices.Sorted(maps.Keys(cur)) {
		p.PCRs = append(p.PCRs, PCRValue{Index: i, Value: cur[i]})
	}
	return SignPolicy(rand, releaseKey, p)
}
