package tap

import (
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rxQueue reads the frames of one queue; it belongs to that queue's
// reader goroutine. A read tries the descriptor first with a raw system
// call: a non-blocking read of a TAP never sleeps, so it need not tell the
// scheduler (entersyscall and exitsyscall cost time, and entersyscall
// wakes sysmon after every idle spell: one more thread wake-up per ping).
// When the TAP has nothing, the goroutine ends its batch of frames (see
// Device.read) and parks in Go's network poller until it is readable;
// Close wakes it.
type rxQueue struct {
	rc syscall.RawConn

	// The state of one read, in the queue so that the callback (bound
	// once, in fn) does not allocate per read.
	buf []byte
	n   int
	err error
	fn  func(fd uintptr) bool
	// end ends a batch of frames (stack.BatchEnder.EndBatch), nil when
	// the dispatcher does not batch; frames counts the frames delivered
	// since the last end. A read that finds nothing ends the batch before
	// it parks, and reads once more if that sent packets.
	end    func() bool
	frames int
	// busy is Config.BusyPoll: after a frame (hot) the reader polls
	// until pollUntil before it parks; polled counts the frames it found
	// so.
	busy      time.Duration
	hot       bool
	polls     uint32
	pollUntil time.Time
	polled    *atomic.Uint64
	closing   *atomic.Bool // Device.closing: Close stops the polling
}

func newRxQueue(rc syscall.RawConn) *rxQueue {
	q := &rxQueue{rc: rc}
	q.fn = q.tryRead
	return q
}

// read reads one frame into b (not empty). Its error is the poller's (the
// file was closed) or the read system call's.
func (q *rxQueue) read(b []byte) (int, error) {
	q.buf = b
	err := q.rc.Read(q.fn)
	q.buf = nil
	if err != nil {
		return 0, err
	}
	if q.err != nil {
		return 0, q.err
	}
	return q.n, nil
}

// tryRead is the poller's callback: it reads a frame into q.buf and
// reports true, or reports false (park until readable) when there is none.
func (q *rxQueue) tryRead(fd uintptr) bool {
	for {
		n, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&q.buf[0])), uintptr(len(q.buf)))
		switch e {
		case 0:
			q.n, q.err = int(n), nil
			q.hot = true
			if !q.pollUntil.IsZero() {
				q.pollUntil = time.Time{}
				q.polled.Add(1)
			}
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if q.frames > 0 && q.end != nil {
				// The batch ends here, in the poller's callback, so that
				// no system call is added when it sent nothing. When it
				// did (ACKs), an answer may already be queued: read again.
				q.frames = 0
				if q.end() {
					continue
				}
			}
			if q.busy > 0 && q.poll() {
				continue
			}
			return false
		default:
			q.n, q.err = 0, e
			return true
		}
	}
}

// pollYield is how many empty reads a polling reader makes before it
// yields the processor (some 10 to 20 µs): a goroutine that a frame woke
// runs on another processor at once (Go steals it), or here after at most
// that long, and the scheduler is not churned by a yield per read.
const pollYield = 32

// poll says whether to read again (busy polling, Config.BusyPoll): when a
// frame came since the last polling, until busy has passed since the first
// read that found nothing, or until Close (which
// waits for the readers: the descriptor stays open while one polls). It yields the
// processor now and then (pollYield), so that the goroutines the frames
// woke run even on one CPU. The batch has ended before: what it deferred (ACKs)
// does not wait for the polling.
func (q *rxQueue) poll() bool {
	now := time.Now()
	if q.pollUntil.IsZero() {
		if !q.hot {
			return false // no frame since the last polling: sleep
		}
		q.hot = false
		q.pollUntil = now.Add(q.busy)
	}
	if now.Before(q.pollUntil) && !q.closing.Load() {
		if q.polls++; q.polls%pollYield == 0 {
			runtime.Gosched()
		}
		return true
	}
	q.pollUntil = time.Time{}
	return false
}
