// Package host wires a complete tapstack virtual host in one call: a
// dual-stack Stack with IPv4, ARP and IGMP, IPv6, Neighbour Discovery and
// MLD, TCP and UDP registered, one NIC per link device with its addresses
// (an IPv6 link-local address on each, SLAAC addresses from routers'
// advertisements unless Config.NoSLAAC), and optional default gateways. It is the embedder's entry
// point: Listen, ListenPacket, Dial and DialContext take the arguments of
// their namesakes in package net and return net.Listener, net.PacketConn
// and net.Conn values that work with net/http and any other Go networking
// code.
//
//	dev, _ := tap.Open(tap.Config{Name: "tap0", Bridge: "br0"})
//	h, _ := host.New(host.Config{Interfaces: []host.Interface{{Device: dev, Addr: netip.MustParsePrefix("10.0.0.2/24")}}})
//	defer h.Close()
//	l, _ := h.Listen("tcp", ":80")
//	http.Serve(l, handler)
package host

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/dhcp"
	"github.com/tapstack/tapstack/dns"
	"github.com/tapstack/tapstack/igmp"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/mld"
	"github.com/tapstack/tapstack/ndp"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/udp"
)

// Config describes one virtual host.
type Config struct {
	// Clock drives every timer of the stack; nil means the wall clock.
	Clock stack.Clock
	// Interfaces are the host's network interfaces, at least one.
	Interfaces []Interface
	// Gateway, when valid, is the default route's next hop, IPv4 or IPv6;
	// it must be inside the subnet of one of the interfaces, or, for an
	// IPv6 link-local router, carry the interface as its zone
	// (fe80::1%eth0). The other family's default route is a Route with
	// Dst 0.0.0.0/0 or ::/0.
	Gateway netip.Addr
	// Routes are static routes, added after the interfaces' addresses
	// (which add their connected routes) and after Gateway.
	Routes []Route
	// StaticARP are permanent neighbour entries (flag M, like `arp -s`).
	StaticARP []StaticARP
	// ProxyARP are published entries (flag P, like `arp -s IP MAC pub`):
	// ARP requests for their addresses are answered on another host's
	// behalf.
	ProxyARP []ProxyARP
	// DetectConflicts runs address conflict detection for every interface
	// address before it is assigned: RFC 5227 for IPv4 (an ARP probe,
	// arp.Protocol.Probe, timed by ARP's Probe* options) and duplicate
	// address detection for IPv6 (RFC 4862, ndp.Protocol.Probe, the
	// link-local address included); New then fails with an error
	// wrapping *arp.ConflictError or *ndp.ConflictError when another node
	// on the segment already uses one. All addresses are probed at the
	// same time (about one second). SLAAC addresses are always probed.
	DetectConflicts bool
	// BeforeStart, when not nil, is called with the new stack before any
	// interface starts, so a tracer set there sees the host's first
	// frames (tapstack up --trace).
	BeforeStart func(s *stack.Stack)
	// NoSLAAC turns off stateless address autoconfiguration (RFC 4862):
	// by default every Ethernet interface solicits routers and takes
	// addresses, a default route, on-link prefixes, the MTU and DNS
	// servers from their advertisements, as a Linux host does. Every
	// Ethernet interface gets its EUI-64 link-local address either way.
	NoSLAAC bool
	// Advertise, when not nil, makes the host an IPv6 router on its
	// Ethernet interfaces (RFC 4861 6.2, the job radvd does): each
	// interface with a global IPv6 address advertises its /64 prefixes
	// with this configuration, so Linux hosts on its links configure
	// SLAAC addresses and a default route through it. It goes with
	// IPv6.Forwarding.
	Advertise *ndp.AdvertiseConfig
	// DNS are the name servers of Resolver (port 53), IPv4 or IPv6. When
	// empty, the servers of the DHCP lease and of routers' advertisements
	// (RDNSS, RFC 8106) are used.
	DNS []netip.Addr
	// DHCP are the options of the DHCP client of the interface with
	// Interface.DHCP set. Probe defaults to the host's ARP probe
	// (RFC 5227: an offered address in use is declined); OnBound and
	// OnUnbound are called after the host's own bookkeeping.
	DHCP dhcp.Options
	// ARP, IPv4, IGMP, IPv6, NDP, MLD, TCP and UDP are the protocols'
	// options; the zero values give Linux-like defaults. IPv4.Forwarding
	// and IPv6.Forwarding make the host a router between its interfaces.
	ARP  arp.Options
	IPv4 ipv4.Options
	IGMP igmp.Options
	IPv6 ipv6.Options
	NDP  ndp.Options
	MLD  mld.Options
	TCP  tcp.Options
	UDP  udp.Options
	// Logger receives the host's log records (DHCP leases bound and
	// lost, the host started and closed); nil logs nothing.
	Logger *slog.Logger
}

