package tcp

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/tapstack/tapstack/stack"
)

// The stack-wide budget of TCP buffer memory, after Linux's tcp_mem and
// sk_mem_schedule: every byte the send rings, receive rings and
// out-of-order pieces of all connections take (the pooled chunk sizes,
// what is really allocated) is charged to one pair of atomics on the
// Protocol.
//
//   - Below the pressure mark nothing changes.
//   - Under pressure (from the mark until use falls below half the limit,
//     Linux's tcp_mem[1] and tcp_mem[0]) receive windows stop growing:
//     auto-tuning stops, a connection advertises no more than the buffer it
//     already had (at least the minimum), and new out-of-order data is
//     kept only within the minimum (Linux prunes the out-of-order queue
//     first: the application cannot read that data yet).
//   - At the limit (tcp_mem[2]) buffers grow no more: Write waits until
//     memory is freed, in-order data that does not fit in the buffer a
//     connection has is dropped (counted; the peer retransmits) after its
//     out-of-order data was pruned, and windows advertise only what fits.
//
// Each direction of a connection may always hold memMinimum bytes
// (tcp_rmem[0], tcp_wmem[0]), so connections keep working, slowly, while
// others hold the budget. A window already advertised is never taken back
// (RFC 9293 3.8.6.2.2): the budget makes new windows smaller instead.

const (
	// DefaultMemoryLimit is the default Options.MemoryLimit: 32 MiB, so
	// that with the connections' minimums, their own state and the
	// garbage between two collections a host stays well within 64 MiB
	// however many peers fill their windows (with 40 MiB, 300 one-megabyte
	// header lines peaked at 58.5 MiB over baseline, issue 13).
	DefaultMemoryLimit = 32 << 20
	// memMinimum is what each direction of a connection may always hold.
	memMinimum = minRingBuf
)

const (
	usedBits = 40 // up to 1 TiB charged
	usedMask = 1<<usedBits - 1
	freedOne = 1 << usedBits
)

// memBudget is the protocol's TCP memory budget. A nil *memBudget (a
// bare ring's) charges nothing and refuses nothing.
type memBudget struct {
	limit, high, low int64
	unlimited        bool
	// state is the bytes charged (the low usedBits bits) and a count of
	// releases (the bits above), in one word so that a charge or a
	// release is one atomic operation. The count tells a Write that found
	// the budget full whether memory was freed since it tried (memWait).
	state    atomic.Uint64
	pressure atomic.Bool
	// onPressure is called when pressure begins (true) and ends (false);
	// see Protocol.OnMemoryPressure.
	onPressure atomic.Pointer[func(bool)]

	pressureEntered, rxDropped, txWaits, oooDropped, oooPruned *stack.Counter

	// Writers waiting for memory (memWait); the waker goroutine wakes them
	// when memory is freed. nwait is len(waiters), read without mu on the
	// release path.
	p       *Protocol
	mu      sync.Mutex
	waiters []*endpoint
	nwait   atomic.Int32
	waking  bool
	again   bool
}

// newMemBudget returns the budget Options ask for; with a negative limit
// it only counts.
func newMemBudget(limit, pressure int) *memBudget {
	if limit < 0 {
		m := &memBudget{limit: math.MaxInt64 / 4, high: math.MaxInt64 / 4, low: 0, unlimited: true}
		m.setCounters(new(stack.Counters))
		return m
	}
	if limit == 0 {
		limit = DefaultMemoryLimit
	}
	if pressure <= 0 || pressure > limit {
		pressure = limit / 4 * 3
	}
	m := &memBudget{limit: int64(limit), high: int64(pressure), low: int64(min(pressure, limit/2))}
	m.setCounters(new(stack.Counters))
	return m
}

func (m *memBudget) setCounters(cs *stack.Counters) {
	m.pressureEntered = cs.Get("tcp.mem.pressure_entered")
	m.rxDropped = cs.Get("tcp.mem.rx_dropped_nomem")
	m.txWaits = cs.Get("tcp.mem.tx_waits")
	m.oooDropped = cs.Get("tcp.mem.ooo_dropped")
	m.oooPruned = cs.Get("tcp.mem.ooo_pruned_bytes")
}

