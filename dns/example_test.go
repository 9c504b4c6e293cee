package dns_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"

	"github.com/tapstack/tapstack/dns"
)

// Look up a name. Here Dial is the kernel's and the server a tiny one on
// loopback; over tapstack, Dial is the host's DialContext (h.DialContext)
// and Servers come from the DHCP lease (lease.DNS) or --dns.
func ExampleResolver_LookupHost() {
	server := startExampleServer() // answers web.test. A 10.0.0.1
	defer server.Close()

	r := &dns.Resolver{
		Servers: []netip.AddrPort{server.LocalAddr().(*net.UDPAddr).AddrPort()},
		Dial:    (&net.Dialer{}).DialContext, // over tapstack: h.DialContext
	}
	addrs, err := r.LookupHost(context.Background(), "web.test")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(addrs)

	_, err = r.LookupHost(context.Background(), "missing.test")
	if de, ok := err.(*net.DNSError); ok && de.IsNotFound {
		fmt.Println("missing.test: not found")
	}
	// Output:
	// [10.0.0.1]
	// missing.test: not found
}

// startExampleServer serves one name on 127.0.0.1 until closed.
func startExampleServer() net.PacketConn {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q, err := dns.Parse(buf[:n])
			if err != nil || len(q.Questions) != 1 {
				continue
			}
			rcode := dns.RcodeNameError
			if q.Questions[0].Name == "web.test." {
				rcode = dns.RcodeSuccess
			}
			b := dns.NewBuilder(dns.HeaderFields{ID: q.Header.ID, Response: true, RecursionDesired: true, Rcode: rcode})
			b.Question(q.Questions[0])
			if rcode == dns.RcodeSuccess && q.Questions[0].Type == dns.TypeA {
				b.Answer(dns.Resource{Name: "web.test.", Type: dns.TypeA, Class: dns.ClassINET, TTL: 60, A: netip.MustParseAddr("10.0.0.1")})
			}
			pc.WriteTo(b.Bytes(), from)
		}
	}()
	return pc
}

// Look up both families: AAAA and A go out together, IPv6 addresses come
// first. The example server has only an A record for web.test.
func ExampleResolver_LookupNetIP() {
	server := startExampleServer()
	defer server.Close()
	r := &dns.Resolver{
		Servers: []netip.AddrPort{server.LocalAddr().(*net.UDPAddr).AddrPort()},
		Dial:    (&net.Dialer{}).DialContext, // over tapstack: h.DialContext
	}
	addrs, err := r.LookupNetIP(context.Background(), "ip", "web.test")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(addrs)
	// Output:
	// [10.0.0.1]
}

// Dial the addresses of a name the Happy Eyeballs way. Here the IPv6
// attempt fails at once, so the IPv4 one starts without waiting the 250 ms
// Connection Attempt Delay; over tapstack the clock is the stack's
// (s.Clock()) and dial calls tcp.Dial.
func ExampleDialHappyEyeballs() {
	addrs := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1")}
	dial := func(ctx context.Context, ap netip.AddrPort) (net.Conn, error) {
		fmt.Println("trying", ap)
		if ap.Addr().Is6() {
			return nil, errors.New("no route")
		}
		c, peer := net.Pipe()
		peer.Close()
		return c, nil
	}
	c, err := dns.DialHappyEyeballs(context.Background(), nil, addrs, 80, dial)
	if err != nil {
		log.Fatal(err)
	}
	c.Close()
	// Output:
	// trying [fd00::1]:80
	// trying 10.0.0.1:80
}
