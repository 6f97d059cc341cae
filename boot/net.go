package boot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/u-root/u-root/pkg/dhclient"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ConfigureNetwork sets the host name, brings up loopback and, when nc has
// a static address, the interface with that address and default route, or
// with nc.DHCP a DHCPv4 lease. It waits up to wait for the interface to
// appear. It returns a one-line
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
		return dhcp(nc, wait)
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

// dhcpTimeout bounds the whole DHCP exchange; dhcpAttempt one request.
const (
	dhcpTimeout = 30 * time.Second
	dhcpAttempt = 5 * time.Second
)

// dhcp configures nc.Interface with a DHCPv4 lease (u-root's dhclient:
// address, routes, resolv.conf).
func dhcp(nc NetConfig, wait time.Duration) (string, error) {
	link, err := waitLink(nc.Interface, wait)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), dhcpTimeout)
	defer cancel()
	cfg := dhclient.Config{Timeout: dhcpAttempt, Retries: int(dhcpTimeout / dhcpAttempt)}
	err = errors.New("no answer")
	for r := range dhclient.SendRequests(ctx, []netlink.Link{link}, true, false, cfg, wait) {
		if r.Err != nil {
			err = r.Err
			continue
		}
		if cerr := r.Lease.Configure(); cerr != nil {
			err = cerr
			continue
		}
		desc := fmt.Sprintf("hostname %s, %s", nc.Hostname, nc.Interface)
		if p, ok := r.Lease.(*dhclient.Packet4); ok && p.Lease() != nil {
			desc += " " + p.Lease().String()
		}
		return desc + " (DHCP)", nil
	}
	return "", fmt.Errorf("boot: %s: DHCP: %w", nc.Interface, err)
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
