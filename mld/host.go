package mld

import (
	"net/netip"
	"slices"
	"time"
)

// Protocol constants (RFC 3810 9, RFC 2710 7).
const (
	// DefaultRobustness is the robustness variable until a querier says
	// otherwise: a state change is reported this many times.
	DefaultRobustness = 2
	// DefaultQueryInterval is the querier's query interval until an
	// MLDv2 query says otherwise (125 s).
	DefaultQueryInterval = 125 * time.Second
	// UnsolicitedReportInterval spaces the retransmissions of an MLDv2
	// state-change report (1 s, RFC 3810 9.11).
	UnsolicitedReportInterval = time.Second
	// V1UnsolicitedReportInterval spaces MLDv1 unsolicited reports (10 s,
	// RFC 2710 7.10).
	V1UnsolicitedReportInterval = 10 * time.Second
	// MaxGroups bounds the groups reported per interface; more joins are
	// counted (mld.groups_over_limit) and not reported.
	MaxGroups = 1024
	// maxSources bounds the sources remembered for a pending
	// group-and-source query response; past it the whole group is
	// reported (IS_EX{}), which tells the querier more, not less.
	maxSources = 64
)

var (
	allNodes   = netip.MustParseAddr("ff02::1")  // never reported
	allRouters = netip.MustParseAddr("ff02::2")  // MLDv1 dones go here
	v2Routers  = netip.MustParseAddr("ff02::16") // MLDv2 reports go here
)

// message is one MLD message to send: its bytes (checksum still zero:
// the sender adds it once it knows the source) and IP destination.
type message struct {
	dst  netip.Addr
	data []byte
}

// group is the state of one reported group on an interface.
type group struct {
	member bool // false: left, kept until its TO_IN reports are sent

	changeLeft int       // state-change reports still to send
	changeAt   time.Time // when the next is due (zero: none)

	respAt      time.Time    // pending query response (zero: none)
	respAll     bool         // answer for the whole group
	respSources []netip.Addr // else these queried sources (IS_IN)
}

// iface is the host side of MLD on one interface (RFC 3810 6 and 8,
// RFC 2710 4), sans-IO: the caller passes the time in and sends the
// messages that come out. Times are absolute; zero means "not scheduled".
type iface struct {
	groups  map[netip.Addr]*group
	v1Until time.Time // an MLDv1 querier was heard (RFC 3810 8.2.1)

	generalAt time.Time // pending answer to an MLDv2 general query

	robustness int
	qi         time.Duration

	jitter func(time.Duration) time.Duration // uniform in [0, d]
	over   func()                            // a join over MaxGroups
}

func newIface(jitter func(time.Duration) time.Duration, over func()) *iface {
	return &iface{
		groups:     make(map[netip.Addr]*group),
		robustness: DefaultRobustness,
		qi:         DefaultQueryInterval,
		jitter:     jitter,
		over:       over,
	}
}

// mode is the host compatibility mode at now (RFC 3810 8.2.1): 1 while an
// MLDv1 querier was heard within the older version querier present
// timeout, else 2.
func (f *iface) mode(now time.Time) int {
	if now.Before(f.v1Until) {
		return 1
	}
	return 2
}

// reportable says whether joining g is reported (RFC 3810 6): every IPv6
// multicast address but ff02::1 and those of scope 0 (reserved) or 1
// (interface-local). Solicited-node groups are reported: snooping bridges
// need them to pass neighbour solicitations.
func reportable(g netip.Addr) bool {
	if !g.Is6() || !g.IsMulticast() || g == allNodes {
		return false
	}
	scope := g.As16()[1] & 0x0f
	return scope != 0 && scope != 1
}

// join handles the first member of g on the interface (RFC 3810 6.1,
// RFC 2710 4): an unsolicited report now, repeated robustness-1 times.
func (f *iface) join(now time.Time, g netip.Addr) []message {
	if !reportable(g) {
		return nil
	}
	st := f.groups[g]
	if st == nil {
		if len(f.groups) >= MaxGroups {
			f.over()
			return nil
		}
		st = &group{}
		f.groups[g] = st
	}
	st.member = true
	return f.stateChange(now, g, st)
}

