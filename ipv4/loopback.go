package ipv4

import (
	"github.com/tapstack/tapstack/internal/loopq"
	"github.com/tapstack/tapstack/stack"
)

// newLoopback starts the queue that delivers packets to our own addresses
// into our inbound path (never inline: the caller may hold transport locks
// that the inbound path takes).
func (pr *Protocol) newLoopback() *loopq.Queue {
	return loopq.New(pr.opts.LoopbackQueue, stack.EtherTypeIPv4, pr.c.txLoopback, pr.c.txLoopbackDropped,
		func(p *stack.Packet) { pr.handle(p, true) })
}

// loopback queues p (data starting at the IP header) for delivery to our
// own inbound path. It takes ownership of p.
func (pr *Protocol) loopback(nic *stack.NIC, p *stack.Packet) error {
	return pr.loop.Send(nic, p)
}

// Close stops loopback delivery, drops pending reassemblies and releases
// the packets still queued. It returns when the loopback goroutine has
// ended; it implements io.Closer.
func (pr *Protocol) Close() error {
	if pr.loop.Close() {
		pr.reasm.close()
	}
	return nil
}

// flushLoopback waits until every packet looped back so far, and every
// packet their delivery looped back in turn, has been delivered (tests).
func (pr *Protocol) flushLoopback() { pr.loop.Flush() }
