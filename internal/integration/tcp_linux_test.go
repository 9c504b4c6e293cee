package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	binenc "encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/tcp"
)

// startCapture runs tcpdump on iface inside ns, writing SYN segments to a
// pcap file; it returns once tcpdump is listening, and stop ends it and
// returns the file's path.
func startCapture(t *testing.T, ns *netnstest.NS, iface, filter string) (stop func() string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "capture.pcap")
	cmd := ns.Cmd("tcpdump", "-Z", "root", "-i", iface, "-U", "-n", "-s", "128", "-w", path, filter)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	var tcpdumpErr atomic.Bool
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			if !once && strings.Contains(sc.Text(), "listening on") {
				once = true
				close(ready)
			}
		}
		if !once {
			close(ready)
		}
		tcpdumpErr.Store(true)
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("tcpdump did not start listening")
	}
	stopped := false
	stop = func() string {
		if !stopped {
			stopped = true
			cmd.Process.Signal(syscall.SIGINT)
			cmd.Wait()
		}
		return path
	}
	t.Cleanup(func() { stop() })
	return stop
}

// synOptions reads the SYN and SYN-ACK segments of a capture.
type synSeen struct {
	src, dst string
	synAck   bool
	mss      bool
	wscale   int // -1 when absent
	sackOK   bool
	ts       bool
}

func readSYNs(t *testing.T, path string) []synSeen {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	frames, linkType, err := readPcap(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("capture: %d bytes, %d frames, link type %d", len(b), len(frames), linkType)
	var out []synSeen
	for _, data := range frames {
		pkt := gopacket.NewPacket(data, layers.LinkType(linkType), gopacket.Default)
		ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tl, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip == nil || tl == nil || !tl.SYN {
			continue
		}
		s := synSeen{src: ip.SrcIP.String(), dst: ip.DstIP.String(), synAck: tl.ACK, wscale: -1}
		for _, o := range tl.Options {
			switch o.OptionType {
			case layers.TCPOptionKindMSS:
				s.mss = true
			case layers.TCPOptionKindWindowScale:
				if len(o.OptionData) == 1 {
					s.wscale = int(o.OptionData[0])
				}
			case layers.TCPOptionKindSACKPermitted:
				s.sackOK = true
			case layers.TCPOptionKindTimestamps:
				s.ts = true
			}
		}
		out = append(out, s)
	}
	return out
}

// readPcap splits a classic pcap file (microsecond or nanosecond, either
// byte order) into its frames.
func readPcap(b []byte) (frames [][]byte, linkType uint32, err error) {
	if len(b) < 24 {
		return nil, 0, fmt.Errorf("pcap: %d bytes, no header", len(b))
	}
	var bo binenc.ByteOrder
	switch binenc.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binenc.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binenc.BigEndian
	default:
		return nil, 0, fmt.Errorf("pcap: bad magic %x", b[:4])
	}
	linkType = bo.Uint32(b[20:])
	for off := 24; off+16 <= len(b); {
		n := int(bo.Uint32(b[off+8:]))
		off += 16
		if off+n > len(b) {
			break // tcpdump was stopped mid-record
		}
		frames = append(frames, b[off:off+n])
		off += n
	}
	return frames, linkType, nil
}

