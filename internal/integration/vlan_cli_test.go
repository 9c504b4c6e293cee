package integration

import (
	"context"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tap"
)

// trunkHost runs an in-process host on a new TAP of br0 whose interfaces
// are VLANs of a link.Trunk: vlans maps a VID to the interface address.
func trunkHost(t *testing.T, ns *netnstest.NS, name string, mac stack.MAC, vlans map[uint16]string, routes ...host.Route) *host.Host {
	t.Helper()
	var dev *tap.Device
	if err := ns.Run(func() (err error) {
		dev, err = tap.Open(tap.Config{Name: name, Bridge: "br0", NoOffload: true})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	trunk := link.NewTrunk(dev, mac)
	var ifcs []host.Interface
	for vid, addr := range vlans {
		ep, err := trunk.VLAN(vid, 0)
		if err != nil {
			t.Fatal(err)
		}
		ifcs = append(ifcs, host.Interface{Name: link.VLANName(name, vid), Endpoint: ep, Addr: netip.MustParsePrefix(addr)})
	}
	h, err := host.New(host.Config{Interfaces: ifcs, Routes: routes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestVLANTrunkCommand: `tapstack up --vlan 10:... --vlan 20:...` on a
// trunk TAP; another host trunked on the same Linux bridge reaches its
// echo service on VLAN 10 and on VLAN 20, and a host on VLAN 10 only
// cannot reach its VLAN 20 address (issue 6, acceptance 2, through the
// command; link's TestTrunkOverLinuxBridge covers crafted tagged frames
// and their tagged replies).
func TestVLANTrunkCommand(t *testing.T) {
	needTools(t, "ip")
	ns := netnstest.New(t)
	ns.AddBridge("br0", "") // no VLAN filtering here: the bridge carries tags as they are
	startTapstack(t, ns, "tapstack: up on tap0.10 (bridge br0) as 10.0.10.2/24 fe80::ff:fe00:a/64 mac 02:00:00:00:00:0a mtu 1500, tap0.20 (bridge br0) as 10.0.20.2/24",
		"up", "--tap", "tap0", "--bridge", "br0", "--mac", "02:00:00:00:00:0a", "--vlan", "10:10.0.10.2/24", "--vlan", "20:10.0.20.2/24:5")

	out, err := ns.Output(binary(t), "route")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"10.0.10.0/24 dev tap0.10 proto kernel scope link src 10.0.10.2\n", "10.0.20.0/24 dev tap0.20 proto kernel scope link src 10.0.20.2\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("tapstack route lacks %q:\n%s", want, out)
		}
	}

	b := trunkHost(t, ns, "tap1", stack.MAC{2, 0, 0, 0, 0, 0x0b}, map[uint16]string{10: "10.0.10.3/24", 20: "10.0.20.3/24"})
	echo := func(h *host.Host, addr string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := h.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		msg := "hello over " + addr
		if _, err := io.WriteString(c, msg); err != nil {
			return err
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil {
			return err
		}
		if string(got) != msg {
			t.Errorf("echo %s: got %q", addr, got)
		}
		return nil
	}
	for _, addr := range []string{"10.0.10.2:7", "10.0.20.2:7"} {
		if err := echo(b, addr); err != nil {
			t.Errorf("trunked host on VLANs 10 and 20: echo %s: %v", addr, err)
		}
	}

	// C is on VLAN 10 only and believes 10.0.20.0/24 is on-link there:
	// tapstack's VLAN 20 address must not answer on VLAN 10.
	c := trunkHost(t, ns, "tap2", stack.MAC{2, 0, 0, 0, 0, 0x0c}, map[uint16]string{10: "10.0.10.4/24"},
		host.Route{Dst: netip.MustParsePrefix("10.0.20.0/24"), Interface: "tap2.10"})
	if err := echo(c, "10.0.10.2:7"); err != nil {
		t.Fatalf("VLAN 10 host: echo 10.0.10.2: %v", err)
	}
	if err := echo(c, "10.0.20.2:7"); err == nil {
		t.Errorf("a host on VLAN 10 reached tapstack's VLAN 20 address")
	} else {
		t.Logf("VLAN 10 host → 10.0.20.2 (VLAN 20): %v", err)
	}
	table, err := ns.Output(binary(t), "arp")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tapstack arp:\n%s", table)
	for _, want := range []string{"10.0.10.3                ether   02:00:00:00:00:0b   C                     tap0.10", "10.0.20.3                ether   02:00:00:00:00:0b   C                     tap0.20"} {
		if !strings.Contains(table, want) {
			t.Errorf("tapstack arp lacks %q", want)
		}
	}
}
