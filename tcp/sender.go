package tcp

import "sync"

// sender is a goroutine of the protocol that sends the segments queued by
// application calls (afterUser), so that the application's goroutines never
// run the transmit path and keep their small stacks. It starts with the
// first queued endpoint and ends with Close; an endpoint is queued at most
// once at a time (endpoint.txQueued), however many calls queue segments
// before the sender gets to it.
type sender struct {
	mu      sync.Mutex
	q       []*endpoint
	running bool
	closed  bool
	wake    chan struct{} // capacity 1: "the queue is not empty"
	done    chan struct{} // closed when the goroutine has ended
}

// maxSenders bounds the senders of a protocol.
const maxSenders = 8

// senderOf is the sender of e: one of the protocol's, by its ports, so
// that an endpoint's segments leave in the order they were queued.
func (p *Protocol) senderOf(e *endpoint) *sender {
	return &p.tx[int(e.lport^e.rport)%len(p.tx)]
}

// queue puts e, whose lock the caller holds, in line to be flushed. It
// reports false, and queues nothing, once the sender is closed: the caller
// then sends itself.
func (s *sender) queue(e *endpoint) bool {
	if e.txQueued {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if !s.running {
		s.running = true
		s.wake = make(chan struct{}, 1)
		s.done = make(chan struct{})
		go s.run()
	}
	e.txQueued = true
	s.q = append(s.q, e)
	if len(s.q) == 1 {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return true
}

func (s *sender) run() {
	defer close(s.done)
	var batch []*endpoint
	for {
		s.mu.Lock()
		for len(s.q) == 0 && !s.closed {
			s.mu.Unlock()
			<-s.wake
			s.mu.Lock()
		}
		if len(s.q) == 0 {
			s.mu.Unlock()
			return
		}
		batch, s.q = s.q, batch[:0]
		s.mu.Unlock()
		for i, e := range batch {
			e.mu.Lock()
			e.txQueued = false
			e.flush()
			e.mu.Unlock()
			batch[i] = nil
		}
	}
}

// close makes queue refuse and returns when the goroutine has sent what
// was queued and ended.
func (s *sender) close() {
	s.mu.Lock()
	s.closed = true
	running := s.running
	if running {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()
	if running {
		<-s.done
	}
}
