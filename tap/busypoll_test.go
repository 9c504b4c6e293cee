package tap

import (
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReaderBusyPoll: with Config.BusyPoll the reader keeps reading after
// the TAP ran dry instead of sleeping in the poller, so a frame that comes
// within the time is found by polling (counted RxBusyPolled), after the
// batch ended (deferred ACKs do not wait for the polling); Close stops a
// polling reader. Without BusyPoll nothing is polled.
func TestReaderBusyPoll(t *testing.T) {
	for _, busy := range []time.Duration{0, time.Hour} {
		t.Run(busy.String(), func(t *testing.T) {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK, 0)
			if err != nil {
				t.Fatal(err)
			}
			rd := os.NewFile(uintptr(fds[0]), "rd")
			defer unix.Close(fds[1])
			rc, err := rd.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			d := &Device{name: "pair", bufLen: 1600, maxFrame: 1514, done: make(chan struct{}), log: slog.Default()}
			d.running.Store(1)
			r := &batchRecorder{}
			var reads atomic.Uint64
			q := newRxQueue(rc)
			// An hour: the second frame is surely written within it.
			q.busy, q.polled, q.closing = busy, &d.stats.rxBusyPolled, &d.closing
			go d.read(q, &reads, r)
			frame := make([]byte, 60)
			for i, want := range []string{"fe", "fefe"} {
				if _, err := unix.Write(fds[1], frame); err != nil {
					t.Fatal(err)
				}
				// Once the batch ended the reader has found the TAP dry:
				// it polls (or sleeps) from there.
				var ev []byte
				for deadline := time.Now().Add(10 * time.Second); string(ev) != want && time.Now().Before(deadline); ev = r.snapshot() {
					time.Sleep(time.Millisecond) // polling guard, not synchronisation
				}
				if string(ev) != want {
					t.Fatalf("frame %d: events %q, want %q", i+1, ev, want)
				}
			}
			d.closing.Store(true)
			rd.Close()
			<-d.done
			polled, wantPolled := d.stats.rxBusyPolled.Load(), uint64(0)
			if busy > 0 {
				wantPolled = 1 // the second frame; the first woke the reader
			}
			if polled != wantPolled {
				t.Fatalf("%d frames found by polling, want %d", polled, wantPolled)
			}
		})
	}
}
