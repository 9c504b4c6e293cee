package stack

import (
	"bytes"
	"testing"
)

func TestPacketPushPull(t *testing.T) {
	start := LivePackets()
	p := NewPacket(Headroom, 4)
	copy(p.Bytes(), "data")
	copy(p.Push(2), "h2")
	copy(p.Push(2), "h1")
	if got := string(p.Bytes()); got != "h1h2data" {
		t.Fatalf("after pushes: %q", got)
	}
	if p.Headroom() != Headroom-4 {
		t.Fatalf("headroom %d", p.Headroom())
	}
	p.MarkNetworkHeader()
	h, ok := p.Pull(2)
	if !ok || string(h) != "h1" {
		t.Fatalf("pull: %q %v", h, ok)
	}
	p.MarkTransportHeader()
	if _, ok := p.Pull(100); ok {
		t.Fatal("pull beyond the data succeeded")
	}
	if string(p.NetworkHeader()) != "h1h2data" || string(p.TransportHeader()) != "h2data" {
		t.Fatalf("headers %q %q", p.NetworkHeader(), p.TransportHeader())
	}
	p.Trim(3)
	if string(p.Bytes()) != "h2d" {
		t.Fatalf("trim: %q", p.Bytes())
	}
	p.Trim(10) // no-op
	copy(p.Extend(2), "xy")
	if string(p.Bytes()) != "h2dxy" {
		t.Fatalf("extend: %q", p.Bytes())
	}
	p.Release()
	if LivePackets() != start {
		t.Fatalf("live packets %d, want %d", LivePackets(), start)
	}
}

func TestPacketSizeClasses(t *testing.T) {
	for _, n := range []int{0, 1, smallSize - Headroom, smallSize - Headroom + 1, 65536} {
		p := NewPacket(Headroom, n)
		if p.Len() != n || p.Headroom() != Headroom {
			t.Fatalf("NewPacket(%d): len %d headroom %d", n, p.Len(), p.Headroom())
		}
		if p.large != (n+Headroom > smallSize) {
			t.Fatalf("NewPacket(%d): large=%v", n, p.large)
		}
		p.Release()
	}
	defer func() {
		if recover() == nil {
			t.Fatal("oversized NewPacket did not panic")
		}
	}()
	NewPacket(Headroom, MaxPacketSize)
}

func TestPacketRefcount(t *testing.T) {
	start := LivePackets()
	p := NewPacketFrom([]byte("abc"))
	p.Ref()
	p.Release()
	if LivePackets() != start+1 {
		t.Fatal("released with a reference left")
	}
	q := p.Clone()
	p.Release()
	if !bytes.Equal(q.Bytes(), []byte("abc")) {
		t.Fatalf("clone %q", q.Bytes())
	}
	q.Release()
	if LivePackets() != start {
		t.Fatalf("leak: %d live", LivePackets()-start)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("double release did not panic")
			}
		}()
		q.Release()
	}()
}

func TestReleasedPacketIsReset(t *testing.T) {
	p := NewPacket(Headroom, 10)
	p.ChecksumOK, p.GSOSize, p.EtherType = true, 1400, EtherTypeIPv4
	p.Release()
	q := NewPacket(Headroom, 10) // may or may not be p again
	if q.ChecksumOK || q.GSOSize != 0 || q.EtherType != 0 || q.NetworkHeader() != nil {
		t.Fatal("packet from the pool carries old metadata")
	}
	q.Release()
}

func BenchmarkPacketGetRelease(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		p := NewPacket(Headroom, 1460)
		p.Push(20)
		p.Release()
	}
}
