package sim

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/tapstack/tapstack/link"
)

// closeMode is how the two ends of a connection exchange data and close.
type closeMode int

const (
	// modeDuplex: both ends write concurrently, CloseWrite, read to EOF,
	// then Close.
	modeDuplex closeMode = iota
	// modeRequestResponse: the dialer writes and half-closes, the acceptor
	// reads to EOF, answers and closes; the dialer reads to EOF, closes.
	modeRequestResponse
	// modeServerFirst: the acceptor writes and half-closes first; the
	// dialer reads to EOF, then writes and closes.
	modeServerFirst
	// modeSimultaneous: both ends write and read exactly the planned
	// amounts concurrently, then both Close without a half-close, so
	// their FINs cross (CLOSING) more often than not.
	modeSimultaneous
	numModes
)

func (m closeMode) String() string {
	return [...]string{"duplex", "request-response", "server-first", "simultaneous"}[m]
}

// connPlan is one TCP connection of a scenario.
type connPlan struct {
	aDials     bool          // host A dials host B (else B dials A)
	up, down   int           // bytes dialer→acceptor and acceptor→dialer
	mode       closeMode     // exchange and close order
	delay      time.Duration // virtual time before the dial
	wmax, rmax int           // largest Write and Read sizes
	port       uint16        // the acceptor's listening port
}

// scenario is everything a seed decides.
type scenario struct {
	seed   uint64
	router bool // A — R — B with R forwarding, instead of A — B
	mtu    int
	rcvBuf int // TCP receive buffer (0: default)
	sndBuf int // TCP send buffer (0: default)
	// faults[w] are the fault configs of the two ends of wire w
	// (the end nearer A first).
	faults [][2]link.FaultConfig
	conns  []connPlan
	udp    []int // UDP datagram sizes, A → B echo → A
	// ipv6 runs the TCP connections over IPv6 (TestSimIPv6).
	ipv6 bool
}

// Limits of the random draws.
const (
	maxLoss      = 0.10
	maxReorder   = 0.10
	maxDuplicate = 0.05
	maxCorrupt   = 0.03
	maxConns     = 8
	maxBytes     = 300 << 10
)

// newScenario draws the scenario of seed. The same seed always gives the
// same scenario.
func newScenario(seed uint64) *scenario {
	r := rand.New(rand.NewPCG(seed, 0x73696d)) // "sim"
	sc := &scenario{seed: seed}
	sc.router = r.IntN(4) == 0
	sc.mtu = []int{1500, 1500, 1500, 1280, 576, 9000}[r.IntN(6)]
	if r.IntN(3) == 0 {
		sc.rcvBuf = []int{4 << 10, 16 << 10, 64 << 10}[r.IntN(3)]
	}
	if r.IntN(3) == 0 {
		sc.sndBuf = []int{4 << 10, 16 << 10, 64 << 10}[r.IntN(3)]
	}
	wires := 1
	if sc.router {
		wires = 2
	}
	// Which fault kinds this seed uses: each with probability 3/4, so
	// every kind appears alone and in every combination across seeds.
	kinds := r.IntN(16)
	if r.IntN(4) != 0 {
		kinds = 15
	}
	// With a router, only one wire corrupts: two independent bit flips in
	// one packet cancel in the Internet checksum when they hit the same
	// bit position (mod 16) in opposite directions, about 1 in 32 of
	// doubly corrupted packets, which a real link's CRC would have caught.
	corruptWire := r.IntN(wires)
	for w := 0; w < wires; w++ {
		var pair [2]link.FaultConfig
		for i := range pair {
			pair[i].Seed = r.Uint64()
		}
		// Each direction's faults sit on the sender's Tx or on the
		// receiver's Rx, by a coin flip.
		for dir := 0; dir < 2; dir++ {
			rates := link.FaultRates{}
			if kinds&1 != 0 {
				// Loss is end to end: with a router each wire gets
				// a share, so a path never loses more than maxLoss.
				rates.Loss = r.Float64() * maxLoss / float64(wires)
			}
			if kinds&2 != 0 {
				rates.Reorder = r.Float64() * maxReorder
			}
			if kinds&4 != 0 {
				rates.Duplicate = r.Float64() * maxDuplicate
			}
			if kinds&8 != 0 && w == corruptWire {
				rates.Corrupt = r.Float64() * maxCorrupt
			}
			// Delay and rate come from a generator of their own, so
			// adding them left every earlier seed's other faults as
			// they were: half the directions get a delay with
			// jitter, half a bandwidth limit.
			dr := rand.New(rand.NewPCG(seed, uint64(w*2+dir)))
			if dr.IntN(2) == 0 {
				rates.Delay = time.Duration(dr.Int64N(int64(5 * time.Millisecond)))
				rates.Jitter = time.Duration(dr.Int64N(int64(time.Millisecond)))
			} else {
				rates.Rate = []uint64{10e6, 100e6, 1e9}[dr.IntN(3)]
			}
			if r.IntN(2) == 0 {
				pair[dir].Tx = rates
			} else {
				pair[1-dir].Rx = rates
			}
		}
		sc.faults = append(sc.faults, pair)
	}
	n := 1 + r.IntN(maxConns)
	for i := 0; i < n; i++ {
		c := connPlan{
			aDials: r.IntN(3) != 0,
			up:     drawSize(r),
			down:   drawSize(r),
			mode:   closeMode(r.IntN(int(numModes))),
			delay:  time.Duration(r.IntN(2000)) * time.Millisecond,
			wmax:   1 + r.IntN(64<<10),
			rmax:   1 + r.IntN(64<<10),
			port:   uint16(5000 + i),
		}
		sc.conns = append(sc.conns, c)
	}
	nudp := r.IntN(12)
	for i := 0; i < nudp; i++ {
		size := 1 + r.IntN(1400)
		if r.IntN(4) == 0 {
			size = 1 + r.IntN(8000) // fragmented by IPv4
		}
		sc.udp = append(sc.udp, max(size, 8))
	}
	return sc
}

