package ipv4_test

import (
	"fmt"
	"net/netip"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/stack"
)

// A user-mode gateway relays pings: the hook takes echo requests to
// addresses that are not the stack's (copying what it needs), and the
// reply it gets later goes back with SendICMPFrom from the pinged address.
func ExampleProtocol_SetEchoRelay() {
	s := stack.New(stack.Options{})
	defer s.Close()
	ip, err := ipv4.Register(s, ipv4.Options{AcceptAnyDestination: true})
	if err != nil {
		panic(err)
	}
	type echo struct {
		guest, dst netip.Addr
		id, seq    uint16
	}
	pending := make(chan echo, 64)
	ip.SetEchoRelay(func(src, dst netip.Addr, m ipv4.ICMP) bool {
		select {
		case pending <- echo{src, dst, m.ID(), m.Seq()}: // then send it out for real
			return true
		default:
			return false // full: let SetForwardedEcho decide
		}
	})
	// ... when the real reply arrives:
	reply := func(e echo, data []byte) error {
		return ip.SendICMPFrom(e.dst, e.guest, ipv4.ICMPFields{Type: ipv4.ICMPEchoReply, Rest: ipv4.EchoRest(e.id, e.seq), Payload: data})
	}
	fmt.Println(reply(echo{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("10.0.2.15"), 1, 1}, nil) != nil) // no route here
	// Output: true
}
