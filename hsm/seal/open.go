package seal

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/google/go-tpm/tpm2/transport/linuxtpm"
	"github.com/google/go-tpm/tpm2/transport/tcp"
)

// DefaultDevice is the Linux TPM resource manager device, the TPM of the
// appliance and of hosts with a hardware TPM.
const DefaultDevice = "/dev/tpmrm0"

// Open opens the sealer named by spec:
//
//	tcp:HOST:PORT        a TPM simulator such as swtpm speaking the TCG
//	                     simulator protocol: commands on PORT, platform
//	                     commands on PORT+1 (PowerOn is never sent; start
//	                     swtpm with --flags not-need-init,startup-clear)
//	/dev/tpmrm0          a TPM character device (any absolute path); use
//	                     the resource manager device, not /dev/tpm0
//	insecure-file:PATH   the INSECURE development sealer, wrapping key in
//	                     PATH (created if missing); logs a warning
//
// Choosing the insecure sealer is the caller's decision: Open never falls
// back to it. A TPM sealer holds its connection until Close; swtpm serves
// one connection at a time, so close one sealer before opening another on
// the same swtpm.
func Open(spec string, cfg Config) (Sealer, error) {
	switch {
	case strings.HasPrefix(spec, "insecure-file:"):
		path := strings.TrimPrefix(spec, "insecure-file:")
		if path == "" {
			return nil, fmt.Errorf("seal: %q: empty path", spec)
		}
		return NewInsecureFile(path, cfg)
	case strings.HasPrefix(spec, "tcp:"):
		addr := strings.TrimPrefix(spec, "tcp:")
		host, portStr, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("seal: %q: %w", spec, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil || port < 1 || port > 65534 {
			return nil, fmt.Errorf("seal: %q: bad port", spec)
		}
		if err := cfg.check(); err != nil {
			return nil, err
		}
		t, err := tcp.Open(tcp.Config{
			CommandAddress:  net.JoinHostPort(host, strconv.Itoa(port)),
			PlatformAddress: net.JoinHostPort(host, strconv.Itoa(port+1)),
		})
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		return NewTPM(t, spec, cfg)
	case strings.HasPrefix(spec, "/"):
		if err := cfg.check(); err != nil {
			return nil, err
		}
		t, err := linuxtpm.Open(spec)
		if err != nil {
			return nil, fmt.Errorf("seal: opening %s: %w", spec, err)
		}
		return NewTPM(t, spec, cfg)
	default:
		return nil, fmt.Errorf("seal: unknown sealer %q (want tcp:HOST:PORT, a device path or insecure-file:PATH)", spec)
	}
}
