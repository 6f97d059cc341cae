package boot

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCmdline(t *testing.T) {
	def := NetConfig{Interface: "eth0", Hostname: "coffer"}
	tests := []struct {
		in   string
		want NetConfig
	}{
		{"console=ttyS0 quiet", def},
		{"coffer.ip=10.0.2.15/24,10.0.2.2", NetConfig{Interface: "eth0", Hostname: "coffer",
			Addr: netip.MustParsePrefix("10.0.2.15/24"), Gateway: netip.MustParseAddr("10.0.2.2")}},
		{"coffer.ip=192.168.1.5/16 coffer.hostname=hsm-1 coffer.if=ens3", NetConfig{Interface: "ens3", Hostname: "hsm-1",
			Addr: netip.MustParsePrefix("192.168.1.5/16")}},
		{"coffer.ip=dhcp", NetConfig{Interface: "eth0", Hostname: "coffer", DHCP: true}},
		{"coffer.ip=10.0.2.15/24 coffer.ip=off", NetConfig{Interface: "eth0", Hostname: "coffer", Addr: netip.MustParsePrefix("10.0.2.15/24")}},
		{"coffer.ip=10.0.2.15/24,10.0.2.2 coffer.ip=10.0.3.15/24", NetConfig{Interface: "eth0", Hostname: "coffer",
			Addr: netip.MustParsePrefix("10.0.3.15/24"), Gateway: netip.MustParseAddr("10.0.2.2")}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCmdline(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseCmdlineRejects(t *testing.T) {
	for _, in := range []string{
		"coffer.ip=10.0.2.15",
		"coffer.ip=fe80::1/64",
		"coffer.ip=10.0.2.15/24,10.0.3.1",
		"coffer.ip=10.0.2.15/24,gw",
		"coffer.hostname=-bad",
		"coffer.hostname=a.b",
		"coffer.hostname=",
		"coffer.if=",
		"coffer.if=averyverylonginterfacename",
		strings.Repeat("x", MaxCmdline+1),
	} {
		if _, err := ParseCmdline(in); !errors.Is(err, ErrCmdline) {
			t.Errorf("ParseCmdline(%.40q) = %v, want ErrCmdline", in, err)
		}
	}
}
