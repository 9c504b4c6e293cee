package link

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	"github.com/tapstack/tapstack/stack"
)

func TestPipeDelivers(t *testing.T) {
	start := stack.LivePackets()
	a, b := Pipe(1500)
	ca, cb := make(chanSink, 4), make(chanSink, 4)
	a.Attach(ca)
	b.Attach(cb)
	if err := a.WriteFrame(frame(macB, macA, 0x88b5, 100)); err != nil {
		t.Fatal(err)
	}
	p := recv(t, cb)
	if f, err := ParseFrame(p.Bytes()); err != nil || f.Src != macA || p.Len() != 114 {
		t.Errorf("b got %+v %v len %d", f, err, p.Len())
	}
	p.Release()
	if err := b.WriteFrame(frame(macA, macB, 0x88b5, 1500)); err != nil {
		t.Fatal(err)
	}
	p = recv(t, ca)
	if f, _ := ParseFrame(p.Bytes()); f.Src != macB || p.Len() != 1514 {
		t.Errorf("a got %+v len %d", f, p.Len())
	}
	p.Release()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	checkLive(t, start)
}

// TestPipeNotInline proves delivery is asynchronous: the writer holds a lock
// the receiver needs, and WriteFrame must return before the receiver runs.
func TestPipeNotInline(t *testing.T) {
	a, b := Pipe(1500)
	defer a.Close()
	defer b.Close()
	locked := make(chan struct{}, 1)
	done := make(chanSink, 1)
	b.Attach(FrameDispatcherFunc(func(p *stack.Packet) {
		<-locked // blocks until the writer released its "lock"
		done <- p
	}))
	if err := a.WriteFrame(frame(macB, macA, 0x88b5, 10)); err != nil {
		t.Fatal(err)
	}
	locked <- struct{}{}
	recv(t, done).Release()
}

func TestPipeFullQueueDrops(t *testing.T) {
	start := stack.LivePackets()
	a, b := Pipe(1500)
	for i := 0; i < PipeQueueLen+7; i++ {
		if err := a.WriteFrame(frame(macB, macA, 0x88b5, 10)); err != nil {
			t.Fatal(err)
		}
	}
	if d := b.(*PipeEnd).Dropped(); d != 7 {
		t.Errorf("Dropped = %d, want 7", d)
	}
	if n := stack.LivePackets() - start; n != PipeQueueLen {
		t.Errorf("%d packets queued, want %d", n, PipeQueueLen)
	}
	// The queued frames are delivered in order once b attaches.
	c := make(chanSink, PipeQueueLen)
	b.Attach(c)
	for i := 0; i < PipeQueueLen; i++ {
		recv(t, c).Release()
	}
	a.Close()
	b.Close()
	checkLive(t, start)
}

func TestPipeCloseReleasesQueuedAndStops(t *testing.T) {
	start := stack.LivePackets()
	goroutines := runtime.NumGoroutine()
	a, b := Pipe(1500)
	block := make(chan struct{})
	entered := make(chan struct{}, 1)
	b.Attach(FrameDispatcherFunc(func(p *stack.Packet) {
		p.Release()
		select {
		case entered <- struct{}{}:
		default:
		}
		<-block
	}))
	a.Attach(FrameDispatcherFunc(func(p *stack.Packet) { p.Release() }))
	for i := 0; i < 50; i++ {
		if err := a.WriteFrame(frame(macB, macA, 0x88b5, 10)); err != nil {
			t.Fatal(err)
		}
	}
	<-entered // b's goroutine holds one frame; 49 are queued
	close(block)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// Writes to the closed end are lost without error; from it, they fail.
	if err := a.WriteFrame(frame(macB, macA, 0x88b5, 10)); err != nil {
		t.Errorf("write to closed peer: %v", err)
	}
	if err := b.WriteFrame(frame(macA, macB, 0x88b5, 10)); !errors.Is(err, stack.ErrClosed) {
		t.Errorf("write on closed end: %v, want ErrClosed", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	checkLive(t, start)
	waitGoroutines(t, goroutines)
}

func TestPipeTooLong(t *testing.T) {
	start := stack.LivePackets()
	a, b := Pipe(100)
	defer a.Close()
	defer b.Close()
	c := make(chanSink, 4)
	b.Attach(c)
	if err := a.WriteFrame(frame(macB, macA, 0x88b5, 101)); !errors.Is(err, ErrFrameTooLong) {
		t.Errorf("err %v, want ErrFrameTooLong", err)
	}
	// A tagged frame may be 4 bytes longer.
	p := frame(macB, macA, stack.EtherTypeVLAN, 104)
	VLANFields{VID: 3}.Encode(p.Bytes()[12:])
	if err := a.WriteFrame(p); err != nil {
		t.Errorf("tagged frame of MTU: %v", err)
	}
	q := recv(t, c)
	if !bytes.Equal(q.Bytes()[12:14], []byte{0x81, 0}) {
		t.Errorf("got % x", q.Bytes()[:16])
	}
	q.Release()
	checkLive(t, start)
}

// TestPipeDeliversCopy: the writer keeps a reference (as a retransmit queue
// does); what the receiver does to its packet must not show in the writer's.
func TestPipeDeliversCopy(t *testing.T) {
	start := stack.LivePackets()
	a, b := Pipe(1500)
	c := make(chanSink, 1)
	b.Attach(c)
	p := frame(macB, macA, 0x88b5, 20)
	kept := p.Ref()
	want := append([]byte(nil), p.Bytes()...)
	if err := a.WriteFrame(p); err != nil {
		t.Fatal(err)
	}
	q := recv(t, c)
	if q == kept {
		t.Fatal("receiver got the writer's packet")
	}
	q.Pull(EthernetHeaderLen)
	q.Bytes()[0] ^= 0xff
	q.Release()
	if !bytes.Equal(kept.Bytes(), want) {
		t.Errorf("writer's packet changed: % x", kept.Bytes())
	}
	kept.Release()
	a.Close()
	b.Close()
	checkLive(t, start)
}
