package server

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/tapstack/tapstack/dhcp"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// Server runs a Core on a stack: it listens on UDP port 67 and sends the
// replies out of one NIC. Only one Server can run per stack (it binds
// 0.0.0.0:67), and it serves the one NIC it was given.
type Server struct {
	s    *stack.Stack
	nic  *stack.NIC
	core *Core

	mu      sync.Mutex // guards core
	conn    *udp.Conn
	done    chan struct{}
	sent    *stack.Counter
	sendErr *stack.Counter
}

// New returns a server for nic on s; it does nothing until Start. The
// error says which Config setting is wrong. The stack needs IPv4 and UDP
// registered, and nic must own the server identifier (Config.ServerID, by
// default Config.Router) by the time Start is called.
func New(s *stack.Stack, nic *stack.NIC, cfg Config) (*Server, error) {
	core, err := NewCore(cfg)
	if err != nil {
		return nil, err
	}
	return &Server{
		s: s, nic: nic, core: core,
		sent:    s.Counters().Get("dhcpd.tx.replies"),
		sendErr: s.Counters().Get("dhcpd.tx.errors"),
	}, nil
}

// Start binds UDP port 67 and serves in a goroutine until Close.
func (srv *Server) Start() error {
	id := srv.core.cfg.ServerID
	if !srv.nic.HasAddress(id) {
		return fmt.Errorf("dhcpd: %s does not have the server address %v; add it to the NIC first (the router address, %v)", srv.nic.Name(), id, srv.core.cfg.Router)
	}
	conn, err := udp.Listen(srv.s, netip.AddrPortFrom(netip.IPv4Unspecified(), dhcp.ServerPort))
	if err != nil {
		return fmt.Errorf("dhcpd: listening on port 67: %w", err)
	}
	srv.mu.Lock()
	if srv.conn != nil {
		srv.mu.Unlock()
		conn.Close()
		return errors.New("dhcpd: Start called twice")
	}
	srv.conn, srv.done = conn, make(chan struct{})
	srv.mu.Unlock()
	go srv.serve(conn, srv.done)
	return nil
}

// Close stops the server and waits for its goroutine. The lease table is
// kept (Leases still reports it).
func (srv *Server) Close() error {
	srv.mu.Lock()
	conn, done := srv.conn, srv.done
	srv.mu.Unlock()
	if conn == nil {
		return nil
	}
	err := conn.Close()
	<-done
	return err
}

// Leases returns the lease table (see Core.Leases) at the stack's time.
func (srv *Server) Leases() []Lease {
	now := srv.s.Clock().Now()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.core.Leases(now)
}

// Config returns the configuration in effect, defaults filled in.
func (srv *Server) Config() Config { return srv.core.cfg }

func (srv *Server) serve(conn *udp.Conn, done chan struct{}) {
	defer close(done)
	buf := make([]byte, dhcp.MaxLen+1)
	clock := srv.s.Clock()
	counters := srv.s.Counters()
	for {
		n, _, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		srv.mu.Lock()
		out := srv.core.Handle(clock.Now(), buf[:n])
		srv.mu.Unlock()
		if out.Drop != "" {
			counters.Get("dhcpd.rx." + string(out.Drop)).Inc()
		}
		if out.Reply == nil {
			continue
		}
		if err := srv.send(out); err != nil {
			srv.sendErr.Inc()
			continue
		}
		srv.sent.Inc()
	}
}

// send writes the reply as an IPv4/UDP datagram from the server
// identifier:67 to out.To:68 straight to out.ToMAC, with no ARP: the
// client may not have its address yet.
func (srv *Server) send(out Output) error {
	n := ipv4.HeaderLen + udp.HeaderLen + len(out.Reply)
	p := stack.NewPacket(stack.Headroom, n-ipv4.HeaderLen)
	d := p.Bytes()
	copy(d[udp.HeaderLen:], out.Reply)
	udp.Fields{SrcPort: dhcp.ServerPort, DstPort: dhcp.ClientPort, Length: uint16(n - ipv4.HeaderLen)}.Encode(d)
	h := udp.Header(d)
	src := srv.core.cfg.ServerID
	h.SetChecksum(h.ComputeChecksum(src, out.To))
	ip := ipv4.Fields{TotalLength: uint16(n), TTL: 64, Protocol: stack.ProtocolUDP, Src: src, Dst: out.To}
	ip.Encode(p.Push(ipv4.HeaderLen))
	return srv.nic.WriteLinkPacket(out.ToMAC, stack.EtherTypeIPv4, p)
}
