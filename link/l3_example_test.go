package link_test

import (
	"fmt"

	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// An L3 endpoint over a device of bare IP packets (a TUN; here one end of
// a Pipe, which carries whatever it is given): the NIC on it writes the
// packet as it is, to no MAC, with no ARP.
func ExampleNewL3() {
	a, b := link.Pipe(1500)
	s := stack.New(stack.Options{})
	defer s.Close()
	nic, err := s.AddNIC("tun0", link.NewL3(a))
	if err != nil {
		panic(err)
	}
	got := make(chan []byte, 1)
	b.Attach(link.FrameDispatcherFunc(func(p *stack.Packet) {
		got <- append([]byte(nil), p.Bytes()...)
		p.Release()
	}))
	defer b.Close()
	ip := []byte{0x45, 0, 0, 20} // the start of an IPv4 header
	nic.WriteLinkPacket(stack.BroadcastMAC, stack.EtherTypeIPv4, stack.NewPacketFrom(ip))
	fmt.Printf("L3 %v, wire got % x\n", nic.IsL3(), <-got)
	// Output: L3 true, wire got 45 00 00 14
}
