package udp_test

import (
	"fmt"
	"log"
	"net/netip"

	"github.com/tapstack/tapstack/udp"
)

// Receive a multicast group: bind its port, then join it (on the
// interface of the route to it when nic is nil), as with
// golang.org/x/net/ipv4.PacketConn.JoinGroup. With igmp registered the
// join is reported on the link.
func ExampleConn_JoinGroup() {
	s := exampleStack()
	defer s.Close()
	group := netip.MustParseAddr("224.0.0.251")
	c, err := udp.Listen(s, netip.AddrPortFrom(group, 5353))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close() // leaves the group
	if err := c.JoinGroup(nil, group); err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Groups(), s.NICs()[0].IsMember(group), c.MulticastTTL())
	// Output: [224.0.0.251] true 1
}
