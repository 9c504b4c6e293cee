// Package host wires a complete tapstack virtual host in one call: a Stack
// with IPv4, ARP, TCP and UDP registered, one NIC per link device with its
// address, and an optional default gateway. It is the embedder's entry
// point: Listen, ListenPacket and Dial return net.Listener, net.PacketConn
// and net.Conn values that work with net/http and any other Go networking
// code.
//
//	dev, _ := tap.Open(tap.Config{Name: "tap0", Bridge: "br0"})
//	h, _ := host.New(host.Config{Interfaces: []host.Interface{{Device: dev, Addr: netip.MustParsePrefix("10.0.0.2/24")}}})
//	defer h.Close()
//	l, _ := h.Listen(":80")
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

	"github.com/tapstack/tapstack/arp"
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
	// ARP, IPv4, TCP and UDP are the protocols' options; the zero values
	// give Linux-like defaults.
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
	Addr netip.Prefix
}

// Host is a running virtual host. Its methods are safe for concurrent use.
type Host struct {
	s    *stack.Stack
	arp  *arp.Protocol
	ipv4 *ipv4.Protocol
	tcp  *tcp.Protocol
	udp  *udp.Protocol

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
	h = &Host{s: s}
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
	for i, ifc := range cfg.Interfaces {
		name := ifc.Name
		if name == "" {
			name = "eth" + strconv.Itoa(i)
		}
		if ifc.Device == nil {
			return nil, fmt.Errorf("host: interface %s has no device", name)
		}
		if !ifc.Addr.IsValid() || !ifc.Addr.Addr().Is4() {
			return nil, fmt.Errorf("host: interface %s: address %v is not an IPv4 prefix like 10.0.0.2/24", name, ifc.Addr)
		}
		mac := ifc.MAC
		if mac.IsZero() {
			mac = RandomMAC()
		} else if mac.IsMulticast() {
			return nil, fmt.Errorf("host: interface %s: MAC %v is a multicast address", name, mac)
		}
		nic, err := s.AddNIC(name, link.NewEthernet(ifc.Device, mac))
		if err != nil {
			return nil, fmt.Errorf("host: interface %s: %w", name, err)
		}
		added = i + 1
		if err := nic.AddAddress(ifc.Addr); err != nil {
			return nil, fmt.Errorf("host: interface %s: %w", name, err)
		}
	}
	if cfg.Gateway.IsValid() {
		if err := s.AddRoute(stack.RouteEntry{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Gateway: cfg.Gateway}); err != nil {
			return nil, fmt.Errorf("host: default gateway: %w", err)
		}
	}
	return h, nil
}

func closeDevices(ifcs []Interface) {
	for _, ifc := range ifcs {
		if ifc.Device != nil {
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

// ARP returns the host's ARP protocol (its neighbour cache).
func (h *Host) ARP() *arp.Protocol { return h.arp }

// IPv4 returns the host's IPv4 protocol.
func (h *Host) IPv4() *ipv4.Protocol { return h.ipv4 }

// TCP returns the host's TCP protocol (its connections).
func (h *Host) TCP() *tcp.Protocol { return h.tcp }

// UDP returns the host's UDP protocol (its endpoints).
func (h *Host) UDP() *udp.Protocol { return h.udp }

// ListenPacket opens a UDP endpoint on addr, "10.0.0.2:53" or ":53" (every
// address of the host).
func (h *Host) ListenPacket(addr string) (net.PacketConn, error) {
	ap, err := parseAddrPort(addr, true)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "udp", Err: err}
	}
	c, err := udp.Listen(h.s, ap)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Listen listens for TCP connections on addr, "10.0.0.2:80" or ":80" (every
// address of the host).
func (h *Host) Listen(addr string) (net.Listener, error) {
	ap, err := parseAddrPort(addr, true)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Err: err}
	}
	l, err := tcp.Listen(h.s, ap)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Dial connects to addr ("10.0.0.1:80") over TCP. There is no name
// resolution: the host part must be an IPv4 address.
func (h *Host) Dial(ctx context.Context, addr string) (net.Conn, error) {
	return h.DialContext(ctx, "tcp", addr)
}

// DialContext is Dial with a network argument ("tcp", "tcp4", "udp" or
// "udp4"), the shape of http.Transport.DialContext and similar hooks.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "udp", "udp4":
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Err: net.UnknownNetworkError(network)}
	}
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
		return netip.AddrPort{}, fmt.Errorf("address %q: host must be an IPv4 address (tapstack has no name resolution)", s)
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}

// Close stops the host: every listener and connection is closed, then the
// protocols and the devices. It returns when every goroutine of the host
// has ended. Calling it again returns the first result.
func (h *Host) Close() error {
	h.closeOnce.Do(func() { h.closeErr = h.s.Close() })
	return h.closeErr
}
