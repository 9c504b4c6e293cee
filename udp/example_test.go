package udp_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"

	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// exampleStack returns a stack with the address 10.0.0.1/24 and its IP and
// UDP layers registered (in a real host: ipv4.Register and udp.Register).
func exampleStack() *stack.Stack {
	s := stack.New(stack.Options{})
	ip := newFakeIP()
	s.RegisterNetwork(ip)
	nic, _ := s.AddNIC("eth0", dropLink(stack.MAC{}))
	nic.AddAddress(netip.MustParsePrefix("10.0.0.1/24"))
	u, _ := udp.Register(s, udp.Options{})
	ip.nic, ip.udp, ip.peer = nic, u, ip
	return s
}

// An echo server: Listen, then read and answer datagrams.
func ExampleListen() {
	s := exampleStack()
	defer s.Close()

	srv, err := udp.Listen(s, netip.MustParseAddrPort("0.0.0.0:7"))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return // closed
			}
			srv.WriteToUDPAddrPort(buf[:n], from)
		}
	}()

	cli, err := udp.Listen(s, netip.MustParseAddrPort("10.0.0.1:5000"))
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	cli.WriteToUDPAddrPort([]byte("hello"), netip.MustParseAddrPort("10.0.0.1:7"))
	buf := make([]byte, 1500)
	n, from, err := cli.ReadFromUDPAddrPort(buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q from %v\n", buf[:n], from)
	// Output: "hello" from 10.0.0.1:7
}

// A client: Dial gives a connected net.Conn; a closed port surfaces as
// ECONNREFUSED on the next Read once ICMP port unreachable comes back.
func ExampleDial() {
	s := exampleStack()
	defer s.Close()

	srv, err := udp.Listen(s, netip.MustParseAddrPort("10.0.0.1:53"))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	c, err := udp.Dial(context.Background(), s, netip.MustParseAddrPort("10.0.0.1:53"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("query")); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 512)
	n, from, err := srv.ReadFromUDPAddrPort(buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("server got %q from the client's port: %v\n", buf[:n], from == c.LocalAddrPort())
	srv.WriteToUDPAddrPort([]byte("answer"), from)
	n, err = c.Read(buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("client got %q from %v\n", buf[:n], c.RemoteAddr())
	// Output:
	// server got "query" from the client's port: true
	// client got "answer" from 10.0.0.1:53
}

// ListenNetwork with "udp" and an empty address binds [::], which takes
// IPv4 and IPv6 datagrams; "udp4" binds 0.0.0.0 and "udp6" [::] for IPv6
// only.
func ExampleListenNetwork() {
	s := exampleStack()
	defer s.Close()
	for _, network := range []string{"udp", "udp4", "udp6"} {
		c, err := udp.ListenNetwork(s, network, netip.AddrPortFrom(netip.Addr{}, 53))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(network, c.LocalAddr())
		c.Close()
	}
	// Output:
	// udp [::]:53
	// udp4 0.0.0.0:53
	// udp6 [::]:53
}
