package link

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// FaultRates are the faults of one direction: the probabilities (0 to 1)
// of loss, duplication, reordering and corruption, and the delay and rate
// limit of the link.
type FaultRates struct {
	// Loss drops the frame.
	Loss float64
	// Duplicate sends the frame twice.
	Duplicate float64
	// Reorder holds the frame back and sends it after the next one, or
	// alone once it has waited MaxReorderHold for one.
	Reorder float64
	// Corrupt flips one random bit of a frame that carries IPv4 (EtherType
	// 0x0800, also behind VLAN tags), in the IPv4 packet (header or
	// payload, not the Ethernet padding), where the IPv4 header checksum
	// or the transport checksum catches it. Other frames (ARP above all)
	// have no checksum of their own: on a real wire the Ethernet FCS drops
	// them, so a corrupted one would only poison caches, and they are
	// passed unharmed (and not counted). Exactly one bit is flipped per
	// corrupted frame: the Internet checksum always detects a single
	// flipped bit, while two flips in one packet cancel when they hit the
	// same bit position (mod 16) in opposite directions.
	Corrupt float64
	// CorruptAll makes Corrupt apply to any frame, flipping a bit anywhere
	// after the first 14 bytes (VLAN tags and ARP included), as NewFaulty
	// did before corruption was limited to IPv4.
	CorruptAll bool

	// Delay holds every frame this long before it is passed on (the
	// propagation delay of the link).
	Delay time.Duration
	// Jitter varies Delay per frame, uniformly in [Delay-Jitter,
	// Delay+Jitter] (never below zero). Frames still leave in the order
	// they entered: a frame whose draw is shorter than its predecessor's
	// waits for it, so only Reorder reorders.
	Jitter time.Duration
	// Rate limits the link to this many bits per second (0: unlimited).
	// A frame of n bytes occupies the link n*8/Rate seconds (the frame as
	// the device sees it, without preamble or FCS); frames wait for the
	// link in order and are passed on when their last bit is sent (plus
	// Delay).
	Rate uint64
	// Queue bounds the frames the direction holds, waiting for the link or
	// in the delay line, like netem's limit; a frame arriving at a full
	// queue is dropped (tail drop, counted in FaultStats.Overflowed).
	// Zero means DefaultFaultQueue. Used only with Delay, Jitter or Rate.
	Queue int
}

// DefaultFaultQueue is the default FaultRates.Queue (netem's default
// limit).
const DefaultFaultQueue = 1000

// delays reports whether frames go through the delay line.
func (r *FaultRates) delays() bool { return r.Delay > 0 || r.Jitter > 0 || r.Rate > 0 }

// FaultConfig configures NewFaulty.
type FaultConfig struct {
	// Seed seeds the PCG generators; the same seed and the same frames
	// give the same faults.
	Seed uint64
	// Mirror gives the receive direction the transmit direction's
	// sequence of draws: the n-th frame received meets the faults the
	// n-th frame sent does (the same loss positions for a sender on
	// either side, so that a benchmark comparing the two is fair).
	Mirror bool
	// Tx applies to frames written to the device, Rx to frames it
	// delivers.
	Tx, Rx FaultRates
	// Clock times Delay and Rate. Nil means stack.RealClock{} (whose
	// timers are virtual inside a testing/synctest bubble); tests may
	// pass a virtual clock.
	Clock stack.Clock
}

// FaultStats counts the faults a Faulty device injected in one direction.
type FaultStats struct {
	Lost, Duplicated, Reordered, Corrupted uint64
	// Overflowed counts frames dropped because the direction's Queue was
	// full.
	Overflowed uint64
}

// Faulty is a Device decorator that injects faults; see NewFaulty.
type Faulty struct {
	dev    Device
	tx, rx faultDir
	closed atomic.Bool
}

// MaxReorderHold bounds how long a frame held back for reordering waits
// for the next frame of its direction: on a quiet link it then leaves
// alone, late, as a reordered packet of a real path arrives late, not
// never. (Held until the next frame, a reordered frame on a link gone
// quiet was a loss that no retransmission could repair while the link
// stayed quiet: the simulation's handshakes whose last ACKs met it
// failed about once in 10,000 seeds.)
const MaxReorderHold = time.Millisecond

