package ipv4

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/stack"
)

// TestWritePacketOptionsRouterAlertRFC2113 checks that the exported hook
// puts the Router Alert option (RFC 2113: type 148, length 4, value 0) in
// the header of a multicast IGMP-like packet with TTL 1, and refuses a
// malformed option list.
func TestWritePacketOptionsRouterAlertRFC2113(t *testing.T) {
	e := newEnv(t, Options{})
	g := netip.MustParseAddr("224.0.0.22")
	r := e.nic.LinkRoute(ourAddr, g)
	p := stack.NewPacket(stack.Headroom, 8)
	copy(p.Bytes(), []byte{0x22, 0, 0, 0, 0, 0, 0, 0})
	ra := []byte{OptionRouterAlert, 4, 0, 0}
	if err := e.pr.WritePacketOptions(&r, stack.NetworkParams{Protocol: stack.ProtocolIGMP, TTL: 1, TOS: 0xc0}, ra, p); err != nil {
		t.Fatal(err)
	}
	f := oneFrame(t, e.link)
	if f.Dst != stack.MulticastMAC(g) {
		t.Errorf("link dst %v, want %v", f.Dst, stack.MulticastMAC(g))
	}
	h := Header(f.Data)
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	if h.HeaderLength() != 24 || !bytes.Equal(h.Options(), ra) || h.TTL() != 1 || h.Dst() != g || h.Protocol() != 2 {
		t.Errorf("header %x", f.Data[:24])
	}
	bad := stack.NewPacket(stack.Headroom, 8)
	if err := e.pr.WritePacketOptions(&r, stack.NetworkParams{Protocol: 2}, []byte{OptionRouterAlert, 3, 0, 0}, bad); !errors.Is(err, stack.ErrInvalid) {
		t.Errorf("malformed options: %v, want ErrInvalid", err)
	}
}
