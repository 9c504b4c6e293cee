// Package gateway makes a tapstack host the user-mode network of its
// guests, the job slirp4netns, passt/pasta and gvisor-tap-vsock do for
// rootless containers and VMs: the host is the guests' router, and every
// TCP connection, UDP flow and ping a guest starts, to any destination, is
// terminated by the stack and relayed through the gateway process's own
// kernel sockets (net.Dialer in its network namespace). Guests reach
// whatever the process reaches; no NAT rules, no root on the host side.
//
// The address plan is slirp's: with Subnet 10.0.2.0/24 the router is
// 10.0.2.2, which also stands for the host's loopback (a connection to
// 10.0.2.2:PORT reaches 127.0.0.1:PORT), and 10.0.2.3 is the DNS address.
// The caller gives the host both addresses (host.Interface.Addrs) before
// New.
//
//	h, _ := host.New(host.Config{Interfaces: []host.Interface{{Device: dev,
//		Addr: netip.MustParsePrefix("10.0.2.2/24"), Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.2.3/24")}}}})
//	g, _ := gateway.New(h, gateway.Config{Subnet: netip.MustParsePrefix("10.0.2.0/24")})
//	defer g.Close()
//
// Relays copy through pooled buffers with back-pressure both ways (a guest
// that stops reading stops the relay reading from the real destination),
// carry half-closes through (CloseWrite), and turn a reset or a refused
// connect of the real destination into a RST to the guest. Relays are
// capped in total and per guest (counted refusals). Port forwards
// (Config.Forwards) listen on the host side and dial into guests.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/udp"
)

// Defaults of Config.
const (
	// DefaultMaxConns bounds the TCP relays (and port-forwarded
	// connections) at once.
	DefaultMaxConns = 16384
	// DefaultMaxConnsPerGuest bounds one guest address's TCP relays.
	DefaultMaxConnsPerGuest = 8192
	// DefaultMaxUDPFlows bounds the UDP flows (each holds a kernel socket
	// and two goroutines); DefaultMaxUDPFlowsPerGuest one guest's.
	DefaultMaxUDPFlows         = 2048
	DefaultMaxUDPFlowsPerGuest = 1024
	// DefaultConnectTimeout bounds the real connect of a relay: a guest's
	// connection to a destination that does not answer is refused after it.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultUDPBufferSize is the largest datagram relayed whole: jumbo
	// frames and EDNS answers (4096) fit; longer ones are truncated
	// (counted, gateway.udp.truncated).
	DefaultUDPBufferSize = 9216
)

