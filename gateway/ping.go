package gateway

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/stack"
)

// Pinger decides which guest pings to destinations outside the subnet are
// answered: those whose destination answered the gateway's own echo
// (Probe) within TTL. The forwarder's echo hook runs on the packet path
// and cannot wait for the real destination, so the first echo to a
// destination starts a probe in the background and goes unanswered; later
// ones are answered from the probe's result (a stale success is still
// answered while a new probe runs). The RTT the guest sees is the
// gateway's, not the destination's. Bounded: at most MaxEntries
// destinations remembered and MaxProbes probes at once (counters
// gateway.ping.*). Pings to the router and DNS addresses are the host's
// own and always answered.
type Pinger struct {
	// Probe sends one echo to dst and returns nil when it is answered
	// before ctx ends; nil means ProbeICMP.
	Probe func(ctx context.Context, dst netip.Addr) error
	// TTL is how long a probe's result stands (default 10 s; failures
	// stand a fifth of it).
	TTL time.Duration
	// Timeout bounds one probe (default 2 s).
	Timeout time.Duration
	// MaxEntries and MaxProbes bound the table and the probes in flight
	// (defaults 1024 and 32).
	MaxEntries, MaxProbes int

	clock  stack.Clock
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	entries  map[netip.Addr]*pingEntry
	inflight int

	ctrProbes, ctrAnswered, ctrDropped, ctrFull *stack.Counter
}

// pingEntry is what the Pinger knows of one destination.
type pingEntry struct {
	ok      bool
	until   time.Time
	probing bool
}

// DefaultPinger returns a Pinger with the defaults: kernel ICMP probes.
func DefaultPinger() *Pinger { return &Pinger{} }

// start readies p for a gateway.
func (p *Pinger) start(clock stack.Clock, cs *stack.Counters) {
	if p.Probe == nil {
		p.Probe = ProbeICMP
	}
	if p.TTL <= 0 {
		p.TTL = 10 * time.Second
	}
	if p.Timeout <= 0 {
		p.Timeout = 2 * time.Second
	}
	if p.MaxEntries <= 0 {
		p.MaxEntries = 1024
	}
	if p.MaxProbes <= 0 {
		p.MaxProbes = 32
	}
	p.clock = clock
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.entries = make(map[netip.Addr]*pingEntry)
	p.ctrProbes = cs.Get("gateway.ping.probes")
	p.ctrAnswered = cs.Get("gateway.ping.answered")
	p.ctrDropped = cs.Get("gateway.ping.unanswered")
	p.ctrFull = cs.Get("gateway.ping.table_full")
}

// stop ends the probes and waits for them.
func (p *Pinger) stop() {
	p.cancel()
	p.wg.Wait()
}

// echo is the forwarder's echo hook.
func (g *Gateway) echo(src, dst netip.Addr) bool {
	if !g.guest(src) {
		return false
	}
	if _, ok := g.target(netip.AddrPortFrom(dst, 0)); !ok {
		return false
	}
	return g.cfg.Ping.answer(dst.Unmap())
}

// answer reports whether an echo to dst is answered now, starting a probe
// when the table has no fresh result.
func (p *Pinger) answer(dst netip.Addr) bool {
	now := p.clock.Now()
	p.mu.Lock()
	e := p.entries[dst]
	if e == nil {
		if len(p.entries) >= p.MaxEntries {
			for a, x := range p.entries {
				if !x.probing && now.After(x.until) {
					delete(p.entries, a)
				}
			}
		}
		if len(p.entries) >= p.MaxEntries {
			p.mu.Unlock()
			p.ctrFull.Inc()
			p.ctrDropped.Inc()
			return false
		}
		e = &pingEntry{}
		p.entries[dst] = e
	}
	ok := e.ok
	if now.After(e.until) && !e.probing && p.inflight < p.MaxProbes && p.ctx.Err() == nil {
		e.probing = true
		p.inflight++
		p.wg.Add(1)
		go p.probe(dst, e)
	}
	p.mu.Unlock()
	if ok {
		p.ctrAnswered.Inc()
	} else {
		p.ctrDropped.Inc()
	}
	return ok
}

// probe pings dst and records the result in e.
func (p *Pinger) probe(dst netip.Addr, e *pingEntry) {
	defer p.wg.Done()
	p.ctrProbes.Inc()
	ctx, cancel := context.WithTimeout(p.ctx, p.Timeout)
	err := p.Probe(ctx, dst)
	cancel()
	now := p.clock.Now()
	p.mu.Lock()
	p.inflight--
	e.probing = false
	e.ok = err == nil
	if e.ok {
		e.until = now.Add(p.TTL)
	} else {
		e.until = now.Add(p.TTL / 5)
	}
	p.mu.Unlock()
}

// ProbeICMP sends one ICMP echo request to the IPv4 address dst from the
// process's namespace and waits for the reply until ctx ends: through an
// unprivileged ICMP socket (net.ipv4.ping_group_range) when the kernel
// allows it, else a raw socket (root or CAP_NET_RAW).
func ProbeICMP(ctx context.Context, dst netip.Addr) error {
	if !dst.Is4() {
		return errors.New("gateway: ProbeICMP is IPv4 only")
	}
	c, raw, err := icmpConn()
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	const id, seq = 0x7473, 1 // "ts"; a ping socket replaces the id with its own
	msg := []byte{8, 0, 0, 0, id >> 8, id & 0xff, 0, seq, 't', 'a', 'p', 's', 't', 'a', 'c', 'k'}
	ck := ^checksum.Sum(msg, 0)
	msg[2], msg[3] = byte(ck>>8), byte(ck)
	var to net.Addr = &net.UDPAddr{IP: dst.AsSlice()}
	if raw {
		to = &net.IPAddr{IP: dst.AsSlice()}
	}
	if _, err := c.WriteTo(msg, to); err != nil {
		return err
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if n < 8 || buf[0] != 0 || buf[7] != seq || string(buf[8:n]) != string(msg[8:]) {
			continue
		}
		var fromIP net.IP
		switch a := from.(type) {
		case *net.UDPAddr:
			fromIP = a.IP
		case *net.IPAddr:
			fromIP = a.IP
		}
		if a, ok := netip.AddrFromSlice(fromIP); ok && a.Unmap() == dst {
			return nil
		}
	}
}

// icmpConn opens an ICMP socket: unprivileged (raw false) or raw.
func icmpConn() (c net.PacketConn, raw bool, err error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
	if err == nil {
		f := os.NewFile(uintptr(fd), "icmp")
		c, err = net.FilePacketConn(f)
		f.Close()
		if err == nil {
			return c, false, nil
		}
	}
	c, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return nil, false, errors.New("gateway: cannot open an ICMP socket (allow ping sockets with sysctl net.ipv4.ping_group_range, or run as root): " + err.Error())
	}
	return c, true, nil
}
