package tcp

import (
	"bytes"
	"errors"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// fakeTryWriter is a TryWriter that takes up to budget bytes through
// TryWrite in all (budget < 0: no limit), then fails with fail if set,
// else takes nothing more; Write takes everything. It has no lock of its
// own: the connection must never call it from two goroutines at once, and
// the race detector checks that its hand-off orders the calls.
type fakeTryWriter struct {
	buf     bytes.Buffer
	budget  int
	fail    error
	tried   int // bytes taken by TryWrite
	written int // bytes taken by Write
	// offBatch counts the TryWrite calls that did not come from the end
	// of a device's batch (Protocol.EndBatch).
	offBatch int
	want     int           // full is closed once this many bytes were taken
	full     chan struct{} // all the data arrived
	// Of fakeBuffersWriter's TryWriteBuffers: calls, the most buffers
	// in one, and the bytes taken (counted in tried too).
	vecCalls, vecMax, vecTried int
}

// fakeBuffersWriter is a fakeTryWriter that is a TryBuffersWriter too:
// TryWriteBuffers takes from its buffers in order within the same budget.
type fakeBuffersWriter struct{ *fakeTryWriter }

func (w fakeBuffersWriter) TryWriteBuffers(bufs [][]byte) (int, error) {
	w.vecCalls++
	w.vecMax = max(w.vecMax, len(bufs))
	total := 0
	for _, b := range bufs {
		k := len(b)
		if w.budget >= 0 {
			k = min(k, w.budget-w.tried)
		}
		w.take(b[:k])
		w.tried += k
		w.vecTried += k
		total += k
		if k < len(b) {
			if w.fail != nil {
				return total, w.fail
			}
			break
		}
	}
	return total, nil
}

func (w *fakeTryWriter) TryWrite(b []byte) (int, error) {
	if !calledFrom("(*Protocol).EndBatch") {
		w.offBatch++
	}
	k := len(b)
	if w.budget >= 0 {
		k = min(k, w.budget-w.tried)
	}
	w.take(b[:k])
	w.tried += k
	if k < len(b) && w.fail != nil {
		return k, w.fail
	}
	return k, nil
}

func (w *fakeTryWriter) Write(b []byte) (int, error) {
	w.take(b)
	w.written += len(b)
	return len(b), nil
}

func (w *fakeTryWriter) take(b []byte) {
	w.buf.Write(b)
	if len(b) > 0 && w.buf.Len() == w.want {
		close(w.full)
	}
}

// calledFrom says whether a function whose name ends in fn is among the
// callers.
func calledFrom(fn string) bool {
	pc := make([]uintptr, 64)
	frames := runtime.CallersFrames(pc[:runtime.Callers(2, pc)])
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, fn) {
			return true
		}
		if !more {
			return false
		}
	}
}

// tryWriterCase is one run of a WriteTo into a fakeTryWriter: A sends
// size bytes to B over wires that batch (or not), B's WriteTo writes them,
// then the connection ends by end ("fin": A's CloseWrite, "rst": A's
// reset, "deadline": B's read deadline).
type tryWriterCase struct {
	name      string
	size      int
	unbatched bool
	budget    int
	fail      error
	end       string
	buffers   bool // the writer is a TryBuffersWriter (fakeBuffersWriter)
}

type tryWriterResult struct {
	w   *fakeTryWriter
	n   int64
	err error
}

