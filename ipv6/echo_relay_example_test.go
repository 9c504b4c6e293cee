package ipv6_test

import (
	"fmt"
	"net/netip"

	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/stack"
)

// A user-mode gateway relays pings over IPv6 as over IPv4: the hook takes
// echo requests to addresses that are not the stack's, SendICMPFrom
// answers later from the pinged address.
func ExampleProtocol_SetEchoRelay() {
	s := stack.New(stack.Options{})
	defer s.Close()
	ip, err := ipv6.Register(s, ipv6.Options{AcceptAnyDestination: true})
	if err != nil {
		panic(err)
	}
	relayed := 0
	ip.SetEchoRelay(func(src, dst netip.Addr, m ipv6.ICMP) bool {
		relayed++ // copy src, dst, m.ID(), m.Seq(), m.Payload() and send it out for real
		return true
	})
	err = ip.SendICMPFrom(netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("fd00::15"),
		ipv6.ICMPFields{Type: ipv6.ICMPEchoReply, Rest: ipv6.EchoRest(1, 1)})
	fmt.Println(relayed, err != nil) // no route to the guest in this bare stack
	// Output: 0 true
}
