package dhcp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// ProbeFunc checks whether addr is free on nic's link before the client
// binds it; it returns an error wrapping stack.ErrAddressInUse when another
// host answers for it. (*arp.Protocol).Probe (RFC 5227) has this shape.
type ProbeFunc func(ctx context.Context, nic *stack.NIC, addr netip.Addr) error

// Options configure a Client. The zero value is a plain client with no
// conflict probe.
type Options struct {
	// Hostname, when set, is sent as option 12 (dnsmasq registers it in
	// its DNS).
	Hostname string
	// ClientID is option 61; nil means type 1 followed by the NIC's MAC.
	ClientID []byte
	// Probe, when set, checks the acknowledged address before binding it;
	// an error wrapping stack.ErrAddressInUse makes the client decline the
	// address and start over. Other errors are logged and the address is
	// bound anyway. Pass (*arp.Protocol).Probe for RFC 5227 probing.
	Probe ProbeFunc
	// OnBound is called (from the client's goroutine) each time a lease is
	// bound or renewed, after the address and route are configured.
	OnBound func(Lease)
	// OnUnbound is called when a lease ends (expiry, NAK, release), after
	// the address and route are removed.
	OnUnbound func(Lease)
	// RenewAfter, when positive, replaces the server's T1: the client
	// renews that long after each request. For tests (dnsmasq's shortest
	// lease is two minutes) and impatient hosts.
	RenewAfter time.Duration
	// Seed, when non-zero, seeds transaction IDs and retransmission
	// jitter, for reproducible runs.
	Seed uint64
	// Logf, when set, receives one line per protocol event.
	Logf func(format string, args ...any)
	// OnProgress, when set, is called (from the client's goroutine) for
	// each message sent and each reply accepted (see Progress).
	OnProgress func(Progress)
}

// Client runs the DHCP protocol for one NIC of a stack: it binds UDP port
// 68, drives a Machine with received messages, the stack's clock and probe
// results, and configures the NIC's address and the default route as
// leases come and go.
//
// Only one Client can run per stack: it listens on 0.0.0.0:68.
type Client struct {
	s    *stack.Stack
	nic  *stack.NIC
	opts Options
	m    *Machine

	mu         sync.Mutex
	lease      Lease
	bound      bool
	state      State
	boundCh    chan struct{} // closed at the first bind
	boundOnce  sync.Once
	done       chan struct{} // closed when Run returns
	running    bool
	releaseReq chan chan struct{}

	cancel  context.CancelFunc // Start/Close
	stopped chan struct{}      // closed after runErr is set
	runErr  error
}

// New returns a client for nic on s. It does nothing until Run or Start.
// The stack must have IPv4 and UDP registered.
func New(s *stack.Stack, nic *stack.NIC, opts Options) *Client {
	cfg := Config{
		MAC:        nic.LinkAddress(),
		ClientID:   opts.ClientID,
		Hostname:   opts.Hostname,
		RenewAfter: opts.RenewAfter,
		Probe:      opts.Probe != nil,
	}
	if opts.Seed != 0 {
		cfg.Rand = rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	}
	return &Client{
		s:          s,
		nic:        nic,
		opts:       opts,
		m:          NewMachine(cfg),
		boundCh:    make(chan struct{}),
		done:       make(chan struct{}),
		releaseReq: make(chan chan struct{}),
	}
}

// Lease returns the current lease; ok is false when none is bound.
func (c *Client) Lease() (l Lease, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lease, c.bound
}

// State returns the protocol state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// WaitBound blocks until the client has bound its first lease and returns
// the current one, or fails when ctx ends or the client stops first.
func (c *Client) WaitBound(ctx context.Context) (Lease, error) {
	select {
	case <-c.boundCh:
		if l, ok := c.Lease(); ok {
			return l, nil
		}
		return Lease{}, errors.New("dhcp: lease was lost")
	case <-c.done:
		return Lease{}, errors.New("dhcp: client stopped before binding an address")
	case <-ctx.Done():
		return Lease{}, fmt.Errorf("dhcp: no lease yet (state %v): %w", c.State(), ctx.Err())
	}
}

