package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/netnstest"
)

// The off-path topology of issue 13, acceptance 1:
//
//	nsV: eth0 10.0.0.10/24 ─veth─ v0 ┐
//	                                 br0 10.0.0.1/24 ── tap0 [tapstack 10.0.0.2, echo :7]
//	nsX: eth0 10.0.0.20/24 ─veth─ x0 ┘                 (in nsB)
//
// The victim (Linux, nsV) holds echo connections to tapstack. The attacker
// (testdata/offpath_attack.py, nsX) has a port of its own on the same
// bridge: the bridge forwards unicast frames only to the port that has
// the destination MAC, so the attacker never sees the victim's segments.
// It knows the victim's address pair, spoofs the victim's IPv4 source (with
// its own MAC) and keeps a connection of its own to the same echo service.
type offpathTopo struct {
	b, victim, attacker *netnstest.NS
}

const (
	offpathServerMAC = "02:00:00:00:00:02"
	offpathVictim    = "10.0.0.10"
	offpathAttacker  = "10.0.0.20"
	offpathScript    = "testdata/offpath_attack.py"
)

// needScapy skips t unless /usr/bin/python3 can import scapy.
func needScapy(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("/usr/bin/python3", "-c", "import scapy").CombinedOutput(); err != nil {
		t.Skipf("needs python3-scapy (make deps installs it): %v %s", err, out)
	}
}

