package boot

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ConfigureNetwork sets the host name, brings up loopback and, when nc has
// a static address, the interface with that address and default route. It
// waits up to wait for the interface to appear. It returns a one-line
// description for the console.
func ConfigureNetwork(nc NetConfig, wait time.Duration) (string, error) {
	if err := unix.Sethostname([]byte(nc.Hostname)); err != nil {
		return "", fmt.Errorf("boot: hostname: %w", err)
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return "", fmt.Errorf("boot: loopback: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return "", fmt.Errorf("boot: loopback up: %w", err)
	}
	if nc.DHCP {
		// Not yet: u-root's dhclient needs golang.org/x/net in go.sum.
		return "", fmt.Errorf("boot: %s: DHCP is not supported yet; use coffer.ip=ADDR/PREFIX,GATEWAY", nc.Interface)
	}
	if !nc.Addr.IsValid() {
		return fmt.Sprintf("hostname %s, no network (no coffer.ip)", nc.Hostname), nil
	}
	link, err := waitLink(nc.Interface, wait)
	if err != nil {
		return "", err
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: nc.Addr.Addr().AsSlice(), Mask: net.CIDRMask(nc.Addr.Bits(), 32)}}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return "", fmt.Errorf("boot: %s address %s: %w", nc.Interface, nc.Addr, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return "", fmt.Errorf("boot: %s up: %w", nc.Interface, err)
	}
	desc := fmt.Sprintf("hostname %s, %s %s", nc.Hostname, nc.Interface, nc.Addr)
	if nc.Gateway.IsValid() {
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: nc.Gateway.AsSlice()}
		if err := netlink.RouteReplace(r); err != nil && !errors.Is(err, unix.EEXIST) {
			return "", fmt.Errorf("boot: default route via %s: %w", nc.Gateway, err)
		}
		desc += " gw " + nc.Gateway.String()
	}
	return desc, nil
}

// waitLink waits up to wait for the interface name to appear.
func waitLink(name string, wait time.Duration) (netlink.Link, error) {
	deadline := time.Now().Add(wait)
	for {
		link, err := netlink.LinkByName(name)
		if err == nil {
			return link, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("boot: interface %s: %w", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