// Interface is one network interface of a host.
type Interface struct {
	// Name is the interface name shown on status pages; empty means
	// "eth0", "eth1", ... by position.
	Name string
	// Device is the raw frame device (a *tap.Device, one end of a
	// link.Pipe, a decorator). A device whose IsL3 method reports true (a
	// TUN, tap.Config{Mode: tap.TUN}) carries bare IP packets: the
	// interface then has no MAC, ARP, NDP, link-local address or DHCP. The host owns it from New on and closes it
	// in Close (or when New fails).
	Device link.Device
	// MAC is the interface's hardware address; the zero value picks a
	// random locally administered unicast address.
	MAC stack.MAC
	// Addr is an address with its prefix length, IPv4 (10.0.0.2/24) or
	// IPv6 (fd00::2/64). With DHCP set it must not be an IPv4 one.
	Addr netip.Prefix
	// Addrs are more addresses of the interface, of either family.
	Addrs []netip.Prefix
	// DHCP makes the interface get its address, default route and DNS
	// servers from a DHCP server (RFC 2131): New starts a dhcp.Client on
	// it and returns at once; WaitDHCP waits for the lease. At most one
	// interface of a host can use DHCP (the client owns UDP port 68).
	DHCP bool
	// Endpoint, when not nil, is the interface's link endpoint, used
	// instead of Device and MAC: for example a VLAN port of a link.Trunk
	// (802.1Q sub-interface). The host owns it from New on.
	Endpoint stack.LinkEndpoint
}

// Route is a static route of a host.
type Route struct {
	// Dst is the destination prefix; 0.0.0.0/0 is a default route.
	Dst netip.Prefix
	// Gateway is the next hop; the zero Addr makes a device route
	// (destinations in Dst are on-link on Interface).
	Gateway netip.Addr
	// Interface names the outgoing interface; empty means the interface
	// whose subnet holds Gateway.
	Interface string
}

// StaticARP is a permanent ARP entry.
type StaticARP struct {
	// Addr and MAC are the neighbour's addresses.
	Addr netip.Addr
	MAC  stack.MAC
	// Interface names the interface; empty means the one whose subnet
	// holds Addr.
	Interface string
}

// ProxyARP is a published ARP entry: requests for an address in Prefix
// are answered with MAC (zero: the interface's own, so the traffic comes
// to this host, which must then route it, see IPv4.Forwarding).
type ProxyARP struct {
	Prefix netip.Prefix
	MAC    stack.MAC
	// Interface names the interface that answers; empty means the one
	// whose subnet overlaps Prefix, else the first.
	Interface string
}

// Host is a running virtual host. Its methods are safe for concurrent use.
type Host struct {
	s    *stack.Stack
	arp  *arp.Protocol
	ipv4 *ipv4.Protocol
	igmp *igmp.Protocol
	ipv6 *ipv6.Protocol
	ndp  *ndp.Protocol
	mld  *mld.Protocol
	tcp  *tcp.Protocol
	udp  *udp.Protocol

	forwarding, forwarding6 bool

	dhcp     *dhcp.Client // nil: no interface uses DHCP
	dhcpNIC  *stack.NIC
	dns      []netip.Addr                 // Config.DNS
	resolver atomic.Pointer[dns.Resolver] // replaced, never modified

	log     *slog.Logger // never nil (log.go)
	closing atomic.Bool  // Close has begun: a lease ending is a release

	closeOnce sync.Once
	closeErr  error
}