// faultDir is the state of one direction.
type faultDir struct {
	rates  FaultRates
	mu     sync.Mutex
	rng    *rand.Rand
	held   *stack.Packet // a frame held back for reordering
	heldAt time.Time     // when held was held
	line   *delayLine    // nil without Delay, Jitter and Rate
	clock  stack.Clock
	// holdT releases a held frame after MaxReorderHold (nil until the
	// first hold), to pass (the device's write or the dispatcher's
	// delivery) or into the delay line; inHold counts its running
	// callbacks, for Close.
	holdT                                              stack.Timer
	pass                                               func(*stack.Packet)
	inHold                                             sync.WaitGroup
	stopped                                            bool
	lost, duplicated, reordered, corrupted, overflowed atomic.Uint64
}

// NewFaulty returns a Device that passes frames between d and its user
// while, in each direction independently, it injects the faults of cfg:
//
//   - by the configured probabilities, it drops, duplicates, reorders
//     (holds a frame back behind the next one) and corrupts frames (see
//     FaultRates.Corrupt: one bit of IPv4 frames unless CorruptAll);
//   - with Delay, Jitter or Rate, frames pass through a delay line: each
//     waits for a link of Rate bits per second, then Delay (± Jitter), and
//     leaves in order from a timer of cfg.Clock; at most Queue frames
//     wait, later ones are dropped.
//
// Faults come from PCG generators seeded with cfg.Seed, so a run is
// reproducible for the same sequence of frames (and, with a delay, the
// same clock readings). Frames are copied before they are modified, so
// packets shared with a retransmit queue are never changed. A frame held
// back for reordering waits for the next frame in its direction, at most
// MaxReorderHold (a timer of cfg.Clock).
//
// Close releases every frame still held or delayed, and returns only
// when no timer callback is running. Errors of the device on delayed
// writes are lost, like frames a wire loses. Without a delay, passing a
// frame allocates nothing.
func NewFaulty(d Device, cfg FaultConfig) Device {
	f := &Faulty{dev: d}
	f.tx.rates, f.rx.rates = cfg.Tx, cfg.Rx
	f.tx.rng = rand.New(rand.NewPCG(cfg.Seed, 0x7478)) // "tx"
	f.rx.rng = rand.New(rand.NewPCG(cfg.Seed, 0x7278)) // "rx"
	if cfg.Mirror {
		f.rx.rng = rand.New(rand.NewPCG(cfg.Seed, 0x7478))
	}
	clock := cfg.Clock
	if clock == nil {
		clock = stack.RealClock{}
	}
	f.tx.clock, f.rx.clock = clock, clock
	f.tx.pass = func(p *stack.Packet) { _ = d.WriteFrame(p) }
	if cfg.Tx.delays() {
		f.tx.line = newDelayLine(&f.tx, clock, func(p *stack.Packet) { _ = d.WriteFrame(p) })
	}
	if cfg.Rx.delays() {
		f.rx.line = newDelayLine(&f.rx, clock, nil) // deliver is set by Attach
	}
	return f
}

// MTU is the underlying device's MTU.
func (f *Faulty) MTU() int { return f.dev.MTU() }

// TxStats and RxStats report the faults injected so far.
func (f *Faulty) TxStats() FaultStats { return f.tx.stats() }

// RxStats reports the faults injected into delivered frames.
func (f *Faulty) RxStats() FaultStats { return f.rx.stats() }

func (d *faultDir) stats() FaultStats {
	return FaultStats{d.lost.Load(), d.duplicated.Load(), d.reordered.Load(), d.corrupted.Load(), d.overflowed.Load()}
}

// Attach attaches the underlying device, delivering through the rx faults
// to disp.
func (f *Faulty) Attach(disp FrameDispatcher) {
	f.rx.mu.Lock()
	f.rx.pass = disp.DeliverFrame
	if l := f.rx.line; l != nil {
		l.deliver = disp.DeliverFrame
	}
	f.rx.mu.Unlock()
	f.dev.Attach(FrameDispatcherFunc(func(p *stack.Packet) {
		f.rx.apply(p, disp.DeliverFrame)
	}))
}

// WriteFrame sends p through the tx faults. It takes ownership of p. A
// lost or delayed frame is not an error (the wire has it); errors of the
// underlying device on frames passed on at once are returned, and
// stack.ErrClosed after Close.
func (f *Faulty) WriteFrame(p *stack.Packet) error {
	if f.closed.Load() {
		p.Release()
		return stack.ErrClosed
	}
	var err error
	f.tx.apply(p, func(q *stack.Packet) {
		if e := f.dev.WriteFrame(q); e != nil && err == nil {
			err = e
		}
	})
	return err
}

