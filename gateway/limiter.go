package gateway

import (
	"io"
	"net/netip"
	"sync"
)

// limiter counts relays in total and per guest address, within caps, and
// remembers what each holds open so Close can end them all. Its per-guest
// map has an entry only while that guest has a relay, so it is bounded by
// the total cap.
type limiter struct {
	max, perGuest int

	mu      sync.Mutex
	n       int
	byGuest map[netip.Addr]int
	open    map[*slot]struct{}
	closed  bool
	// wg counts the slots that relay (see slot.relay): Add under mu
	// while open, so every Add happens before closeAll's caller waits.
	wg sync.WaitGroup
}

// slot is one relay's place in a limiter.
type slot struct {
	l       *limiter
	guest   netip.Addr
	relays  bool // counted in l.wg
	mu      sync.Mutex
	closers []io.Closer
	done    bool
}

func newLimiter(max, perGuest int) *limiter {
	return &limiter{max: max, perGuest: perGuest, byGuest: make(map[netip.Addr]int), open: make(map[*slot]struct{})}
}

// acquire takes a slot for guest, or returns nil when a cap is reached or
// the limiter is closed.
func (l *limiter) acquire(guest netip.Addr) *slot {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.n >= l.max || l.byGuest[guest] >= l.perGuest {
		return nil
	}
	l.n++
	l.byGuest[guest]++
	s := &slot{l: l, guest: guest}
	l.open[s] = struct{}{}
	return s
}

// count returns the slots in use.
func (l *limiter) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// guestCount returns guest's slots in use.
func (l *limiter) guestCount(guest netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byGuest[guest]
}

// wait waits until every slot is released (after closeAll).
func (l *limiter) wait() { l.wg.Wait() }

// closeAll closes what every slot holds and refuses new slots.
func (l *limiter) closeAll() {
	l.mu.Lock()
	l.closed = true
	all := make([]*slot, 0, len(l.open))
	for s := range l.open {
		all = append(all, s)
	}
	l.mu.Unlock()
	for _, s := range all {
		s.closeAll()
	}
}

// hold makes the slot close c when the gateway closes; if it already
// did, c is closed now and hold reports false.
func (s *slot) hold(c io.Closer) bool {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		c.Close()
		return false
	}
	s.closers = append(s.closers, c)
	s.mu.Unlock()
	return true
}

func (s *slot) closeAll() {
	s.mu.Lock()
	s.done = true
	cs := s.closers
	s.closers = nil
	s.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}

// relay marks the slot as relaying: from now on the gateway's Close
// waits for its release. A slot still dialing or accepting is not waited
// for (tcp.ForwarderRequest.Accept cannot be cancelled; it ends after the
// SYN-ACK retries, and hold then closes what it got). It reports false
// when the limiter is closed.
func (s *slot) relay() bool {
	l := s.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	s.relays = true
	l.wg.Add(1)
	return true
}

// release gives the slot back (once).
func (s *slot) release() {
	l := s.l
	l.mu.Lock()
	if _, ok := l.open[s]; ok {
		delete(l.open, s)
		l.n--
		if l.byGuest[s.guest]--; l.byGuest[s.guest] <= 0 {
			delete(l.byGuest, s.guest)
		}
		if s.relays {
			l.wg.Done()
		}
	}
	l.mu.Unlock()
}