// Config configures a Gateway. Subnet is required; the zero value of
// every other field gives the default.
type Config struct {
	// Subnet is the guests' network, e.g. 10.0.2.0/24. Flows from
	// addresses outside it are refused (counter gateway.rx.foreign_source),
	// and flows to addresses inside it other than Router and DNS are
	// refused (the gateway never dials into a network of the host's that
	// happens to share the guests' prefix).
	Subnet netip.Prefix
	// Router is the router's address, the host's loopback to the guests:
	// default the subnet's .2. Connections to Router:PORT go to
	// Loopback:PORT.
	Router netip.Addr
	// DNS is the guests' DNS server address: default the subnet's .3. A
	// DNS server on the host (listening on DNS:53) takes its queries; if
	// none does, UDP and TCP flows to DNS:53 are relayed to DNSUpstream.
	DNS netip.Addr
	// DNSUpstream is where flows to DNS:53 go when no server on the host
	// takes them; the zero value refuses them.
	DNSUpstream netip.AddrPort
	// Loopback is what Router stands for on the host side: default
	// 127.0.0.1.
	Loopback netip.Addr
	// Subnet6 is the guests' IPv6 network (a /64 the host advertises for
	// SLAAC, e.g. fd00:10:0:2::/64); the zero value relays no IPv6
	// guest. Router6 and DNS6 default to its ::2 and ::3 (the host needs
	// both addresses), Loopback6 to ::1: as on IPv4, Router6:PORT
	// reaches Loopback6:PORT and DNS6:53 goes to DNSUpstream.
	Subnet6                  netip.Prefix
	Router6, DNS6, Loopback6 netip.Addr
	// Dial makes the real connections ("tcp4"/"udp4", "tcp6"/"udp6");
	// default (&net.Dialer{}).DialContext in the process's namespace.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// OwnAddrs lists the addresses of the namespace the relays' sockets
	// live in: flows and pings from them are refused, as they would loop
	// (see own.go); default: the process's interfaces (net.InterfaceAddrs).
	OwnAddrs   func() ([]netip.Addr, error)
	ownDefault bool // OwnAddrs is interfaceAddrs: subscribe to changes
	// ConnectTimeout bounds each real connect (DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// MaxConns and MaxConnsPerGuest bound TCP relays in total and per
	// guest address; beyond them a guest's connection is refused (RST,
	// counter gateway.tcp.limit).
	MaxConns, MaxConnsPerGuest int
	// MaxUDPFlows and MaxUDPFlowsPerGuest bound UDP flows; beyond them a
	// new flow is refused (port unreachable, counter gateway.udp.limit).
	MaxUDPFlows, MaxUDPFlowsPerGuest int
	// UDPIdleTimeout closes a UDP flow idle that long (default
	// udp.DefaultIdleTimeout, 30 s).
	UDPIdleTimeout time.Duration
	// UDPBufferSize is the largest datagram relayed whole
	// (DefaultUDPBufferSize).
	UDPBufferSize int
	// TCPPending bounds the connection attempts being dialed at once
	// (tcp.ForwarderOptions.MaxPending).
	TCPPending int
	// Ping relays a guest's IPv4 echo requests to destinations outside
	// the subnet through an ICMP socket of the process (see Pinger), or
	// answers them itself when no ICMP socket opens; nil answers none.
	// A Pinger serves one gateway.
	Ping *Pinger
	// Forwards are host ports forwarded into guests.
	Forwards []Forward
}

// Gateway is a running gateway: the forwarders it installed on its host
// and the port-forward listeners. Its methods are safe for concurrent use.
type Gateway struct {
	h    *host.Host
	cfg  Config
	fwds *host.Forwarders

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // relays, forward listeners and their flows

	tcpLim, udpLim *limiter
	refused        *refusedCache
	own            *ownAddrs

	ports []*portForward

	ctr counters
}

// counters are the gateway's named stack counters (status page).
type counters struct {
	foreign, ownSource, tcpRelayed, tcpRefused, tcpTimeout, tcpLimit, tcpReset *stack.Counter
	udpFlows, udpRefused, udpLimit, udpTruncated, udpUnreach                   *stack.Counter
	fwdConns, fwdFailed, fwdLimit                                              *stack.Counter
}

