package channel

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/tapstack/tapstack/stack"
)

// Counter names of a Channel, in its stack's registry once attached.
const (
	// CounterRxNotIP counts written packets whose version nibble is
	// neither 4 nor 6 (an empty buffer included).
	CounterRxNotIP = "channel.rx.not_ip"
	// CounterRxTooLong counts written packets longer than the MTU.
	CounterRxTooLong = "channel.rx.too_long"
	// CounterTxQueueFull counts packets the stack sent while the queue
	// was full, dropped.
	CounterTxQueueFull = "channel.tx.queue_full"
	// CounterTxTooBig counts packets the stack sent longer than the MTU,
	// dropped.
	CounterTxTooBig = "channel.tx.too_big"
)

// Defaults and bounds of Config.
const (
	// DefaultMTU is the MTU when Config.MTU is zero.
	DefaultMTU = 1500
	// MinMTU and MaxMTU bound Config.MTU: IPv4's minimum, and the
	// largest IP packet.
	MinMTU = 68
	MaxMTU = 65535
	// DefaultQueueLen is the outbound queue length when Config.QueueLen
	// is zero: as many packets as link.Pipe holds.
	DefaultQueueLen = 1024
	// MaxQueueLen bounds Config.QueueLen.
	MaxQueueLen = 1 << 16
)

// Errors of a Channel.
var (
	// ErrClosed is returned by Read and Write after Close. It unwraps to
	// stack.ErrClosed (EBADF).
	ErrClosed = fmt.Errorf("channel: closed: %w", stack.ErrClosed)
	// ErrNotAttached is returned by Write before the channel is the
	// endpoint of a NIC (stack.AddNIC, host.New).
	ErrNotAttached = errors.New("channel: not attached to a stack yet (add it as a NIC first)")
)

// Config configures a Channel.
type Config struct {
	// MTU is the largest IP packet either way; zero means DefaultMTU.
	MTU int
	// QueueLen is how many packets the stack may send before Read takes
	// them; zero means DefaultQueueLen.
	QueueLen int
}

// Channel is an in-memory L3 link endpoint. Its methods are safe for
// concurrent use.
type Channel struct {
	mtu int
	out chan *stack.Packet // stack -> Read

	// txMu guards closed against WritePacket: a sender holds it shared
	// while it queues, Close exclusively while it marks the channel
	// closed, so that no packet enters out after Close drained it.
	txMu   sync.RWMutex
	closed atomic.Bool
	done   chan struct{} // closed by Close: wakes Read

	// rxMu is held shared by each Write while it delivers, so that Close
	// returns only when no Write is inside the stack any more.
	rxMu sync.RWMutex

	// readMu serialises Read; pending is a packet Read took from out but
	// could not place (a buffer too short), handed out first next time.
	readMu  sync.Mutex
	pending *stack.Packet

	up      atomic.Pointer[attachment]
	private stack.Counters
	ctr     counters
}

// attachment is what Attach installs.
type attachment struct {
	d        stack.NetworkDispatcher
	counters *stack.Counters
}

type counters struct {
	rxNotIP, rxTooLong, txQueueFull, txTooBig atomic.Pointer[stack.Counter]
}

var (
	_ stack.LinkEndpoint = (*Channel)(nil)
	_ stack.L3Link       = (*Channel)(nil)
)

// New returns a Channel. Add it to a stack as a NIC's endpoint
// (stack.AddNIC, or host.Interface.Endpoint) before writing to it.
func New(cfg Config) (*Channel, error) {
	mtu, qlen := cfg.MTU, cfg.QueueLen
	if mtu == 0 {
		mtu = DefaultMTU
	}
	if qlen == 0 {
		qlen = DefaultQueueLen
	}
	if mtu < MinMTU || mtu > MaxMTU {
		return nil, fmt.Errorf("channel: MTU %d is out of range (%d to %d)", cfg.MTU, MinMTU, MaxMTU)
	}
	if qlen < 1 || qlen > MaxQueueLen {
		return nil, fmt.Errorf("channel: queue length %d is out of range (1 to %d)", cfg.QueueLen, MaxQueueLen)
	}
	c := &Channel{mtu: mtu, out: make(chan *stack.Packet, qlen), done: make(chan struct{})}
	c.useCounters(&c.private)
	return c, nil
}

func (c *Channel) useCounters(cs *stack.Counters) {
	c.ctr.rxNotIP.Store(cs.Get(CounterRxNotIP))
	c.ctr.rxTooLong.Store(cs.Get(CounterRxTooLong))
	c.ctr.txQueueFull.Store(cs.Get(CounterTxQueueFull))
	c.ctr.txTooBig.Store(cs.Get(CounterTxTooBig))
}

// MTU is the largest IP packet the channel carries.
func (c *Channel) MTU() int { return c.mtu }

// LinkAddress is the zero MAC: the channel has no link-layer addresses.
func (c *Channel) LinkAddress() stack.MAC { return stack.MAC{} }

// IsL3 reports true: the channel carries bare IP packets (stack.L3Link).
func (c *Channel) IsL3() bool { return true }

