package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/audit"
	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/cofferhsm/coffer/hsm/object"
	"github.com/cofferhsm/coffer/hsm/rpc"
)

func masterFD(b []byte) func(int) io.ReadCloser {
	return func(int) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }
}

func TestRunServesAndKeepsKeys(t *testing.T) {
	dir, err := os.MkdirTemp("", "hsmd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock, db, auditPath := filepath.Join(dir, "s"), filepath.Join(dir, "coffer.db"), filepath.Join(dir, "audit.log")
	master := bytes.Repeat([]byte{9}, 32)
	id := hsm.Identity{Name: "kmipd-test"}

	start := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan struct{})
		done := make(chan error, 1)
		var log bytes.Buffer
		go func() {
			done <- run(ctx, &log, []string{"-socket", sock, "-db", db, "-audit", auditPath}, masterFD(master), func() { close(ready) })
		}()
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("run: %v\n%s", err, log.String())
		}
		if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("socket mode: %v %v", fi, err)
		}
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("run: %v", err)
			}
			if !bytes.Contains(log.Bytes(), []byte("hsmd: listening on "+sock)) {
				t.Errorf("no listening marker in log: %q", log.String())
			}
		}
	}
	stop := start()
	c := rpc.Dial(sock)
	ctx := context.Background()
	uid, err := c.Create(ctx, id, object.TypeSymmetricKey, []object.Attribute{
		{Name: object.AttrAlgorithm, Value: object.AlgAES}, {Name: object.AttrLength, Value: int32(256)},
		{Name: object.AttrUsageMask, Value: object.UsageMaskCrypto}})
	if err != nil {
		t.Fatal(err)
	}
	m1, err := c.Get(ctx, id, uid)
	if err != nil {
		t.Fatal(err)
	}
	defer m1.Destroy()
	c.Close()
	stop()

	// Restart on the same store: the key survived.
	stop = start()
	c = rpc.Dial(sock)
	m2, err := c.Get(ctx, id, uid)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Destroy()
	if !m1.Secret.Equal(m2.Secret) {
		t.Fatal("key changed across restart")
	}
	c.Close()
	stop()

	// The audit log verifies under the master-derived key and holds the
	// three operations.
	mk, _ := key.NewMaster(master)
	k, _ := mk.Derive(key.LabelAuditMAC, 32)
	kb, _ := k.Bytes()
	if n, err := audit.Verify(auditPath, kb); err != nil || n != 3 {
		t.Fatalf("audit.Verify = %d, %v; want 3 entries", n, err)
	}
	// Another master key cannot open this data: exit 125.
	err = run(context.Background(), io.Discard, []string{"-socket", sock, "-db", db, "-audit", auditPath},
		masterFD(bytes.Repeat([]byte{8}, 32)), nil)
	if !errors.As(err, new(configError)) {
		t.Fatalf("wrong master: %v, want configError", err)
	}
}

func TestRunConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		master []byte
	}{
		{"short master", nil, make([]byte, 31)},
		{"long master", nil, make([]byte, 33)},
		{"no master", nil, nil},
		{"bad flag", []string{"-nope"}, make([]byte, 32)},
		{"extra args", []string{"x"}, make([]byte, 32)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), io.Discard, tt.args, masterFD(tt.master), nil)
			if !errors.As(err, new(configError)) {
				t.Fatalf("err = %v, want a configError (exit 125)", err)
			}
		})
	}
}