// TestTCPOptionsNegotiatedWithLinux captures the handshakes of a bulk
// transfer each way between the stack and the Linux kernel: both SYNs
// carry MSS, window scale, SACK-permitted and timestamps, and the
// stack's connections report all three negotiated (issue 4 acceptance 3,
// last part).
func TestTCPOptionsNegotiatedWithLinux(t *testing.T) {
	needTools(t, "ip", "tcpdump")
	ns := bridgeNS(t)
	h := startHost(t, ns)
	stop := startCapture(t, ns, "br0", "tcp")
	const n = 8 << 20

	// Linux client downloads from the stack.
	l, err := h.Listen("tcp", ":5001")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	infos := make(chan tcp.Info, 2)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, newPatternReader(n, 9))
		infos <- c.(*tcp.Conn).Info()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	lc, err := linuxDial(ctx, ns, "tcp4", hostAddr+":5001")
	if err != nil {
		t.Fatal(err)
	}
	lc.SetDeadline(time.Now().Add(50 * time.Second))
	got := sha256.New()
	if m, err := io.Copy(got, lc); err != nil || m != n {
		t.Fatalf("download: %d of %d bytes: %v", m, n, err)
	}
	lc.Close()
	want := sha256.New()
	io.Copy(want, newPatternReader(n, 9))
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatal("download differs (SHA-256)")
	}

	// The stack dials a Linux server and uploads.
	ll := linuxListen(t, ns, bridgeAddr+":0")
	recvd := make(chan int64, 1)
	go func() {
		c, err := ll.Accept()
		if err != nil {
			recvd <- -1
			return
		}
		defer c.Close()
		m, _ := io.Copy(io.Discard, c)
		recvd <- m
	}()
	sc, err := h.DialContext(ctx, "tcp", ll.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(sc, newPatternReader(n, 10)); err != nil {
		t.Fatal(err)
	}
	infos <- sc.(*tcp.Conn).Info()
	sc.Close()
	if m := <-recvd; m != n {
		t.Fatalf("linux server received %d of %d bytes", m, n)
	}

	for range 2 {
		info := <-infos
		t.Logf("stack conn: %+v", info)
		if !info.Timestamps || !info.SACK || !info.WindowScale || info.ReceiveWindowShift == 0 || info.SendWindowShift == 0 {
			t.Errorf("stack connection did not negotiate everything: %+v", info)
		}
	}
	syns := readSYNs(t, stop())
	var kinds []string
	for _, s := range syns {
		kind := "SYN"
		if s.synAck {
			kind = "SYN-ACK"
		}
		kinds = append(kinds, fmt.Sprintf("%s %s>%s", kind, s.src, s.dst))
		if !s.mss || s.wscale < 0 || !s.sackOK || !s.ts {
			t.Errorf("%s from %s lacks options: %+v", kind, s.src, s)
		}
	}
	t.Logf("captured %v", kinds)
	wantKinds := map[string]bool{
		"SYN " + bridgeAddr + ">" + hostAddr: false, "SYN-ACK " + hostAddr + ">" + bridgeAddr: false,
		"SYN " + hostAddr + ">" + bridgeAddr: false, "SYN-ACK " + bridgeAddr + ">" + hostAddr: false,
	}
	for _, k := range kinds {
		if _, ok := wantKinds[k]; ok {
			wantKinds[k] = true
		}
	}
	for k, seen := range wantKinds {
		if !seen {
			t.Errorf("capture has no %s", k)
		}
	}
}

// echoServer accepts on l and echoes every connection until l closes.
func echoServer(l net.Listener) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return &wg
}

// TestTCP2000Connections: 2,000 Linux sockets are connected to the stack
// at the same time, each echoing 4 KiB through it (issue 4 acceptance 3).
func TestTCP2000Connections(t *testing.T) {
	needTools(t, "ip")
	ns := bridgeNS(t)
	h := startHost(t, ns)
	l, err := h.Listen("tcp", ":7007")
	if err != nil {
		t.Fatal(err)
	}
	wg := echoServer(l)
	defer func() { l.Close(); wg.Wait() }()

	const conns, size = 2000, 4096
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	var (
		mu      sync.Mutex
		open    []net.Conn
		failed  atomic.Int32
		firstEr atomic.Value
		cwg     sync.WaitGroup
	)
	dialSem := make(chan struct{}, 128)
	allOpen := make(chan struct{})
	var opened atomic.Int32
	for i := range conns {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			dialSem <- struct{}{}
			c, err := linuxDial(ctx, ns, "tcp4", hostAddr+":7007")
			<-dialSem
			if err != nil {
				failed.Add(1)
				firstEr.CompareAndSwap(nil, err)
				if opened.Add(1) == conns {
					close(allOpen)
				}
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			if opened.Add(1) == conns {
				close(allOpen)
			}
			// Every connection stays open until all are: they are
			// concurrent, not sequential.
			select {
			case <-allOpen:
			case <-ctx.Done():
			}
			c.SetDeadline(time.Now().Add(40 * time.Second))
			msg := bytes.Repeat([]byte{byte(i)}, size)
			if _, err := c.Write(msg); err != nil {
				failed.Add(1)
				firstEr.CompareAndSwap(nil, err)
				return
			}
			back := make([]byte, size)
			if _, err := io.ReadFull(c, back); err != nil || !bytes.Equal(back, msg) {
				failed.Add(1)
				firstEr.CompareAndSwap(nil, fmt.Errorf("echo of conn %d: %v", i, err))
			}
		}()
	}
	<-allOpen
	established := 0
	for _, ci := range h.TCP().Connections() {
		if ci.State == "ESTABLISHED" && ci.Local.Port() == 7007 {
			established++
		}
	}
	cwg.Wait()
	for _, c := range open {
		c.Close()
	}
	cs := h.Stack().Counters()
	t.Logf("%d connections established at once on the stack; %d failed; syncookies sent %d, accepted %d; listen overflows %d",
		established, failed.Load(), cs.Value("tcp.syncookies.sent"), cs.Value("tcp.syncookies.recv"), cs.Value("tcp.conn.listen_overflow"))
	if f := failed.Load(); f != 0 {
		t.Fatalf("%d of %d connections failed; first error: %v", f, conns, firstEr.Load())
	}
	if established != conns {
		t.Errorf("%d connections ESTABLISHED on the stack at the peak, want %d", established, conns)
	}
}

