package dhcp_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/dhcp"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// A stack whose only NIC has no address gets one from the network. (Here
// the network is a link.Pipe to a tiny server stack; on a real host the NIC
// is a TAP on a bridge with dnsmasq behind it.)
func ExampleNew() {
	a, b := link.Pipe(1500)
	serverStack(b) // answers every DISCOVER and REQUEST with 10.0.0.50/24

	s := stack.New(stack.Options{})
	ipv4Register(s)
	ap, _ := arp.Register(s, arp.Options{})
	udp.Register(s, udp.Options{})
	nic, _ := s.AddNIC("eth0", link.NewEthernet(a, stack.MAC{2, 0, 0, 0, 0, 1}))
	defer s.Close()

	c := dhcp.New(s, nic, dhcp.Options{
		Hostname: "vm1",
		Probe:    ap.Probe, // decline an address another host answers for
		OnBound:  func(l dhcp.Lease) { /* show it on a status page */ },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()

	wait, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	l, err := c.WaitBound(wait)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("bound", l.Addr, "router", l.Router, "dns", l.DNS)
	fmt.Println("NIC has it:", nic.HasAddress(l.Addr.Addr()))

	cancel() // releases the lease (DHCPRELEASE) and removes the address
	<-done
	fmt.Println("after release:", nic.Addresses())
	// Output:
	// bound 10.0.0.50/24 router 10.0.0.1 dns [10.0.0.53]
	// NIC has it: true
	// after release: []
}

// serverStack runs a fake DHCP server at 10.0.0.1 on dev until the process
// ends.
func serverStack(dev link.Device) {
	s := stack.New(stack.Options{})
	ipv4Register(s)
	arp.Register(s, arp.Options{})
	udp.Register(s, udp.Options{})
	nic, _ := s.AddNIC("eth0", link.NewEthernet(dev, stack.MAC{2, 0, 0, 0, 0, 2}))
	nic.AddAddress(netip.MustParsePrefix("10.0.0.1/24"))
	conn, _ := udp.Listen(s, netip.MustParseAddrPort("0.0.0.0:67"))
	conn.SetBroadcast(true)
	srv := &fakeServer{conn: conn, offer: leaseAddr, lease: time.Hour, msgs: make(chan seen, 1024)}
	srv.wg.Add(1)
	go srv.serve()
	go func() {
		for range srv.msgs {
		}
	}()
}