// leave handles the last member of g leaving: MLDv2 reports TO_IN{}
// robustness times; MLDv1 sends one done to ff02::2 (RFC 2710 4; Linux
// sends it whether or not it was the last reporter).
func (f *iface) leave(now time.Time, g netip.Addr) []message {
	st := f.groups[g]
	if st == nil || !st.member {
		return nil
	}
	st.member = false
	st.respAt = time.Time{}
	if f.mode(now) == 2 {
		return f.stateChange(now, g, st)
	}
	delete(f.groups, g)
	b := make([]byte, v1Len)
	encodeV1(b, TypeV1Done, g)
	return []message{{allRouters, b}}
}

// stateChange sends the first report of a membership change of g and
// schedules the retransmissions.
func (f *iface) stateChange(now time.Time, g netip.Addr, st *group) []message {
	st.changeLeft = f.robustness - 1
	st.changeAt = time.Time{}
	mode := f.mode(now)
	if st.changeLeft > 0 {
		iv := UnsolicitedReportInterval
		if mode < 2 {
			iv = V1UnsolicitedReportInterval
		}
		st.changeAt = now.Add(f.jitter(iv))
	}
	if mode < 2 {
		return []message{v1Report(g)}
	}
	typ := ChangeToExclude
	if !st.member {
		typ = ChangeToInclude
		if st.changeLeft == 0 {
			delete(f.groups, g)
		}
	}
	return []message{v2Message([]RecordFields{{Type: typ, Address: g}})}
}

// query handles a multicast listener query that validated (RFC 3810 6.2
// and 8.2.1, RFC 2710 4).
func (f *iface) query(now time.Time, q Query) {
	maxResp := q.MaxRespTime()
	if q.Version() == 1 {
		// RFC 3810 9.12: robustness * query interval + query response
		// interval.
		old := f.mode(now)
		f.v1Until = now.Add(time.Duration(f.robustness)*f.qi + maxResp)
		if old == 2 {
			f.cancelV3()
		}
	}
	g := q.Address()
	if g.IsValid() && g.IsUnspecified() {
		g = netip.Addr{}
	}
	if f.mode(now) < 2 {
		// MLDv1 behaviour (also for an MLDv2 query heard in MLDv1 mode):
		// per-address timers, reset only to a sooner time.
		for addr, st := range f.groups {
			if st.member && (!g.IsValid() || g == addr) {
				at := now.Add(f.jitter(maxResp))
				if st.respAt.IsZero() || at.Before(st.respAt) {
					st.respAt, st.respAll = at, true
				}
			}
		}
		return
	}
	if r := q.QRV(); r > 0 {
		f.robustness = r
	}
	if qi := q.QueryInterval(); qi > 0 {
		f.qi = qi
	}
	at := now.Add(f.jitter(maxResp))
	// RFC 3810 6.2 rule 1: a pending general response sooner than this
	// covers it.
	if !f.generalAt.IsZero() && !f.generalAt.After(at) {
		return
	}
	if !g.IsValid() {
		f.generalAt = at // rule 2
		return
	}
	st := f.groups[g]
	if st == nil || !st.member {
		return
	}
	switch {
	case st.respAt.IsZero(): // rule 3
		st.respAt = at
		st.respAll = q.NumSources() == 0
		st.respSources = st.respSources[:0]
		f.addSources(st, q)
	case st.respAll || q.NumSources() == 0: // rule 4
		st.respAll, st.respSources = true, nil
	default: // rule 5
		f.addSources(st, q)
	}
	if at.Before(st.respAt) {
		st.respAt = at
	}
}

// addSources merges the sources of q into the pending response of st.
func (f *iface) addSources(st *group, q Query) {
	for i := 0; i < q.NumSources(); i++ {
		s := q.Source(i)
		if slices.Contains(st.respSources, s) {
			continue
		}
		if len(st.respSources) >= maxSources {
			st.respAll, st.respSources = true, nil
			return
		}
		st.respSources = append(st.respSources, s)
	}
}

// cancelV3 drops pending MLDv2 responses and retransmissions when an
// MLDv1 querier appears (RFC 3810 8.2.1).
func (f *iface) cancelV3() {
	f.generalAt = time.Time{}
	for g, st := range f.groups {
		if !st.member {
			delete(f.groups, g)
			continue
		}
		st.respAt, st.respSources, st.changeLeft, st.changeAt = time.Time{}, nil, 0, time.Time{}
	}
}

