package igmp

import (
	"net/netip"
	"slices"
	"time"
)

// Protocol constants (RFC 3376 8, RFC 2236 8).
const (
	// DefaultRobustness is the robustness variable until a querier says
	// otherwise: a state change is reported this many times.
	DefaultRobustness = 2
	// DefaultQueryInterval is the querier's query interval until a
	// version 3 query says otherwise (125 s).
	DefaultQueryInterval = 125 * time.Second
	// UnsolicitedReportInterval spaces the retransmissions of a version 3
	// state-change report (1 s, RFC 3376 8.11).
	UnsolicitedReportInterval = time.Second
	// V2UnsolicitedReportInterval spaces version 1 and 2 unsolicited
	// reports (10 s, RFC 2236 8.10).
	V2UnsolicitedReportInterval = 10 * time.Second
	// MaxGroups bounds the groups reported per interface; more joins are
	// counted (igmp.groups_over_limit) and not reported.
	MaxGroups = 1024
	// maxSources bounds the sources remembered for a pending
	// group-and-source query response; past it the whole group is
	// reported (IS_EX{}), which tells the querier more, not less.
	maxSources = 64
)

var (
	allSystems = netip.AddrFrom4([4]byte{224, 0, 0, 1})  // never reported
	allRouters = netip.AddrFrom4([4]byte{224, 0, 0, 2})  // v2 leaves go here
	v3Routers  = netip.AddrFrom4([4]byte{224, 0, 0, 22}) // v3 reports go here
)

// message is one IGMP message to send: its bytes (checksum included) and
// IP destination.
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

