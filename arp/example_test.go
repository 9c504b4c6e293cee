package arp_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/stack"
)

// printLink is a link endpoint that prints the ARP packets it is given.
type printLink struct{ mac stack.MAC }

func (l printLink) MTU() int                       { return 1500 }
func (l printLink) LinkAddress() stack.MAC         { return l.mac }
func (l printLink) Attach(stack.NetworkDispatcher) {}
func (l printLink) Close() error                   { return nil }
func (l printLink) WritePacket(dst stack.MAC, etherType uint16, p *stack.Packet) error {
	defer p.Release()
	h := arp.Header(p.Bytes())
	if etherType != stack.EtherTypeARP || h.Validate() != nil {
		fmt.Printf("to %v: %d bytes of EtherType %#04x\n", dst, p.Len(), etherType)
		return nil
	}
	if h.Op() == arp.OpRequest {
		fmt.Printf("to %v: who-has %v tell %v\n", dst, h.TargetIP(), h.SenderIP())
	} else {
		fmt.Printf("to %v: %v is-at %v\n", dst, h.SenderIP(), h.SenderMAC())
	}
	return nil
}

func ExampleRegister() {
	s := stack.New(stack.Options{})
	defer s.Close()
	resolver, err := arp.Register(s, arp.Options{}) // Linux-like defaults
	if err != nil {
		fmt.Println(err)
		return
	}
	nic, _ := s.AddNIC("eth0", printLink{stack.MAC{0x02, 0, 0, 0, 0, 0x02}})

	// Adding an address announces it with a gratuitous ARP.
	nic.AddAddress(netip.MustParsePrefix("10.0.0.2/24"))

	// Sending to an unknown neighbour queues the packet and asks for it.
	nic.WritePacket(netip.MustParseAddr("10.0.0.1"), stack.EtherTypeIPv4, stack.NewPacketFrom([]byte("hello")))

	// The answer arrives; the queued packet goes out.
	reply := stack.NewPacket(stack.Headroom, arp.Len)
	f := arp.Fields{
		Op:        arp.OpReply,
		SenderMAC: stack.MAC{0x02, 0, 0, 0, 0, 0x01}, SenderIP: netip.MustParseAddr("10.0.0.1"),
		TargetMAC: nic.LinkAddress(), TargetIP: netip.MustParseAddr("10.0.0.2"),
	}
	f.Encode(reply.Bytes())
	reply.EtherType, reply.LinkDst = stack.EtherTypeARP, nic.LinkAddress()
	nic.DeliverNetworkPacket(reply)

	for _, e := range resolver.Entries() {
		fmt.Println(e.Addr, "dev", e.NIC, "lladdr", e.MAC, e.State)
	}
	// Output:
	// to ff:ff:ff:ff:ff:ff: who-has 10.0.0.2 tell 10.0.0.2
	// to ff:ff:ff:ff:ff:ff: who-has 10.0.0.1 tell 10.0.0.2
	// to 02:00:00:00:00:01: 5 bytes of EtherType 0x0800
	// 10.0.0.1 dev eth0 lladdr 02:00:00:00:00:01 REACHABLE
}

// A static entry (arp -s) is used at once, without a request, and shows
// flags CM.
func ExampleProtocol_AddStatic() {
	s := stack.New(stack.Options{})
	defer s.Close()
	resolver, _ := arp.Register(s, arp.Options{})
	nic, _ := s.AddNIC("eth0", printLink{stack.MAC{0x02, 0, 0, 0, 0, 0x02}})

	gw := netip.MustParseAddr("10.0.0.1")
	mac, _ := stack.ParseMAC("02:00:00:00:00:01")
	if err := resolver.AddStatic(nic, gw, mac); err != nil {
		fmt.Println(err)
		return
	}
	nic.WritePacket(gw, stack.EtherTypeIPv4, stack.NewPacketFrom([]byte("hello")))
	arp.FormatTable(os.Stdout, resolver.Entries())
	// Output:
	// to 02:00:00:00:00:01: 5 bytes of EtherType 0x0800
	// Address                  HWtype  HWaddress           Flags Mask            Iface
	// 10.0.0.1                 ether   02:00:00:00:00:01   CM                    eth0
}