// New installs the gateway on h: forwarders for TCP, UDP and (with
// cfg.Ping) echo, and cfg.Forwards' listeners. h should have the Router
// and DNS addresses on the guests' interface. Close undoes it.
func New(h *host.Host, cfg Config) (*Gateway, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	cs := h.Stack().Counters()
	g := &Gateway{
		h:      h,
		cfg:    cfg,
		tcpLim: newLimiter(cfg.MaxConns, cfg.MaxConnsPerGuest),
		udpLim: newLimiter(cfg.MaxUDPFlows, cfg.MaxUDPFlowsPerGuest),
		ctr: counters{
			foreign:      cs.Get("gateway.rx.foreign_source"),
			ownSource:    cs.Get("gateway.rx.own_source"),
			tcpRelayed:   cs.Get("gateway.tcp.relayed"),
			tcpRefused:   cs.Get("gateway.tcp.refused"),
			tcpTimeout:   cs.Get("gateway.tcp.connect_timeout"),
			tcpLimit:     cs.Get("gateway.tcp.limit"),
			tcpReset:     cs.Get("gateway.tcp.reset"),
			udpFlows:     cs.Get("gateway.udp.flows"),
			udpRefused:   cs.Get("gateway.udp.refused"),
			udpLimit:     cs.Get("gateway.udp.limit"),
			udpTruncated: cs.Get("gateway.udp.truncated"),
			udpUnreach:   cs.Get("gateway.udp.port_unreachable"),
			fwdConns:     cs.Get("gateway.forward.conns"),
			fwdFailed:    cs.Get("gateway.forward.failed"),
			fwdLimit:     cs.Get("gateway.forward.limit"),
		},
	}
	g.refused = newRefusedCache(h.Stack().Clock(), refusedEntries, refusedTTL)
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.wg.Add(1)
	g.own = newOwnAddrs(g.ctx, cfg.OwnAddrs, cfg.ownDefault, g.wg.Done)
	fc := host.ForwarderConfig{
		TCP:        g.handleTCP,
		TCPOptions: tcp.ForwarderOptions{MaxPending: cfg.TCPPending},
		UDP:        g.handleUDP,
		UDPOptions: udp.ForwarderOptions{MaxFlows: cfg.MaxUDPFlows, IdleTimeout: cfg.UDPIdleTimeout},
	}
	if cfg.Ping != nil {
		ip := h.IPv4()
		if ip == nil {
			g.cancel()
			g.wg.Wait()
			return nil, errors.New("gateway: the host has no IPv4 layer")
		}
		fams := [2]pingFamily{{router: cfg.Router, send: sendFunc4(ip)}}
		ip6, _ := h.Stack().NetworkProtocol(stack.EtherTypeIPv6).(*ipv6.Protocol)
		if ip6 != nil && cfg.Subnet6.IsValid() {
			fams[1] = pingFamily{router: cfg.Router6, send: sendFunc6(ip6)}
		}
		cfg.Ping.start(cs, fams)
		fc.Echo = g.echo
		ip.SetEchoRelay(func(src, dst netip.Addr, m ipv4.ICMP) bool { return g.echoRelay(src, dst, m) })
		if ip6 != nil {
			ip6.SetEchoRelay(func(src, dst netip.Addr, m ipv6.ICMP) bool { return g.echoRelay(src, dst, m) })
		}
	}
	var err error
	if g.fwds, err = h.InstallForwarders(fc); err != nil {
		g.Close()
		return nil, err
	}
	for _, f := range cfg.Forwards {
		pf, err := g.listen(f)
		if err != nil {
			g.Close()
			return nil, err
		}
		g.ports = append(g.ports, pf)
	}
	return g, nil
}

