package tcp

import (
	"bytes"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/tapstack/tapstack/stack"
)

func TestRingReleaseAndRegrow(t *testing.T) {
	tests := []struct {
		name     string
		max      int
		writes   []int // bytes appended before the release
		wantLen  int   // buffer length before the release
		next     int   // bytes appended after it
		wantNext int   // buffer length after them: the hint, not 4 KiB
	}{
		{"small", 1 << 20, []int{1}, minRingBuf, 1, minRingBuf},
		{"grown", 1 << 20, []int{3000, 3000, 30000}, 64 << 10, 1, 64 << 10},
		{"capped by max", 10000, []int{9000}, 10000, 1, 10000},
		{"beyond the pools", 64 << 20, []int{20 << 20}, 32 << 20, 1, 32 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRing(tt.max)
			var want bytes.Buffer
			for i, n := range tt.writes {
				p := bytes.Repeat([]byte{byte(i + 1)}, n)
				if k := r.append(p); k != n {
					t.Fatalf("append %d: took %d", n, k)
				}
				want.Write(p)
			}
			if len(r.buf) != tt.wantLen {
				t.Fatalf("buffer %d bytes, want %d", len(r.buf), tt.wantLen)
			}
			got := make([]byte, r.n)
			r.read(got)
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatal("read back different bytes")
			}
			r.release()
			if r.buf != nil || r.chunk != nil || r.n != 0 {
				t.Fatalf("after release: %d-byte buffer, chunk %v, n %d", len(r.buf), r.chunk != nil, r.n)
			}
			r.append(make([]byte, tt.next))
			if len(r.buf) != tt.wantNext {
				t.Fatalf("after release and %d bytes: buffer %d bytes, want %d", tt.next, len(r.buf), tt.wantNext)
			}
		})
	}
}

// TestIdleConnectionHoldsNoBuffers: once everything sent is acknowledged
// and everything received is read, neither end keeps a ring buffer, so an
// idle connection costs only its state (the bench's RSS per connection).
func TestIdleConnectionHoldsNoBuffers(t *testing.T) {
	tn := newTestNet(t, Options{}, linkFaults{}, linkFaults{})
	c, s, ln := pair(t, tn)
	defer ln.Close()
	defer c.Close()
	defer s.Close()

	msg := bytes.Repeat([]byte("idle"), 5000)
	go func() {
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(s, buf); err != nil {
			t.Error(err)
			return
		}
		s.Write(buf)
	}()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echo differs")
	}
	// The last ACKs are on their way: wait (bounded) until both ends
	// have seen them.
	held := func(e *endpoint) (rcv, snd int) {
		e.mu.Lock()
		defer e.mu.Unlock()
		return len(e.c.rcv.buf), len(e.c.snd.buf)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		cr, cs := held(c.e)
		sr, ss := held(s.e)
		if cr+cs+sr+ss == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("idle connection still holds buffers: client rcv %d snd %d, server rcv %d snd %d", cr, cs, sr, ss)
		}
		runtime.Gosched()
	}
}

// TestRingHeldSegments: payloads held by reference (ring.hold) count as
// committed bytes, come out of held in order, and go into the buffer
// byte-exact (settle) when a Read-like operation needs them there or
// after a partial discard; discard drops them without copying; every
// packet reference is given back.
func TestRingHeldSegments(t *testing.T) {
	for _, tt := range []struct {
		name    string
		sizes   []int
		discard int    // bytes discarded while held
		then    string // "read": read the rest; "peek": peek it; "settle"; "discard": drop all; "release"
	}{
		{"read all", []int{1000, 3000, 1}, 0, "read"},
		{"discard part of the first, read", []int{1000, 3000, 500}, 600, "read"},
		{"discard the first two and part of the third, peek", []int{1000, 3000, 500}, 4100, "peek"},
		{"settle", []int{2000, 2000}, 1, "settle"},
		{"discard all", []int{2000, 2000}, 0, "discard"},
		{"release", []int{2000, 2000}, 10, "release"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			live := stack.LivePackets()
			r := newRing(1 << 20)
			var want []byte
			for i, n := range tt.sizes {
				p := stack.NewPacketFrom(bytes.Repeat([]byte{byte(i + 1)}, n))
				for j := range p.Bytes() {
					p.Bytes()[j] += byte(j)
				}
				if !r.reserve(r.n+n, 0) {
					t.Fatal("reserve refused")
				}
				r.holdPkt = p
				if !r.canHold() {
					t.Fatalf("segment %d cannot be held", i)
				}
				r.hold(p.Bytes())
				r.holdPkt = nil
				r.n += n
				want = append(want, p.Bytes()...)
				p.Release() // the deliverer's reference; the ring keeps its own
			}
			if got := bytes.Join(r.held(nil), nil); !bytes.Equal(got, want) || r.extN != len(want) {
				t.Fatalf("held %d bytes (extN %d), want %d, equal %v", len(got), r.extN, len(want), bytes.Equal(got, want))
			}
			r.discard(tt.discard)
			want = want[tt.discard:]
			if got := bytes.Join(r.held(nil), nil); !bytes.Equal(got, want) || r.n != len(want) {
				t.Fatalf("after discard(%d): held %d bytes, n %d, want %d", tt.discard, len(got), r.n, len(want))
			}
			var got []byte
			switch tt.then {
			case "read":
				got = make([]byte, r.n)
				r.read(got)
			case "peek":
				a, b := r.peek(r.n)
				got = append(append([]byte{}, a...), b...)
				r.discard(len(got))
			case "settle":
				r.settle()
				if r.next != 0 || r.extN != 0 {
					t.Fatalf("after settle: %d held, %d bytes", r.next, r.extN)
				}
				got = make([]byte, r.n)
				r.read(got)
			case "discard":
				r.discard(r.n)
				want = nil
			case "release":
				r.release()
				r.n = 0
				want = nil
			}
			if !bytes.Equal(got, want) || r.n != 0 || r.next != 0 || r.extN != 0 {
				t.Fatalf("%s: got %d bytes, want %d, equal %v; left n %d, %d held", tt.then, len(got), len(want), bytes.Equal(got, want), r.n, r.next)
			}
			r.release()
			if d := stack.LivePackets() - live; d != 0 {
				t.Fatalf("%d packets not released", d)
			}
		})
	}
}
