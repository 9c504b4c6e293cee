package ipv6

import (
	"github.com/tapstack/tapstack/stack"
)

// loopItem is one packet waiting for loopback delivery, or (p == nil) a
// marker that tests use to wait until everything before it was delivered.
type loopItem struct {
	p    *stack.Packet
	nic  *stack.NIC
	done chan struct{}
}

// loopback queues p (data starting at the IPv6 header) for delivery to our
// own inbound path. Delivery is never inline: the caller may hold transport
// locks that the inbound path takes. It takes ownership of p.
func (pr *Protocol) loopback(nic *stack.NIC, p *stack.Packet) error {
	pr.loopMu.RLock()
	if pr.closed {
		pr.loopMu.RUnlock()
		p.Release()
		return stack.ErrClosed
	}
	select {
	case pr.loopCh <- loopItem{p: p, nic: nic}:
		pr.loopMu.RUnlock()
		pr.c.txLoopback.Inc()
		return nil
	default:
		pr.loopMu.RUnlock()
		pr.c.txLoopbackDropped.Inc()
		p.Release()
		return stack.ErrNoBufferSpace
	}
}

// loopbackLoop delivers looped-back packets until Close.
func (pr *Protocol) loopbackLoop() {
	defer close(pr.loopDone)
	for {
		select {
		case it := <-pr.loopCh:
			if it.p == nil {
				close(it.done)
				continue
			}
			p := it.p
			p.NIC = it.nic
			p.EtherType = stack.EtherTypeIPv6
			p.LinkSrc, p.LinkDst = stack.MAC{}, stack.MAC{}
			// The data never left memory: the transport checksum
			// (possibly partial) needs no check.
			p.ChecksumOK, p.ChecksumPartial, p.GSOSize = true, false, 0
			pr.handle(p, true)
		case <-pr.stop:
			return
		}
	}
}

// Close stops loopback delivery, drops pending reassemblies and releases
// the packets still queued. It returns when the loopback goroutine has
// ended; it implements io.Closer.
func (pr *Protocol) Close() error {
	pr.loopMu.Lock()
	if pr.closed {
		pr.loopMu.Unlock()
		<-pr.loopDone
		return nil
	}
	pr.closed = true
	pr.loopMu.Unlock()
	close(pr.stop)
	<-pr.loopDone
	pr.reasm.close()
	for {
		select {
		case it := <-pr.loopCh:
			if it.p != nil {
				it.p.Release()
			} else {
				close(it.done)
			}
		default:
			return nil
		}
	}
}

// flushLoopback waits until every packet looped back so far, and every
// packet their delivery looped back in turn, has been delivered (see
// ipv4's flushLoopback for why the marker is repeated).
func (pr *Protocol) flushLoopback() {
	for {
		before := pr.c.txLoopback.Load()
		done := make(chan struct{})
		select {
		case pr.loopCh <- loopItem{done: done}:
		case <-pr.loopDone:
			return
		}
		select {
		case <-done:
		case <-pr.loopDone:
			return
		}
		if pr.c.txLoopback.Load() == before {
			return
		}
	}
}
