// Package host wires a complete tapstack virtual host in one call: a Stack
// with IPv4, ARP, TCP and UDP registered, one NIC per link device with its
// address, and an optional default gateway. It is the embedder's entry
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
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/dhcp"
	"github.com/tapstack/tapstack/dns"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/link"
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
	// Gateway, when valid, is the default route's next hop; it must be
	// inside the subnet of one of the interfaces.
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
	// DetectConflicts runs RFC 5227 address conflict detection (an ARP
	// probe, arp.Protocol.Probe, timed by ARP's Probe* options) for every
	// interface address before it is assigned; New then fails with an
	// error wrapping *arp.ConflictError when another host on the segment
	// already uses one. All interfaces are probed at the same time.
	DetectConflicts bool
	// DNS are the name servers of Resolver (port 53). When empty and an
	// interface uses DHCP, the servers of its lease are used.
	DNS []netip.Addr
	// DHCP are the options of the DHCP client of the interface with
	// Interface.DHCP set. Probe defaults to the host's ARP probe
	// (RFC 5227: an offered address in use is declined); OnBound and
	// OnUnbound are called after the host's own bookkeeping.
	DHCP dhcp.Options
	// ARP, IPv4, TCP and UDP are the protocols' options; the zero values
	// give Linux-like defaults. IPv4.Forwarding makes the host a router
	// between its interfaces.
	ARP  arp.Options
	IPv4 ipv4.Options
	TCP  tcp.Options
	UDP  udp.Options
}

