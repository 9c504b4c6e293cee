package tap

import (
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// BenchmarkBridgedRoundTrip writes a broadcast frame into one TAP and waits
// for the bridge to deliver it through a second TAP's reader. allocs/op
// covers WriteFrame and the reader goroutine (ReportAllocs counts every
// goroutine), so it shows the per-frame path allocates nothing.
func BenchmarkBridgedRoundTrip(b *testing.B) {
	ns := netnstest.New(b)
	ns.AddBridge("br0", "")
	var tx, rx *Device
	err := ns.Run(func() (err error) {
		if tx, err = Open(Config{Name: "tapa", Bridge: "br0", NoOffload: true}); err != nil {
			return err
		}
		rx, err = Open(Config{Name: "tapb", Bridge: "br0", NoOffload: true})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Close()
	defer rx.Close()
	tx.Attach(link.FrameDispatcherFunc(func(p *stack.Packet) { p.Release() }))
	got := make(chan struct{}, 1)
	rx.Attach(link.FrameDispatcherFunc(func(p *stack.Packet) {
		if p.Len() == 1000 && link.EthernetHeader(p.Bytes()).EtherType() == 0x88b5 {
			got <- struct{}{}
		}
		p.Release()
	}))
	f := stack.NewPacket(stack.Headroom, 1000)
	link.EthernetFields{Dst: stack.BroadcastMAC, Src: ourMAC, EtherType: 0x88b5}.Encode(f.Bytes())
	defer f.Release()
	guard := time.NewTimer(time.Minute) // one timer: time.After would allocate per frame
	defer guard.Stop()
	send := func() {
		if err := tx.WriteFrame(f.Ref()); err != nil {
			b.Fatal(err)
		}
		select {
		case <-got:
		case <-guard.C:
			b.Fatal("frame not delivered through the bridge")
		}
	}
	send() // warm up the pool and the bridge's FDB
	b.ReportAllocs()
	b.SetBytes(1000)
	for b.Loop() {
		send()
	}
}

// BenchmarkBridgedRoundTripOffload is BenchmarkBridgedRoundTrip between two
// offloading TAPs, with a ChecksumPartial UDP frame: the virtio-net header
// is pushed on write and pulled (and the small frame copied out of the
// 64 KiB read buffer) on read, still with 0 allocs/op.
func BenchmarkBridgedRoundTripOffload(b *testing.B) {
	ns := netnstest.New(b)
	ns.AddBridge("br0", "")
	var tx, rx *Device
	err := ns.Run(func() (err error) {
		if tx, err = Open(Config{Name: "tapa", Bridge: "br0"}); err != nil {
			return err
		}
		rx, err = Open(Config{Name: "tapb", Bridge: "br0"})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Close()
	defer rx.Close()
	if !tx.Offload() || !rx.Offload() {
		b.Skip("the kernel refused offloads")
	}
	frame := ipv4Frame(0, stack.ProtocolUDP, udpDatagram(make([]byte, 1000)))
	tx.Attach(link.FrameDispatcherFunc(func(p *stack.Packet) { p.Release() }))
	got := make(chan struct{}, 1)
	rx.Attach(link.FrameDispatcherFunc(func(p *stack.Packet) {
		if p.Len() == len(frame) && p.ChecksumOK {
			got <- struct{}{}
		}
		p.Release()
	}))
	guard := time.NewTimer(time.Minute)
	defer guard.Stop()
	send := func() {
		p := stack.NewPacketFrom(frame)
		p.ChecksumPartial = true
		if err := tx.WriteFrame(p); err != nil {
			b.Fatal(err)
		}
		select {
		case <-got:
		case <-guard.C:
			b.Fatal("frame not delivered through the bridge")
		}
	}
	send()
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		send()
	}
}
