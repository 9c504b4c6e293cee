package server_test

import (
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/tapstack/tapstack/dhcp"
	"github.com/tapstack/tapstack/dhcp/server"
	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// A gateway at 10.0.2.2 leasing slirp's addresses from 10.0.2.15, with the
// DNS server at 10.0.2.3.
func ExampleNew() {
	dev, _ := link.Pipe(1500) // a TAP in real life
	h, err := host.New(host.Config{NoSLAAC: true, Interfaces: []host.Interface{{
		Device: dev, Addr: netip.MustParsePrefix("10.0.2.2/24"),
		Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.2.3/24")},
	}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	s := h.Stack()
	srv, err := server.New(s, s.NICs()[0], server.Config{
		Subnet:     netip.MustParsePrefix("10.0.2.0/24"),
		Router:     netip.MustParseAddr("10.0.2.2"),
		DNS:        []netip.Addr{netip.MustParseAddr("10.0.2.3")},
		RangeStart: netip.MustParseAddr("10.0.2.15"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	cfg := srv.Config()
	fmt.Println("leasing", cfg.RangeStart, "-", cfg.RangeEnd, "for", cfg.LeaseTime)
	server.FormatLeases(os.Stdout, srv.Leases(), time.Now())
	// Output:
	// leasing 10.0.2.15 - 10.0.2.254 for 1h0m0s
	// ADDRESS  STATE  MAC  HOSTNAME  EXPIRES  CLIENT-ID
}

// The sans-IO core answers a DISCOVER with an offer and says where to
// send it.
func ExampleCore_Handle() {
	c, _ := server.NewCore(server.Config{
		Subnet: netip.MustParsePrefix("10.0.2.0/24"), Router: netip.MustParseAddr("10.0.2.2"),
		RangeStart: netip.MustParseAddr("10.0.2.15"),
	})
	discover := dhcp.Fields{Op: dhcp.OpRequest, XID: 1, CHAddr: stack.MAC{0x52, 0x54, 0, 0, 0, 1}, MessageType: dhcp.Discover}
	out := c.Handle(time.Now(), discover.Marshal())
	offer := dhcp.Message(out.Reply).Fields()
	fmt.Println(out.Type, offer.YIAddr, "to", out.To, "at", out.ToMAC)
	// Output: DHCPOFFER 10.0.2.15 to 10.0.2.15 at 52:54:00:00:00:01
}

// The lease table as a section of a status page (tapstack gateway adds
// it to `tapstack status`).
func ExampleServer_WriteLeases() {
	dev, _ := link.Pipe(1500)
	h, err := host.New(host.Config{NoSLAAC: true, Interfaces: []host.Interface{{Device: dev, Addr: netip.MustParsePrefix("10.0.2.2/24")}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	s := h.Stack()
	srv, err := server.New(s, s.NICs()[0], server.Config{Subnet: netip.MustParsePrefix("10.0.2.0/24"), Router: netip.MustParseAddr("10.0.2.2"), RangeStart: netip.MustParseAddr("10.0.2.15")})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv.WriteLeases(os.Stdout)
	// Output:
	// # dhcp leases (server on 10.0.2.0/24)
	// ADDRESS  STATE  MAC  HOSTNAME  EXPIRES  CLIENT-ID
}