// Interface is one network interface of a host.
type Interface struct {
	// Name is the interface name shown on status pages; empty means
	// "eth0", "eth1", ... by position.
	Name string
	// Device is the raw frame device (a *tap.Device, one end of a
	// link.Pipe, a decorator). The host owns it from New on and closes it
	// in Close (or when New fails).
	Device link.Device
	// MAC is the interface's hardware address; the zero value picks a
	// random locally administered unicast address.
	MAC stack.MAC
	// Addr is the IPv4 address with its prefix length, e.g. 10.0.0.2/24.
	// It must be the zero Prefix when DHCP is set.
	Addr netip.Prefix
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
	tcp  *tcp.Protocol
	udp  *udp.Protocol

	forwarding bool

	dhcp     *dhcp.Client // nil: no interface uses DHCP
	dhcpNIC  *stack.NIC
	dns      []netip.Addr                 // Config.DNS
	resolver atomic.Pointer[dns.Resolver] // replaced, never modified

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
	h = &Host{s: s, forwarding: cfg.IPv4.Forwarding}
	added := 0
	defer func() {
		if err != nil {
			s.Close()
			closeDevices(cfg.Interfaces[added:])
			h = nil
		}
	}()
	if h.ipv4, err = ipv4.Register(s, cfg.IPv4); err != nil {
		return nil, fmt.Errorf("host: ipv4: %w", err)
	}
	if h.arp, err = arp.Register(s, cfg.ARP); err != nil {
		return nil, fmt.Errorf("host: arp: %w", err)
	}
	if h.tcp, err = tcp.Register(s, cfg.TCP); err != nil {
		return nil, fmt.Errorf("host: tcp: %w", err)
	}
	if h.udp, err = udp.Register(s, cfg.UDP); err != nil {
		return nil, fmt.Errorf("host: udp: %w", err)
	}
	for _, a := range cfg.DNS {
		if !a.Is4() {
			return nil, fmt.Errorf("host: DNS server %v is not an IPv4 address", a)
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
		switch {
		case ifc.DHCP && ifc.Addr.IsValid():
			return nil, fmt.Errorf("host: interface %s: a static address (%v) and DHCP exclude each other", name, ifc.Addr)
		case ifc.DHCP && dhcpAt >= 0:
			return nil, fmt.Errorf("host: interfaces %s and %s both use DHCP: at most one can (the client owns UDP port 68)", dhcpName, name)
		case ifc.DHCP:
			dhcpAt, dhcpName = i, name
		case !ifc.Addr.IsValid() || !ifc.Addr.Addr().Is4():
			return nil, fmt.Errorf("host: interface %s: address %v is not an IPv4 prefix like 10.0.0.2/24", name, ifc.Addr)
		}
		ep := ifc.Endpoint
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
		if ifc.DHCP {
			continue
		}
		if err := nics[i].AddAddress(ifc.Addr); err != nil {
			return nil, fmt.Errorf("host: interface %s: %w", nics[i].Name(), err)
		}
	}
	if cfg.Gateway.IsValid() {
		if err := s.AddRoute(stack.RouteEntry{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Gateway: cfg.Gateway}); err != nil {
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
	if dhcpAt >= 0 {
		h.startDHCP(nics[dhcpAt], cfg.DHCP)
	}
	return h, nil
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
// interfaces (Config.IPv4.Forwarding).
func (h *Host) Forwarding() bool { return h.forwarding }

// ARP returns the host's ARP protocol (its neighbour cache).
func (h *Host) ARP() *arp.Protocol { return h.arp }

// IPv4 returns the host's IPv4 protocol.
func (h *Host) IPv4() *ipv4.Protocol { return h.ipv4 }

// TCP returns the host's TCP protocol (its connections).
func (h *Host) TCP() *tcp.Protocol { return h.tcp }

// UDP returns the host's UDP protocol (its endpoints).
func (h *Host) UDP() *udp.Protocol { return h.udp }

// ListenPacket opens a UDP endpoint, like net.ListenPacket: network is
// "udp" or "udp4", address "10.0.0.2:53" or ":53" (every address of the
// host).
func (h *Host) ListenPacket(network, address string) (net.PacketConn, error) {
	if err := checkNetwork("listen", network, "udp"); err != nil {
		return nil, err
	}
	ap, err := parseAddrPort(address, true)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	c, err := udp.Listen(h.s, ap)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Listen listens for TCP connections, like net.Listen: network is "tcp"
// or "tcp4", address "10.0.0.2:80" or ":80" (every address of the host).
func (h *Host) Listen(network, address string) (net.Listener, error) {
	if err := checkNetwork("listen", network, "tcp"); err != nil {
		return nil, err
	}
	ap, err := parseAddrPort(address, true)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	l, err := tcp.Listen(h.s, ap)
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

// DialContext connects to address ("10.0.0.1:80" or "name:80") over
// network ("tcp", "tcp4", "udp" or "udp4"), like net.Dialer.DialContext,
// the shape of http.Transport.DialContext and similar hooks: an
// http.Client whose Transport dials with it fetches http://name/ over the
// stack. A host name is looked up with Resolver (over the stack) and its
// addresses are tried in turn.
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

// dialIP dials addr, whose host part is an IPv4 address.
func (h *Host) dialIP(ctx context.Context, network, addr string) (net.Conn, error) {
	ap, err := parseAddrPort(addr, false)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	if network[0] == 'u' {
		c, err := udp.Dial(ctx, h.s, ap)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	c, err := tcp.Dial(ctx, h.s, ap)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// parseAddrPort parses "a.b.c.d:port", or ":port" when wildcard is allowed.
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
		return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(port)), nil
	}
	a, err := netip.ParseAddr(hostPart)
	if err != nil || !a.Unmap().Is4() {
		return netip.AddrPort{}, fmt.Errorf("address %q: host must be an IPv4 address", s)
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}

// Close stops the host: a DHCP lease is released first (DHCPRELEASE), then
// every listener and connection is closed, then the protocols and the
// devices. It returns when every goroutine of the host
// has ended. Calling it again returns the first result.
func (h *Host) Close() error {
	h.closeOnce.Do(func() {
		if h.dhcp != nil {
			// The lease goes back (DHCPRELEASE) while the stack can still
			// send it.
			h.dhcp.Close()
		}
		h.closeErr = h.s.Close()
	})
	return h.closeErr
}