func newOffpathTopo(t *testing.T) *offpathTopo {
	t.Helper()
	needTools(t, "ip")
	needScapy(t)
	tp := &offpathTopo{b: bridgeNS(t), victim: netnstest.New(t), attacker: netnstest.New(t)}
	run := func(ns *netnstest.NS, args ...string) {
		t.Helper()
		if _, err := ns.Output(args[0], args[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	for _, side := range []struct {
		ns         *netnstest.NS
		port, addr string
	}{{tp.victim, "v0", offpathVictim}, {tp.attacker, "x0", offpathAttacker}} {
		run(side.ns, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", side.port, "netns", tp.b.Name())
		run(side.ns, "ip", "addr", "add", side.addr+"/24", "dev", "eth0")
		run(side.ns, "ip", "link", "set", "eth0", "up")
		run(tp.b, "ip", "link", "set", side.port, "master", "br0")
		run(tp.b, "ip", "link", "set", side.port, "up")
	}
	startCommand(t, tp.b, "--mac", offpathServerMAC)
	return tp
}

// victimConn is one of the victim's echo connections.
type victimConn struct {
	mu    sync.Mutex
	c     net.Conn
	name  string // local address:port, what the attacker is told
	lines int
}

// dialVictim connects the victim to tapstack's echo and checks one echo.
func dialVictim(t *testing.T, tp *offpathTopo) *victimConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := linuxDial(ctx, tp.victim, "tcp4", hostAddr+":7")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	v := &victimConn{c: c, name: c.LocalAddr().String()}
	if err := v.exchange("hello"); err != nil {
		t.Fatal(err)
	}
	return v
}

// exchange writes one line and checks that exactly it comes back.
func (v *victimConn) exchange(tag string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.lines++
	line := fmt.Sprintf("victim %s line %d (%s): the quick brown fox\n", v.name, v.lines, tag)
	v.c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(v.c, line); err != nil {
		return fmt.Errorf("victim %s: write: %w", v.name, err)
	}
	got := make([]byte, len(line))
	n, err := io.ReadFull(v.c, got)
	if err != nil {
		return fmt.Errorf("victim %s: echo of %q: got %q, then %w", v.name, line, got[:n], err)
	}
	if string(got) != line {
		return fmt.Errorf("victim %s: echo stream not byte-exact: sent %q, got %q", v.name, line, got)
	}
	return nil
}

// runAttacker runs the attacker script in its namespace with a bound and
// returns its JSON events; each line is logged as it comes.
func runAttacker(t *testing.T, tp *offpathTopo, bound time.Duration, args ...string) []map[string]any {
	t.Helper()
	script, err := filepath.Abs(offpathScript)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	args = append([]string{"netns", "exec", tp.attacker.Name(), "/usr/bin/python3", script}, args...)
	args = append(args, "--iface", "eth0", "--server", hostAddr, "--server-mac", offpathServerMAC, "--port", "7", "--verbose")
	cmd := exec.CommandContext(ctx, "ip", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var events []map[string]any
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Errorf("attacker printed %q", sc.Text())
			continue
		}
		t.Logf("attacker: %s", sc.Text())
		events = append(events, ev)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("attacker: %v after %v; stderr:\n%s", err, time.Since(start).Round(time.Second), stderr.String())
	}
	if s := stderr.String(); s != "" {
		t.Logf("attacker stderr:\n%s", s)
	}
	// Frames the TAP's queue dropped make the attacker's counts noisy.
	if out, err := tp.b.Output("ip", "-s", "link", "show", "tap0"); err == nil {
		t.Logf("after the attacker: %s", strings.Join(strings.Fields(out), " "))
	}
	return events
}

// challengeEvents sums the challenge-ACK counters of a status page: those
// sent, and those a rate limit or cap suppressed (whatever the limits are
// called), i.e. how many segments asked for a challenge ACK.
func challengeEvents(status string) int64 {
	var n int64
	for _, line := range strings.Split(status, "\n") {
		if f := strings.Fields(line); len(f) == 2 && strings.HasPrefix(f[0], "tcp.tx.challenge_acks") {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			n += v
		}
	}
	return n
}

// ownRSTs is the number of RSTs the attacker sent on its own connection
// (from its end event): each asks for a challenge ACK.
func ownRSTs(t *testing.T, events []map[string]any) int64 {
	t.Helper()
	for _, ev := range events {
		if ev["event"] == "end" {
			return int64(ev["own_rsts"].(float64))
		}
	}
	t.Fatal("the attacker printed no end event")
	return 0
}

func statusPage(t *testing.T, tp *offpathTopo) string {
	t.Helper()
	out, err := tp.b.Output(binary(t), "status")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// victimSeq connects the victim with a raw socket on its interface open,
// and returns the connection and the victim's next sequence number, which
// is tapstack's RCV.NXT for it: the test knows what the off-path attacker
// must guess.
func victimSeq(t *testing.T, tp *offpathTopo) (*victimConn, uint32) {
	t.Helper()
	raw := openRaw(t, tp.victim, "eth0")
	v := dialVictim(t, tp)
	local := netip.MustParseAddrPort(v.name)
	var seq uint32
	found := false
	for _, f := range raw.drain() { // the echo was read: its segment is queued here
		p, ok := parseL4(f.data)
		if ok && !f.out && p.proto == 6 && p.dst == local && p.src.Port() == 7 && p.flags&0x10 != 0 {
			seq, found = p.ack, true
		}
	}
	if !found {
		t.Fatal("no segment from tapstack to the victim seen on the victim's interface")
	}
	return v, seq
}

// TestOffPathChallengeACKSideChannel measures the leak of CVE-2016-5696
// directly (issue 13, acceptance 1). In each of 3 pairs of seconds the
// attacker sends 1,200 in-window RSTs on its own connection and counts the
// challenge ACKs it gets; in the second of each pair it first sends 500
// spoofed in-window (not exact) RSTs for the victim's connection. With
// one stack-wide budget of challenge ACKs per second, each of those costs
// the attacker one: its count drops by 500, which is how it learns that
// its guesses hit the victim's window. What a connection answers must
// depend only on what arrives for it: the spoofed seconds may cost the
// attacker at most one challenge ACK each (a lost frame), not 500.
func TestOffPathChallengeACKSideChannel(t *testing.T) {
	const rounds, spoof = 3, 500
	tp := newOffpathTopo(t)
	v, seq := victimSeq(t, tp)
	before := challengeEvents(statusPage(t, tp))
	events := runAttacker(t, tp, 90*time.Second, "sidechannel", "--victim", v.name,
		"--victim-seq", strconv.FormatUint(uint64(seq), 10), "--spoof", strconv.Itoa(spoof), "--rounds", strconv.Itoa(rounds))
	after := challengeEvents(statusPage(t, tp))

	var unspoofed, spoofed []int
	for _, ev := range events {
		if ev["event"] == "round" {
			unspoofed = append(unspoofed, int(ev["unspoofed"].(float64)))
			spoofed = append(spoofed, int(ev["spoofed"].(float64)))
		}
	}
	victimEvents := after - before - ownRSTs(t, events)
	if len(unspoofed) != rounds {
		t.Fatalf("attacker reported %d rounds, want %d", len(unspoofed), rounds)
	}
	t.Logf("challenge ACKs on the attacker's connection per second: %v without, %v with %d spoofed RSTs for the victim; %d segments for the victim's connection asked for one",
		unspoofed, spoofed, spoof, victimEvents)
	// The measurement is real: the attacker's own RSTs reach the host
	// and are answered, and the spoofed ones reach the victim's
	// connection (the status page counts every segment that asked for a
	// challenge ACK, sent or suppressed).
	for i, u := range unspoofed {
		if u < 1 {
			t.Errorf("round %d: the attacker's %d RSTs drew no challenge ACK: no measurement", i, 1200)
		}
	}
	if victimEvents < rounds*spoof/2 { // most of them, whatever the TAP's queue drops
		t.Errorf("only %d segments besides the attacker's own RSTs asked for a challenge ACK: the %d spoofed RSTs did not reach the victim's connection", victimEvents, rounds*spoof)
	}
	sumU, sumS := 0, 0
	for i := range unspoofed {
		sumU += unspoofed[i]
		sumS += spoofed[i]
	}
	if leak := sumU - sumS; leak > rounds {
		t.Errorf("side channel (CVE-2016-5696): the victim's spoofed RSTs took %d of the attacker's challenge ACKs in %d seconds (%v without, %v with): a stack-wide challenge-ACK budget tells an off-path attacker that its guesses hit",
			leak, rounds, unspoofed, spoofed)
	}
	if err := v.exchange("after the side channel"); err != nil {
		t.Error(err)
	}
}

// offpathBudget is how long TestOffPathAttack attacks: 45s, or
// $TAPSTACK_OFFPATH_ATTACK (e.g. 10m, with go test -timeout 20m).
func offpathBudget(t *testing.T) time.Duration {
	s := os.Getenv("TAPSTACK_OFFPATH_ATTACK")
	if s == "" {
		return 45 * time.Second
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 10*time.Second {
		t.Fatalf("TAPSTACK_OFFPATH_ATTACK=%q: want a duration of 10s or more, like 10m", s)
	}
	return d
}

// TestOffPathAttack runs the whole attack of Cao et al. (USENIX Security
// 2016) for a bounded time (issue 13, acceptance 1): knowing only the
// address pairs of two of the victim's echo connections, the attacker
// infers sequence and acknowledgment numbers through the challenge-ACK
// count of its own connection, injects "PWNED" into the first and resets
// the second (and checks each through the same oracle, trying again
// until it works or the budget is spent). Afterwards both connections
// must be up and echo byte-exact. The victim sends a line on each every
// 50s, as a live session would (and as tapstack's idle deadline needs).
func TestOffPathAttack(t *testing.T) {
	budget := offpathBudget(t)
	tp := newOffpathTopo(t)
	victims := []*victimConn{dialVictim(t, tp), dialVictim(t, tp)}
	before := challengeEvents(statusPage(t, tp))

	// The victim's session goes on during the attack.
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var chatErr []error
	var chatMu sync.Mutex
	for _, v := range victims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(50 * time.Second)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					if err := v.exchange("during the attack"); err != nil {
						chatMu.Lock()
						chatErr = append(chatErr, err)
						chatMu.Unlock()
						return
					}
				}
			}
		}()
	}

	start := time.Now()
	events := runAttacker(t, tp, budget+90*time.Second, "attack", "--budget", strconv.FormatFloat(budget.Seconds(), 'f', 0, 64),
		"--target", victims[0].name+":inject", "--target", victims[1].name+":reset")
	elapsed := time.Since(start)
	stop()
	wg.Wait()
	after := challengeEvents(statusPage(t, tp))

	var successes []string
	calibrated, attempts := 0, 0
	for _, ev := range events {
		switch ev["event"] {
		case "success":
			successes = append(successes, fmt.Sprintf("%s of %s at %.1fs", ev["action"], ev["target"], ev["t"]))
		case "calibrated":
			attempts++
			if ev["challenge_acks"].(float64) >= 1 {
				calibrated++
			}
		}
	}
	victimEvents := after - before - ownRSTs(t, events)
	t.Logf("attack ran %v: %d attempts, %d spoofed segments for the victims' connections asked for a challenge ACK; the attacker believes it succeeded: %v",
		elapsed.Round(time.Second), attempts, victimEvents, successes)
	if calibrated == 0 {
		t.Errorf("the attacker's own RSTs never drew a challenge ACK: the attack did not run")
	}
	if victimEvents < 100 {
		t.Errorf("only %d segments besides the attacker's own RSTs asked for a challenge ACK: its probes did not reach the victims' connections", victimEvents)
	}
	for _, err := range chatErr {
		t.Errorf("during the attack: %v", err)
	}
	for i, v := range victims {
		if err := v.exchange("after the attack"); err != nil {
			t.Errorf("%s target: %v", []string{"inject", "reset"}[i], err)
		}
	}
	if t.Failed() && len(successes) > 0 {
		t.Logf("the off-path attacker (CVE-2016-5696) succeeded: %s", strings.Join(successes, "; "))
	}
}
