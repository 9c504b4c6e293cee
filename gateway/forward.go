package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Forward is a host port forwarded into a guest: the gateway listens on
// Listen in its own namespace (a kernel socket) and relays each
// connection (TCP) or each client's datagrams (UDP) to Guest through the
// stack.
type Forward struct {
	// Network is "tcp" or "udp".
	Network string
	// Listen is the host-side address; an unspecified address
	// (0.0.0.0) listens on all of the namespace's.
	Listen netip.AddrPort
	// Guest is the guest's address and port.
	Guest netip.AddrPort
}

// String returns f as ParseForward reads it.
func (f Forward) String() string {
	return f.Network + ":" + f.Listen.String() + "=" + f.Guest.String()
}

// ParseForward reads a port forward in the form of the command's
// --forward-port: PROTO:[HOSTADDR:]HOSTPORT=GUESTADDR:GUESTPORT, e.g.
// "tcp:8080=10.0.2.15:80" (all of the host's addresses) or
// "udp:127.0.0.1:5353=10.0.2.15:53".
func ParseForward(s string) (Forward, error) {
	bad := func(why string) (Forward, error) {
		return Forward{}, fmt.Errorf("bad port forward %q: %s (want tcp|udp:[HOSTADDR:]PORT=GUESTADDR:PORT, e.g. tcp:8080=10.0.2.15:80 or tcp:8080=[fd00:10:0:2::15]:80)", s, why)
	}
	proto, rest, ok := strings.Cut(s, ":")
	if !ok || (proto != "tcp" && proto != "udp") {
		return bad("the protocol must be tcp or udp")
	}
	hostPart, guestPart, ok := strings.Cut(rest, "=")
	if !ok {
		return bad("missing =GUESTADDR:PORT")
	}
	var listen netip.AddrPort
	if p, err := strconv.ParseUint(hostPart, 10, 16); err == nil {
		if p == 0 {
			return bad("host port 0")
		}
		listen = netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(p))
	} else if listen, err = netip.ParseAddrPort(hostPart); err != nil || listen.Port() == 0 {
		return bad("the host side must be PORT or ADDR:PORT")
	}
	guest, err := netip.ParseAddrPort(guestPart)
	if err != nil || guest.Port() == 0 || guest.Addr().Is4In6() || guest.Addr().Zone() != "" {
		return bad("the guest side must be ADDR:PORT, an IPv6 address in brackets")
	}
	return Forward{Network: proto, Listen: listen, Guest: guest}, nil
}

// portForward is one running Forward.
type portForward struct {
	g  *Gateway
	f  Forward
	l  net.Listener   // tcp
	pc net.PacketConn // udp

	mu    sync.Mutex
	flows map[netip.AddrPort]*fwdFlow // udp: by host-side client
}

// fwdFlow is one host-side client's datagrams to a guest.
type fwdFlow struct {
	c    net.Conn // to the guest, through the stack
	last time.Time
}

// listen starts f.
func (g *Gateway) listen(f Forward) (*portForward, error) {
	pf := &portForward{g: g, f: f}
	var err error
	switch f.Network {
	case "tcp":
		pf.l, err = net.Listen("tcp", f.Listen.String())
	case "udp":
		pf.pc, err = net.ListenPacket("udp", f.Listen.String())
		pf.flows = make(map[netip.AddrPort]*fwdFlow)
	default:
		return nil, fmt.Errorf("gateway: forward %v: network must be tcp or udp", f)
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: forward %v: %w", f, err)
	}
	g.wg.Add(1)
	if pf.l != nil {
		go pf.serveTCP()
	} else {
		go pf.serveUDP()
	}
	return pf, nil
}

// Addr returns where the forward listens (its port chosen by the kernel
// when Listen's port was 0).
func (pf *portForward) addr() net.Addr {
	if pf.l != nil {
		return pf.l.Addr()
	}
	return pf.pc.LocalAddr()
}

// ForwardAddrs returns the host-side addresses the port forwards listen
// on, in the order of Config.Forwards.
func (g *Gateway) ForwardAddrs() []net.Addr {
	var as []net.Addr
	for _, pf := range g.ports {
		as = append(as, pf.addr())
	}
	return as
}

