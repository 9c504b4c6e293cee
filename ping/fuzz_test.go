package ping

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// FuzzHandleReply: any bytes handed over as an echo reply are matched or
// counted, never a panic, and complete only a request they match.
func FuzzHandleReply(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0x12, 0x34, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8}, true)
	f.Add([]byte{0, 0, 0, 0}, false)
	f.Add([]byte{}, false)
	s := stack.New(stack.Options{})
	defer s.Close()
	p := &Pinger{s: s, opts: Options{MaxOutstanding: 1, Size: DefaultSize}, waiting: map[key]*waiter{},
		ctrSent: s.Counters().Get("ping.tx.requests"), ctrReplies: s.Counters().Get("ping.rx.replies"), ctrUnmatched: s.Counters().Get("ping.rx.unmatched"),
		id: 0x1234, cookie: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}}
	dst := netip.MustParseAddr("10.0.0.2")
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		w := &waiter{reply: make(chan time.Time, 1)}
		p.mu.Lock()
		clear(p.waiting)
		p.waiting[key{dst, 1}] = w
		p.mu.Unlock()
		pkt := stack.NewPacketFrom(append([]byte(nil), b...))
		pkt.Src = dst
		if v6 {
			p.HandleICMPv6(pkt)
		} else {
			p.HandleEchoReply(pkt)
		}
		matched := len(b) >= 16 && b[4] == 0x12 && b[5] == 0x34 && b[6] == 0 && b[7] == 1 && string(b[8:16]) == string(p.cookie[:])
		if got := len(w.reply) == 1; got != matched {
			t.Fatalf("matched %v, want %v for % x", got, matched, b)
		}
	})
}