func runTryWriter(t *testing.T, tt tryWriterCase) tryWriterResult {
	t.Helper()
	g, pk := runtime.NumGoroutine(), stack.LivePackets()
	f := linkFaults{batch: !tt.unbatched}
	tn := newTestNet(t, Options{}, f, f)
	c, s, ln := pair(t, tn)
	ln.Close()
	data := make([]byte, tt.size)
	for i := range data {
		data[i] = pattern(i)
	}
	w := &fakeTryWriter{budget: tt.budget, fail: tt.fail, want: tt.size, full: make(chan struct{})}
	type result struct {
		n   int64
		err error
	}
	done := make(chan result, 1)
	var to io.Writer = w
	if tt.buffers {
		to = fakeBuffersWriter{w}
	}
	go func() {
		n, err := s.WriteTo(to)
		done <- result{n, err}
	}()
	// WriteTo waits for data before A sends any, so that the data comes
	// while it waits (polling guard, not a timing assumption).
	for deadline := time.Now().Add(10 * time.Second); s.e.rcondWaiters() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("WriteTo does not wait")
		}
		runtime.Gosched()
	}
	wrote := make(chan error, 1)
	go func() { _, err := c.Write(data); wrote <- err }() // a failed WriteTo stops it: B's window closes
	var r result
	select {
	case <-w.full: // every byte arrived; the end comes after them
	case r = <-done: // it failed first
		if tt.fail == nil {
			t.Fatalf("WriteTo returned %d, %v before the end", r.n, r.err)
		}
	}
	if tt.fail == nil {
		switch tt.end {
		case "fin":
			c.CloseWrite()
		case "rst":
			c.SetLinger(0)
			c.Close()
		case "deadline":
			s.SetReadDeadline(time.Now().Add(-time.Second))
		}
		r = <-done
	}
	c.Close()
	s.Close()
	if err := <-wrote; err != nil && tt.fail == nil {
		t.Fatalf("A's Write: %v", err)
	}
	checkNoLeaks(t, tn, g, pk)
	if got := w.buf.Bytes(); int64(len(got)) != r.n || !bytes.Equal(got, data[:len(got)]) {
		t.Fatalf("WriteTo reported %d bytes; the writer got %d, equal to what was sent: %v", r.n, len(got), bytes.Equal(got, data[:min(len(got), len(data))]))
	}
	if w.offBatch > 0 {
		t.Errorf("%d TryWrite calls outside the end of a batch", w.offBatch)
	}
	return tryWriterResult{w, r.n, r.err}
}

// checkEnd checks WriteTo's error for the way the connection ended.
func checkEnd(t *testing.T, tt tryWriterCase, r tryWriterResult) {
	t.Helper()
	var ok bool
	switch {
	case tt.fail != nil:
		ok = errors.Is(r.err, tt.fail)
	case tt.end == "fin":
		ok = r.err == nil && r.n == int64(tt.size)
	case tt.end == "rst":
		ok = errors.Is(r.err, syscall.ECONNRESET) && r.n == int64(tt.size)
	case tt.end == "deadline":
		ok = errors.Is(r.err, os.ErrDeadlineExceeded) && r.n == int64(tt.size)
	}
	if !ok {
		t.Fatalf("end %q: WriteTo returned %d of %d bytes, %v", tt.end, r.n, tt.size, r.err)
	}
}

// TestWriteToTryWriterAtBatchEnd: with a writer that is a TryWriter, the
// data that arrives while WriteTo waits is written by TryWrite at the end
// of the device's batch (on the goroutine that delivered it), in order,
// byte-exact, and WriteTo is never woken to Write; the FIN, a reset and a
// read deadline still end WriteTo with io.EOF's nil, ECONNRESET and
// os.ErrDeadlineExceeded, with the inline bytes counted. Without batches
// WriteTo writes everything itself.
func TestWriteToTryWriterAtBatchEnd(t *testing.T) {
	for _, tt := range []tryWriterCase{
		{name: "one segment, fin", size: 100, budget: -1, end: "fin"},
		{name: "64KiB, fin", size: 64 << 10, budget: -1, end: "fin"},
		{name: "4MiB, fin", size: 4 << 20, budget: -1, end: "fin"},
		{name: "1MiB, rst", size: 1 << 20, budget: -1, end: "rst"},
		{name: "1MiB, deadline", size: 1 << 20, budget: -1, end: "deadline"},
		{name: "unbatched wire, fin", size: 256 << 10, budget: -1, end: "fin", unbatched: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runTryWriter(t, tt)
			checkEnd(t, tt, r)
			switch {
			case tt.unbatched && r.w.tried != 0:
				t.Fatalf("without batches TryWrite took %d bytes", r.w.tried)
			case !tt.unbatched && (r.w.written != 0 || r.w.tried != tt.size):
				t.Fatalf("TryWrite took %d bytes, Write %d; want all %d by TryWrite", r.w.tried, r.w.written, tt.size)
			}
		})
	}
}