// TestTCPSynFlood: while hping3 floods the stack's port 80 with SYNs
// from random (spoofed) source addresses, a Linux client keeps connecting
// and exchanging a message; nearly all (>= 95%) of its connections
// succeed (issue 4 acceptance 3).
//
// A flood from the client's own address (hping3 without --rand-source)
// tests something else, and failed 2 of 6 CI runs (28 of 31, 31 of 33):
// it sweeps its source port over the client's, so its SYNs land on the
// client's own tuples and its SYN-ACKs on the client's sockets. A client
// whose handshake ACK and data the flooded TAP queue dropped answers such
// a SYN-ACK with an ACK past its ISN, which no cookie check can accept:
// tapstack, as Linux's listener would, resets it (traced with tcpdump).
// The one case of those a stack can win is covered by
// tcp.TestSynCookieACKMeetsHalfOpen.
func TestTCPSynFlood(t *testing.T) {
	needTools(t, "ip", "hping3", "timeout")
	ns := bridgeNS(t)
	h := startHost(t, ns)
	l, err := h.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	wg := echoServer(l)
	defer func() { l.Close(); wg.Wait() }()

	// Resolve ARP first so the flood does not start with an empty cache.
	if out, err := ns.Output("ping", "-c", "1", "-W", "5", hostAddr); err != nil {
		t.Fatal(out, err)
	}
	flood := ns.Cmd("timeout", "10s", "hping3", "--flood", "--rand-source", "-S", "-p", "80", hostAddr)
	var floodOut bytes.Buffer
	flood.Stdout, flood.Stderr = &floodOut, &floodOut
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	floodDone := make(chan struct{})
	go func() { flood.Wait(); close(floodDone) }()
	defer func() {
		flood.Process.Signal(syscall.SIGINT)
		<-floodDone
	}()

	// Wait (polling a counter, bounded) until the flood reaches the stack.
	cs := h.Stack().Counters()
	rxBefore := cs.Value("tcp.rx.segments")
	for deadline := time.Now().Add(8 * time.Second); cs.Value("tcp.rx.segments")-rxBefore < 5000; {
		if time.Now().After(deadline) {
			t.Fatalf("the flood did not reach the stack: %s", floodOut.String())
		}
		select {
		case <-floodDone:
			t.Fatalf("hping3 ended early: %s", floodOut.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	var ok, fail int
	var firstErr error
	attempt := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		c, err := linuxDial(ctx, ns, "tcp4", hostAddr+":80")
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(8 * time.Second))
		msg := []byte("legitimate")
		if _, err := c.Write(msg); err != nil {
			return err
		}
		back := make([]byte, len(msg))
		if _, err := io.ReadFull(c, back); err != nil {
			return err
		}
		if !bytes.Equal(back, msg) {
			return fmt.Errorf("echo %q", back)
		}
		return nil
	}
	// Four clients connect one after the other for as long as the flood
	// lasts.
	var mu sync.Mutex
	tries := 0
	var cwg sync.WaitGroup
	for range 4 {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			for {
				select {
				case <-floodDone:
					return
				default:
				}
				err := attempt()
				mu.Lock()
				tries++
				if err != nil {
					fail++
					if firstErr == nil {
						firstErr = err
					}
				} else {
					ok++
				}
				stop := tries >= 400
				mu.Unlock()
				if stop {
					return
				}
			}
		}()
	}
	cwg.Wait()
	floodSegs := cs.Value("tcp.rx.segments") - rxBefore
	t.Logf("legitimate connects (4 clients): %d ok, %d failed (first error %v); stack received %d segments meanwhile; syncookies sent %d, accepted %d; listen overflows %d",
		ok, fail, firstErr, floodSegs, cs.Value("tcp.syncookies.sent"), cs.Value("tcp.syncookies.recv"), cs.Value("tcp.conn.listen_overflow"))
	if tries == 0 {
		t.Fatal("no connection attempt during the flood")
	}
	if ok*100 < tries*95 {
		t.Fatalf("only %d of %d legitimate connections succeeded during the SYN flood", ok, tries)
	}
}
