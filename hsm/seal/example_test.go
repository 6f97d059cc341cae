package seal_test

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"log"

	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/cofferhsm/coffer/hsm/seal"
)

// PID 1's use of the TPM sealer: measure the image into the boot PCR,
// unseal (or, on first boot only, generate and seal), then cap the PCR.
func Example_pid1() {
	var (
		manifest   []byte           // the image manifest/config
		policy     []byte           // the image's signed boot policy
		releaseKey *ecdsa.PublicKey // built into the image
		blob       []byte           // from the data disk header; nil on first boot
	)
	s, err := seal.Open(seal.DefaultDevice, seal.Config{Policy: policy, ReleaseKey: releaseKey})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	tpm := s.(*seal.TPM).Transport()
	digest := sha256.Sum256(manifest)
	if err := seal.ExtendPCR(tpm, seal.DefaultBootPCR, digest[:]); err != nil {
		log.Fatal(err)
	}
	// Cap on every path, success or not.
	defer func() {
		if err := seal.CapPCR(tpm, seal.DefaultBootPCR); err != nil {
			log.Fatal(err)
		}
	}()
	var m *key.Master
	if blob == nil {
		if m, err = key.GenerateMaster(rand.Reader); err != nil {
			log.Fatal(err)
		}
		if blob, err = s.Seal(m); err != nil {
			log.Fatal(err)
		}
		// ... write blob to the disk header ...
	} else if m, err = s.Unseal(blob); err != nil {
		// Never generate a new key here: stop and say why.
		switch {
		case errors.Is(err, seal.ErrPCRMismatch):
			log.Fatal("boot state differs from the sealed one: ", err)
		case errors.Is(err, seal.ErrRollback), errors.Is(err, seal.ErrPolicy):
			log.Fatal("image not allowed to unseal: ", err)
		default:
			log.Fatal(err)
		}
	}
	defer m.Destroy()
	// ... derive keys, open the data partition ...
}