// charge takes delta more bytes for a buffer direction that then holds
// held bytes in all: always within the minimum, else only below the
// limit. It reports whether the bytes were charged.
func (m *memBudget) charge(delta, held int) bool {
	if m == nil || delta <= 0 || held <= memMinimum {
		m.add(delta)
		return true
	}
	for {
		s := m.state.Load()
		u := int64(s&usedMask) + int64(delta)
		if u > m.limit {
			return false
		}
		if m.state.CompareAndSwap(s, s+uint64(delta)) {
			m.notePressure(u)
			return true
		}
	}
}

// add charges delta bytes (negative: gives them back) unconditionally.
func (m *memBudget) add(delta int) {
	if m == nil || delta == 0 {
		return
	}
	if delta > 0 {
		m.notePressure(int64(m.state.Add(uint64(delta)) & usedMask))
		return
	}
	u := int64(m.state.Add(freedOne-uint64(-delta)) & usedMask)
	if u < m.low && m.pressure.Load() && m.pressure.CompareAndSwap(true, false) {
		m.notify(false)
	}
	if m.nwait.Load() > 0 {
		m.wake()
	}
}

func (m *memBudget) notePressure(u int64) {
	if u >= m.high && !m.pressure.Load() && m.pressure.CompareAndSwap(false, true) {
		m.pressureEntered.Inc()
		m.notify(true)
	}
}

// notify calls the pressure hook, if any.
func (m *memBudget) notify(under bool) {
	if f := m.onPressure.Load(); f != nil {
		(*f)(under)
	}
}

// OnMemoryPressure has f called each time the TCP memory budget enters
// pressure (true: use reached Options.MemoryPressure, windows stop
// growing) and each time it leaves it (false: use fell below half the
// limit); nil removes the hook. f runs on the goroutine that charged or
// released the memory, possibly the packet path with a connection's lock
// held: it must return at once and must not call into the Protocol
// (hand the news to a goroutine of its own). Calls for successive changes
// may overlap; Memory().UnderPressure says what holds now.
//
// A program uses it to hold its own memory tighter while the stack's
// buffers are tight: `tapstack up` lowers the Go runtime's soft memory
// limit, so garbage does not double a heap that TCP buffers fill.
func (p *Protocol) OnMemoryPressure(f func(underPressure bool)) {
	if f == nil {
		p.cfg.mem.onPressure.Store(nil)
		return
	}
	p.cfg.mem.onPressure.Store(&f)
}

// inUse is the bytes charged now.
func (m *memBudget) inUse() int64 { return int64(m.state.Load() & usedMask) }

// freed is the count of releases (modulo 2^24).
func (m *memBudget) freed() uint64 { return m.state.Load() >> usedBits }

// underPressure says whether buffers should stop growing.
func (m *memBudget) underPressure() bool { return m != nil && m.pressure.Load() }

// MemoryStats is the state of the protocol's TCP memory budget.
type MemoryStats struct {
	// InUse is the memory the buffers of all connections take now: send
	// and receive rings and out-of-order data, in allocated (pooled
	// chunk) sizes.
	InUse int64
	// Limit and Pressure are the configured marks (Options.MemoryLimit,
	// Options.MemoryPressure); Limit is 0 when there is no budget.
	Limit, Pressure int64
	// UnderPressure says windows have stopped growing.
	UnderPressure bool
}

// Memory returns the state of the TCP memory budget, for a status page
// ("tcp memory: used/limit").
func (p *Protocol) Memory() MemoryStats {
	m := p.cfg.mem
	if m.unlimited {
		return MemoryStats{InUse: m.inUse()}
	}
	return MemoryStats{InUse: m.inUse(), Limit: m.limit, Pressure: m.high, UnderPressure: m.pressure.Load()}
}

