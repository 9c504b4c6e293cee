package tcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"syscall"
	"testing"
)

// exampleNet is two stacks joined by a fake wire (see net_test.go); a
// real program registers ipv4 and arp and adds a TAP NIC instead.
func exampleNet() *testNet { return newTestNet(&testing.T{}, Options{}, linkFaults{}, linkFaults{}) }

func ExampleListen() {
	tn := exampleNet()
	defer tn.close()

	ln, err := Listen(tn.b, netip.MustParseAddrPort("0.0.0.0:7"))
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // listener closed
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()

	c, err := Dial(context.Background(), tn.a, netip.MustParseAddrPort("10.0.0.2:7"))
	if err != nil {
		panic(err)
	}
	c.Write([]byte("echo me"))
	c.CloseWrite()
	b, _ := io.ReadAll(c)
	c.Close()
	fmt.Printf("%s from %v\n", b, c.RemoteAddr())
	// Output: echo me from 10.0.0.2:7
}

func ExampleDial() {
	tn := exampleNet()
	defer tn.close()

	// Nothing listens on port 9: the peer answers with RST.
	_, err := Dial(context.Background(), tn.a, netip.MustParseAddrPort("10.0.0.2:9"))
	fmt.Println(errors.Is(err, syscall.ECONNREFUSED))
	// Output: true
}

// A dual-stack listener (":7", as Go's net.Listen("tcp", ":7") on Linux)
// takes IPv4 and IPv6 connections; "tcp6" would refuse the IPv4 one.
func ExampleListenNetwork() {
	tn := newTestNetFamilies(&testing.T{}, Options{}, linkFaults{}, linkFaults{}, 4, 6)
	defer tn.close()

	ln, err := ListenNetwork(tn.b, "tcp", netip.AddrPortFrom(netip.Addr{}, 7))
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	fmt.Println(ln.Addr())
	for _, dst := range []string{"10.0.0.2:7", "[fd00::2]:7"} {
		c, err := DialNetwork(context.Background(), tn.a, "tcp", netip.MustParseAddrPort(dst))
		if err != nil {
			panic(err)
		}
		fmt.Println(c.RemoteAddr())
		c.Close()
	}
	// Output:
	// [::]:7
	// 10.0.0.2:7
	// [fd00::2]:7
}