// Counters returns the registry the channel counts into: its stack's once
// attached to a NIC, before that a private one.
func (c *Channel) Counters() *stack.Counters {
	if u := c.up.Load(); u != nil {
		return u.counters
	}
	return &c.private
}

// Queued reports how many packets wait for Read.
func (c *Channel) Queued() int { return len(c.out) }

// Attach starts delivering written packets to d. It is called once, by
// stack.AddNIC.
func (c *Channel) Attach(d stack.NetworkDispatcher) {
	cs := &c.private
	if s, ok := d.(interface{ Stack() *stack.Stack }); ok && s.Stack() != nil {
		cs = s.Stack().Counters()
	}
	if !c.up.CompareAndSwap(nil, &attachment{d: d, counters: cs}) {
		panic("channel: attached twice")
	}
	c.useCounters(cs)
}

// WritePacket queues p, an IP packet from the stack, for Read; dst and
// etherType are ignored (the packet's version nibble says its family). It
// takes ownership of p. A full queue drops p and returns
// stack.ErrNoBufferSpace; after Close it returns stack.ErrClosed.
func (c *Channel) WritePacket(_ stack.MAC, _ uint16, p *stack.Packet) error {
	if p.Len() > c.mtu {
		c.ctr.txTooBig.Load().Inc()
		p.Release()
		return stack.ErrMessageTooLong
	}
	c.txMu.RLock()
	if c.closed.Load() {
		c.txMu.RUnlock()
		p.Release()
		return stack.ErrClosed
	}
	select {
	case c.out <- p:
		c.txMu.RUnlock()
		return nil
	default:
		c.txMu.RUnlock()
		c.ctr.txQueueFull.Load().Inc()
		p.Release()
		return stack.ErrNoBufferSpace
	}
}

// Read copies packets the stack sent into bufs, each starting offset bytes
// into its buffer, and their lengths into sizes; it returns how many it
// copied, at most min(len(bufs), len(sizes)). It blocks until at least one
// packet is queued, then takes what is queued without waiting for more.
// A packet that does not fit its buffer stays queued for the next Read,
// which then fails with io.ErrShortBuffer if it is the first. After Close
// it returns ErrClosed. Reads from several goroutines are serialised.
func (c *Channel) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	max := min(len(bufs), len(sizes))
	if max == 0 {
		return 0, nil
	}
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.closed.Load() {
		return 0, ErrClosed
	}
	p := c.pending
	c.pending = nil
	if p == nil {
		select {
		case p = <-c.out:
		case <-c.done:
			return 0, ErrClosed
		}
	}
	n := 0
	for {
		if offset < 0 || offset > len(bufs[n]) || len(bufs[n])-offset < p.Len() {
			c.pending = p
			if n == 0 {
				return 0, io.ErrShortBuffer
			}
			return n, nil
		}
		sizes[n] = copy(bufs[n][offset:], p.Bytes())
		p.Release()
		n++
		if n == max {
			return n, nil
		}
		select {
		case p = <-c.out:
		default:
			return n, nil
		}
	}
}

// Write hands the IP packets in bufs (each starting offset bytes into its
// buffer) to the stack, in order, on the calling goroutine, and returns
// when the stack has processed them. Packets that are not IPv4 or IPv6, or
// are longer than the MTU, are counted (CounterRxNotIP, CounterRxTooLong)
// and dropped; they count as written. It returns len(bufs), or ErrClosed
// after Close and ErrNotAttached before the channel is a NIC's endpoint.
// The buffers are not retained.
func (c *Channel) Write(bufs [][]byte, offset int) (int, error) {
	u := c.up.Load()
	if u == nil {
		return 0, ErrNotAttached
	}
	c.rxMu.RLock()
	defer c.rxMu.RUnlock()
	for i, buf := range bufs {
		if c.closed.Load() {
			return i, ErrClosed
		}
		var b []byte
		if offset >= 0 && offset <= len(buf) {
			b = buf[offset:]
		}
		if stack.IPEtherType(b) == 0 {
			c.ctr.rxNotIP.Load().Inc()
			continue
		}
		if len(b) > c.mtu {
			c.ctr.rxTooLong.Load().Inc()
			continue
		}
		p := stack.NewPacket(stack.Headroom, len(b))
		copy(p.Bytes(), b)
		u.d.DeliverNetworkPacket(p)
	}
	return len(bufs), nil
}

// Close closes the channel: blocked and later Reads return ErrClosed,
// Writes and the stack's sends fail, and queued packets are released. It
// returns when no Write is delivering into the stack any more; it must not
// be called from inside the stack's packet path. stack.Stack.Close calls
// it.
func (c *Channel) Close() error {
	c.txMu.Lock()
	if c.closed.Load() {
		c.txMu.Unlock()
		return nil
	}
	c.closed.Store(true)
	c.txMu.Unlock()
	close(c.done)
	c.rxMu.Lock() // wait for Writes inside the stack
	c.rxMu.Unlock()
	c.readMu.Lock() // a blocked Read has returned
	if c.pending != nil {
		c.pending.Release()
		c.pending = nil
	}
	c.readMu.Unlock()
	for {
		select {
		case p := <-c.out:
			p.Release()
		default:
			return nil
		}
	}
}