func (pf *portForward) close() error {
	if pf.l != nil {
		return pf.l.Close()
	}
	err := pf.pc.Close()
	pf.mu.Lock()
	for _, fl := range pf.flows {
		fl.c.Close()
	}
	pf.mu.Unlock()
	return err
}

// serveTCP accepts host-side connections and relays each to the guest.
func (pf *portForward) serveTCP() {
	defer pf.g.wg.Done()
	g := pf.g
	for {
		c, err := pf.l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		from, _ := netip.ParseAddrPort(c.RemoteAddr().String())
		s := g.tcpLim.acquire(from.Addr().Unmap())
		if s == nil {
			g.ctr.fwdLimit.Inc()
			reset(c)
			continue
		}
		s.hold(c)
		go func() {
			defer s.release()
			ctx, cancel := context.WithTimeout(g.ctx, g.cfg.ConnectTimeout)
			down, err := g.h.DialContext(ctx, "tcp", pf.f.Guest.String())
			cancel()
			if err != nil {
				g.ctr.fwdFailed.Inc()
				reset(c)
				return
			}
			if !s.hold(down) || !s.relay() {
				down.Close()
				c.Close()
				return
			}
			g.ctr.fwdConns.Inc()
			relay(c, down)
		}()
	}
}

// serveUDP reads host-side datagrams and sends each client's to the guest
// on a flow of its own; a flow closes after the UDP idle timeout.
func (pf *portForward) serveUDP() {
	defer pf.g.wg.Done()
	g := pf.g
	pool := udpPool(g.cfg.UDPBufferSize)
	bp := pool.get()
	defer pool.put(bp)
	for {
		n, from, err := pf.pc.ReadFrom(*bp)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		ap, _ := netip.ParseAddrPort(from.String())
		fl := pf.flow(ap)
		if fl == nil {
			continue
		}
		fl.c.Write((*bp)[:n])
	}
}

// flow returns the flow of host-side client ap, making it (within the UDP
// caps) if needed; nil when it cannot.
func (pf *portForward) flow(ap netip.AddrPort) *fwdFlow {
	g := pf.g
	pf.mu.Lock()
	fl := pf.flows[ap]
	if fl != nil {
		fl.last = time.Now()
		pf.mu.Unlock()
		return fl
	}
	pf.mu.Unlock()
	s := g.udpLim.acquire(ap.Addr().Unmap())
	if s == nil {
		g.ctr.fwdLimit.Inc()
		return nil
	}
	ctx, cancel := context.WithTimeout(g.ctx, g.cfg.ConnectTimeout)
	c, err := g.h.DialContext(ctx, "udp", pf.f.Guest.String())
	cancel()
	if err != nil {
		s.release()
		g.ctr.fwdFailed.Inc()
		return nil
	}
	if !s.hold(c) || !s.relay() {
		c.Close()
		s.release()
		return nil
	}
	fl = &fwdFlow{c: c, last: time.Now()}
	pf.mu.Lock()
	pf.flows[ap] = fl
	pf.mu.Unlock()
	g.ctr.fwdConns.Inc()
	go pf.back(ap, fl, s)
	return fl
}

// back relays the guest's answers of fl to its host-side client until
// the flow idles out.
func (pf *portForward) back(to netip.AddrPort, fl *fwdFlow, s *slot) {
	g := pf.g
	defer s.release()
	defer func() {
		pf.mu.Lock()
		if pf.flows[to] == fl {
			delete(pf.flows, to)
		}
		pf.mu.Unlock()
		fl.c.Close()
	}()
	pool := udpPool(g.cfg.UDPBufferSize)
	bp := pool.get()
	defer pool.put(bp)
	dst := net.UDPAddrFromAddrPort(to)
	idle := g.cfg.UDPIdleTimeout
	for {
		fl.c.SetReadDeadline(time.Now().Add(idle))
		n, err := fl.c.Read(*bp)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				pf.mu.Lock()
				last := fl.last
				pf.mu.Unlock()
				if time.Since(last) < idle {
					continue
				}
			}
			return
		}
		pf.mu.Lock()
		fl.last = time.Now()
		pf.mu.Unlock()
		if _, err := pf.pc.WriteTo((*bp)[:n], dst); err != nil {
			return
		}
	}
}