// A published prefix (proxy ARP) is answered on other hosts' behalf, here
// with our own MAC so their traffic comes to us.
func ExampleProtocol_AddPublished() {
	s := stack.New(stack.Options{})
	defer s.Close()
	resolver, _ := arp.Register(s, arp.Options{})
	ours := stack.MAC{0x02, 0, 0, 0, 0, 0x02}
	nic, _ := s.AddNIC("eth0", printLink{ours})

	_ = resolver.AddPublished(nic, netip.MustParsePrefix("10.0.0.128/25"), stack.MAC{})

	// Someone asks for 10.0.0.200.
	req := stack.NewPacket(stack.Headroom, arp.Len)
	f := arp.Fields{
		Op:        arp.OpRequest,
		SenderMAC: stack.MAC{0x02, 0, 0, 0, 0, 0x01}, SenderIP: netip.MustParseAddr("10.0.0.1"),
		TargetIP: netip.MustParseAddr("10.0.0.200"),
	}
	f.Encode(req.Bytes())
	req.EtherType, req.LinkDst = stack.EtherTypeARP, stack.BroadcastMAC
	nic.DeliverNetworkPacket(req)
	// Output:
	// to 02:00:00:00:00:01: 10.0.0.200 is-at 02:00:00:00:00:02
}

// FormatTable prints entries the way `arp -n` does.
func ExampleFormatTable() {
	arp.FormatTable(os.Stdout, []arp.Entry{
		{Addr: netip.MustParseAddr("10.0.0.1"), MAC: stack.MAC{0xda, 0x22, 0xd0, 0x85, 0x78, 0xe2}, NIC: "tap0", State: arp.Reachable, Flags: arp.FlagComplete},
		{Addr: netip.MustParseAddr("10.0.0.9"), NIC: "tap0", State: arp.Incomplete},
	})
	// Output:
	// Address                  HWtype  HWaddress           Flags Mask            Iface
	// 10.0.0.1                 ether   da:22:d0:85:78:e2   C                     tap0
	// 10.0.0.9                         (incomplete)                              tap0
}

// Probe checks that nobody on the segment uses an address before it is
// assigned (RFC 5227); here nobody answers, so the address is free and
// AddAddress announces it. The probe delays are shortened for the example.
func ExampleProtocol_Probe() {
	s := stack.New(stack.Options{})
	defer s.Close()
	resolver, _ := arp.Register(s, arp.Options{
		ProbeWait: time.Millisecond, ProbeMin: time.Millisecond, ProbeMax: time.Millisecond, AnnounceWait: time.Millisecond,
	})
	nic, _ := s.AddNIC("eth0", printLink{stack.MAC{0x02, 0, 0, 0, 0, 0x02}})

	addr := netip.MustParsePrefix("10.0.0.2/24")
	if err := resolver.Probe(context.Background(), nic, addr.Addr()); err != nil {
		// errors.Is(err, stack.ErrAddressInUse); err names the other MAC.
		fmt.Println(err)
		return
	}
	nic.AddAddress(addr)
	// Output:
	// to ff:ff:ff:ff:ff:ff: who-has 10.0.0.2 tell 0.0.0.0
	// to ff:ff:ff:ff:ff:ff: who-has 10.0.0.2 tell 0.0.0.0
	// to ff:ff:ff:ff:ff:ff: who-has 10.0.0.2 tell 0.0.0.0
	// to ff:ff:ff:ff:ff:ff: who-has 10.0.0.2 tell 10.0.0.2
}

// Packets for an unresolved neighbour wait in a queue bounded by bytes
// (QueueBytes, Linux's unres_qlen_bytes), so every fragment of a large
// datagram survives resolution.
func ExampleOptions() {
	s := stack.New(stack.Options{})
	defer s.Close()
	resolver, _ := arp.Register(s, arp.Options{}) // QueueBytes 212992, QueueLen 101
	nic, _ := s.AddNIC("eth0", printLink{stack.MAC{0x02, 0, 0, 0, 0, 0x02}})
	nic.AddAddress(netip.MustParsePrefix("10.0.0.2/24"))

	for range 6 {
		nic.WritePacket(netip.MustParseAddr("10.0.0.1"), stack.EtherTypeIPv4, stack.NewPacket(stack.Headroom, 1500))
	}
	for _, e := range resolver.Entries() {
		fmt.Printf("%v %v: %d packets, %d bytes queued\n", e.Addr, e.State, e.Queued, e.QueuedBytes)
	}
	// Output:
	// to ff:ff:ff:ff:ff:ff: who-has 10.0.0.2 tell 10.0.0.2
	// to ff:ff:ff:ff:ff:ff: who-has 10.0.0.1 tell 10.0.0.2
	// 10.0.0.1 INCOMPLETE: 6 packets, 9000 bytes queued
}