func (c *Client) logf(format string, args ...any) {
	if c.opts.Logf != nil {
		c.opts.Logf(format, args...)
	}
}

// Run runs the client until ctx ends or Release is called; then it gives
// the lease back (a DHCPRELEASE to the server), removes the address and
// route, and returns nil. It fails at once if UDP port 68 cannot be bound,
// and returns an error if the stack closes under it. Run may be called
// once.
func (c *Client) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return errors.New("dhcp: Run called twice")
	}
	c.running = true
	c.mu.Unlock()
	defer close(c.done)

	conn, err := udp.Listen(c.s, netip.AddrPortFrom(netip.IPv4Unspecified(), ClientPort))
	if err != nil {
		return fmt.Errorf("dhcp: %w", err)
	}
	probeCtx, cancelProbe := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancelProbe()
		conn.Close()
		wg.Wait()
	}()

	recv := make(chan []byte)
	readErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			n, _, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				readErr <- err
				return
			}
			msg := append([]byte(nil), buf[:n]...)
			select {
			case recv <- msg:
			case <-probeCtx.Done():
				return
			}
		}
	}()

	clock := c.s.Clock()
	tick := make(chan struct{}, 1)
	timer := clock.AfterFunc(time.Hour, func() {
		select {
		case tick <- struct{}{}:
		default:
		}
	})
	timer.Stop()
	defer timer.Stop()
	probeRes := make(chan error, 1)

	r := &runner{c: c, conn: conn, probeCtx: probeCtx, probeRes: probeRes, wg: &wg}
	r.apply(c.m.Start(clock.Now()))
	for {
		c.mu.Lock()
		c.state = c.m.State()
		c.mu.Unlock()
		if next, ok := c.m.Next(); ok {
			timer.Reset(next.Sub(clock.Now()))
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			r.apply(c.m.Release(clock.Now()))
			c.setState()
			return nil
		case done := <-c.releaseReq:
			r.apply(c.m.Release(clock.Now()))
			c.setState()
			close(done)
			return nil
		case err := <-readErr:
			// The stack closed our socket: nothing can be sent any more.
			if l, ok := c.m.Lease(); ok {
				r.deconfigure(l)
			}
			return fmt.Errorf("dhcp: receive: %w", err)
		case msg := <-recv:
			out := c.m.Receive(clock.Now(), Message(msg))
			if out.Ignored == NotIgnored {
				c.progress(progressReceived(Message(msg)))
			}
			r.apply(out)
		case <-tick:
			r.apply(c.m.Tick(clock.Now()))
		case err := <-probeRes:
			if err != nil && !errors.Is(err, stack.ErrAddressInUse) {
				c.logf("dhcp: probe failed (%v); binding anyway", err)
				err = nil
			}
			r.apply(c.m.ProbeDone(clock.Now(), err))
		}
	}
}

func (c *Client) setState() {
	c.mu.Lock()
	c.state = c.m.State()
	c.mu.Unlock()
}

// Release gives the lease back now (DHCPRELEASE, address and route removed)
// and stops Run. It returns when that is done; it does nothing if Run is
// not running.
func (c *Client) Release() {
	done := make(chan struct{})
	select {
	case c.releaseReq <- done:
		<-done
	case <-c.done:
	}
}

// Start runs the client in its own goroutine until Close.
func (c *Client) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.stopped = make(chan struct{})
	go func() {
		c.runErr = c.Run(ctx)
		close(c.stopped)
	}()
}

// Close stops a client started with Start: it releases the lease and
// returns when the client's goroutines have ended, with Run's error.
func (c *Client) Close() error {
	if c.cancel == nil {
		return nil
	}
	c.cancel()
	<-c.stopped
	return c.runErr
}

