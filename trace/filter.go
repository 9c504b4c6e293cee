package trace

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Summary is what a filter sees of one packet: its protocol, addresses,
// ports and VLAN.
type Summary struct {
	// Proto is "tcp", "udp", "icmp", "icmp6", "arp", "ip" or "ip6" (the
	// innermost protocol the tracer understood).
	Proto    string
	Src, Dst netip.Addr
	// SrcPort and DstPort are set for TCP and UDP (Ports true).
	SrcPort, DstPort uint16
	Ports            bool
	// Resolution marks IPv6 neighbour discovery (ICMPv6 types 133 to
	// 137), which filters treat like ARP.
	Resolution bool
	// VLAN is the VLAN ID of the interface, 0 when untagged.
	VLAN int
}

// Filter is a parsed tcpdump-like expression. The zero Filter (from an
// empty expression) matches everything.
type Filter struct {
	root node
	text string
}

// String returns the expression the filter was parsed from.
func (f *Filter) String() string { return f.text }

// Match reports whether the packet s passes the filter.
func (f *Filter) Match(s *Summary) bool {
	if f == nil || f.root == nil {
		return true
	}
	return f.root.match(s)
}

type node interface{ match(*Summary) bool }

type andNode struct{ a, b node }
type orNode struct{ a, b node }
type notNode struct{ a node }

// dir selects which address or port a primitive looks at.
type dir uint8

const (
	either dir = iota
	srcOnly
	dstOnly
)

type hostNode struct {
	d dir
	a netip.Addr
}
type portNode struct {
	d dir
	p uint16
}
type protoNode struct{ p string }
type vlanNode struct{ id int }

func (n andNode) match(s *Summary) bool { return n.a.match(s) && n.b.match(s) }
func (n orNode) match(s *Summary) bool  { return n.a.match(s) || n.b.match(s) }
func (n notNode) match(s *Summary) bool { return !n.a.match(s) }
func (n hostNode) match(s *Summary) bool {
	return (n.d != dstOnly && s.Src == n.a) || (n.d != srcOnly && s.Dst == n.a)
}
func (n portNode) match(s *Summary) bool {
	if s.Proto == "arp" || s.Resolution {
		return true // address resolution is part of the journey of the packets it resolves
	}
	return s.Ports && ((n.d != dstOnly && s.SrcPort == n.p) || (n.d != srcOnly && s.DstPort == n.p))
}
func (n protoNode) match(s *Summary) bool {
	switch {
	case s.Proto == "arp" && n.p != "arp" && n.p != "ip6":
		return true // ARP is part of the journey of the IPv4 packets it resolves
	case s.Resolution && n.p != "icmp6" && n.p != "ip" && n.p != "arp":
		return true // so is neighbour discovery for IPv6
	}
	switch n.p {
	case "ip":
		return s.Src.Is4() && s.Proto != "arp"
	case "ip6":
		return s.Src.Is6()
	}
	return s.Proto == n.p
}
func (n vlanNode) match(s *Summary) bool { return s.VLAN == n.id }

// maxTokens bounds an expression's length, and with it the parser's
// recursion.
const maxTokens = 256

// ParseFilter parses a tcpdump-like expression: the primitives
// `[src|dst] host ADDR`, `[src|dst] port N`, `tcp`, `udp`, `icmp`,
// `icmp6`, `arp`, `ip`, `ip6` and `vlan N`, combined with `and`, `or`,
// `not` (also `&&`, `||`, `!`) and parentheses; adjacent primitives are
// joined by and (`tcp port 80`). An empty expression matches everything.
//
// Unlike tcpdump, ARP counts as part of the journey of the IPv4 packets
// it resolves: port, tcp, udp, icmp and ip do not filter it out (so
// `tcp port 80` shows the resolution before a connection), while host
// still does and `arp` / `not arp` select it explicitly. IPv6 neighbour
// discovery is treated the same way (selected by icmp6 and ip6).
func ParseFilter(expr string) (*Filter, error) {
	toks := tokenize(expr)
	if len(toks) > maxTokens {
		return nil, fmt.Errorf("filter: more than %d words", maxTokens)
	}
	f := &Filter{text: strings.Join(toks, " ")}
	if len(toks) == 0 {
		return f, nil
	}
	p := &parser{toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i < len(toks) {
		return nil, fmt.Errorf("filter: unexpected %q", toks[p.i])
	}
	f.root = n
	return f, nil
}

func tokenize(s string) []string {
	s = strings.NewReplacer("(", " ( ", ")", " ) ", "!", " ! ").Replace(s)
	f := strings.Fields(s)
	for i, t := range f {
		switch t {
		case "&&":
			f[i] = "and"
		case "||":
			f[i] = "or"
		case "!":
			f[i] = "not"
		default:
			f[i] = strings.ToLower(t)
		}
	}
	return f
}

type parser struct {
	toks []string
	i    int
}

func (p *parser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *parser) next() string {
	t := p.peek()
	if p.i < len(p.toks) {
		p.i++
	}
	return t
}

func (p *parser) or() (node, error) {
	a, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peek() == "or" {
		p.next()
		b, err := p.and()
		if err != nil {
			return nil, err
		}
		a = orNode{a, b}
	}
	return a, nil
}

func (p *parser) and() (node, error) {
	a, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		switch t := p.peek(); t {
		case "", "or", ")":
			return a, nil
		case "and":
			p.next()
		}
		b, err := p.unary()
		if err != nil {
			return nil, err
		}
		a = andNode{a, b}
	}
}

func (p *parser) unary() (node, error) {
	switch t := p.next(); t {
	case "not":
		a, err := p.unary()
		if err != nil {
			return nil, err
		}
		return notNode{a}, nil
	case "(":
		a, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.next() != ")" {
			return nil, fmt.Errorf("filter: missing )")
		}
		return a, nil
	case "":
		return nil, fmt.Errorf("filter: expression ends too early")
	case "tcp", "udp", "icmp", "icmp6", "arp", "ip", "ip6":
		return protoNode{t}, nil
	case "src", "dst":
		d := srcOnly
		if t == "dst" {
			d = dstOnly
		}
		switch q := p.next(); q {
		case "host", "port":
			return p.prim(q, d)
		default:
			return nil, fmt.Errorf("filter: %q must be followed by host or port, not %q", t, q)
		}
	case "host", "port", "vlan":
		return p.prim(t, either)
	default:
		return nil, fmt.Errorf("filter: unknown word %q (want host, port, src, dst, tcp, udp, icmp, icmp6, arp, ip, ip6, vlan, and, or, not)", t)
	}
}

func (p *parser) prim(kind string, d dir) (node, error) {
	v := p.next()
	switch kind {
	case "host":
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("filter: host %q is not an IP address", v)
		}
		return hostNode{d, a.Unmap()}, nil
	case "port":
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("filter: port %q is not a number in 0..65535", v)
		}
		return portNode{d, uint16(n)}, nil
	default: // vlan
		n, err := strconv.ParseUint(v, 10, 12)
		if err != nil || n == 0 || n == 4095 {
			return nil, fmt.Errorf("filter: vlan %q is not a VLAN ID in 1..4094", v)
		}
		return vlanNode{int(n)}, nil
	}
}
