package sim

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tcp"
)

var (
	seedsFlag = flag.Int("seeds", 300, "number of simulation seeds TestSim runs")
	seedFlag  = flag.String("seed", "", "run only this simulation seed (replay)")
	startFlag = flag.Uint64("start", 1, "first simulation seed")
	boundFlag = flag.Duration("bound", 10*time.Minute, "virtual time within which every connection must finish")
)

// replayCommand is the one-line command that replays seed.
func replayCommand(seed uint64) string {
	return fmt.Sprintf("go test ./internal/sim -run 'TestSim$' -seed=%d -v", seed)
}

// seeds returns the seeds the flags select.
func seeds(t *testing.T) []uint64 {
	if *seedFlag != "" {
		s, err := strconv.ParseUint(*seedFlag, 10, 64)
		if err != nil {
			t.Fatalf("-seed=%q: want a non-negative integer", *seedFlag)
		}
		return []uint64{s}
	}
	out := make([]uint64, 0, *seedsFlag)
	for i := 0; i < *seedsFlag; i++ {
		out = append(out, *startFlag+uint64(i))
	}
	return out
}

// result is what one seed measured.
type result struct {
	maxConn      time.Duration // slowest connection, dial to both ends done
	closed       time.Duration // start to every connection gone (TIME_WAIT expired)
	retransmits  uint64        // TCP retransmissions, all hosts
	rtoExpired   uint64        // retransmission timeouts, all hosts
	faults       link.FaultStats
	bytes        int64 // TCP payload moved (both ways)
	udpSent      int
	udpEchoed    int
	badChecksums uint64 // checksum failures counted by ipv4/tcp/udp
	redials      int    // dials repeated after EHOSTUNREACH (ARP failed)
}

// TestSim runs one simulation per seed (see package doc). Seeds run one
// after another: stack.LivePackets is global.
func TestSim(t *testing.T) {
	var worst result
	var worstConnSeed, worstRtxSeed uint64
	var total link.FaultStats
	var failed []uint64
	start := time.Now()
	list := seeds(t)
	for _, seed := range list {
		var res result
		ok := t.Run("seed="+strconv.FormatUint(seed, 10), func(t *testing.T) {
			res = runSeed(t, seed)
		})
		if !ok {
			failed = append(failed, seed)
			fmt.Fprintf(os.Stderr, "sim: seed %d FAILED; replay: %s\n", seed, replayCommand(seed))
			continue
		}
		if res.maxConn > worst.maxConn {
			worst.maxConn, worstConnSeed = res.maxConn, seed
		}
		if res.retransmits > worst.retransmits {
			worst.retransmits, worstRtxSeed = res.retransmits, seed
		}
		worst.rtoExpired = max(worst.rtoExpired, res.rtoExpired)
		worst.closed = max(worst.closed, res.closed)
		total.Lost += res.faults.Lost
		total.Duplicated += res.faults.Duplicated
		total.Reordered += res.faults.Reordered
		total.Corrupted += res.faults.Corrupted
		worst.bytes += res.bytes
		worst.badChecksums += res.badChecksums
		worst.udpSent += res.udpSent
		worst.udpEchoed += res.udpEchoed
		worst.redials += res.redials
	}
	summary := fmt.Sprintf("sim: %d seeds (%d failed) in %v wall; TCP payload %d MiB; faults injected: %d lost, %d duplicated, %d reordered, %d corrupted (%d checksum drops); UDP %d sent, %d echoed; %d redials after EHOSTUNREACH/ETIMEDOUT; worst connection %v virtual (seed %d); worst retransmissions %d (seed %d), worst RTO expiries %d; longest run to all-closed %v virtual",
		len(list), len(failed), time.Since(start).Round(time.Millisecond), worst.bytes>>20,
		total.Lost, total.Duplicated, total.Reordered, total.Corrupted, worst.badChecksums,
		worst.udpSent, worst.udpEchoed, worst.redials,
		worst.maxConn.Round(time.Millisecond), worstConnSeed, worst.retransmits, worstRtxSeed, worst.rtoExpired,
		worst.closed.Round(time.Millisecond))
	summary += fmt.Sprintf("; %d UDP datagrams corrupted undetectably (flips cancelling in the Internet checksum)", collisions.Load())
	t.Log(summary)
	if path := os.Getenv("TAPSTACK_SIM_SUMMARY"); path != "" {
		os.WriteFile(path, []byte(summary+"\n"), 0o644)
	}
	if len(failed) > 0 {
		list := fmt.Sprint(failed)
		if len(failed) > 20 {
			list = fmt.Sprint(failed[:20]) + "..."
		}
		t.Errorf("%d failed seeds: %s; replay the first with: %s", len(failed), list, replayCommand(failed[0]))
	}
}