// MemoryInUse is the memory TCP buffers take now (Memory().InUse), for a
// caller that decides when to give memory back to the system after load.
func (p *Protocol) MemoryInUse() int64 { return p.cfg.mem.inUse() }

// advWnd is the receive window to advertise: the free space of the
// receive buffer, under memory pressure no more than the buffer the
// connection already has (or had before it last emptied, or the minimum)
// and at the limit no more than what fits in the buffer it has; never
// less than what is left of the window already advertised.
func (c *core) advWnd() int {
	w := c.rcv.free()
	if m := c.cfg.mem; m.underPressure() {
		size := max(c.rcv.alloc(), memMinimum)
		if m.inUse() < m.limit {
			size = max(size, c.rcv.hint)
		}
		w = min(w, max(size-c.rcv.n, 0))
	}
	if c.lastAdvRight.GreaterThan(c.rcvNxt) {
		w = max(w, int(c.rcvNxt.Size(c.lastAdvRight)))
	}
	return w
}

// rcvAdmit makes room in the receive ring for n more in-order bytes. When
// the budget refuses, the connection's out-of-order data goes first
// (Linux tcp_prune_ofo_queue); if that is not enough the caller drops the
// data (counted) and the peer sends it again.
func (c *core) rcvAdmit(n int) bool {
	need := c.rcv.n + n
	for !c.rcv.reserve(need, c.oooAlloc()) {
		if c.oooPieces() == 0 {
			c.cfg.mem.rxDropped.Inc()
			return false
		}
		c.pruneLastOOO()
	}
	return true
}

// releaseClosed gives back what a closed connection holds and nobody can
// use: its out-of-order data, and its unread data once the application
// has closed it too.
func (c *core) releaseClosed(userClosed bool) {
	if c.busy == idleBusy {
		return // an idle connection holds none
	}
	c.dropOOO()
	if userClosed {
		c.rcv.discard(c.rcv.n)
		c.rcv.release()
	}
}

// memBlocked says the last Write took nothing because the budget, not the
// send buffer, is full.
func (c *core) memBlocked() bool {
	return c.snd.free() > 0 && c.state.synchronized() && !c.finQueued
}

// memWait puts e, whose Write found the budget full after freed had
// counted gen releases, among the writers woken when memory is freed. It
// reports true when memory was freed meanwhile: the caller tries again
// instead of waiting. e.mu is held.
func (m *memBudget) memWait(e *endpoint, gen uint64) bool {
	if !e.memWaiting {
		e.memWaiting = true
		m.txWaits.Inc()
		m.mu.Lock()
		m.waiters = append(m.waiters, e)
		m.nwait.Store(int32(len(m.waiters)))
		m.mu.Unlock()
	}
	return m.freed() != gen
}

// wake has the waker goroutine wake the waiting writers; a release while
// it runs makes it go round once more.
func (m *memBudget) wake() {
	m.mu.Lock()
	if m.waking {
		m.again = true
		m.mu.Unlock()
		return
	}
	if len(m.waiters) == 0 || m.p == nil || !m.p.enterCB() {
		m.mu.Unlock()
		return
	}
	m.waking = true
	m.mu.Unlock()
	go m.runWake()
}

// runWake wakes the waiting writers, without holding any endpoint's lock
// but the one it wakes (so it cannot deadlock with a release made under
// another endpoint's lock). A writer that still finds no memory waits
// again.
func (m *memBudget) runWake() {
	defer m.p.cbs.Done()
	var batch []*endpoint
	for {
		m.mu.Lock()
		batch, m.waiters = m.waiters, batch[:0]
		m.nwait.Store(0)
		m.again = false
		m.mu.Unlock()
		for i, e := range batch {
			e.mu.Lock()
			e.memWaiting = false
			e.cond.Broadcast()
			e.mu.Unlock()
			batch[i] = nil
		}
		m.mu.Lock()
		if !m.again {
			m.waking = false
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()
	}
}
