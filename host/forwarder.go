package host

import (
	"errors"
	"net/netip"

	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/udp"
)

// ForwarderConfig says which flows a host hands to Go callbacks (see
// InstallForwarders). A nil callback leaves that protocol alone.
type ForwarderConfig struct {
	// TCP takes each TCP connection attempt (SYN) that no listener
	// takes, to any address and port: it must call Accept (the
	// handshake completes, a net.Conn whose LocalAddr is the original
	// destination) or Refuse (RST, "connection refused").
	TCP func(*tcp.ForwarderRequest)
	// TCPOptions bound the pending connection attempts.
	TCPOptions tcp.ForwarderOptions
	// UDP takes the first datagram of each UDP flow that no endpoint
	// takes: Accept gives a connected Conn from the original destination
	// that reads the flow's datagrams; Refuse answers ICMP port
	// unreachable.
	UDP func(*udp.ForwarderRequest)
	// UDPOptions bound the flow table and set the idle timeout.
	UDPOptions udp.ForwarderOptions
	// Echo decides which pings to addresses that are not the host's are
	// answered (from that address); nil answers none. It runs on the
	// packet path and must not block.
	Echo func(src, dst netip.Addr) bool
}

// Forwarders are the forwarders InstallForwarders installed.
type Forwarders struct {
	// TCP and UDP are the installed forwarders, nil when not configured.
	TCP *tcp.Forwarder
	UDP *udp.Forwarder

	h *Host
}

// InstallForwarders makes the host accept traffic to any destination (the
// IP layers' accept-any mode, on IPv4 and, when the stack has it, IPv6)
// and hands TCP connections and UDP flows that no listener or endpoint of
// the host takes to the callbacks of cfg, with the original four-tuple;
// replies leave from the original destination. This is what a
// tun2socks-style proxy or a VPN needs: route traffic into the host (a
// default route through it) and relay each flow in Go. The host's own
// listeners keep their connections.
func (h *Host) InstallForwarders(cfg ForwarderConfig) (*Forwarders, error) {
	if cfg.TCP == nil && cfg.UDP == nil && cfg.Echo == nil {
		return nil, errors.New("host: InstallForwarders needs a TCP, UDP or Echo callback")
	}
	f := &Forwarders{h: h}
	var err error
	if cfg.TCP != nil {
		if f.TCP, err = tcp.NewForwarder(h.Stack(), cfg.TCPOptions, cfg.TCP); err != nil {
			return nil, err
		}
	}
	if cfg.UDP != nil {
		if f.UDP, err = udp.NewForwarder(h.Stack(), cfg.UDPOptions, cfg.UDP); err != nil {
			if f.TCP != nil {
				f.TCP.Close()
			}
			return nil, err
		}
	}
	h.setAcceptAny(true, cfg.Echo)
	return f, nil
}

// setAcceptAny switches the accept-any mode of the host's IP layers.
func (h *Host) setAcceptAny(on bool, echo func(src, dst netip.Addr) bool) {
	if ip := h.IPv4(); ip != nil {
		ip.SetForwardedEcho(echo)
		ip.SetAcceptAnyDestination(on)
	}
	if ip, ok := h.Stack().NetworkProtocol(stack.EtherTypeIPv6).(*ipv6.Protocol); ok {
		ip.SetForwardedEcho(echo)
		ip.SetAcceptAnyDestination(on)
	}
}

// Close uninstalls the forwarders and turns the accept-any mode off: the
// host again drops (or, as a router, forwards) traffic that is not for its
// addresses. Accepted TCP connections stay; UDP flows close.
func (f *Forwarders) Close() error {
	f.h.setAcceptAny(false, nil)
	var errs []error
	if f.TCP != nil {
		errs = append(errs, f.TCP.Close())
	}
	if f.UDP != nil {
		errs = append(errs, f.UDP.Close())
	}
	return errors.Join(errs...)
}