// fill checks c and applies the defaults.
func (c *Config) fill() error {
	if !c.Subnet.IsValid() || !c.Subnet.Addr().Is4() || c.Subnet.Bits() > 29 {
		return errors.New("gateway: Subnet must be an IPv4 prefix of at most /29, e.g. 10.0.2.0/24")
	}
	c.Subnet = c.Subnet.Masked()
	nth := func(n int) netip.Addr {
		a := c.Subnet.Addr()
		for range n {
			a = a.Next()
		}
		return a
	}
	if !c.Router.IsValid() {
		c.Router = nth(2)
	}
	if !c.DNS.IsValid() {
		c.DNS = nth(3)
	}
	if !c.Subnet.Contains(c.Router) || !c.Subnet.Contains(c.DNS) {
		return fmt.Errorf("gateway: router %v and DNS %v must be inside %v", c.Router, c.DNS, c.Subnet)
	}
	if !c.Loopback.IsValid() {
		c.Loopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	if err := c.fill6(); err != nil {
		return err
	}
	if c.Dial == nil {
		c.Dial = (&net.Dialer{}).DialContext
	}
	if c.OwnAddrs == nil {
		c.OwnAddrs, c.ownDefault = interfaceAddrs, true
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxConnsPerGuest <= 0 {
		c.MaxConnsPerGuest = DefaultMaxConnsPerGuest
	}
	if c.MaxUDPFlows <= 0 {
		c.MaxUDPFlows = DefaultMaxUDPFlows
	}
	if c.MaxUDPFlowsPerGuest <= 0 {
		c.MaxUDPFlowsPerGuest = DefaultMaxUDPFlowsPerGuest
	}
	if c.UDPIdleTimeout <= 0 {
		c.UDPIdleTimeout = udp.DefaultIdleTimeout
	}
	if c.UDPBufferSize <= 0 {
		c.UDPBufferSize = DefaultUDPBufferSize
	}
	for _, f := range c.Forwards {
		subnet := c.Subnet
		if f.Guest.Addr().Is6() {
			subnet = c.Subnet6
		}
		if !subnet.Contains(f.Guest.Addr()) {
			return fmt.Errorf("gateway: forward %v: the guest address %v is not in %v", f, f.Guest.Addr(), subnet)
		}
	}
	return nil
}

// Close stops the port forwards, uninstalls the forwarders and ends every
// relay; it returns when their goroutines have ended.
func (g *Gateway) Close() error {
	g.cancel()
	var errs []error
	for _, pf := range g.ports {
		errs = append(errs, pf.close())
	}
	if g.cfg.Ping != nil {
		g.h.IPv4().SetEchoRelay(nil)
		if ip6, ok := g.h.Stack().NetworkProtocol(stack.EtherTypeIPv6).(*ipv6.Protocol); ok {
			ip6.SetEchoRelay(nil)
		}
	}
	if g.fwds != nil {
		errs = append(errs, g.fwds.Close())
	}
	g.tcpLim.closeAll()
	g.udpLim.closeAll()
	g.tcpLim.wait()
	g.udpLim.wait()
	g.wg.Wait()
	if g.cfg.Ping != nil {
		g.cfg.Ping.stop()
	}
	return errors.Join(errs...)
}

// Stats are a gateway's current numbers.
type Stats struct {
	// TCPRelays are the TCP connections being relayed (or dialed),
	// port-forwarded ones included; UDPFlows the UDP flows.
	TCPRelays, UDPFlows int
}

// Stats returns the current numbers.
func (g *Gateway) Stats() Stats {
	return Stats{TCPRelays: g.tcpLim.count(), UDPFlows: g.udpLim.count()}
}

// Config returns the configuration with its defaults filled in.
func (g *Gateway) Config() Config { return g.cfg }

// target maps a guest's original destination to the address the gateway
// dials: Router goes to Loopback, DNS:53 to DNSUpstream; other addresses
// in the subnet, and DNS's other ports, are refused (ok false).
func (g *Gateway) target(dst netip.AddrPort) (netip.AddrPort, bool) {
	a := dst.Addr().Unmap()
	if a.Is6() {
		return g.target6(dst)
	}
	switch {
	case a == g.cfg.Router:
		return netip.AddrPortFrom(g.cfg.Loopback, dst.Port()), true
	case a == g.cfg.DNS:
		if dst.Port() == 53 && g.cfg.DNSUpstream.IsValid() {
			return g.cfg.DNSUpstream, true
		}
		return netip.AddrPort{}, false
	case g.cfg.Subnet.Contains(a), a.IsMulticast(), a.IsUnspecified(), a == netip.IPv4Unspecified():
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, dst.Port()), true
}

// guest reports whether src is a guest (inside the subnet), counting the
// others.
func (g *Gateway) guest(src netip.Addr) bool {
	a := src.Unmap()
	if !g.cfg.Subnet.Contains(a) && !g.cfg.Subnet6.Contains(a) {
		g.ctr.foreign.Inc()
		return false
	}
	if g.own != nil && g.own.has(a) { // own.go: a relay loop
		g.ctr.ownSource.Inc()
		return false
	}
	return true
}

// network returns "tcp4"/"udp4" or the IPv6 ones for a.
func network(proto string, a netip.Addr) string {
	if a.Is4() {
		return proto + "4"
	}
	return proto + "6"
}