// TestTryWriterBatchEndWakesWrite: a TryWriter that takes only part of the
// data (or nothing) leaves the rest to WriteTo's Write, which it wakes: the
// data arrives byte-exact and in order across the two, and the FIN (EOF)
// and a reset are carried; TryWrite's error is WriteTo's, with what it
// took counted.
func TestTryWriterBatchEndWakesWrite(t *testing.T) {
	boom := errors.New("boom")
	for _, tt := range []tryWriterCase{
		{name: "takes 3000 bytes, fin", size: 1 << 20, budget: 3000, end: "fin"},
		{name: "takes nothing, fin", size: 1 << 20, budget: 0, end: "fin"},
		{name: "takes 3000 bytes, rst", size: 1 << 20, budget: 3000, end: "rst"},
		{name: "fails after 5000 bytes", size: 1 << 20, budget: 5000, fail: boom},
		{name: "fails at once", size: 1 << 20, budget: 0, fail: boom},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runTryWriter(t, tt)
			checkEnd(t, tt, r)
			if r.w.tried != tt.budget {
				t.Fatalf("TryWrite took %d bytes, want %d", r.w.tried, tt.budget)
			}
			if tt.fail == nil && r.w.written != tt.size-tt.budget {
				t.Fatalf("Write took %d bytes, want %d", r.w.written, tt.size-tt.budget)
			}
		})
	}
}

var _ io.Writer = (*fakeTryWriter)(nil)

// TestWriteToHeldSegments: with a writer that is a TryBuffersWriter, the
// payloads that arrive in a batch while the receive buffer is empty are
// held in their packets and written from there at the batch's end (or
// when maxHeld of them wait), several in one TryWriteBuffers (the buffer's views are at most two, so a call
// with more proves the payloads were not copied into it); what the writer
// does not take is copied into the buffer and written by WriteTo's Write,
// in order and byte-exact; its error is WriteTo's; the FIN, a reset and a
// deadline end WriteTo as without held segments, and no packet is kept
// (runTryWriter checks the packet count).
func TestWriteToHeldSegments(t *testing.T) {
	boom := errors.New("boom")
	for _, tt := range []tryWriterCase{
		{name: "4MiB, fin", size: 4 << 20, budget: -1, end: "fin", buffers: true},
		{name: "1MiB, rst", size: 1 << 20, budget: -1, end: "rst", buffers: true},
		{name: "1MiB, deadline", size: 1 << 20, budget: -1, end: "deadline", buffers: true},
		{name: "takes 100000 bytes, fin", size: 1 << 20, budget: 100000, end: "fin", buffers: true},
		{name: "takes nothing, fin", size: 1 << 20, budget: 0, end: "fin", buffers: true},
		{name: "fails after 5000 bytes", size: 1 << 20, budget: 5000, fail: boom, buffers: true},
		{name: "unbatched wire, fin", size: 256 << 10, budget: -1, end: "fin", unbatched: true, buffers: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runTryWriter(t, tt)
			checkEnd(t, tt, r)
			w := r.w
			switch {
			case tt.unbatched:
				if w.tried != 0 {
					t.Fatalf("without batches the writer's Try calls took %d bytes", w.tried)
				}
			case tt.budget < 0:
				// (A WriteTo that a wake-up at the connection's start
				// finds awake may Write some of the data itself.)
				if w.vecMax <= 2 || w.tried+w.written != tt.size {
					t.Fatalf("TryWriteBuffers took %d bytes in %d calls of up to %d buffers, TryWrite %d, Write %d; want %d in all, some in calls of more than 2 buffers",
						w.vecTried, w.vecCalls, w.vecMax, w.tried-w.vecTried, w.written, tt.size)
				}
			default:
				if w.tried != tt.budget || (tt.fail == nil && w.written != tt.size-tt.budget) || w.vecCalls == 0 {
					t.Fatalf("the Try calls took %d bytes (%d calls of TryWriteBuffers), Write %d; want %d and %d", w.tried, w.vecCalls, w.written, tt.budget, tt.size-tt.budget)
				}
			}
		})
	}
}
