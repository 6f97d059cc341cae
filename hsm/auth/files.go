package auth

import (
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/cofferhsm/coffer/internal/atomicfile"
)

const (
	appsDir      = "apps"
	lockFile     = ".lock"
	caCertFile   = "ca.crt"
	caKeyFile    = "ca.key"
	srvCertFile  = "server.crt"
	srvKeyFile   = "server.key"
	maxFileBytes = 1 << 20
)

// locked runs f while holding an exclusive flock on dir/.lock, which
// serializes writers across processes.
func (a *Authority) locked(f func() error) error {
	lf, err := os.OpenFile(filepath.Join(a.dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("auth: locking %s: %w", lf.Name(), err)
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	return f()
}

// writeFileAtomic replaces path with data (mode perm); see atomicfile.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := atomicfile.WriteFile(path, data, perm); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	return nil
}

// readFile reads a file of at most maxFileBytes. When private is set, the
// file must not be accessible to group or others.
func readFile(path string, private bool) ([]byte, error) {
	b, err := atomicfile.ReadFile(path, private, maxFileBytes)
	if errors.Is(err, atomicfile.ErrUnsafe) {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return b, err
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// singlePEM decodes the only PEM block of b, which must have one of the
// given types. Text around the block is allowed; a second block is not.
func singlePEM(b []byte, types ...string) (*pem.Block, error) {
	blk, rest := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("no PEM block")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, fmt.Errorf("more than one PEM block")
	}
	for _, t := range types {
		if blk.Type == t {
			return blk, nil
		}
	}
	return nil, fmt.Errorf("PEM block is %q, want %q", blk.Type, types[0])
}
