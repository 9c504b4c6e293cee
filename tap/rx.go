package tap

import (
	"syscall"
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
			return false
		default:
			q.n, q.err = 0, e
			return true
		}
	}
}
