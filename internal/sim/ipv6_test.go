package sim

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/tcp"
)

var seeds6Flag = flag.Int("seeds6", 100, "number of simulation seeds TestSimIPv6 runs")

// TestSimIPv6 runs the TCP connections of TestSim's scenarios over IPv6
// (issue 14): two hosts on one wire (scenarios with a router run without
// it: the host does not forward IPv6 yet), fd00::1 and fd00::2, under the
// same loss, reordering, duplication, delay and corruption (which, with no
// IPv6 header checksum, may hit any byte after the Ethernet header; TCP's
// pseudo-header checksum must catch what matters). The hosts' own ipv6 and
// Neighbour Discovery carry it (the neighbours resolve each other over
// the same faulty wire); the test dials and listens with package tcp.
// MTUs below 1280 become 1280. No UDP: TestSim covers it over IPv4.
func TestSimIPv6(t *testing.T) {
	var failed []uint64
	n := *seeds6Flag
	list := make([]uint64, 0, n)
	if *seedFlag != "" {
		s, err := strconv.ParseUint(*seedFlag, 10, 64)
		if err != nil {
			t.Fatalf("-seed=%q: want a non-negative integer", *seedFlag)
		}
		list = append(list, s)
	} else {
		for i := range n {
			list = append(list, *startFlag+uint64(i))
		}
	}
	var bytes int64
	var corrupted, drops uint64
	for _, seed := range list {
		var res result
		ok := t.Run("seed="+strconv.FormatUint(seed, 10), func(t *testing.T) {
			res = runScenario(t, newScenario6(seed))
		})
		if !ok {
			failed = append(failed, seed)
			fmt.Fprintf(os.Stderr, "sim: IPv6 seed %d FAILED; replay: %s\n", seed, newScenario6(seed).replay())
			continue
		}
		bytes += res.bytes
		corrupted += res.faults.Corrupted
		drops += res.badChecksums
	}
	t.Logf("sim IPv6: %d seeds (%d failed); TCP payload %d MiB; %d frames corrupted, %d checksum drops", len(list), len(failed), bytes>>20, corrupted, drops)
	if len(failed) > 0 {
		t.Errorf("failed IPv6 seeds %v; replay the first with: %s", failed, newScenario6(failed[0]).replay())
	}
}

// newScenario6 is seed's scenario made an IPv6 one: one wire, an MTU of
// at least 1280, corruption of any byte, no UDP.
func newScenario6(seed uint64) *scenario {
	sc := newScenario(seed)
	sc.ipv6 = true
	sc.router = false
	sc.faults = sc.faults[:1]
	sc.mtu = max(sc.mtu, 1280)
	for i := range sc.faults[0] {
		sc.faults[0][i].Tx.CorruptAll = sc.faults[0][i].Tx.Corrupt > 0
		sc.faults[0][i].Rx.CorruptAll = sc.faults[0][i].Rx.Corrupt > 0
	}
	sc.udp = nil
	return sc
}

// replay is the one-line command that replays sc's seed.
func (sc *scenario) replay() string {
	if sc.ipv6 {
		return fmt.Sprintf("go test ./internal/sim -run 'TestSimIPv6$' -seed=%d -v", sc.seed)
	}
	return replayCommand(sc.seed)
}

// addIPv6 gives A and B fd00::1/64 and fd00::2/64 (their hosts run ipv6
// and Neighbour Discovery, which resolves each other's link address over
// the faulty wire) and makes them the addresses the connections use.
func addIPv6(t *testing.T, w *world) {
	for i, h := range []*host.Host{w.a, w.b} {
		if err := h.Stack().NICs()[0].AddAddress(netip.MustParsePrefix(fmt.Sprintf("fd00::%d/64", i+1))); err != nil {
			t.Fatalf("AddAddress: %v", err)
		}
	}
	w.aAddr, w.bAddr = netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
}

// listen listens on port of h: through the host over IPv4, on [::] with
// package tcp over IPv6.
func (w *world) listen(h *host.Host, port uint16) (net.Listener, error) {
	if w.aAddr.Is6() {
		return tcp.Listen(h.Stack(), netip.AddrPortFrom(netip.IPv6Unspecified(), port))
	}
	return h.Listen("tcp", ":"+strconv.Itoa(int(port)))
}

// dial dials ap from h: through the host over IPv4, with package tcp over
// IPv6.
func (w *world) dial(h *host.Host, ap netip.AddrPort) (net.Conn, error) {
	if ap.Addr().Is6() {
		c, err := tcp.Dial(context.Background(), h.Stack(), ap)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	return h.DialContext(context.Background(), "tcp", ap.String())
}
