package seal

import (
	"crypto/ecdsa"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"slices"
)

// DefaultPCRs are the PCRs (SHA-256 bank) a signed policy must cover when
// Config.PCRs is empty:
//
//	0  firmware code (SRTM, UEFI/BIOS)
//	2  option ROM / extended firmware code
//	4  boot manager and kernel image (OVMF/UEFI measure the kernel here)
//	7  Secure Boot state and keys
//	9  initrd (measured by the Linux EFI stub / OVMF where they do)
//	11 the image manifest and config, extended by PID 1 (DefaultBootPCR)
//
// Firmware that measures nothing (SeaBIOS direct kernel boot) leaves 4 and
// 9 at their reset value; the policy then pins that value, which is still
// exact, and PCR 11 carries the image identity.
var DefaultPCRs = []int{0, 2, 4, 7, 9, 11}

const (
	// DefaultBootPCR is the PCR PID 1 extends with the image manifest and
	// config digest before unsealing, and caps (CapPCR) right after.
	DefaultBootPCR = 11
	// DefaultNVIndex is the owner NV index of the rollback counter.
	DefaultNVIndex uint32 = 0x0180C0FF
)

// Config configures a sealer. The zero value is usable by the insecure
// file sealer; the TPM sealer needs Policy and ReleaseKey.
type Config struct {
	// PCRs are the PCRs every signed policy must cover; a policy that
	// omits one is refused with ErrPolicy. Empty means DefaultPCRs. Tests
	// under swtpm use the debug PCRs 16 and 23.
	PCRs []int
	// BootPCR is the PCR PID 1 extends with the image manifest before
	// unsealing and caps after; every signed policy must cover it too.
	// Zero means DefaultBootPCR (PCR 0 holds firmware code and cannot be
	// the boot PCR).
	BootPCR int
	// Policy is the signed boot policy of the running image (SignPolicy).
	// The TPM sealer refuses to seal or unseal without one (ErrPolicy).
	Policy []byte
	// ReleaseKey is the release signing key (ECDSA P-256) that signs boot
	// policies. Required by the TPM sealer.
	ReleaseKey *ecdsa.PublicKey
	// NVIndex is the TPM NV index of the rollback counter (an owner index,
	// 0x01800000–0x01BFFFFF). Zero means DefaultNVIndex.
	NVIndex uint32
	// Logger receives warnings. Nil means slog.Default().
	Logger *slog.Logger
	// Rand is the source of randomness of the insecure file sealer. Nil
	// means crypto/rand.Reader.
	Rand io.Reader
}

func (c *Config) pcrs() []int {
	if len(c.PCRs) == 0 {
		return DefaultPCRs
	}
	return c.PCRs
}

func (c *Config) bootPCR() int {
	if c.BootPCR == 0 {
		return DefaultBootPCR
	}
	return c.BootPCR
}

func (c *Config) nvIndex() uint32 {
	if c.NVIndex == 0 {
		return DefaultNVIndex
	}
	return c.NVIndex
}

func (c *Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

func (c *Config) rand() io.Reader {
	if c.Rand == nil {
		return rand.Reader
	}
	return c.Rand
}

// check validates the PCR configuration.
func (c *Config) check() error {
	for _, p := range append(slices.Clone(c.pcrs()), c.bootPCR()) {
		if p < 0 || p > MaxPCR {
			return fmt.Errorf("seal: PCR %d out of range 0..%d", p, MaxPCR)
		}
	}
	return checkNVIndex(c.nvIndex())
}

// policy decodes and verifies the configured signed policy and checks that
// it covers the required PCRs and names the configured counter.
func (c *Config) policy() (*signedPolicy, error) {
	if err := checkReleaseKey(c.ReleaseKey); err != nil {
		return nil, err
	}
	sp, err := parsePolicy(c.Policy)
	if err != nil {
		return nil, err
	}
	if err := sp.verify(c.ReleaseKey); err != nil {
		return nil, err
	}
	have := sp.indices()
	for _, p := range append(slices.Clone(c.pcrs()), c.bootPCR()) {
		if !slices.Contains(have, p) {
			return nil, fmt.Errorf("%w: policy does not cover required PCR %d", ErrPolicy, p)
		}
	}
	if sp.NVIndex != c.nvIndex() {
		return nil, fmt.Errorf("%w: policy names rollback counter %#x, configured %#x", ErrPolicy, sp.NVIndex, c.nvIndex())
	}
	return sp, nil
}
