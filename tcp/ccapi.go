package tcp

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// CongestionControl is a congestion control algorithm a program plugs in
// with RegisterCongestionControl, as Linux modules register with
// tcp_register_congestion_control; connections pick it by name
// (Options.CongestionControl, Conn.SetCongestionControl). Each connection
// gets its own value from the registered constructor, and its methods are
// called with the connection locked, never concurrently.
//
// The algorithm owns the window outside loss recovery; the recovery
// itself (RACK-TLP, SACK with PRR, or NewReno) stays tcp's: on a loss the
// algorithm sets the slow-start threshold and tcp brings the window down
// to it. tcp clamps what an algorithm sets: the window to at least one
// MSS and at most 1 GiB, the threshold to at least two MSS.
type CongestionControl interface {
	// OnAck grows (or shrinks) w for an ACK that acknowledged new data
	// outside recovery, while the window is what limits the sender
	// (RFC 7661: an application- or buffer-limited sender's window
	// does not grow).
	OnAck(w *CongestionWindow, a AckSample)
	// OnCongestion reacts to a loss found by fast retransmit (or an ECN
	// echo, RFC 3168): it sets w.Ssthresh; inFlight is the bytes in
	// flight when the loss was found.
	OnCongestion(w *CongestionWindow, now time.Time, inFlight int)
	// OnTimeout reacts to a retransmission timeout: it sets w.Ssthresh;
	// tcp then sets the window to one segment.
	OnTimeout(w *CongestionWindow, now time.Time, inFlight int)
}

// CongestionWindow is the state a CongestionControl adjusts, in bytes.
type CongestionWindow struct {
	Cwnd     int // the congestion window
	Ssthresh int // the slow-start threshold (1 GiB before the first loss)
	MSS      int // the sender's segment size: payload bytes per full segment
}

// AckSample is what one ACK tells a CongestionControl.
type AckSample struct {
	Now      time.Time
	Acked    int           // bytes newly acknowledged (cumulatively)
	RTT      time.Duration // the round-trip sample this ACK gave; 0: none
	SRTT     time.Duration // the smoothed round-trip time (RFC 6298)
	MinRTT   time.Duration // the least round-trip time seen; 0: none yet
	InFlight int           // bytes sent and not acknowledged after the ACK
}

// ErrCongestionControlExists is RegisterCongestionControl's error for a
// name already taken.
var ErrCongestionControlExists = errors.New("tcp: congestion control name already registered")

// builtinCC are the algorithms tcp has itself.
var builtinCC = []string{"cubic", "reno", "newreno", "bbrlite"}

var ccRegistry struct {
	sync.RWMutex
	m map[string]func() CongestionControl
}

// RegisterCongestionControl makes the algorithm newCC constructs available
// under name, for Options.CongestionControl and Conn.SetCongestionControl.
// It fails for an empty name, a nil constructor or a name already taken
// (the built-in "cubic" and "reno" included).
func RegisterCongestionControl(name string, newCC func() CongestionControl) error {
	if name == "" || newCC == nil {
		return errors.New("tcp: RegisterCongestionControl needs a name and a constructor")
	}
	ccRegistry.Lock()
	defer ccRegistry.Unlock()
	if _, ok := ccRegistry.m[name]; ok || slices.Contains(builtinCC, name) {
		return fmt.Errorf("%w: %s", ErrCongestionControlExists, name)
	}
	if ccRegistry.m == nil {
		ccRegistry.m = map[string]func() CongestionControl{}
	}
	ccRegistry.m[name] = newCC
	return nil
}

// CongestionControls lists the names a connection may use: the built-in
// algorithms and the registered ones, sorted (Linux's
// tcp_available_congestion_control).
func CongestionControls() []string {
	names := []string{"bbrlite", "cubic", "reno"}
	ccRegistry.RLock()
	for n := range ccRegistry.m {
		names = append(names, n)
	}
	ccRegistry.RUnlock()
	slices.Sort(names)
	return names
}

// registeredCC returns a new instance of the registered algorithm name.
func registeredCC(name string) (congestionControl, bool) {
	ccRegistry.RLock()
	newCC := ccRegistry.m[name]
	ccRegistry.RUnlock()
	if newCC == nil {
		return nil, false
	}
	cc := newCC()
	if cc == nil {
		return nil, false
	}
	return &pluggedCC{n: name, cc: cc}, true
}

// ccChoices is the text an error about an unknown algorithm lists.
func ccChoices() string { return strings.Join(CongestionControls(), ", ") }

// pluggedCC runs a registered CongestionControl as the core's algorithm.
type pluggedCC struct {
	n  string
	cc CongestionControl
}

func (p *pluggedCC) name() string { return p.n }

func (p *pluggedCC) onAck(w *ccWindow, now time.Time, acked int, srtt time.Duration) {
	cw := CongestionWindow{Cwnd: w.cwnd, Ssthresh: w.ssthresh, MSS: w.mss}
	p.cc.OnAck(&cw, AckSample{Now: now, Acked: acked, RTT: w.ccRTT, SRTT: srtt, MinRTT: w.ccMinRTT, InFlight: int(w.ccAck.Size(w.ccNxt))})
	w.set(cw)
}

func (p *pluggedCC) onLoss(w *ccWindow, now time.Time, flight int) {
	cw := CongestionWindow{Cwnd: w.cwnd, Ssthresh: w.ssthresh, MSS: w.mss}
	p.cc.OnCongestion(&cw, now, flight)
	w.set(cw)
}

func (p *pluggedCC) onTimeout(w *ccWindow, now time.Time, flight int) {
	cw := CongestionWindow{Cwnd: w.cwnd, Ssthresh: w.ssthresh, MSS: w.mss}
	p.cc.OnTimeout(&cw, now, flight)
	w.set(cw)
}

// set takes what an algorithm set, within bounds.
func (w *ccWindow) set(cw CongestionWindow) {
	w.cwnd = min(max(cw.Cwnd, w.mss), 1<<30)
	w.ssthresh = min(max(cw.Ssthresh, 2*w.mss), 1<<30)
}
