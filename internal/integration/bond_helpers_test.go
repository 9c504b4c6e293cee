package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/link/bond"
	"github.com/tapstack/tapstack/tap"
)

// bondHost runs an in-process host on a bond over new TAPs, slave i on
// bridges[i]; its interfaces are given by ifcs (their Device and MAC are
// filled in with the bond).
func bondHost(t *testing.T, ns *netnstest.NS, cfg bond.Config, slaves, bridges []string, ifcs []host.Interface) (*host.Host, *bond.Bond) {
	t.Helper()
	var scs []bond.SlaveConfig
	for i, name := range slaves {
		var dev *tap.Device
		if err := ns.Run(func() (err error) {
			dev, err = tap.Open(tap.Config{Name: name, Bridge: bridges[i], NoOffload: true})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		scs = append(scs, bond.SlaveConfig{Name: name, Dev: dev, Carrier: func() bool {
			l, err := ns.Netlink().LinkByName(name)
			return err == nil && l.Attrs().OperState != netlink.OperDown
		}})
	}
	b, err := bond.New(cfg, scs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ifcs {
		if ifcs[i].Endpoint == nil {
			ifcs[i].Device, ifcs[i].MAC = b, cfg.MAC
		}
	}
	h, err := host.New(host.Config{Interfaces: ifcs})
	if err != nil {
		t.Fatal(err)
	}
	b.SetAddrs(func() []bond.Addr {
		var out []bond.Addr
		for _, ifc := range ifcs {
			out = append(out, bond.Addr{Prefix: ifc.Addr})
		}
		return out
	})
	t.Cleanup(func() { h.Close() })
	return h, b
}

// waitFor polls cond every 50 ms for at most d; it returns how long it
// took and whether cond held.
func waitFor(d time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < d {
		if cond() {
			return time.Since(start), true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start), cond()
}

// carrying names a bond's slaves that carry traffic now.
func carrying(b *bond.Bond) []string {
	var out []string
	for _, s := range b.Status().Slaves {
		if s.Active {
			out = append(out, s.Name)
		}
	}
	return out
}

// phasedEcho sends chunk bytes of a pattern to an echo service on c,
// then another chunk after each gate closes, and checks that exactly
// the pattern comes back. It returns the first error.
func phasedEcho(c net.Conn, seed uint64, chunk int, gates ...<-chan struct{}) error {
	total := chunk * (len(gates) + 1)
	want := make([]byte, total)
	io.ReadFull(newPatternReader(int64(total), seed), want)
	sendErr := make(chan error, 1)
	go func() {
		for i := 0; i <= len(gates); i++ {
			if i > 0 {
				<-gates[i-1]
			}
			if _, err := c.Write(want[i*chunk : (i+1)*chunk]); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}()
	got := make([]byte, total)
	n, err := io.ReadFull(c, got)
	if err != nil {
		return fmt.Errorf("echo: read %d of %d bytes: %w", n, total, err)
	}
	if err := <-sendErr; err != nil {
		return fmt.Errorf("echo: write: %w", err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("echo: %d bytes came back different", total)
	}
	return nil
}

// dialEcho dials addr:7 from h.
func dialEcho(t *testing.T, h *host.Host, addr string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := h.DialContext(ctx, "tcp", netip.AddrPortFrom(netip.MustParseAddr(addr), 7).String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	return c
}

// bondCmd runs `tapstack bond ARGS` in ns.
func bondCmd(t *testing.T, ns *netnstest.NS, args ...string) string {
	t.Helper()
	out, err := ns.Output(binary(t), append([]string{"bond"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// slaveSection returns the part of a /proc/net/bonding text about slave.
func slaveSection(out, slave string) string {
	_, rest, ok := strings.Cut(out, "Slave Interface: "+slave+"\n")
	if !ok {
		return ""
	}
	sec, _, _ := strings.Cut(rest, "\nSlave Interface: ")
	return sec
}

// counters parses "Counters: rx N frames ..., tx N frames" of a slave.
func counters(sec string) (rx, tx uint64) {
	_, line, _ := strings.Cut(sec, "Counters: ")
	fmt.Sscanf(line, "rx %d frames %d bytes, tx %d frames", &rx, new(uint64), &tx)
	return rx, tx
}

// cable joins TAPs a and b like a crossover cable: every frame written
// to one (received by the kernel on it) is sent out of the other, by tc
// u32 match-all filters with mirred redirects.
func cable(t *testing.T, ns *netnstest.NS, a, b string) {
	t.Helper()
	for _, d := range [][2]string{{a, b}, {b, a}} {
		ns.Output("tc", "qdisc", "add", "dev", d[0], "ingress") // once
		if out, err := ns.Output("tc", "filter", "add", "dev", d[0], "ingress", "protocol", "all", "u32", "match", "u32", "0", "0",
			"action", "mirred", "egress", "redirect", "dev", d[1]); err != nil {
			t.Fatalf("cable %s-%s: %v %s", a, b, err, out)
		}
	}
}

// cut removes the cable between a and b: both TAPs stay up, frames
// vanish.
func cut(t *testing.T, ns *netnstest.NS, a, b string) {
	t.Helper()
	for _, d := range []string{a, b} {
		if out, err := ns.Output("tc", "filter", "del", "dev", d, "ingress"); err != nil {
			t.Fatalf("cut %s: %v %s", d, err, out)
		}
	}
}

// captureLACPDUs captures six Slow Protocols frames (both ways) on dev
// with tshark while the test goes on; the returned func waits for the
// capture and checks that tshark decodes them as LACP, none malformed.
func captureLACPDUs(t *testing.T, ns *netnstest.NS, dev string) func() {
	t.Helper()
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Logf("no tshark: LACPDUs not captured (%v)", err)
		return func() {}
	}
	path := filepath.Join(t.TempDir(), "lacp.pcap")
	cmd := ns.Cmd("timeout", "20", tshark, "-i", dev, "-f", "ether proto 0x8809", "-c", "6", "-w", path)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// tshark takes a while to start on a loaded machine: the test goes
	// on (and may take dev down) only once it captures.
	var stderr strings.Builder
	started, copied := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(copied)
		var once sync.Once
		defer once.Do(func() { close(started) })
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			stderr.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "Capturing on") {
				once.Do(func() { close(started) })
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(20 * time.Second): // a failure guard; Wait reports it
	}
	return func() {
		t.Helper()
		<-copied
		if err := cmd.Wait(); err != nil {
			t.Errorf("tshark capture on %s: %v %s", dev, err, stderr.String())
			return
		}
		out, err := exec.Command(tshark, "-r", path, "-V").CombinedOutput()
		if err != nil {
			t.Errorf("tshark -r: %v %s", err, out)
			return
		}
		text := string(out)
		if n := strings.Count(text, "Link Aggregation Control Protocol"); n != 6 || strings.Contains(strings.ToLower(text), "malformed") {
			t.Errorf("tshark decoded %d LACPDUs of 6, or found a malformed one:\n%s", n, text)
			return
		}
		t.Logf("tshark: 6 LACPDUs captured on %s decode as LACP, none malformed", dev)
	}
}
