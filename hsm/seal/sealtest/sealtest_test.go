package sealtest

import (
	"bytes"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

// TestRestartKeepsState defines an NV index, restarts swtpm and reads it
// back: the state directory carries the TPM across processes.
func TestRestartKeepsState(t *testing.T) {
	s := Start(t)
	const index = tpm2.TPMHandle(0x01800001)
	data := []byte("sealtest")

	tpm, err := s.Open()
	if err != nil {
		t.Fatal(err)
	}
	pub := tpm2.New2B(tpm2.TPMSNVPublic{
		NVIndex: index,
		NameAlg: tpm2.TPMAlgSHA256,
		Attributes: tpm2.TPMANV{
			OwnerWrite: true, OwnerRead: true, AuthRead: true, AuthWrite: true,
			NT: tpm2.TPMNTOrdinary, NoDA: true,
		},
		DataSize: uint16(len(data)),
	})
	if _, err := (tpm2.NVDefineSpace{
		AuthHandle: tpm2.TPMRHOwner,
		PublicInfo: pub,
	}).Execute(tpm); err != nil {
		t.Fatalf("NVDefineSpace: %v", err)
	}
	rp, err := tpm2.NVReadPublic{NVIndex: index}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (tpm2.NVWrite{
		AuthHandle: tpm2.AuthHandle{Handle: index, Name: rp.NVName, Auth: tpm2.PasswordAuth(nil)},
		NVIndex:    tpm2.NamedHandle{Handle: index, Name: rp.NVName},
		Data:       tpm2.TPM2BMaxNVBuffer{Buffer: data},
	}).Execute(tpm); err != nil {
		t.Fatalf("NVWrite: %v", err)
	}
	tpm.Close()
	oldAddr := s.Addr()

	s.Restart(t)
	t.Logf("restarted: %s -> %s", oldAddr, s.Addr())
	tpm, err = s.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer tpm.Close()
	rp, err = tpm2.NVReadPublic{NVIndex: index}.Execute(tpm)
	if err != nil {
		t.Fatalf("NVReadPublic after restart: %v", err)
	}
	got, err := tpm2.NVRead{
		AuthHandle: tpm2.AuthHandle{Handle: index, Name: rp.NVName, Auth: tpm2.PasswordAuth(nil)},
		NVIndex:    tpm2.NamedHandle{Handle: index, Name: rp.NVName},
		Size:       uint16(len(data)),
	}.Execute(tpm)
	if err != nil {
		t.Fatalf("NVRead after restart: %v", err)
	}
	if !bytes.Equal(got.Data.Buffer, data) {
		t.Errorf("NV data after restart = %q, want %q", got.Data.Buffer, data)
	}
}

// TestFreshStateIsNewTPM checks that two swtpms with separate state
// directories are different TPMs (different owner seeds, so different
// primary keys).
func TestFreshStateIsNewTPM(t *testing.T) {
	name := func(s *SWTPM) []byte {
		tpm, err := s.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer tpm.Close()
		rsp, err := tpm2.CreatePrimary{
			PrimaryHandle: tpm2.TPMRHOwner,
			InPublic:      tpm2.New2B(tpm2.ECCSRKTemplate),
		}.Execute(tpm)
		if err != nil {
			t.Fatal(err)
		}
		tpm2.FlushContext{FlushHandle: rsp.ObjectHandle}.Execute(tpm)
		return rsp.Name.Buffer
	}
	a, b := Start(t), Start(t)
	if bytes.Equal(name(a), name(b)) {
		t.Error("two fresh swtpm states produced the same SRK")
	}
}

// TestStopIdempotent stops twice and checks the port is released.
func TestStopIdempotent(t *testing.T) {
	s := Start(t)
	s.Stop()
	s.Stop()
	if _, err := s.Open(); err == nil {
		t.Error("Open succeeded after Stop")
	}
}
