package tap

import (
	"errors"
	"sync"
	"testing"

	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// TestWritesRacingClose: frames written on several goroutines while Close
// runs either go out or fail with stack.ErrClosed (the raw descriptor is
// never used after it is closed), and no packet leaks. The race detector
// checks the hand-over.
func TestWritesRacingClose(t *testing.T) {
	ns := netnstest.New(t)
	ns.AddBridge("br0", "")
	d := openIn(t, ns, Config{Name: "tap0", Bridge: "br0", NoOffload: true, Queues: 2})
	live := stack.LivePackets() // before Attach: the reader holds one until Close
	d.Attach(frames(make(chan *stack.Packet)))
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	start := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := 0; ; i++ {
				p := stack.NewPacket(stack.Headroom, 60)
				link.EthernetFields{Dst: stack.BroadcastMAC, Src: ourMAC, EtherType: 0x88b5}.Encode(p.Bytes())
				err := d.WriteFrame(p)
				if errors.Is(err, stack.ErrClosed) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
				if i == 1<<20 {
					errs <- errors.New("writes never saw Close")
					return
				}
			}
		}()
	}
	close(start)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := stack.LivePackets(); n != live {
		t.Errorf("%d packets leaked", n-live)
	}
}
