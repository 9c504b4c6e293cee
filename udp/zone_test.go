package udp_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// recIP6 is recIP as the IPv6 writer.
type recIP6 struct{ *recIP }

func (recIP6) EtherType() uint16 { return stack.EtherTypeIPv6 }

// TestRFC4007LinkLocalSenderZone checks RFC 4007 6 as Linux applies it
// (sin6_scope_id on recvfrom): a datagram from a link-local address is
// reported with the zone of the interface it came in on, and a reply to
// that address leaves by that interface, not by the first interface with
// IPv6, on a stack with two links.
func TestRFC4007LinkLocalSenderZone(t *testing.T) {
	s := stack.New(stack.Options{})
	t.Cleanup(func() { s.Close() })
	ip := recIP6{&recIP{}}
	if err := s.RegisterNetwork(ip); err != nil {
		t.Fatal(err)
	}
	var nics []*stack.NIC
	for i := range 2 {
		nic, err := s.AddNIC(fmt.Sprintf("eth%d", i), dropLink(stack.MAC{2, 0, 0, 0, 6, byte(i)}))
		if err != nil {
			t.Fatal(err)
		}
		if err := nic.AddAddress(netip.MustParsePrefix(fmt.Sprintf("fe80::%d/64", i+1))); err != nil {
			t.Fatal(err)
		}
		nics = append(nics, nic)
	}
	u, err := udp.Register(s, udp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := mustListen(t, s, "[::]:5355")
	tests := []struct {
		name string
		nic  int
		src  string
		want string
	}{
		{"link-local sender on eth1", 1, "[fe80::9]:5000", "[fe80::9%eth1]:5000"},
		{"link-local sender on eth0", 0, "[fe80::9]:5000", "[fe80::9%eth0]:5000"},
		{"global sender keeps no zone", 1, "[fd00::9]:5000", "[fd00::9]:5000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := netip.AddrPortFrom(nics[tc.nic].Addresses()[0].Addr(), 5355)
			p := datagram(nics[tc.nic], netip.MustParseAddrPort(tc.src), dst, []byte("q"), -1)
			if !u.HandlePacket(p) {
				p.Release()
				t.Fatal("not taken")
			}
			buf := make([]byte, 8)
			_, m, err := c.ReadMsg(buf)
			if err != nil || m.From.String() != tc.want {
				t.Fatalf("ReadMsg from %v, %v; want %s", m.From, err, tc.want)
			}
			if !m.From.Addr().IsLinkLocalUnicast() {
				return
			}
			if _, err := c.WriteToUDPAddrPort([]byte("a"), m.From); err != nil {
				t.Fatal(err)
			}
			sends := ip.take()
			if len(sends) != 1 || sends[0].route.NIC != nics[tc.nic] {
				t.Fatalf("reply sent %d times, via %v; want via %s", len(sends), sends, nics[tc.nic].Name())
			}
		})
	}
}
