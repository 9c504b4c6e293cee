package link

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tapstack/tapstack/stack"
)

// FaultRates are the probabilities (0 to 1) of each fault for one
// direction.
type FaultRates struct {
	// Loss drops the frame.
	Loss float64
	// Duplicate sends the frame twice.
	Duplicate float64
	// Reorder holds the frame back and sends it after the next one.
	Reorder float64
	// Corrupt flips one random bit after the Ethernet header.
	Corrupt float64
}

// FaultConfig configures NewFaulty.
type FaultConfig struct {
	// Seed seeds the PCG generators; the same seed and the same frames
	// give the same faults.
	Seed uint64
	// Tx applies to frames written to the device, Rx to frames it
	// delivers.
	Tx, Rx FaultRates
}

// ParseFaults parses a fault specification such as
// "loss=2%,duplicate=1%,reorder=1%,corrupt=0.1%,seed=7". A fault name
// alone sets both directions; prefixed with "tx." or "rx." it sets one
// ("rx.loss=5%"). Rates are percentages ("2%") or fractions ("0.02").
func ParseFaults(s string) (FaultConfig, error) {
	var c FaultConfig
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, val, ok := strings.Cut(item, "=")
		if !ok {
			return FaultConfig{}, fmt.Errorf("fault %q: want name=value, like loss=2%%", item)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if key == "seed" {
			n, err := strconv.ParseUint(val, 10, 64)
			if err != nil {
				return FaultConfig{}, fmt.Errorf("fault seed %q: want a non-negative integer", val)
			}
			c.Seed = n
			continue
		}
		dirs := []*FaultRates{&c.Tx, &c.Rx}
		if d, name, ok := strings.Cut(key, "."); ok {
			switch d {
			case "tx":
				dirs = dirs[:1]
			case "rx":
				dirs = dirs[1:]
			default:
				return FaultConfig{}, fmt.Errorf("fault %q: direction must be tx or rx", key)
			}
			key = name
		}
		switch key {
		case "loss", "duplicate", "reorder", "corrupt":
		default:
			return FaultConfig{}, fmt.Errorf("unknown fault %q (want loss, duplicate, reorder, corrupt or seed)", key)
		}
		rate, err := parseRate(val)
		if err != nil {
			return FaultConfig{}, fmt.Errorf("fault %s=%s: %v", key, val, err)
		}
		for _, r := range dirs {
			switch key {
			case "loss":
				r.Loss = rate
			case "duplicate":
				r.Duplicate = rate
			case "reorder":
				r.Reorder = rate
			case "corrupt":
				r.Corrupt = rate
			}
		}
	}
	return c, nil
}

// parseRate parses "2%" or "0.02" into 0.02.
func parseRate(s string) (float64, error) {
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("want a percentage like 2%% or a fraction like 0.02")
	}
	if pct {
		v /= 100
	}
	if v < 0 || v > 1 || v != v {
		return 0, fmt.Errorf("rate must be between 0%% and 100%%")
	}
	return v, nil
}

// FaultStats counts the faults a Faulty device injected in one direction.
type FaultStats struct {
	Lost, Duplicated, Reordered, Corrupted uint64
}

// Faulty is a Device decorator that injects faults; see NewFaulty.
type Faulty struct {
	dev    Device
	tx, rx faultDir
}

// faultDir is the state of one direction.
type faultDir struct {
	rates FaultRates
	mu    sync.Mutex
	rng   *rand.Rand
	held  *stack.Packet // a frame held back for reordering

	lost, duplicated, reordered, corrupted atomic.Uint64
}

// NewFaulty returns a Device that passes frames between d and its user
// while, in each direction independently and by the configured
// probabilities, dropping, duplicating, reordering (holding a frame back
// behind the next one) and corrupting (flipping a bit after the Ethernet
// header) them. Faults come from PCG generators seeded with cfg.Seed, so
// a run is reproducible for the same sequence of frames. Frames are copied
// before they are modified, so packets shared with a retransmit queue are
// never changed. A frame held back waits for the next frame in its
// direction (there is no timer: a quiet link keeps it until the next frame
// or Close, which releases it).
func NewFaulty(d Device, cfg FaultConfig) Device {
	f := &Faulty{dev: d}
	f.tx.rates, f.rx.rates = cfg.Tx, cfg.Rx
	f.tx.rng = rand.New(rand.NewPCG(cfg.Seed, 0x7478)) // "tx"
	f.rx.rng = rand.New(rand.NewPCG(cfg.Seed, 0x7278)) // "rx"
	return f
}

// MTU is the underlying device's MTU.
func (f *Faulty) MTU() int { return f.dev.MTU() }

// TxStats and RxStats report the faults injected so far.
func (f *Faulty) TxStats() FaultStats { return f.tx.stats() }

// RxStats reports the faults injected into delivered frames.
func (f *Faulty) RxStats() FaultStats { return f.rx.stats() }

func (d *faultDir) stats() FaultStats {
	return FaultStats{d.lost.Load(), d.duplicated.Load(), d.reordered.Load(), d.corrupted.Load()}
}

// Attach attaches the underlying device, delivering through the rx faults
// to disp.
func (f *Faulty) Attach(disp FrameDispatcher) {
	f.dev.Attach(FrameDispatcherFunc(func(p *stack.Packet) {
		f.rx.apply(p, disp.DeliverFrame)
	}))
}

// WriteFrame sends p through the tx faults. It takes ownership of p. A
// lost frame is not an error (the wire lost it); errors of the underlying
// device are returned.
func (f *Faulty) WriteFrame(p *stack.Packet) error {
	var err error
	f.tx.apply(p, func(q *stack.Packet) {
		if e := f.dev.WriteFrame(q); e != nil && err == nil {
			err = e
		}
	})
	return err
}

// Close closes the underlying device and releases held frames.
func (f *Faulty) Close() error {
	err := f.dev.Close()
	for _, d := range []*faultDir{&f.tx, &f.rx} {
		d.mu.Lock()
		if d.held != nil {
			d.held.Release()
			d.held = nil
		}
		d.mu.Unlock()
	}
	return err
}

// apply decides the faults for p and passes the resulting frames (none,
// one, or several) to send, in order, outside the lock.
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
		if corrupt && p.Len() > EthernetHeaderLen {
			p = copyFrame(p)
			nbits := uint64(p.Len()-EthernetHeaderLen) * 8
			i := bit % nbits
			p.Bytes()[EthernetHeaderLen+int(i/8)] ^= 1 << (i % 8)
			d.corrupted.Add(1)
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
			d.held = p
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
	d.mu.Unlock()
	for _, q := range out[:n] {
		send(q)
	}
}
