package igmp_test

import (
	"fmt"
	"log"
	"net/netip"

	"github.com/tapstack/tapstack/igmp"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/stack"
)

// Register IGMP beside ipv4; every group an interface joins is then
// reported to the link's routers and snooping bridges.
func ExampleRegister() {
	s := stack.New(stack.Options{})
	defer s.Close()
	if _, err := ipv4.Register(s, ipv4.Options{}); err != nil {
		log.Fatal(err)
	}
	g, err := igmp.Register(s, igmp.Options{})
	if err != nil {
		log.Fatal(err)
	}
	link := newLink()
	nic, _ := s.AddNIC("eth0", link)
	nic.AddAddress(netip.MustParsePrefix("10.0.0.2/24"))

	nic.JoinGroup(netip.MustParseAddr("239.1.2.3")) // udp.Conn.JoinGroup does this
	fmt.Println(g.Groups(nic), g.Version(nic))
	f := link.Take()[0]
	fmt.Printf("report to %v: type %#x\n", f.Dst, f.Data[24])
	// Output:
	// [239.1.2.3] 3
	// report to 01:00:5e:00:00:16: type 0x22
}
