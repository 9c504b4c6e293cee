package host

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// twoPipes returns two devices (the peers are closed when the test ends).
func twoPipes(t *testing.T) (link.Device, link.Device) {
	a, pa := link.Pipe(1500)
	b, pb := link.Pipe(1400)
	t.Cleanup(func() { pa.Close(); pb.Close() })
	return a, b
}

func TestRoutesAndARPConfig(t *testing.T) {
	a, b := twoPipes(t)
	h, err := New(Config{
		Interfaces: []Interface{
			{Name: "tap1", Device: a, Addr: netip.MustParsePrefix("10.0.1.254/24")},
			{Name: "tap2", Device: b, Addr: netip.MustParsePrefix("10.0.2.254/24")},
		},
		Gateway: netip.MustParseAddr("10.0.1.1"),
		Routes: []Route{
			{Dst: netip.MustParsePrefix("10.0.3.0/24"), Gateway: netip.MustParseAddr("10.0.2.1")},
			{Dst: netip.MustParsePrefix("10.0.4.0/24"), Interface: "tap2"},
		},
		StaticARP: []StaticARP{{Addr: netip.MustParseAddr("10.0.2.1"), MAC: stack.MAC{2, 0, 0, 0, 2, 1}}},
		ProxyARP:  []ProxyARP{{Prefix: netip.MustParsePrefix("10.0.1.128/25")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var sb strings.Builder
	h.WriteRoutes(&sb)
	want := "10.0.1.0/24 dev tap1 proto kernel scope link src 10.0.1.254\n" +
		"10.0.2.0/24 dev tap2 proto kernel scope link src 10.0.2.254\n" +
		"10.0.3.0/24 via 10.0.2.1 dev tap2\n" +
		"10.0.4.0/24 dev tap2 scope link\n" +
		"default via 10.0.1.1 dev tap1\n"
	if sb.String() != want {
		t.Errorf("routes:\n%s\nwant:\n%s", sb.String(), want)
	}
	sb.Reset()
	h.WriteARP(&sb)
	for _, w := range []string{
		"10.0.2.1                 ether   02:00:00:00:02:01   CM                    tap2\n",
		"10.0.1.128               *       <from_interface>    MP    255.255.255.128 tap1\n",
	} {
		if !strings.Contains(sb.String(), w) {
			t.Errorf("ARP table lacks %q:\n%s", w, sb.String())
		}
	}
	if err := h.DeleteARP(netip.MustParseAddr("10.0.2.1")); err != nil {
		t.Error(err)
	}
	if err := h.DeleteARP(netip.MustParseAddr("10.0.2.1")); err == nil {
		t.Error("second DeleteARP succeeded")
	}
	sb.Reset()
	h.WriteStatus(&sb, false)
	if !strings.Contains(sb.String(), "# routes (forwarding off)\n10.0.1.0/24 dev tap1") {
		t.Errorf("status page:\n%s", sb.String())
	}
}

func TestRouteConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"gateway off subnet", Config{Routes: []Route{{Dst: netip.MustParsePrefix("10.9.0.0/16"), Gateway: netip.MustParseAddr("10.0.9.1")}}}, "not inside any interface's subnet"},
		{"gateway off named interface", Config{Routes: []Route{{Dst: netip.MustParsePrefix("10.9.0.0/16"), Gateway: netip.MustParseAddr("10.0.1.1"), Interface: "tap2"}}}, "not inside the subnet of tap2"},
		{"gateway is self", Config{Routes: []Route{{Dst: netip.MustParsePrefix("10.9.0.0/16"), Gateway: netip.MustParseAddr("10.0.1.254")}}}, "our own addresses"},
		{"unknown interface", Config{Routes: []Route{{Dst: netip.MustParsePrefix("10.9.0.0/16"), Interface: "eth9"}}}, `no interface "eth9"`},
		{"neither", Config{Routes: []Route{{Dst: netip.MustParsePrefix("10.9.0.0/16")}}}, "needs a gateway or an interface"},
		{"static arp off subnet", Config{StaticARP: []StaticARP{{Addr: netip.MustParseAddr("10.9.0.1"), MAC: stack.MAC{2, 0, 0, 0, 0, 1}}}}, "not inside any interface's subnet"},
		{"static arp multicast mac", Config{StaticARP: []StaticARP{{Addr: netip.MustParseAddr("10.0.1.7"), MAC: stack.MAC{1, 0, 0, 0, 0, 1}}}}, "not a unicast MAC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := twoPipes(t)
			tt.cfg.Interfaces = []Interface{
				{Name: "tap1", Device: a, Addr: netip.MustParsePrefix("10.0.1.254/24")},
				{Name: "tap2", Device: b, Addr: netip.MustParsePrefix("10.0.2.254/24")},
			}
			h, err := New(tt.cfg)
			if err == nil {
				h.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}
