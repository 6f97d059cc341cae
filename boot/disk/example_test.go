package disk_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/cofferhsm/coffer/boot/disk"
	"github.com/cofferhsm/coffer/hsm/key"
)

// The boot flow PID 1 follows: a blank disk is the only first boot; any
// other failure is printed and halts the box.
func Example() {
	const dev = "/dev/vda"
	// Stand-ins for the TPM sealer (hsm/seal).
	seal := func(m *key.Master) ([]byte, error) { return nil, errors.New("no TPM in this example") }
	unseal := func(blob []byte) (*key.Master, error) { return nil, errors.New("no TPM in this example") }

	cfg := disk.Config{Device: dev}
	h, err := disk.ReadHeader(dev)
	switch {
	case errors.Is(err, disk.ErrNoHeader):
		m, err := key.GenerateMaster(rand.Reader)
		if err != nil {
			fmt.Println("halt:", err)
			return
		}
		if cfg.Sealed, err = seal(m); err != nil {
			fmt.Println("halt:", err)
			return
		}
		cfg.Master, cfg.FirstBoot = m, true
	case err != nil:
		fmt.Println("halt:", err) // corrupt header: never reformat
		return
	default:
		if cfg.Master, err = unseal(h.Sealed()); err != nil {
			fmt.Println("halt:", err)
			return
		}
	}
	v, err := disk.Open(context.Background(), cfg) // ErrKeyCheck: halt
	if err != nil {
		fmt.Println("halt:", err)
		return
	}
	defer v.Close()
	fmt.Println("data mounted at", v.MountPoint())
}
