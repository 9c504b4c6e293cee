// Package trace turns a stack's named events (stack.TraceEvent) into each
// packet's journey in words: a short indented paragraph per frame, layer
// by layer, with the state changes it caused, the route chosen and every
// counted drop with its reason (host.CounterHelp). A Session is bounded:
// when its reader is slow it drops events and says how many.
package trace

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/stack"
)

// QueueLen is how many events a Session holds for its reader.
const QueueLen = 4096

// record is a TraceEvent copied off the packet path.
type record struct {
	ev     stack.TraceEvent
	nic    string
	pkt    []byte
	routeN string
}

// Session is one reader of a stack's events, filtered.
type Session struct {
	f       *Filter
	q       chan record
	dropped atomic.Uint64
}

// Dropped returns how many events the session dropped because its reader
// was too slow.
func (s *Session) Dropped() uint64 { return s.dropped.Load() }

// Trace implements stack.Tracer: it copies ev and queues it, or counts it
// dropped when the queue is full. It never blocks.
func (s *Session) Trace(ev *stack.TraceEvent) {
	r := record{ev: *ev}
	if ev.NIC != nil {
		r.nic = ev.NIC.Name()
	}
	if ev.Route.NIC != nil {
		r.routeN = ev.Route.NIC.Name()
	}
	r.ev.NIC, r.ev.Route = nil, stack.Route{NIC: nil, LocalAddr: ev.Route.LocalAddr, RemoteAddr: ev.Route.RemoteAddr,
		NextHop: ev.Route.NextHop, Local: ev.Route.Local, Broadcast: ev.Route.Broadcast}
	if ev.Packet != nil {
		r.pkt = append([]byte(nil), ev.Packet...)
		r.ev.Packet = nil
	}
	select {
	case s.q <- r:
	default:
		s.dropped.Add(1)
	}
}

// mux fans a stack's events out to its sessions.
type mux struct {
	mu       sync.Mutex
	sessions []*Session
}

func (m *mux) Trace(ev *stack.TraceEvent) {
	m.mu.Lock()
	for _, s := range m.sessions {
		s.Trace(ev)
	}
	m.mu.Unlock()
}

var (
	muxesMu sync.Mutex
	muxes   = map[*stack.Stack]*mux{}
)

// Attach starts a session on s with filter f (nil: everything) and
// returns it with the function that ends it; the stack stops tracing when
// its last session ends.
func Attach(s *stack.Stack, f *Filter) (*Session, func()) {
	sess := &Session{f: f, q: make(chan record, QueueLen)}
	muxesMu.Lock()
	m := muxes[s]
	if m == nil {
		m = &mux{}
		muxes[s] = m
		s.SetTracer(m)
	}
	m.mu.Lock()
	m.sessions = append(m.sessions, sess)
	m.mu.Unlock()
	muxesMu.Unlock()
	var once sync.Once
	return sess, func() {
		once.Do(func() {
			muxesMu.Lock()
			defer muxesMu.Unlock()
			m.mu.Lock()
			for i, x := range m.sessions {
				if x == sess {
					m.sessions = append(m.sessions[:i:i], m.sessions[i+1:]...)
					break
				}
			}
			empty := len(m.sessions) == 0
			m.mu.Unlock()
			if empty {
				s.SetTracer(nil)
				delete(muxes, s)
			}
		})
	}
}