// Close closes the underlying device, stops the delay lines (waiting for a
// timer callback that is passing frames on) and releases held and delayed
// frames.
func (f *Faulty) Close() error {
	f.closed.Store(true)
	err := f.dev.Close()
	for _, d := range []*faultDir{&f.tx, &f.rx} {
		d.mu.Lock()
		d.stopped = true
		if d.holdT != nil {
			d.holdT.Stop()
		}
		if d.held != nil {
			d.held.Release()
			d.held = nil
		}
		if d.line != nil {
			d.line.stop()
		}
		d.mu.Unlock()
		d.inHold.Wait()
	}
	return err
}

// apply decides the faults for p and passes the resulting frames (none,
// one, or several) to send, in order, outside the lock, or into the delay
// line.
func (d *faultDir) apply(p *stack.Packet, send func(*stack.Packet)) {
	var out [3]*stack.Packet
	n := 0
	d.mu.Lock()
	// Draw every decision for every frame, so that the faults of one kind
	// do not shift the random sequence of the others.
	lose := d.rng.Float64() < d.rates.Loss
	corrupt := d.rng.Float64() < d.rates.Corrupt
	dup := d.rng.Float64() < d.rates.Duplicate
	reorder := d.rng.Float64() < d.rates.Reorder
	bit := d.rng.Uint64()
	switch {
	case lose:
		d.lost.Add(1)
		p.Release()
	default:
		if corrupt {
			if from, to := d.corruptible(p.Bytes()); to > from {
				p = copyFrame(p)
				nbits := uint64(to-from) * 8
				i := bit % nbits
				p.Bytes()[from+int(i/8)] ^= 1 << (i % 8)
				d.corrupted.Add(1)
			}
		}
		var dupe *stack.Packet
		if dup {
			dupe = copyFrame(p.Ref())
			d.duplicated.Add(1)
		}
		switch {
		case d.held != nil:
			out[n], n = p, n+1
			if dupe != nil {
				out[n], n = dupe, n+1
			}
			out[n], n = d.held, n+1
			d.held = nil
		case reorder:
			d.reordered.Add(1)
			d.held, d.heldAt = p, d.clock.Now()
			if d.holdT == nil {
				d.holdT = d.clock.AfterFunc(MaxReorderHold, d.releaseHeld)
			} else {
				d.holdT.Reset(MaxReorderHold)
			}
			if dupe != nil {
				out[n], n = dupe, n+1
			}
		default:
			out[n], n = p, n+1
			if dupe != nil {
				out[n], n = dupe, n+1
			}
		}
	}
	if d.line != nil {
		for _, q := range out[:n] {
			d.line.push(q)
		}
		d.mu.Unlock()
		return
	}
	d.mu.Unlock()
	for _, q := range out[:n] {
		send(q)
	}
}

// releaseHeld is holdT's callback: the held frame, once it has waited
// MaxReorderHold, leaves alone (a newer one held since waits out its
// own time).
func (d *faultDir) releaseHeld() {
	d.mu.Lock()
	p := d.held
	if p == nil || d.stopped {
		d.mu.Unlock()
		return
	}
	if wait := MaxReorderHold - d.clock.Now().Sub(d.heldAt); wait > 0 {
		d.holdT.Reset(wait)
		d.mu.Unlock()
		return
	}
	d.held = nil
	if d.line != nil {
		d.line.push(p)
		d.mu.Unlock()
		return
	}
	pass := d.pass
	d.inHold.Add(1)
	d.mu.Unlock()
	defer d.inHold.Done()
	if pass == nil {
		p.Release() // an rx frame before Attach: nobody to deliver it to
		return
	}
	pass(p)
}

// corruptible returns the byte range [from, to) of frame b that corruption
// may hit: with CorruptAll everything after the 14-byte Ethernet header;
// otherwise the IPv4 packet of an IPv4 frame (behind up to MaxVLANTags
// tags, without Ethernet padding when the total length says so), and an
// empty range for any other frame.
func (d *faultDir) corruptible(b []byte) (from, to int) {
	if d.rates.CorruptAll {
		return EthernetHeaderLen, len(b)
	}
	off := 12
	for tags := 0; ; tags++ {
		if len(b) < off+2 {
			return 0, 0
		}
		et := binary.BigEndian.Uint16(b[off:])
		if et == stack.EtherTypeIPv4 {
			break
		}
		if !IsVLANTPID(et) || tags == MaxVLANTags {
			return 0, 0
		}
		off += VLANTagLen
	}
	from, to = off+2, len(b)
	if len(b) >= from+4 {
		if tl := int(binary.BigEndian.Uint16(b[from+2:])); tl >= 20 && from+tl < to {
			to = from + tl
		}
	}
	return from, to
}
