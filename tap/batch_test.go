package tap

import (
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/stack"
	"golang.org/x/sys/unix"
)

// batchRecorder is a dispatcher that is a stack.BatchEnder: it records
// each frame ('f', or 'u' when it was not marked Batched) and each
// EndBatch ('e').
type batchRecorder struct {
	mu     sync.Mutex
	events []byte
}

func (r *batchRecorder) DeliverFrame(p *stack.Packet) {
	ev := byte('f')
	if !p.Batched {
		ev = 'u'
	}
	p.Release()
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func (r *batchRecorder) EndBatch() bool {
	r.mu.Lock()
	r.events = append(r.events, 'e')
	r.mu.Unlock()
	return false
}

func (r *batchRecorder) snapshot() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.events...)
}

// TestReaderEndsBatches: frames the kernel queues in a TAP reach a
// stack.BatchEnder marked Batched, in batches of at most maxBatch frames,
// and the reader calls EndBatch once it has read them all, before it
// waits for more: work deferred to the end of a batch (TCP's ACKs) is
// never left waiting. (How the kernel's forty ARP replies fall into
// batches depends on when they reach the TAP; TestReaderBatchBound has
// them all queued first.)
func TestReaderEndsBatches(t *testing.T) {
	for _, offload := range []bool{false, true} {
		name := "plain"
		if offload {
			name = "vnet"
		}
		t.Run(name, func(t *testing.T) {
			ns := netnstest.New(t)
			ns.AddBridge("br0", "10.0.0.1/24")
			// One queue, so one reader: with several, two readers'
			// batches interleave in the recorder's one event list, and
			// a batch looked longer than maxBatch when the kernel spread
			// the replies over queues (a clean-clone CI run saw 17).
			d := openIn(t, ns, Config{Name: "tap0", Bridge: "br0", NoOffload: !offload, Queues: 1})
			me, bridgeIP := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.1")
			const requests = 40
			// The bridge sends the kernel's replies out of tap0, its only
			// port: its transmit count tells when they are queued there
			// (tap0's own count moves only as the frames are read).
			brTx := func() uint64 {
				l, err := ns.Netlink().LinkByName("br0")
				if err != nil {
					t.Fatal(err)
				}
				if s := l.Attrs().Statistics; s != nil {
					return s.TxPackets
				}
				return 0
			}
			base := brTx()
			for range requests {
				if err := d.WriteFrame(arpRequest(ourMAC, me, bridgeIP)); err != nil {
					t.Fatal(err)
				}
			}
			for deadline := time.Now().Add(10 * time.Second); brTx() < base+requests; {
				if time.Now().After(deadline) {
					t.Fatalf("the kernel answered %d of %d ARP requests", brTx()-base, requests)
				}
				time.Sleep(time.Millisecond) // polling guard, not synchronisation
			}
			r := &batchRecorder{}
			d.Attach(r)
			var ev []byte
			for deadline := time.Now().Add(10 * time.Second); ; {
				ev = r.snapshot()
				frames := 0
				for _, e := range ev {
					if e != 'e' {
						frames++
					}
				}
				if frames >= requests && ev[len(ev)-1] == 'e' {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("events %q: the last batch was not ended", ev)
				}
				time.Sleep(time.Millisecond) // polling guard
			}
			run := 0
			for _, e := range ev {
				switch e {
				case 'u':
					t.Fatalf("events %q: a frame not marked Batched", ev)
				case 'f':
					if run++; run > maxBatch {
						t.Fatalf("events %q: more than %d frames in a batch", ev, maxBatch)
					}
				case 'e':
					if run == 0 {
						t.Fatalf("events %q: an empty batch ended", ev)
					}
					run = 0
				}
			}
		})
	}
}

// TestReaderBatchBound: with forty frames waiting, the reader ends a batch
// after every maxBatch frames and once more when it has read them all, so
// deferred work waits for at most maxBatch frames however busy the device
// is. The frames wait in a packet socket pair, which reads like a TAP.
func TestReaderBatchBound(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	rd, wr := os.NewFile(uintptr(fds[0]), "rd"), os.NewFile(uintptr(fds[1]), "wr")
	defer wr.Close()
	const frames = 40
	frame := make([]byte, 60)
	for range frames {
		if _, err := unix.Write(fds[1], frame); err != nil {
			t.Fatal(err)
		}
	}
	rc, err := rd.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	d := &Device{name: "pair", bufLen: 1600, maxFrame: 1514, done: make(chan struct{}), log: slog.Default()}
	d.running.Store(1)
	r := &batchRecorder{}
	var reads atomic.Uint64
	go d.read(newRxQueue(rc), &reads, r)
	want := strings.Repeat("f", maxBatch) + "e" + strings.Repeat("f", maxBatch) + "e" + strings.Repeat("f", frames-2*maxBatch) + "e"
	var ev []byte
	for deadline := time.Now().Add(10 * time.Second); len(ev) < len(want) && time.Now().Before(deadline); ev = r.snapshot() {
		time.Sleep(time.Millisecond) // polling guard, not synchronisation
	}
	d.closing.Store(true)
	rd.Close()
	<-d.done
	if string(ev) != want {
		t.Errorf("events %q, want %q", ev, want)
	}
}