// New builds and starts a host. On error everything it started is stopped
// and every device in cfg is closed.
func New(cfg Config) (h *Host, err error) {
	if len(cfg.Interfaces) == 0 {
		closeDevices(cfg.Interfaces)
		return nil, errors.New("host: no interfaces configured")
	}
	s := stack.New(stack.Options{Clock: cfg.Clock})
	if cfg.BeforeStart != nil {
		cfg.BeforeStart(s)
	}
	h = &Host{s: s, forwarding: cfg.IPv4.Forwarding, forwarding6: cfg.IPv6.Forwarding, log: cfg.Logger}
	if h.log == nil {
		h.log = quiet
	}
	self := h // a failing return sets h to nil before the deferred call
	added := 0
	defer func() {
		if err != nil {
			self.closeNeighbours()
			s.Close()
			closeDevices(cfg.Interfaces[added:])
			h = nil
		}
	}()
	if err := h.register(cfg); err != nil {
		return nil, err
	}
	for _, a := range cfg.DNS {
		if !a.IsValid() || a.Is4In6() {
			return nil, fmt.Errorf("host: DNS server %v is not an IPv4 or IPv6 address", a)
		}
	}
	h.dns = cfg.DNS
	h.setResolver(cfg.DNS)
	dhcpAt, dhcpName := -1, ""
	nics := make([]*stack.NIC, len(cfg.Interfaces))
	for i, ifc := range cfg.Interfaces {
		name := ifc.Name
		if name == "" {
			name = "eth" + strconv.Itoa(i)
		}
		if ifc.Device == nil && ifc.Endpoint == nil {
			return nil, fmt.Errorf("host: interface %s has no device", name)
		}
		if err := checkAddrs(name, ifc, cfg.NoSLAAC || cfg.IPv6.Forwarding); err != nil {
			return nil, err
		}
		if ifc.DHCP {
			if dhcpAt >= 0 {
				return nil, fmt.Errorf("host: interfaces %s and %s both use DHCP: at most one can (the client owns UDP port 68)", dhcpName, name)
			}
			dhcpAt, dhcpName = i, name
		}
		ep := ifc.Endpoint
		if d, ok := ifc.Device.(interface{ IsL3() bool }); ep == nil && ok && d.IsL3() {
			switch {
			case !ifc.MAC.IsZero():
				return nil, fmt.Errorf("host: interface %s is an L3 device (a TUN): it has no MAC address, leave MAC unset", name)
			case ifc.DHCP:
				return nil, fmt.Errorf("host: interface %s is an L3 device (a TUN): DHCP needs Ethernet, give an address", name)
			}
			ep = link.NewL3(ifc.Device)
		}
		if ep == nil {
			mac := ifc.MAC
			if mac.IsZero() {
				mac = RandomMAC()
			} else if mac.IsMulticast() {
				return nil, fmt.Errorf("host: interface %s: MAC %v is a multicast address", name, mac)
			}
			ep = link.NewEthernet(ifc.Device, mac)
		}
		nic, err := s.AddNIC(name, ep)
		if err != nil {
			return nil, fmt.Errorf("host: interface %s: %w", name, err)
		}
		added = i + 1
		nics[i] = nic
	}
	if cfg.DetectConflicts {
		if err := h.probeAll(cfg.Interfaces, nics); err != nil {
			return nil, err
		}
	}
	for i, ifc := range cfg.Interfaces {
		for _, a := range addrsOf(ifc) {
			if err := nics[i].AddAddress(a); err != nil {
				return nil, fmt.Errorf("host: interface %s: %v: %w", nics[i].Name(), a, err)
			}
		}
		if err := h.addLinkLocal(nics[i]); err != nil {
			return nil, err
		}
	}
	if cfg.Gateway.IsValid() {
		dst := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if cfg.Gateway.Is6() {
			dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
		if err := h.AddRoute(Route{Dst: dst, Gateway: cfg.Gateway}); err != nil {
			return nil, fmt.Errorf("host: default gateway: %w", err)
		}
	}
	for _, r := range cfg.Routes {
		if err := h.AddRoute(r); err != nil {
			return nil, err
		}
	}
	for _, e := range cfg.StaticARP {
		nic, err := h.nicFor(e.Interface, netip.PrefixFrom(e.Addr, 32), false)
		if err != nil {
			return nil, fmt.Errorf("host: static ARP entry %v: %w", e.Addr, err)
		}
		if err := h.arp.AddStatic(nic, e.Addr, e.MAC); err != nil {
			return nil, fmt.Errorf("host: static ARP entry %v: %w", e.Addr, err)
		}
	}
	for _, e := range cfg.ProxyARP {
		nic, err := h.nicFor(e.Interface, e.Prefix, true)
		if err != nil {
			return nil, fmt.Errorf("host: proxy ARP entry %v: %w", e.Prefix, err)
		}
		if err := h.arp.AddPublished(nic, e.Prefix, e.MAC); err != nil {
			return nil, fmt.Errorf("host: proxy ARP entry %v: %w", e.Prefix, err)
		}
	}
	if err := h.startIPv6(cfg, nics); err != nil {
		return nil, err
	}
	if dhcpAt >= 0 {
		h.startDHCP(nics[dhcpAt], cfg.DHCP)
	}
	h.log.Debug("host started", "interfaces", len(nics), "forwarding", h.forwarding, "forwarding6", h.forwarding6)
	return h, nil
}

// register registers the protocols with the stack, in the order their
// dependencies need.
func (h *Host) register(cfg Config) (err error) {
	s := h.s
	if h.ipv4, err = ipv4.Register(s, cfg.IPv4); err != nil {
		return fmt.Errorf("host: ipv4: %w", err)
	}
	if h.arp, err = arp.Register(s, cfg.ARP); err != nil {
		return fmt.Errorf("host: arp: %w", err)
	}
	if h.igmp, err = igmp.Register(s, cfg.IGMP); err != nil {
		return fmt.Errorf("host: igmp: %w", err)
	}
	if h.ipv6, err = ipv6.Register(s, cfg.IPv6); err != nil {
		return fmt.Errorf("host: ipv6: %w", err)
	}
	if h.ndp, err = ndp.Register(s, cfg.NDP); err != nil {
		return fmt.Errorf("host: ndp: %w", err)
	}
	if h.mld, err = mld.Register(s, cfg.MLD); err != nil {
		return fmt.Errorf("host: mld: %w", err)
	}
	if h.tcp, err = tcp.Register(s, cfg.TCP); err != nil {
		return fmt.Errorf("host: tcp: %w", err)
	}
	if h.udp, err = udp.Register(s, cfg.UDP); err != nil {
		return fmt.Errorf("host: udp: %w", err)
	}
	return nil
}

// addrsOf returns ifc's static addresses: Addr, then Addrs.
func addrsOf(ifc Interface) []netip.Prefix {
	var as []netip.Prefix
	if ifc.Addr.IsValid() {
		as = append(as, ifc.Addr)
	}
	return append(as, ifc.Addrs...)
}

// checkAddrs checks the addresses of interface name; an interface needs
// one, DHCP, or SLAAC (autoconf) to get one.
func checkAddrs(name string, ifc Interface, noAutoconf bool) error {
	as := addrsOf(ifc)
	if len(as) == 0 && !ifc.DHCP && noAutoconf {
		return fmt.Errorf("host: interface %s has no address: give one like 10.0.0.2/24 or fd00::2/64, or use DHCP or SLAAC", name)
	}
	for _, a := range as {
		switch {
		case !a.IsValid() || a.Addr().Is4In6() || a.Addr().Zone() != "":
			return fmt.Errorf("host: interface %s: address %v is not a prefix like 10.0.0.2/24 or fd00::2/64", name, a)
		case ifc.DHCP && a.Addr().Is4():
			return fmt.Errorf("host: interface %s: a static address (%v) and DHCP exclude each other", name, a)
		case a.Addr().IsMulticast() || a.Addr().IsUnspecified() || a.Addr().IsLoopback():
			return fmt.Errorf("host: interface %s: %v is not a unicast address", name, a)
		}
	}
	return nil
}

func closeDevices(ifcs []Interface) {
	for _, ifc := range ifcs {
		switch {
		case ifc.Endpoint != nil:
			ifc.Endpoint.Close()
		case ifc.Device != nil:
			ifc.Device.Close()
		}
	}
}

// RandomMAC returns a random locally administered unicast address (the
// second-lowest bit of the first byte set, the lowest clear), as Linux picks
// for a new TAP.
func RandomMAC() stack.MAC {
	var m stack.MAC
	rand.Read(m[:])
	m[0] = m[0]&^1 | 2
	return m
}

// Stack returns the host's stack, for routes, counters and NICs.
func (h *Host) Stack() *stack.Stack { return h.s }

// Forwarding reports whether the host routes packets between its
// interfaces, in either family (Config.IPv4.Forwarding,
// Config.IPv6.Forwarding).
func (h *Host) Forwarding() bool { return h.forwarding || h.forwarding6 }

// ARP returns the host's ARP protocol (its neighbour cache).
func (h *Host) ARP() *arp.Protocol { return h.arp }

// IPv4 returns the host's IPv4 protocol.
func (h *Host) IPv4() *ipv4.Protocol { return h.ipv4 }

// IPv6 returns the host's IPv6 protocol.
func (h *Host) IPv6() *ipv6.Protocol { return h.ipv6 }

// NDP returns the host's Neighbour Discovery (its IPv6 neighbour cache,
// routers, prefixes and DNS servers learnt from advertisements).
func (h *Host) NDP() *ndp.Protocol { return h.ndp }

// IGMP returns the host's IGMP protocol (IPv4 group membership reports).
func (h *Host) IGMP() *igmp.Protocol { return h.igmp }

// MLD returns the host's MLD protocol (IPv6 group membership reports).
func (h *Host) MLD() *mld.Protocol { return h.mld }

// TCP returns the host's TCP protocol (its connections).
func (h *Host) TCP() *tcp.Protocol { return h.tcp }

// UDP returns the host's UDP protocol (its endpoints).
func (h *Host) UDP() *udp.Protocol { return h.udp }

// ListenPacket opens a UDP endpoint, like net.ListenPacket: network is
// "udp", "udp4" or "udp6", address "10.0.0.2:53", "[fd00::2]:53" or ":53"
// (every address of the host; under "udp" both families, as Go's net
// does on Linux).
func (h *Host) ListenPacket(network, address string) (net.PacketConn, error) {
	if err := checkNetwork("listen", network, "udp"); err != nil {
		return nil, err
	}
	ap, err := parseAddrPort(address, true)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	c, err := udp.ListenNetwork(h.s, network, ap)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Listen listens for TCP connections, like net.Listen: network is "tcp",
// "tcp4" or "tcp6", address "10.0.0.2:80", "[fd00::2]:80" or ":80" (every
// address of the host; under "tcp" a dual-stack listener that takes IPv4
// and IPv6 connections, as Go's net does on Linux).
func (h *Host) Listen(network, address string) (net.Listener, error) {
	if err := checkNetwork("listen", network, "tcp"); err != nil {
		return nil, err
	}
	ap, err := parseAddrPort(address, true)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	l, err := tcp.ListenNetwork(h.s, network, ap)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Dial connects to address over network, like net.Dial: DialContext
// with context.Background().
func (h *Host) Dial(network, address string) (net.Conn, error) {
	return h.DialContext(context.Background(), network, address)
}

// DialContext connects to address ("10.0.0.1:80", "[fd00::1]:80",
// "[fe80::1%eth0]:80" or "name:80") over network ("tcp", "tcp4", "tcp6",
// "udp", "udp4" or "udp6"), like net.Dialer.DialContext, the shape of
// http.Transport.DialContext and similar hooks: an http.Client whose
// Transport dials with it fetches http://name/ over the stack. A host name
// is looked up with Resolver (over the stack, A and AAAA records) and its
// addresses are tried the Happy Eyeballs way (RFC 8305: IPv6 first, the
// next address after 250 ms or a failure).
func (h *Host) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if err := checkNetwork("dial", network, ""); err != nil {
		return nil, err
	}
	if hostPart, _, err := net.SplitHostPort(address); err == nil && hostPart != "" {
		if _, err := netip.ParseAddr(hostPart); err != nil {
			return h.Resolver().DialContext(h.dialIP)(ctx, network, address)
		}
	}
	return h.dialIP(ctx, network, address)
}

// dialIP dials addr, whose host part is an IP address.
func (h *Host) dialIP(ctx context.Context, network, addr string) (net.Conn, error) {
	ap, err := parseAddrPort(addr, false)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	if network[0] == 'u' {
		c, err := udp.DialNetwork(ctx, h.s, network, ap)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	c, err := tcp.DialNetwork(ctx, h.s, network, ap)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// parseAddrPort parses "a.b.c.d:port" or "[v6addr%zone]:port", or with
// wildcard also ":port" (the zero Addr: every address of the host).
func parseAddrPort(s string, wildcard bool) (netip.AddrPort, error) {
	hostPart, portPart, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	port, err := strconv.ParseUint(portPart, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: malformed port %q", s, portPart)
	}
	if hostPart == "" {
		if !wildcard {
			return netip.AddrPort{}, fmt.Errorf("address %q: missing host", s)
		}
		return netip.AddrPortFrom(netip.Addr{}, uint16(port)), nil
	}
	a, err := netip.ParseAddr(hostPart)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: host must be an IP address", s)
	}
	if a.Is4In6() { // ::ffff:10.0.0.2 is 10.0.0.2, as in package net
		a = a.Unmap()
	}
	return netip.AddrPortFrom(a, uint16(port)), nil
}

// Close stops the host: a DHCP lease is released first (DHCPRELEASE), a
// router's interfaces advertise router lifetime 0, then every listener and connection is closed, then the protocols and the
// devices. It returns when every goroutine of the host
// has ended. Calling it again returns the first result.
func (h *Host) Close() error {
	h.closeOnce.Do(func() {
		h.closing.Store(true)
		if h.dhcp != nil {
			// The lease goes back (DHCPRELEASE) while the stack can still
			// send it.
			h.dhcp.Close()
		}
		// Routers' final advertisements (router lifetime 0) go out while
		// the stack can still send them.
		h.closeNeighbours()
		h.closeErr = h.s.Close()
		h.log.Debug("host closed", "err", h.closeErr)
	})
	return h.closeErr
}