// runSeed runs the scenario of seed in a synctest bubble and checks it.
func runSeed(t *testing.T, seed uint64) (res result) {
	return runScenario(t, newScenario(seed))
}

// runScenario is runSeed for a scenario already drawn (TestSimIPv6
// changes it).
func runScenario(t *testing.T, sc *scenario) (res result) {
	seed := sc.seed
	t.Logf("%s", sc)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay: %s", sc.replay())
		}
	})
	live := stack.LivePackets()
	func() {
		defer func() {
			if r := recover(); r != nil {
				fmt.Fprintf(os.Stderr, "sim: seed %d panicked; replay: %s\n", seed, sc.replay())
				panic(r)
			}
		}()
		synctest.Test(t, func(t *testing.T) { res = run(t, sc) })
	}()
	if n := stack.LivePackets(); n != live {
		t.Errorf("packet leak: %d packets live after the run, %d before", n, live)
	}
	return res
}

// world is the hosts and wires of a scenario.
type world struct {
	a, b   *host.Host
	all    []*host.Host
	faulty []*link.Faulty
	aAddr  netip.Addr
	bAddr  netip.Addr
}

func mac(i byte) stack.MAC { return stack.MAC{0x02, 0, 0, 0, 0, i} }

// build makes the hosts of sc. It must run inside the bubble, so that
// every goroutine and timer of the stacks belongs to it.
func build(t *testing.T, sc *scenario) *world {
	w := &world{}
	tcpOpts := tcp.Options{ReceiveBufferSize: sc.rcvBuf, SendBufferSize: sc.sndBuf}
	wire := func(i int) (a, b link.Device) {
		x, y := link.Pipe(sc.mtu)
		fa := link.NewFaulty(x, sc.faults[i][0]).(*link.Faulty)
		fb := link.NewFaulty(y, sc.faults[i][1]).(*link.Faulty)
		w.faulty = append(w.faulty, fa, fb)
		return fa, fb
	}
	newHost := func(cfg host.Config) *host.Host {
		cfg.TCP = tcpOpts
		// TCP's secrets (ISNs, cookies) and ephemeral ports come from
		// the seed, so a replay makes the same choices.
		cfg.TCP.Rand = rand.NewChaCha8([32]byte{byte(sc.seed), byte(sc.seed >> 8), byte(sc.seed >> 16), byte(sc.seed >> 24), byte(len(w.all))})
		h, err := host.New(cfg)
		if err != nil {
			t.Fatalf("host.New: %v", err)
		}
		w.all = append(w.all, h)
		return h
	}
	if !sc.router {
		da, db := wire(0)
		w.aAddr, w.bAddr = netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
		w.a = newHost(host.Config{Interfaces: []host.Interface{{Device: da, MAC: mac(1), Addr: netip.MustParsePrefix("10.0.0.1/24")}}})
		w.b = newHost(host.Config{Interfaces: []host.Interface{{Device: db, MAC: mac(2), Addr: netip.MustParsePrefix("10.0.0.2/24")}}})
		if sc.ipv6 {
			addIPv6(t, w)
		}
		return w
	}
	da, ra := wire(0)
	rb, db := wire(1)
	w.aAddr, w.bAddr = netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("10.2.0.2")
	w.a = newHost(host.Config{
		Interfaces: []host.Interface{{Device: da, MAC: mac(1), Addr: netip.MustParsePrefix("10.1.0.2/24")}},
		Gateway:    netip.MustParseAddr("10.1.0.1"),
	})
	newHost(host.Config{
		Interfaces: []host.Interface{
			{Device: ra, MAC: mac(3), Addr: netip.MustParsePrefix("10.1.0.1/24")},
			{Device: rb, MAC: mac(4), Addr: netip.MustParsePrefix("10.2.0.1/24")},
		},
		IPv4: ipv4.Options{Forwarding: true},
	})
	w.b = newHost(host.Config{
		Interfaces: []host.Interface{{Device: db, MAC: mac(2), Addr: netip.MustParsePrefix("10.2.0.2/24")}},
		Gateway:    netip.MustParseAddr("10.2.0.1"),
	})
	return w
}

