package tcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
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

func ExampleProtocol_OnMemoryPressure() {
	// A budget of 64 KiB, under pressure from 32 KiB.
	tn := newTestNet(&testing.T{}, Options{MemoryLimit: 64 << 10, MemoryPressure: 32 << 10}, linkFaults{}, linkFaults{})
	defer tn.close()
	changes := make(chan bool, 8)
	tn.pa.OnMemoryPressure(func(under bool) {
		changes <- under // never block in the hook
	})

	ln, err := Listen(tn.b, netip.MustParseAddrPort("0.0.0.0:9"))
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			<-done // accepts and never reads
			c.Close()
		}
	}()
	c, err := Dial(context.Background(), tn.a, netip.MustParseAddrPort("10.0.0.2:9"))
	if err != nil {
		panic(err)
	}
	go c.Write(make([]byte, 1<<20)) // fills the send buffer
	fmt.Println("under pressure:", <-changes)
	c.SetLinger(0)
	c.Close() // a reset frees the send buffer at once
	fmt.Println("under pressure:", <-changes)
	// Output:
	// under pressure: true
	// under pressure: false
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

func ExampleConn_WriteTo() {
	tn := exampleNet()
	defer tn.close()

	ln, err := Listen(tn.b, netip.MustParseAddrPort("0.0.0.0:9"))
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	done := make(chan string)
	go func() {
		c, err := ln.AcceptTCP()
		if err != nil {
			return
		}
		defer c.Close()
		// A relay: io.Copy uses WriteTo, which writes straight from the
		// connection's receive buffer to w, until the peer's FIN.
		var w strings.Builder
		n, err := io.Copy(&w, c)
		done <- fmt.Sprintf("%d bytes %q, err %v", n, w.String(), err)
	}()

	c, err := Dial(context.Background(), tn.a, netip.MustParseAddrPort("10.0.0.2:9"))
	if err != nil {
		panic(err)
	}
	c.Write([]byte("relayed without a copy"))
	c.CloseWrite()
	fmt.Println(<-done)
	c.Close()
	// Output: 22 bytes "relayed without a copy", err <nil>
}
