// Package loopq is the loopback queue of an IP layer (ipv4, ipv6): packets
// we send to one of our own addresses go back into our inbound path through
// a bounded queue and one goroutine, never inline, because the sender may
// hold transport locks the inbound path takes.
package loopq

import (
	"sync"

	"github.com/tapstack/tapstack/stack"
)

// item is one packet waiting for delivery, or (p == nil) a marker that
// Flush uses to wait until everything before it was delivered.
type item struct {
	p    *stack.Packet
	nic  *stack.NIC
	done chan struct{}
}

// Queue is a loopback queue. Its zero value is not usable; see New.
type Queue struct {
	mu     sync.RWMutex // guards closed against sends on ch
	closed bool
	ch     chan item
	stop   chan struct{}
	done   chan struct{}

	etherType     uint16
	deliver       func(*stack.Packet)
	sent, dropped *stack.Counter
}

// New starts a queue of at most size packets whose delivery goroutine hands
// each packet to deliver as if it had arrived on its NIC with etherType:
// link addresses cleared and, like Linux loopback, the transport checksum
// (possibly partial) marked good, since the data never left memory. sent
// and dropped count the packets queued and those refused because the
// queue was full.
func New(size int, etherType uint16, sent, dropped *stack.Counter, deliver func(*stack.Packet)) *Queue {
	q := &Queue{
		ch: make(chan item, size), stop: make(chan struct{}), done: make(chan struct{}),
		etherType: etherType, deliver: deliver, sent: sent, dropped: dropped,
	}
	go q.loop()
	return q
}

// Send queues p (data starting at the IP header), sent on nic, for
// delivery. It takes ownership of p: it fails with stack.ErrClosed after
// Close and stack.ErrNoBufferSpace when the queue is full.
func (q *Queue) Send(nic *stack.NIC, p *stack.Packet) error {
	q.mu.RLock()
	if q.closed {
		q.mu.RUnlock()
		p.Release()
		return stack.ErrClosed
	}
	select {
	case q.ch <- item{p: p, nic: nic}:
		q.mu.RUnlock()
		q.sent.Inc()
		return nil
	default:
		q.mu.RUnlock()
		q.dropped.Inc()
		p.Release()
		return stack.ErrNoBufferSpace
	}
}

func (q *Queue) loop() {
	defer close(q.done)
	for {
		select {
		case it := <-q.ch:
			if it.p == nil {
				close(it.done)
				continue
			}
			p := it.p
			p.NIC = it.nic
			p.EtherType = q.etherType
			p.LinkSrc, p.LinkDst = stack.MAC{}, stack.MAC{}
			p.ChecksumOK, p.ChecksumPartial, p.GSOSize = true, false, 0
			q.deliver(p)
		case <-q.stop:
			return
		}
	}
}

// Close stops delivery, waits for the goroutine to end and releases the
// packets still queued. It reports whether this call closed the queue
// (false: it was closed already).
func (q *Queue) Close() bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		<-q.done
		return false
	}
	q.closed = true
	q.mu.Unlock()
	close(q.stop)
	<-q.done
	for {
		select {
		case it := <-q.ch:
			if it.p != nil {
				it.p.Release()
			} else {
				close(it.done)
			}
		default:
			return true
		}
	}
}

// Done is closed when the delivery goroutine has ended.
func (q *Queue) Done() <-chan struct{} { return q.done }

// Flush waits until every packet queued so far, and every packet their
// delivery queued in turn, has been delivered; tests use it instead of
// sleeping. A marker goes through the queue behind what is there; when no
// packet was queued between sending it and its return, everything queued
// before it, and everything their delivery queued, has been delivered (the
// queue's length alone would miss a packet the goroutine has taken but not
// yet delivered).
func (q *Queue) Flush() {
	for {
		before := q.sent.Load()
		done := make(chan struct{})
		select {
		case q.ch <- item{done: done}:
		case <-q.done:
			return
		}
		select {
		case <-done:
		case <-q.done:
			return
		}
		if q.sent.Load() == before {
			return
		}
	}
}
