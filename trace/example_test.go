package trace_test

import (
	"fmt"
	"net/netip"

	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/trace"
)

// ExampleAttach traces a stack's packets passing a tcpdump-like filter;
// sess.Run would print them as paragraphs until its context ends.
func ExampleAttach() {
	s := stack.New(stack.Options{})
	f, err := trace.ParseFilter("host 10.0.0.1 and tcp port 80")
	if err != nil {
		panic(err)
	}
	sess, detach := trace.Attach(s, f)
	defer detach()
	fmt.Println(s.Tracer() != nil, sess.Dropped(), f)
	// Output: true 0 host 10.0.0.1 and tcp port 80
}

// ExampleParseFilter matches packets with tcpdump-like words.
func ExampleParseFilter() {
	f, err := trace.ParseFilter("host 10.0.0.1 and (tcp port 80 or icmp)")
	if err != nil {
		panic(err)
	}
	web := &trace.Summary{Proto: "tcp", Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"),
		SrcPort: 40000, DstPort: 80, Ports: true}
	dns := &trace.Summary{Proto: "udp", Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.53"),
		SrcPort: 40000, DstPort: 53, Ports: true}
	fmt.Println(f.Match(web), f.Match(dns))
	_, err = trace.ParseFilter("tcp prot 80")
	fmt.Println(err)
	// Output:
	// true false
	// filter: unknown word "prot" (want host, port, src, dst, tcp, udp, icmp, icmp6, arp, ip, ip6, vlan, and, or, not)
}