// run is the body of one seed, inside the bubble.
func run(t *testing.T, sc *scenario) (res result) {
	begin := time.Now()
	received0 := received.Load()
	var redials atomic.Int64
	w := build(t, sc)
	closed := false
	defer func() {
		if t.Failed() {
			t.Logf("counters:\n%s", counterTable(w))
		}
		if !closed {
			for _, h := range w.all {
				h.Close()
			}
		}
	}()

	var (
		mu      sync.Mutex
		aborted bool // after the watchdog: errors are expected, not reported
		apps    sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		quiet := aborted
		mu.Unlock()
		if !quiet {
			t.Errorf(format, args...)
		}
	}
	// Virtual times of each connection: dial, and the end of each side.
	dialStart := make([]time.Time, len(sc.conns))
	dialEnd := make([]time.Time, len(sc.conns))
	accEnd := make([]time.Time, len(sc.conns))
	for i := range sc.conns {
		c := &sc.conns[i]
		dialer, acceptor, dst := w.a, w.b, w.bAddr
		if !c.aDials {
			dialer, acceptor, dst = w.b, w.a, w.aAddr
		}
		l, err := w.listen(acceptor, c.port)
		if err != nil {
			t.Fatalf("conn %d: listen: %v", i, err)
		}
		apps.Add(2)
		go func() { // acceptor
			defer apps.Done()
			defer func() { accEnd[i] = time.Now() }()
			conn, err := l.Accept()
			l.Close()
			if err != nil {
				fail("conn %d: accept: %v", i, err)
				return
			}
			if err := exchange(conn, sc.seed, i, false, c); err != nil {
				fail("conn %d (%s) acceptor: %v", i, c.mode, err)
			}
		}()
		go func() { // dialer
			defer apps.Done()
			time.Sleep(c.delay)
			dialStart[i] = time.Now()
			defer func() { dialEnd[i] = time.Now() }()
			// Like an application, dial again when ARP found no one:
			// the requests or replies may all have been lost (Linux
			// fails the connect with EHOSTUNREACH the same way).
			for attempt := 0; ; attempt++ {
				var conn net.Conn
				var err error
				for try := 0; ; try++ {
					conn, err = w.dial(dialer, netip.AddrPortFrom(dst, c.port))
					retry := errors.Is(err, syscall.EHOSTUNREACH) && try < 10
					// A corrupted ARP reply (ARP has no checksum; a real
					// link's CRC would drop it) can point the cache at a
					// wrong MAC until NUD notices: the SYNs may all go
					// there. One more dial resolves afresh.
					retry = retry || errors.Is(err, syscall.ETIMEDOUT) && try < 1
					if err == nil || !retry {
						break
					}
					redials.Add(1)
					time.Sleep(time.Second)
				}
				if err != nil {
					fail("conn %d: dial: %v", i, err)
					l.Close() // so that the acceptor ends
					return
				}
				rc := &readCounter{Conn: conn}
				if c.mode == modeServerFirst {
					// When every ACK that completes the handshake is lost
					// (seed 2470: four of them, and the last SYN-ACK), the
					// dialer is ESTABLISHED and waits for the acceptor's
					// data, while the acceptor's half-open connection has
					// timed out (RFC 9293's half-open connection: Linux
					// also drops it without a RST). An application of a
					// server-first protocol learns it from keepalive: the
					// acceptor's listener answers the probe with a RST,
					// and the dialer dials again.
					kc := conn.(keepAliver)
					kc.SetKeepAlive(true)
					kc.SetKeepAlivePeriod(30 * time.Second)
				}
				err = exchange(rc, sc.seed, i, true, c)
				if err != nil && c.mode == modeServerFirst && rc.n.Load() == 0 && errors.Is(err, syscall.ECONNRESET) && attempt < 3 {
					redials.Add(1)
					continue
				}
				if err != nil {
					fail("conn %d (%s) dialer: %v", i, c.mode, err)
				}
				return
			}
		}()
	}
	var udpSent, udpEchoed int
	if len(sc.udp) > 0 {
		apps.Add(1)
		go func() {
			defer apps.Done()
			// After the TCP handshakes (delays < 2s) have resolved the
			// neighbours: ARP queues only 3 packets per next hop, fewer
			// than the fragments of a large datagram.
			time.Sleep(3 * time.Second)
			var err error
			udpSent, udpEchoed, err = udpExchange(w, sc)
			if err != nil {
				fail("udp: %v", err)
			}
		}()
	}

	done := make(chan struct{})
	go func() { apps.Wait(); close(done) }()
	watchdog := time.NewTimer(*boundFlag)
	select {
	case <-done:
		watchdog.Stop()
	case <-watchdog.C:
		t.Errorf("not finished after %v of virtual time; connections:\n%s", *boundFlag, connTable(w))
		mu.Lock()
		aborted = true
		mu.Unlock()
		t.Logf("counters:\n%s", counterTable(w))
		for _, h := range w.all {
			h.Close()
		}
		closed = true
		<-done
		return res
	}
	for i := range sc.conns {
		end := dialEnd[i]
		if accEnd[i].After(end) {
			end = accEnd[i]
		}
		d := end.Sub(dialStart[i])
		if d > *boundFlag {
			t.Errorf("conn %d took %v of virtual time (bound %v)", i, d, *boundFlag)
		}
		res.maxConn = max(res.maxConn, d)
	}

	// Every closing handshake completes and TIME_WAIT expires: in the end
	// only listeners are left (none: each was closed after its Accept).
	deadline := time.Now().Add(*boundFlag)
	for !allClosed(w) {
		if time.Now().After(deadline) {
			t.Errorf("connections still open %v after the applications finished:\n%s", *boundFlag, connTable(w))
			break
		}
		time.Sleep(time.Second)
	}
	res.closed = time.Since(begin)

	for _, h := range w.all {
		cs := h.Stack().Counters()
		res.retransmits += cs.Value("tcp.tx.retransmits")
		res.rtoExpired += cs.Value("tcp.timer.rto_expired")
		res.badChecksums += cs.Value("tcp.rx.bad_checksum") + cs.Value("udp.rx.bad_checksum") + cs.Value("ipv4.rx.bad_checksum")
	}
	for _, f := range w.faulty {
		for _, s := range []link.FaultStats{f.TxStats(), f.RxStats()} {
			res.faults.Lost += s.Lost
			res.faults.Duplicated += s.Duplicated
			res.faults.Reordered += s.Reordered
			res.faults.Corrupted += s.Corrupted
		}
	}
	var want int64
	for _, c := range sc.conns {
		want += int64(c.up + c.down)
	}
	if got := received.Load() - received0; got != want {
		t.Errorf("%d bytes of TCP payload verified, want %d", got, want)
	}
	res.bytes = want
	res.udpSent, res.udpEchoed = udpSent, udpEchoed
	res.redials = int(redials.Load())
	if sc.faultless() && udpEchoed != udpSent {
		t.Errorf("UDP: %d of %d datagrams echoed on a link without faults", udpEchoed, udpSent)
	}
	t.Logf("virtual: slowest connection %v, all closed after %v; retransmits %d, RTO expiries %d; faults %+v; UDP %d/%d echoed; %d redials",
		res.maxConn, res.closed, res.retransmits, res.rtoExpired, res.faults, udpEchoed, udpSent, res.redials)

	for _, h := range w.all {
		if err := h.Close(); err != nil {
			t.Errorf("host close: %v", err)
		}
	}
	closed = true
	return res
}

// allClosed reports whether no host has a connection left.
func allClosed(w *world) bool {
	for _, h := range w.all {
		if len(h.TCP().Connections()) > 0 {
			return false
		}
	}
	return true
}

// connTable lists every host's connections for a failure message.
func connTable(w *world) string {
	var b bytes.Buffer
	for i, h := range w.all {
		for _, c := range h.TCP().Connections() {
			fmt.Fprintf(&b, "  host %d: %v → %v %s recvq %d sendq %d\n", i, c.Local, c.Remote, c.State, c.RecvQueue, c.SendQueue)
		}
	}
	return b.String()
}

// counterTable lists every host's non-zero counters for a failure message.
func counterTable(w *world) string {
	var b bytes.Buffer
	for i, h := range w.all {
		fmt.Fprintf(&b, "  host %d:", i)
		for _, c := range h.Stack().Counters().Snapshot() {
			if c.Value != 0 {
				fmt.Fprintf(&b, " %s=%d", c.Name, c.Value)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