// iface is the host side of IGMP on one interface (RFC 3376 5 and 7.2,
// RFC 2236 3), sans-IO: the caller passes the time in and sends the
// messages that come out. Times are absolute; zero means "not scheduled".
type iface struct {
	groups  map[netip.Addr]*group
	v1Until time.Time // a version 1 querier was heard (RFC 3376 7.2.1)
	v2Until time.Time // a version 2 querier was heard

	generalAt time.Time // pending answer to a version 3 general query

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

// mode is the host compatibility mode at now (RFC 3376 7.2.1): the oldest
// querier version heard within the older-version querier present timeout.
func (f *iface) mode(now time.Time) int {
	switch {
	case now.Before(f.v1Until):
		return 1
	case now.Before(f.v2Until):
		return 2
	}
	return 3
}

// reportable says whether joining g is reported: every IPv4 group but
// all-systems 224.0.0.1 (RFC 2236 6, RFC 3376 5). Linux reports the other
// 224.0.0.x groups too (igmp_link_local_mcast_reports=1), and so do we.
func reportable(g netip.Addr) bool { return g.Is4() && g.IsMulticast() && g != allSystems }

// join handles the first member of g on the interface (RFC 3376 5.1,
// RFC 2236 3): an unsolicited report now, repeated robustness-1 times.
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

// leave handles the last member of g leaving: version 3 reports TO_IN{}
// robustness times; version 2 sends one leave to 224.0.0.2 (RFC 2236 3,
// Linux sends it whether or not it was the last reporter); version 1 says
// nothing.
func (f *iface) leave(now time.Time, g netip.Addr) []message {
	st := f.groups[g]
	if st == nil || !st.member {
		return nil
	}
	st.member = false
	st.respAt = time.Time{}
	switch f.mode(now) {
	case 3:
		return f.stateChange(now, g, st)
	case 2:
		delete(f.groups, g)
		var b [headerLen]byte
		encodeV2(b[:], TypeV2Leave, g)
		return []message{{allRouters, b[:]}}
	}
	delete(f.groups, g)
	return nil
}

// stateChange sends the first report of a membership change of g and
// schedules the retransmissions.
func (f *iface) stateChange(now time.Time, g netip.Addr, st *group) []message {
	st.changeLeft = f.robustness - 1
	st.changeAt = time.Time{}
	mode := f.mode(now)
	if st.changeLeft > 0 {
		iv := UnsolicitedReportInterval
		if mode < 3 {
			iv = V2UnsolicitedReportInterval
		}
		st.changeAt = now.Add(f.jitter(iv))
	}
	if mode < 3 {
		return []message{v12Report(mode, g)}
	}
	typ := ChangeToExclude
	if !st.member {
		typ = ChangeToInclude
		if st.changeLeft == 0 {
			delete(f.groups, g)
		}
	}
	return []message{v3Message([]RecordFields{{Type: typ, Group: g}})}
}

// query handles a membership query that validated (RFC 3376 5.2 and 7.2.1,
// RFC 2236 3).
func (f *iface) query(now time.Time, q Query) {
	maxResp := q.MaxRespTime()
	if v := q.Version(); v < 3 {
		// RFC 3376 8.12: robustness * query interval + query response
		// interval.
		until := now.Add(time.Duration(f.robustness)*f.qi + maxResp)
		old := f.mode(now)
		if v == 1 {
			f.v1Until = until
		} else {
			f.v2Until = until
		}
		if old == 3 {
			f.cancelV3()
		}
	}
	g := q.Group()
	if g.IsValid() && g.IsUnspecified() {
		g = netip.Addr{}
	}
	if f.mode(now) < 3 {
		// Version 1/2 behaviour (also for a version 3 query heard in an
		// older mode): per-group timers, reset only to a sooner time.
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
	// Rule 1: a pending general response sooner than this covers it.
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

// cancelV3 drops pending version 3 responses and retransmissions when an
// older querier appears (RFC 3376 7.2.1).
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

// reportHeard handles another host's version 1 or 2 report of g: in those
// modes it suppresses our pending response (RFC 2236 3). Version 3 hosts
// do not suppress.
func (f *iface) reportHeard(now time.Time, g netip.Addr) {
	if f.mode(now) == 3 {
		return
	}
	if st := f.groups[g]; st != nil {
		st.respAt = time.Time{}
	}
}

// tick sends what is due at now. maxLen bounds the length of one version 3
// report (the interface MTU less the IP header).
func (f *iface) tick(now time.Time, maxLen int) []message {
	mode := f.mode(now)
	var out []message
	var recs []RecordFields
	general := mode == 3 && !f.generalAt.IsZero() && !f.generalAt.After(now)
	if general {
		f.generalAt = time.Time{}
	}
	for _, g := range f.sortedGroups() {
		st := f.groups[g]
		if general && st.member {
			recs = append(recs, RecordFields{Type: ModeIsExclude, Group: g})
		}
		if !st.respAt.IsZero() && !st.respAt.After(now) {
			st.respAt = time.Time{}
			switch {
			case !st.member:
			case mode < 3:
				out = append(out, v12Report(mode, g))
			case general:
				// Already in the general answer.
			case st.respAll:
				recs = append(recs, RecordFields{Type: ModeIsExclude, Group: g})
			default:
				// EXCLUDE{} minus nothing: every queried source is
				// wanted (RFC 3376 5.2, IS_IN(queried sources)).
				recs = append(recs, RecordFields{Type: ModeIsInclude, Group: g, Sources: slices.Clone(st.respSources)})
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
			case mode < 3:
				if st.member {
					out = append(out, v12Report(mode, g))
				}
			case st.member:
				recs = append(recs, RecordFields{Type: ChangeToExclude, Group: g})
			default:
				recs = append(recs, RecordFields{Type: ChangeToInclude, Group: g})
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

// v12Report is a version 1 or 2 membership report of g, sent to g.
func v12Report(mode int, g netip.Addr) message {
	typ := TypeV2Report
	if mode == 1 {
		typ = TypeV1Report
	}
	b := make([]byte, headerLen)
	encodeV2(b, typ, g)
	return message{g, b}
}

// v3Message is one version 3 report of recs, sent to 224.0.0.22.
func v3Message(recs []RecordFields) message {
	f := ReportFields{Records: recs}
	b := make([]byte, f.Len())
	f.Encode(b)
	return message{v3Routers, b}
}

// splitReports packs recs into version 3 reports of at most maxLen bytes.
func splitReports(recs []RecordFields, maxLen int) []message {
	var out []message
	for len(recs) > 0 {
		n, size := 0, headerLen
		for n < len(recs) {
			s := recordLen + 4*len(recs[n].Sources)
			if n > 0 && size+s > maxLen {
				break
			}
			size += s
			n++
		}
		out = append(out, v3Message(recs[:n]))
		recs = recs[n:]
	}
	return out
}
