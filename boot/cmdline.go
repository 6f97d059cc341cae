package boot

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// MaxCmdline bounds the kernel command line parsed by ParseCmdline.
const MaxCmdline = 4096

// ErrCmdline is wrapped by ParseCmdline errors.
var ErrCmdline = errors.New("boot: invalid kernel command line")

// NetConfig is the network configuration from the kernel command line.
//
//	coffer.ip=ADDR/PREFIX[,GATEWAY]   static address on the interface
//	coffer.ip=dhcp                    DHCPv4 (u-root dhclient)
//	coffer.ip=off                     no network besides loopback
//	coffer.if=NAME                    interface (default eth0)
//	coffer.hostname=NAME              host name (default "coffer")
//
// Without coffer.ip the interface stays down.
type NetConfig struct {
	Interface string
	// Addr is the static address with its prefix; invalid when unset.
	Addr netip.Prefix
	// Gateway is the default route; invalid when unset.
	Gateway netip.Addr
	// DHCP asks for DHCP instead of a static address.
	DHCP     bool
	Hostname string
}

// ParseCmdline parses the coffer.* parameters of a kernel command line.
// Other parameters are ignored; a coffer.* parameter with a bad value is
// an error wrapping ErrCmdline.
func ParseCmdline(s string) (NetConfig, error) {
	nc := NetConfig{Interface: "eth0", Hostname: "coffer"}
	if len(s) > MaxCmdline {
		return nc, fmt.Errorf("%w: longer than %d bytes", ErrCmdline, MaxCmdline)
	}
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "coffer.ip":
			switch v {
			case "off":
			case "dhcp":
				nc.DHCP = true
			default:
				a, gw, hasGW := strings.Cut(v, ",")
				p, err := netip.ParsePrefix(a)
				if err != nil || !p.Addr().Is4() {
					return nc, fmt.Errorf("%w: coffer.ip=%q: want ADDR/PREFIX[,GATEWAY] (IPv4)", ErrCmdline, v)
				}
				nc.Addr = p
				if hasGW {
					g, err := netip.ParseAddr(gw)
					if err != nil || !g.Is4() || !p.Masked().Contains(g) {
						return nc, fmt.Errorf("%w: coffer.ip=%q: gateway not an IPv4 address on the subnet", ErrCmdline, v)
					}
					nc.Gateway = g
				}
			}
		case "coffer.if":
			if v == "" || len(v) > 15 || strings.ContainsAny(v, "/ ") {
				return nc, fmt.Errorf("%w: coffer.if=%q", ErrCmdline, v)
			}
			nc.Interface = v
		case "coffer.hostname":
			if !validHostname(v) {
				return nc, fmt.Errorf("%w: coffer.hostname=%q", ErrCmdline, v)
			}
			nc.Hostname = v
		}
	}
	return nc, nil
}

func validHostname(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
