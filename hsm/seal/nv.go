package seal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// maxRatchet bounds how many TPM2_NV_Increment calls one unseal makes to
// bring the rollback counter up to a policy's version. Releases number
// their policies consecutively; a larger jump is refused rather than
// wearing the TPM's NV memory.
const maxRatchet = 1024

// checkNVIndex accepts owner-range NV indices (TCG handle registry).
func checkNVIndex(i uint32) error {
	if i < 0x01800000 || i > 0x01BFFFFF {
		return fmt.Errorf("seal: NV index %#x is not an owner NV index (0x01800000–0x01BFFFFF)", i)
	}
	return nil
}

// counterPublic is the public area of the rollback counter: an NV counter
// read and incremented with its (empty) auth value, exempt from
// dictionary-attack lockout. written selects the Written attribute, which
// is part of the Name the policy binds to.
func counterPublic(index uint32, written bool) tpm2.TPMSNVPublic {
	return tpm2.TPMSNVPublic{
		NVIndex: tpm2.TPMHandle(index),
		NameAlg: tpm2.TPMAlgSHA256,
		Attributes: tpm2.TPMANV{
			AuthWrite: true,
			AuthRead:  true,
			NT:        tpm2.TPMNTCounter,
			NoDA:      true,
			Written:   written,
		},
		DataSize: 8,
	}
}

// counterName is the Name of the (written) rollback counter.
func counterName(index uint32) (*tpm2.TPM2BName, error) {
	pub := counterPublic(index, true)
	return tpm2.NVName(&pub)
}

// counter is the rollback counter of one TPM.
type counter struct {
	index uint32
	name  tpm2.TPM2BName
}

func (c *counter) auth() tpm2.AuthHandle {
	return tpm2.AuthHandle{Handle: tpm2.TPMHandle(c.index), Name: c.name, Auth: tpm2.PasswordAuth(nil)}
}

func (c *counter) handle() tpm2.NamedHandle {
	return tpm2.NamedHandle{Handle: tpm2.TPMHandle(c.index), Name: c.name}
}

// openCounter finds the rollback counter. With create, it defines and
// initializes a missing counter (owner authorization, empty); without, a
// missing counter is ErrRollback. A counter whose attributes differ from
// ours is ErrRollback: someone else defined that index.
func openCounter(t transport.TPM, index uint32, create bool) (*counter, error) {
	rsp, err := tpm2.NVReadPublic{NVIndex: tpm2.TPMHandle(index)}.Execute(t)
	if errors.Is(err, tpm2.TPMRCHandle) {
		if !create {
			return nil, fmt.Errorf("%w: rollback counter NV index %#x is missing (deleted?)", ErrRollback, index)
		}
		if _, err := (tpm2.NVDefineSpace{
			AuthHandle: tpm2.TPMRHOwner,
			PublicInfo: tpm2.New2B(counterPublic(index, false)),
		}).Execute(t); err != nil {
			return nil, tpmError("defining rollback counter", err)
		}
		rsp, err = tpm2.NVReadPublic{NVIndex: tpm2.TPMHandle(index)}.Execute(t)
	}
	if err != nil {
		return nil, tpmError("reading rollback counter", err)
	}
	pub, err := rsp.NVPublic.Contents()
	if err != nil {
		return nil, tpmError("reading rollback counter", err)
	}
	// Check the index is ours before writing to it.
	want := counterPublic(index, pub.Attributes.Written)
	wantName, err := tpm2.NVName(&want)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(rsp.NVName.Buffer, wantName.Buffer) {
		return nil, fmt.Errorf("%w: NV index %#x exists with other attributes than Coffer's rollback counter", ErrRollback, index)
	}
	c := &counter{index: index, name: rsp.NVName}
	if !pub.Attributes.Written {
		if !create {
			return nil, fmt.Errorf("%w: rollback counter NV index %#x was never written", ErrRollback, index)
		}
		if _, err := (tpm2.NVIncrement{AuthHandle: c.auth(), NVIndex: c.handle()}).Execute(t); err != nil {
			return nil, tpmError("initializing rollback counter", err)
		}
		if rsp, err = (tpm2.NVReadPublic{NVIndex: tpm2.TPMHandle(index)}).Execute(t); err != nil {
			return nil, tpmError("reading rollback counter", err)
		}
		c.name = rsp.NVName
		written, err := counterName(index)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(c.name.Buffer, written.Buffer) {
			return nil, fmt.Errorf("seal: rollback counter %#x has an unexpected name after initialization", index)
		}
	}
	return c, nil
}

// read returns the counter value.
func (c *counter) read(t transport.TPM) (uint64, error) {
	rsp, err := tpm2.NVRead{AuthHandle: c.auth(), NVIndex: c.handle(), Size: 8}.Execute(t)
	if err != nil {
		return 0, tpmError("reading rollback counter", err)
	}
	if len(rsp.Data.Buffer) != 8 {
		return 0, fmt.Errorf("seal: rollback counter returned %d bytes", len(rsp.Data.Buffer))
	}
	return binary.BigEndian.Uint64(rsp.Data.Buffer), nil
}

// ratchet increments the counter from cur up to v.
func (c *counter) ratchet(t transport.TPM, cur, v uint64) error {
	if v <= cur {
		return nil
	}
	if v-cur > maxRatchet {
		return fmt.Errorf("%w: policy version %d is more than %d above the rollback counter %d", ErrPolicy, v, maxRatchet, cur)
	}
	for ; cur < v; cur++ {
		if _, err := (tpm2.NVIncrement{AuthHandle: c.auth(), NVIndex: c.handle()}).Execute(t); err != nil {
			return tpmError("advancing rollback counter", err)
		}
	}
	return nil
}
