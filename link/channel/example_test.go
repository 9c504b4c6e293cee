package channel_test

import (
	"fmt"
	"io"
	"net/netip"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link/channel"
)

// What a VPN author writes: a channel as the host's only interface, one
// goroutine that reads the packets the stack sends (to encrypt and send
// them), and a Write for each batch the tunnel receives. Here the
// "tunnel" is a second host on a second channel, so the example runs on
// its own.
func Example() {
	ch, _ := channel.New(channel.Config{MTU: 1420})
	h, err := host.New(host.Config{Interfaces: []host.Interface{{Endpoint: ch, Addr: netip.MustParsePrefix("10.9.0.1/24")}}})
	if err != nil {
		panic(err)
	}
	defer h.Close()
	peer, far := newPeer() // the other end of the tunnel
	defer far.Close()
	go func() { // stack -> tunnel
		bufs, sizes := [][]byte{make([]byte, 1420), make([]byte, 1420)}, make([]int, 2)
		for {
			n, err := ch.Read(bufs, sizes, 0)
			if err != nil {
				return // channel.ErrClosed: the host was closed
			}
			for i := range n {
				peer.Write([][]byte{bufs[i][:sizes[i]]}, 0) // encrypt and send, in a real VPN
			}
		}
	}()
	go pump(peer, ch) // tunnel -> stack: ch.Write(packets, 0) per received batch

	c, err := h.Dial("tcp", "10.9.0.2:7")
	if err != nil {
		panic(err)
	}
	defer c.Close()
	fmt.Fprint(c, "hello through the tunnel")
	buf := make([]byte, 24)
	io.ReadFull(c, buf)
	fmt.Printf("%s\n", buf)
	// Output: hello through the tunnel
}

// newPeer returns a host at 10.9.0.2 on its own channel, running a TCP echo
// server on port 7.
func newPeer() (*channel.Channel, *host.Host) {
	ch, _ := channel.New(channel.Config{MTU: 1420})
	h, err := host.New(host.Config{Interfaces: []host.Interface{{Endpoint: ch, Addr: netip.MustParsePrefix("10.9.0.2/24")}}})
	if err != nil {
		panic(err)
	}
	l, _ := h.Listen("tcp", ":7")
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ch, h
}