// Run writes the session's paragraphs to w until ctx ends or a write
// fails; flush, when not nil, is called after each burst of events (an
// HTTP response's Flush).
func (s *Session) Run(ctx context.Context, w io.Writer, flush func()) error {
	bw := bufio.NewWriter(w)
	p := printer{f: s.f, pass: s.f == nil || s.f.root == nil} // events before any frame: only when unfiltered
	var reported uint64
	for {
		var r record
		select {
		case <-ctx.Done():
			return bw.Flush()
		case r = <-s.q:
		}
		p.write(bw, &r)
		for more := true; more; {
			select {
			case r = <-s.q:
				p.write(bw, &r)
			default:
				more = false
			}
		}
		if d := s.dropped.Load(); d != reported {
			fmt.Fprintf(bw, "\n(%d events dropped: the reader was too slow)\n", d-reported)
			reported = d
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		if flush != nil {
			flush()
		}
	}
}

// printer formats records; events that are not frames belong to the last
// frame's paragraph and pass the filter when it did.
type printer struct {
	f    *Filter
	pass bool
}

// quiet are counter name endings that count ordinary traffic, not drops
// or decisions: the frame paragraphs already show them.
var quiet = map[string]bool{"segments": true, "packets": true, "bytes": true, "frames": true,
	"requests": true, "replies": true, "sent": true, "delivered": true, "received": true,
	"echo_requests": true, "echo_replies": true, "datagrams": true, "accepted": true,
	"forwarded": true, "rst": true, "data_segments": true, "acks": true, "priority_tagged": true}

// Quiet reports whether the increments of counter name are left out of
// the trace (ordinary traffic counts, which the frames already show).
func Quiet(name string) bool {
	return quiet[name[strings.LastIndexByte(name, '.')+1:]]
}

func (p *printer) write(w io.Writer, r *record) {
	ev := &r.ev
	switch ev.Kind {
	case stack.TraceFrameIn, stack.TraceFrameOut:
		var sum Summary
		lines := decode(r.pkt, ev.EtherType, &sum)
		sum.VLAN = vlanOf(r.nic)
		p.pass = p.f.Match(&sum)
		if !p.pass {
			return
		}
		if ev.Kind == stack.TraceFrameIn {
			fmt.Fprintf(w, "\nin  %s: from %s to %s (%s)\n", r.nic, ev.LinkSrc, ev.LinkDst, linkDecision(ev.LinkDst))
		} else {
			fmt.Fprintf(w, "\nout %s: from %s to %s (%s)\n", r.nic, ev.LinkSrc, ev.LinkDst, outDecision(ev.LinkDst))
		}
		for _, l := range lines {
			fmt.Fprintf(w, "  %s\n", l)
		}
	case stack.TraceCount:
		if Quiet(ev.Name) {
			return
		}
		if beforeStack(ev.Name) {
			// The link layer dropped a frame before any NIC took it:
			// there is no packet to filter, so only an unfiltered
			// trace shows it, as a paragraph of its own.
			p.pass = p.f == nil || p.f.root == nil
			if p.pass {
				fmt.Fprintf(w, "\nlink: a frame dropped, counted %s: %s\n", ev.Name, host.CounterHelp(ev.Name))
			}
			return
		}
		if !p.pass {
			return
		}
		fmt.Fprintf(w, "  counted %s: %s\n", ev.Name, host.CounterHelp(ev.Name))
	case stack.TraceState:
		if !p.pass {
			return
		}
		if ev.Layer == "tcp" {
			fmt.Fprintf(w, "  TCP connection %s ↔ %s: %s → %s\n", ev.Src, ev.Dst, ev.From, ev.To)
		} else {
			layer := strings.ToUpper(ev.Layer)
			if ev.Layer == "ndp" {
				layer = "NDP"
			}
			fmt.Fprintf(w, "  %s %s: %s → %s\n", layer, ev.Name, ev.From, ev.To)
		}
	case stack.TraceRoute:
		if !p.pass {
			return
		}
		rt := ev.Route
		switch {
		case !ev.RouteFound:
			fmt.Fprintf(w, "  route to %s: none\n", ev.Dst.Addr())
		case rt.Local:
			fmt.Fprintf(w, "  route to %s: our own address, looped back\n", ev.Dst.Addr())
		default:
			how := "on-link"
			if rt.NextHop != rt.RemoteAddr {
				how = "via gateway " + rt.NextHop.String()
			}
			entry := ""
			if ev.Name != "" {
				entry = ", longest prefix match " + ev.Name
			}
			fmt.Fprintf(w, "  route to %s: out %s, %s, source %s%s\n", ev.Dst.Addr(), r.routeN, how, rt.LocalAddr, entry)
		}
	}
}

func outDecision(dst stack.MAC) string {
	switch {
	case dst == stack.BroadcastMAC:
		return "broadcast"
	case dst[0]&1 != 0:
		return "multicast"
	case dst == stack.MAC{}:
		return "layer 3 interface"
	}
	return "unicast"
}

func linkDecision(dst stack.MAC) string {
	switch {
	case dst == stack.BroadcastMAC:
		return "broadcast"
	case dst[0]&1 != 0:
		return "multicast"
	case dst == stack.MAC{}:
		return "layer 3 interface"
	}
	return "for us"
}

// vlanOf reads the VLAN ID from an interface name "tap0.10".
func vlanOf(nic string) int {
	i := strings.LastIndexByte(nic, '.')
	if i < 0 {
		return 0
	}
	n, err := strconv.Atoi(nic[i+1:])
	if err != nil || n < 1 || n > 4094 {
		return 0
	}
	return n
}

// beforeStack reports whether counter name counts frames the link layer
// dropped before handing them to a NIC (so no frame event precedes it).
func beforeStack(name string) bool {
	return strings.HasPrefix(name, "link.rx.") && name != "link.rx.unknown_ethertype"
}