// runner carries out a Machine's outputs. It lives on Run's goroutine.
type runner struct {
	c        *Client
	conn     *udp.Conn
	probeCtx context.Context
	probeRes chan error
	wg       *sync.WaitGroup
}

func (r *runner) apply(out Output) {
	c := r.c
	if out.Ignored != NotIgnored {
		// Counted, not logged: other clients' broadcast replies and
		// anyone's forgeries arrive here, as many as a sender wants.
		// (Not the packet path: a lookup per ignored message is cheap.)
		c.s.Counters().Get("dhcp.rx." + out.Ignored.String()).Inc()
		return
	}
	// The state the machine moved to is published before anything is
	// sent: whoever sees the message (a DECLINE, a REQUEST) then sees the
	// state that sent it.
	c.setState()
	if out.Send != nil {
		if err := r.send(out); err != nil {
			c.logf("dhcp: send %v to %v: %v", out.Send.MessageType, out.To, err)
		} else {
			c.logf("dhcp: sent %v xid %#08x to %v", out.Send.MessageType, out.Send.XID, out.To)
			c.progress(progressSent(out.Send))
		}
	}
	if out.Unbind != nil {
		r.deconfigure(*out.Unbind)
	}
	if out.Bind != nil {
		r.configure(*out.Bind)
	}
	if out.Probe.IsValid() {
		addr := out.Probe
		probe := c.opts.Probe
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.probeRes <- probe(r.probeCtx, c.nic, addr)
		}()
	}
}

func (r *runner) send(out Output) error {
	b := out.Send.Marshal()
	if out.To == broadcastAddr {
		return sendBroadcast(r.c.s, r.c.nic, out.From, b)
	}
	_, err := r.conn.WriteToUDPAddrPort(b, netip.AddrPortFrom(out.To, ServerPort))
	return err
}

var defaultRoute = netip.PrefixFrom(netip.IPv4Unspecified(), 0)

// configure installs l (address, default route) unless it is what is
// configured already, and reports it.
func (r *runner) configure(l Lease) {
	c := r.c
	c.mu.Lock()
	old, had := c.lease, c.bound
	c.mu.Unlock()
	if !had || !old.sameConfig(l) {
		if err := c.nic.AddAddress(l.Addr); err != nil && !c.nic.HasAddress(l.Addr.Addr()) {
			c.logf("dhcp: add address %v: %v", l.Addr, err)
		}
		if l.Router.IsValid() {
			err := c.s.AddRoute(stack.RouteEntry{Dst: defaultRoute, Gateway: l.Router, NIC: c.nic, Src: l.Addr.Addr()})
			if err != nil {
				c.logf("dhcp: default route via %v: %v", l.Router, err)
			}
		}
		c.logf("dhcp: bound %v", l)
	} else {
		c.logf("dhcp: renewed %v", l)
	}
	c.mu.Lock()
	c.lease, c.bound = l, true
	c.state = c.m.State()
	c.mu.Unlock()
	c.boundOnce.Do(func() { close(c.boundCh) })
	if c.opts.OnBound != nil {
		c.opts.OnBound(l)
	}
}

// deconfigure removes what configure installed for l.
func (r *runner) deconfigure(l Lease) {
	c := r.c
	if l.Router.IsValid() {
		c.s.RemoveRoute(defaultRoute, l.Router, c.nic)
	}
	if err := c.nic.RemoveAddress(l.Addr.Addr()); err != nil {
		c.logf("dhcp: remove address %v: %v", l.Addr, err)
	}
	c.mu.Lock()
	if c.bound && c.lease.Addr == l.Addr {
		c.lease, c.bound = Lease{}, false
	}
	c.mu.Unlock()
	c.logf("dhcp: unbound %v", l.Addr)
	if c.opts.OnUnbound != nil {
		c.opts.OnUnbound(l)
	}
}