// reportHeard handles another node's MLDv1 report of g: in MLDv1 mode it
// suppresses our pending response (RFC 2710 4). MLDv2 hosts do not
// suppress.
func (f *iface) reportHeard(now time.Time, g netip.Addr) {
	if f.mode(now) == 2 {
		return
	}
	if st := f.groups[g]; st != nil {
		st.respAt = time.Time{}
	}
}

// tick sends what is due at now. maxLen bounds the length of one MLDv2
// report (the interface MTU less the IPv6 and hop-by-hop headers).
func (f *iface) tick(now time.Time, maxLen int) []message {
	mode := f.mode(now)
	var out []message
	var recs []RecordFields
	general := mode == 2 && !f.generalAt.IsZero() && !f.generalAt.After(now)
	if general {
		f.generalAt = time.Time{}
	}
	for _, g := range f.sortedGroups() {
		st := f.groups[g]
		if general && st.member {
			recs = append(recs, RecordFields{Type: ModeIsExclude, Address: g})
		}
		if !st.respAt.IsZero() && !st.respAt.After(now) {
			st.respAt = time.Time{}
			switch {
			case !st.member:
			case mode < 2:
				out = append(out, v1Report(g))
			case general:
				// Already in the general answer.
			case st.respAll:
				recs = append(recs, RecordFields{Type: ModeIsExclude, Address: g})
			default:
				// EXCLUDE{} minus nothing: every queried source is
				// wanted (RFC 3810 6.3, IS_IN(queried sources)).
				recs = append(recs, RecordFields{Type: ModeIsInclude, Address: g, Sources: slices.Clone(st.respSources)})
			}
			st.respSources = st.respSources[:0]
		}
		if st.changeLeft > 0 && !st.changeAt.IsZero() && !st.changeAt.After(now) {
			st.changeLeft--
			st.changeAt = time.Time{}
			if st.changeLeft > 0 {
				st.changeAt = now.Add(f.jitter(UnsolicitedReportInterval))
			}
			switch {
			case mode < 2:
				if st.member {
					out = append(out, v1Report(g))
				}
			case st.member:
				recs = append(recs, RecordFields{Type: ChangeToExclude, Address: g})
			default:
				recs = append(recs, RecordFields{Type: ChangeToInclude, Address: g})
			}
			if !st.member && st.changeLeft == 0 {
				delete(f.groups, g)
			}
		}
	}
	return append(out, splitReports(recs, maxLen)...)
}

// next is the earliest scheduled time, or zero.
func (f *iface) next() time.Time {
	var t time.Time
	min := func(u time.Time) {
		if !u.IsZero() && (t.IsZero() || u.Before(t)) {
			t = u
		}
	}
	min(f.generalAt)
	for _, st := range f.groups {
		min(st.respAt)
		if st.changeLeft > 0 {
			min(st.changeAt)
		}
	}
	return t
}

// sortedGroups returns the groups in address order, so reports are
// deterministic.
func (f *iface) sortedGroups() []netip.Addr {
	gs := make([]netip.Addr, 0, len(f.groups))
	for g := range f.groups {
		gs = append(gs, g)
	}
	slices.SortFunc(gs, netip.Addr.Compare)
	return gs
}

// v1Report is an MLDv1 report of g, sent to g.
func v1Report(g netip.Addr) message {
	b := make([]byte, v1Len)
	encodeV1(b, TypeV1Report, g)
	return message{g, b}
}

// v2Message is one MLDv2 report of recs, sent to ff02::16.
func v2Message(recs []RecordFields) message {
	f := ReportFields{Records: recs}
	b := make([]byte, f.Len())
	f.Encode(b)
	return message{v2Routers, b}
}

// splitReports packs recs into MLDv2 reports of at most maxLen bytes.
func splitReports(recs []RecordFields, maxLen int) []message {
	var out []message
	for len(recs) > 0 {
		n, size := 0, reportHdr
		for n < len(recs) {
			s := recordLen + 16*len(recs[n].Sources)
			if n > 0 && size+s > maxLen {
				break
			}
			size += s
			n++
		}
		out = append(out, v2Message(recs[:n]))
		recs = recs[n:]
	}
	return out
}
