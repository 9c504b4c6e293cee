package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/netnstest"
)

// echoThrough sends n bytes of a pattern from a Linux socket inside ns to
// the echo service (:7) of the tapstack host while reading the echo back
// concurrently, and checks that the same bytes (SHA-256) come back: the
// data crosses the faulty link in both directions.
func echoThrough(t *testing.T, ctx context.Context, ns *netnstest.NS, n int64, seed uint64) {
	t.Helper()
	c, err := linuxDial(ctx, ns, "tcp4", hostAddr+":7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	start := time.Now()
	sent := sha256.New()
	sendErr := make(chan error, 1)
	go func() {
		_, err := io.Copy(c, io.TeeReader(newPatternReader(n, seed), sent))
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		sendErr <- err
	}()
	got := sha256.New()
	m, err := io.Copy(got, c)
	if err != nil {
		t.Fatalf("reading the echo after %d of %d bytes: %v", m, n, err)
	}
	if err := <-sendErr; err != nil {
		t.Fatalf("sending: %v", err)
	}
	if m != n {
		t.Fatalf("echo returned %d bytes, sent %d", m, n)
	}
	if !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		t.Fatalf("echo SHA-256 %s, sent %s", hex.EncodeToString(got.Sum(nil)), hex.EncodeToString(sent.Sum(nil)))
	}
	t.Logf("%d MiB echoed byte-exact (SHA-256 %s) in %v", n>>20, hex.EncodeToString(sent.Sum(nil))[:16], time.Since(start).Round(time.Millisecond))
}

// TestSimFaultsEcho32MiB is issue 3's acceptance 4: `tapstack up --faults
// loss=3%,reorder=2%,duplicate=1%,corrupt=0.5%` and 32 MiB through echo :7
// come back with the same SHA-256. The faults apply to both directions of
// the TAP, so the upload (Linux → tapstack) and the echo (tapstack →
// Linux) both cross them.
func TestSimFaultsEcho32MiB(t *testing.T) {
	needTools(t, "ip")
	ns := bridgeNS(t)
	startCommand(t, ns, "--faults", "loss=3%,reorder=2%,duplicate=1%,corrupt=0.5%,seed=3")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	echoThrough(t, ctx, ns, 32<<20, 3)
	out, err := ns.Output("ip", "-s", "link", "show", "tap0")
	if err == nil {
		t.Logf("tap0 counters:\n%s", out)
	}
	// What the decorator injected is in the metrics, per direction.
	metrics, err := ns.Output(binary(t), "metrics")
	if err != nil {
		t.Fatal(err, metrics)
	}
	for _, dir := range []string{"tx", "rx"} {
		m := regexp.MustCompile(`(?m)^tapstack_faults_lost_total\{nic="tap0",dir="` + dir + `"\} ([0-9]+)$`).FindStringSubmatch(metrics)
		if m == nil || m[1] == "0" {
			t.Errorf("tapstack metrics: no frames lost by --faults on %s: %q", dir, m)
		}
	}
}

// TestSimFaultsPcapWellFormed is issue 3's acceptance 5: every frame of a
// `--pcap` capture taken during a faulty run decodes in tshark without a
// malformed-packet error. The faults are loss, reordering and duplication
// both ways and corruption only of received frames: the capture sits
// between the fault decorator and the TAP, so a frame the stack sent and
// the decorator then corrupted on purpose would (rightly) be malformed.
func TestSimFaultsPcapWellFormed(t *testing.T) {
	needTools(t, "ip")
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skipf("needs tshark (make deps installs it): %v", err)
	}
	ns := bridgeNS(t)
	pcap := filepath.Join(t.TempDir(), "faults.pcap")
	func() {
		// A sub-scope so that tapstack has stopped (and flushed the
		// capture) before tshark reads it: startCommand's cleanup runs
		// at the end of this subtest.
		t.Run("run", func(t *testing.T) {
			startCommand(t, ns, "--pcap", pcap, "--faults", "loss=3%,reorder=2%,duplicate=1%,rx.corrupt=0.5%,seed=5")
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			echoThrough(t, ctx, ns, 4<<20, 5)
			if out, err := ns.Output("ping", "-c", "3", "-i", "0.2", "-s", "3000", hostAddr); err != nil {
				// ICMP may be lost too; the capture is what counts.
				t.Logf("ping (fragmented echo): %v\n%s", err, out)
			}
		})
	}()
	if t.Failed() {
		return
	}
	st, err := os.Stat(pcap)
	if err != nil || st.Size() <= 24 {
		t.Fatalf("capture %s: %v (size %v)", pcap, err, st)
	}
	count, err := exec.Command(tshark, "-r", pcap, "-T", "fields", "-e", "frame.number").Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", pcap, err)
	}
	frames := strings.Count(string(count), "\n")
	if frames < 1000 {
		t.Fatalf("capture has only %d frames", frames)
	}
	cmd := exec.Command(tshark, "-r", pcap, "-Y", "_ws.malformed")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark -r %s -Y _ws.malformed: %v", pcap, err)
	}
	if len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("tshark finds malformed frames in %s:\n%s", pcap, firstLines(string(out), 20))
	}
	t.Logf("tshark: %d frames (%d bytes of pcap), none malformed", frames, st.Size())
}

func firstLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		return strings.Join(lines[:n], "") + fmt.Sprintf("... (%d lines)\n", len(lines))
	}
	return s
}
