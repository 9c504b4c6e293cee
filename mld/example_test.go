package mld_test

import (
	"fmt"
	"log"
	"net/netip"

	"github.com/tapstack/tapstack/mld"
	"github.com/tapstack/tapstack/stack"
)

// Register MLD beside the IPv6 layer; every IPv6 group an interface joins
// is then reported to ff02::16 from its link-local address.
func ExampleRegister() {
	s := stack.New(stack.Options{})
	defer s.Close()
	ip := &fakeIPv6{} // in a host: the ipv6 package's protocol
	s.RegisterNetwork(ip)
	nic, _ := s.AddNIC("eth0", nullLink{})
	nic.AddAddress(netip.MustParsePrefix("fe80::2/64"))
	m, err := mld.Register(s, mld.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	nic.JoinGroup(netip.MustParseAddr("ff02::1:3")) // LLMNR, say
	r := ip.sent[0]
	fmt.Println(m.Groups(nic), m.Version(nic))
	fmt.Printf("type %d to %v from %v, hop limit %d, hop-by-hop %x\n", r.msg[0], r.dst, r.src, r.params.TTL, r.hbh)
	// Output:
	// [ff02::1:3] 2
	// type 143 to ff02::16 from fe80::2, hop limit 1, hop-by-hop 3a00050200000100
}
