package link

import (
	"runtime"
	"testing"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// netSink is a NetworkDispatcher that keeps what it receives.
type netSink struct{ got []*stack.Packet }

func (s *netSink) DeliverNetworkPacket(p *stack.Packet) { s.got = append(s.got, p) }

func (s *netSink) release() {
	for _, p := range s.got {
		p.Release()
	}
	s.got = nil
}

// frameDev is a Device that keeps written frames and lets the test deliver
// frames inline.
type frameDev struct {
	mtu     int
	d       FrameDispatcher
	written []*stack.Packet
	err     error
	closed  bool
}

func (f *frameDev) MTU() int                 { return f.mtu }
func (f *frameDev) Attach(d FrameDispatcher) { f.d = d }
func (f *frameDev) WriteFrame(p *stack.Packet) error {
	if f.err != nil {
		p.Release()
		return f.err
	}
	f.written = append(f.written, p)
	return nil
}
func (f *frameDev) Close() error { f.closed = true; return nil }

func (f *frameDev) release() {
	for _, p := range f.written {
		p.Release()
	}
	f.written = f.written[:0]
}

// chanSink is a FrameDispatcher that sends what it receives on a channel.
type chanSink chan *stack.Packet

func (c chanSink) DeliverFrame(p *stack.Packet) { c <- p }

// recv waits for one frame, failing the test after a generous guard.
func recv(t *testing.T, c chanSink) *stack.Packet {
	t.Helper()
	select {
	case p := <-c:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no frame arrived")
		return nil
	}
}

// checkLive fails the test when packets leaked since start.
func checkLive(t *testing.T, start int64) {
	t.Helper()
	if n := stack.LivePackets(); n != start {
		t.Errorf("LivePackets = %d, want %d (leak)", n, start)
	}
}

// waitGoroutines waits until at most n goroutines run; goroutines that
// signalled completion may take a moment to exit, so it polls with a
// failure guard, not as synchronisation.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want <= %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}

// frame builds a frame with the given header fields and payload length.
func frame(dst, src stack.MAC, et uint16, payload int) *stack.Packet {
	p := stack.NewPacket(stack.Headroom, EthernetHeaderLen+payload)
	b := p.Bytes()
	EthernetFields{Dst: dst, Src: src, EtherType: et}.Encode(b)
	for i := range b[EthernetHeaderLen:] {
		b[EthernetHeaderLen+i] = byte(i)
	}
	return p
}