// drawSize picks a transfer size: empty, tiny, medium or large.
func drawSize(r *rand.Rand) int {
	switch r.IntN(8) {
	case 0:
		return 0
	case 1, 2:
		return 1 + r.IntN(2000)
	case 3, 4, 5:
		return 1 + r.IntN(64<<10)
	default:
		return 1 + r.IntN(maxBytes)
	}
}

// String is a one-paragraph description of the scenario for failure logs.
func (sc *scenario) String() string {
	var b strings.Builder
	topo := "A—B"
	if sc.router {
		topo = "A—R—B"
	}
	if sc.ipv6 {
		topo += " over IPv6"
	}
	fmt.Fprintf(&b, "seed %d: %s mtu %d rcvbuf %d sndbuf %d\n", sc.seed, topo, sc.mtu, sc.rcvBuf, sc.sndBuf)
	for w, pair := range sc.faults {
		for i, fc := range pair {
			fmt.Fprintf(&b, "  wire %d end %d: tx %s rx %s\n", w, i, rates(fc.Tx), rates(fc.Rx))
		}
	}
	for i, c := range sc.conns {
		who := "A→B"
		if !c.aDials {
			who = "B→A"
		}
		fmt.Fprintf(&b, "  conn %d %s %s up %d down %d delay %v wmax %d rmax %d\n", i, who, c.mode, c.up, c.down, c.delay, c.wmax, c.rmax)
	}
	fmt.Fprintf(&b, "  udp %v", sc.udp)
	return b.String()
}

func rates(r link.FaultRates) string {
	return fmt.Sprintf("loss %.1f%% reorder %.1f%% dup %.1f%% corrupt %.1f%% delay %v±%v rate %dbit/s",
		100*r.Loss, 100*r.Reorder, 100*r.Duplicate, 100*r.Corrupt, r.Delay, r.Jitter, r.Rate)
}

// faultless reports whether no wire of the scenario loses, reorders,
// duplicates or corrupts frames (delay and rate limits lose nothing).
func (sc *scenario) faultless() bool {
	lossless := func(r link.FaultRates) bool {
		r.Delay, r.Jitter, r.Rate = 0, 0, 0
		return r == link.FaultRates{}
	}
	for _, pair := range sc.faults {
		for _, fc := range pair {
			if !lossless(fc.Tx) || !lossless(fc.Rx) {
				return false
			}
		}
	}
	return true
}

// corrupts reports whether some wire of the scenario corrupts frames.
func (sc *scenario) corrupts() bool {
	for _, pair := range sc.faults {
		for _, fc := range pair {
			if fc.Tx.Corrupt > 0 || fc.Rx.Corrupt > 0 {
				return true
			}
		}
	}
	return false
}
