package ipv6_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tap"
)

// TestAgainstLinux pings the stack from the Linux kernel on a bridge in a
// private namespace: a plain ping, and a 4000-byte one that Linux
// fragments, we reassemble, answer and fragment, and Linux reassembles.
// Neighbour Discovery is another package: Linux gets a permanent neighbour
// entry for us and we send everything to the bridge's MAC.
func TestAgainstLinux(t *testing.T) {
	ns := netnstest.New(t)
	ns.AddBridge("br0", "")
	var d *tap.Device
	if err := ns.Run(func() (err error) {
		d, err = tap.Open(tap.Config{Name: "tap0", Bridge: "br0", Queues: 1})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{
		{"ip", "-6", "addr", "add", "fd00::1/64", "dev", "br0", "nodad"},
		{"ip", "-6", "neigh", "replace", "fd00::2", "lladdr", "02:00:00:00:00:02", "dev", "br0", "nud", "permanent"},
	} {
		if out, err := ns.Output(c[0], c[1:]...); err != nil {
			t.Fatalf("%v: %v %s", c, err, out)
		}
	}
	brMAC, err := ns.Output("cat", "/sys/class/net/br0/address")
	if err != nil {
		t.Fatal(err)
	}
	mac, err := stack.ParseMAC(strings.TrimSpace(brMAC))
	if err != nil {
		t.Fatal(err)
	}
	s := stack.New(stack.Options{})
	t.Cleanup(func() { s.Close() })
	if _, err := ipv6.Register(s, ipv6.Options{}); err != nil {
		t.Fatal(err)
	}
	s.SetResolver(stack.EtherTypeIPv6, fixedResolver{mac})
	nic, err := s.AddNIC("tap0", link.NewEthernet(d, stack.MAC{2, 0, 0, 0, 0, 2}))
	if err != nil {
		t.Fatal(err)
	}
	if err := nic.AddAddress(netip.MustParsePrefix("fd00::2/64")); err != nil {
		t.Fatal(err)
	}
	for _, size := range []string{"56", "4000"} {
		out, err := ns.Output("ping", "-6", "-c", "2", "-i", "0.2", "-W", "5", "-s", size, "fd00::2")
		if err != nil || !strings.Contains(out, " 0% packet loss") {
			t.Errorf("ping -s %s: %v\n%s", size, err, out)
		}
	}
	if n := s.Counters().Value("ipv6.frag.ok"); n != 2 {
		t.Errorf("reassembled %d pings, want 2", n)
	}
	if n := s.Counters().Value("ipv6.tx.fragmented"); n != 2 {
		t.Errorf("fragmented %d replies, want 2", n)
	}
}
