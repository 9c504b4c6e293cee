package igmp_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tapstack/tapstack/igmp"
	"github.com/tapstack/tapstack/stack"
)

func recs(t testing.TB, s []sent) [][]igmp.RecordFields {
	t.Helper()
	var out [][]igmp.RecordFields
	for _, m := range s {
		if m.dst != netip.MustParseAddr("224.0.0.22") {
			t.Errorf("v3 report sent to %v, want 224.0.0.22", m.dst)
		}
		out = append(out, records(t, m.msg))
	}
	return out
}

func fmtRecs(r [][]igmp.RecordFields) string { return fmt.Sprint(r) }

func rec(typ uint8, g string, srcs ...string) igmp.RecordFields {
	r := igmp.RecordFields{Type: typ, Group: netip.MustParseAddr(g)}
	for _, s := range srcs {
		r.Sources = append(r.Sources, netip.MustParseAddr(s))
	}
	return r
}

// TestJoinReportsRFC3376_5_1 checks RFC 3376 5.1 and 4.2.13 and RFC 2113:
// a join is reported at once as a TO_EX{} state change, and again
// robustness-1 (1) times within the unsolicited report interval (1 s);
// reports go to 224.0.0.22 (MAC 01:00:5e:00:00:16) from our address,
// TTL 1, Router Alert, precedence Internetwork Control.
func TestJoinReportsRFC3376_5_1(t *testing.T) {
	e := newEnv(t, latest)
	mustJoin(t, e.nic, "239.1.2.3")
	first := e.take(t)
	want := [][]igmp.RecordFields{{rec(igmp.ChangeToExclude, "239.1.2.3")}}
	if got := recs(t, first); fmtRecs(got) != fmtRecs(want) {
		t.Fatalf("join sent %v, want %v", got, want)
	}
	m := first[0]
	if m.linkDst != (stack.MAC{1, 0, 0x5e, 0, 0, 0x16}) || m.src != ourAddr || m.ttl != 1 || m.tos != 0xc0 || !bytes.Equal(m.options, []byte{148, 4, 0, 0}) {
		t.Errorf("report header: link %v src %v ttl %d tos %#x options %x", m.linkDst, m.src, m.ttl, m.tos, m.options)
	}
	e.clock.Advance(igmp.UnsolicitedReportInterval - time.Millisecond)
	if got := e.take(t); len(got) != 0 {
		t.Fatalf("retransmitted early: %d", len(got))
	}
	e.clock.Advance(time.Millisecond)
	if got := recs(t, e.take(t)); fmtRecs(got) != fmtRecs(want) {
		t.Fatalf("retransmission %v, want %v", got, want)
	}
	e.clock.Advance(time.Minute)
	if got := e.take(t); len(got) != 0 {
		t.Errorf("%d reports after robustness (2) were sent", len(got))
	}
	if n := e.count("igmp.tx.reports"); n != 2 {
		t.Errorf("igmp.tx.reports = %d, want 2", n)
	}
}

// TestLeaveReportsRFC3376_5_1 checks that the last member leaving is
// reported as TO_IN{} robustness times, after which IGMP forgets the group;
// and that a second member's join or first member's leave says nothing.
func TestLeaveReportsRFC3376_5_1(t *testing.T) {
	e := newEnv(t, latest)
	g := mustJoin(t, e.nic, "239.1.2.3")
	mustJoin(t, e.nic, "239.1.2.3") // a second member: no report
	e.clock.Advance(time.Minute)
	e.take(t)
	if err := e.nic.LeaveGroup(g); err != nil { // one member left
		t.Fatal(err)
	}
	if got := e.take(t); len(got) != 0 {
		t.Fatalf("a leave with a member left sent %d reports", len(got))
	}
	if err := e.nic.LeaveGroup(g); err != nil {
		t.Fatal(err)
	}
	want := [][]igmp.RecordFields{{rec(igmp.ChangeToInclude, "239.1.2.3")}}
	if got := recs(t, e.take(t)); fmtRecs(got) != fmtRecs(want) {
		t.Fatalf("leave sent %v, want %v", got, want)
	}
	e.clock.Advance(igmp.UnsolicitedReportInterval)
	if got := recs(t, e.take(t)); fmtRecs(got) != fmtRecs(want) {
		t.Fatalf("leave retransmission %v, want %v", got, want)
	}
	e.clock.Advance(time.Minute)
	if got := e.take(t); len(got) != 0 || len(e.igmp.Groups(e.nic)) != 0 {
		t.Errorf("after the leave: %d more reports, groups %v", len(got), e.igmp.Groups(e.nic))
	}
}

// TestAllSystemsNeverReportedRFC2236_6 checks that joining 224.0.0.1 (and
// an IPv6 group, MLD's business) sends nothing.
func TestAllSystemsNeverReportedRFC2236_6(t *testing.T) {
	e := newEnv(t, latest)
	mustJoin(t, e.nic, "224.0.0.1")
	mustJoin(t, e.nic, "ff02::1:3")
	e.clock.Advance(time.Minute)
	if got := e.take(t); len(got) != 0 {
		t.Errorf("sent %d reports", len(got))
	}
	// A general query is answered without them: nothing to report.
	e.inject(netip.MustParseAddr("224.0.0.1"), query(igmp.QueryFields{Version: 3, MaxResp: time.Second}))
	e.clock.Advance(time.Minute)
	if got := e.take(t); len(got) != 0 {
		t.Errorf("answered a general query with %d reports", len(got))
	}
}

// TestQueryResponsesRFC3376_5_2 checks the five rules of RFC 3376 5.2 for
// scheduling answers to queries, and the answers: a general query gets
// one report with IS_EX{} for every group; a group query IS_EX{} for that
// group; a group-and-source query IS_IN(those sources); a later group
// query for a pending group-and-source answer widens it to IS_EX{}.
func TestQueryResponsesRFC3376_5_2(t *testing.T) {
	all := netip.MustParseAddr("224.0.0.1")
	half := func(d time.Duration) time.Duration { return d / 2 }
	type step struct {
		query   *igmp.QueryFields // nil: only advance
		advance time.Duration
		want    [][]igmp.RecordFields
	}
	g1, g2 := netip.MustParseAddr("239.1.1.1"), netip.MustParseAddr("239.2.2.2")
	src := func(s ...string) []netip.Addr {
		var out []netip.Addr
		for _, a := range s {
			out = append(out, netip.MustParseAddr(a))
		}
		return out
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"general query: every group in one report after the delay", []step{
			{&igmp.QueryFields{Version: 3, MaxResp: 10 * time.Second}, 5*time.Second - time.Millisecond, nil},
			{nil, time.Millisecond, [][]igmp.RecordFields{{rec(igmp.ModeIsExclude, "239.1.1.1"), rec(igmp.ModeIsExclude, "239.2.2.2")}}},
		}},
		{"rule 1: a sooner pending general answer covers a later query", []step{
			{&igmp.QueryFields{Version: 3, MaxResp: 2 * time.Second}, 0, nil},
			{&igmp.QueryFields{Version: 3, MaxResp: 20 * time.Second}, 0, nil},
			{&igmp.QueryFields{Version: 3, MaxResp: 10 * time.Second, Group: g1}, time.Second, [][]igmp.RecordFields{{rec(igmp.ModeIsExclude, "239.1.1.1"), rec(igmp.ModeIsExclude, "239.2.2.2")}}},
			{nil, time.Minute, nil},
		}},
		{"rule 2: a sooner general query replaces the pending one", []step{
			{&igmp.QueryFields{Version: 3, MaxResp: 20 * time.Second}, 0, nil},
			{&igmp.QueryFields{Version: 3, MaxResp: 2 * time.Second}, time.Second, [][]igmp.RecordFields{{rec(igmp.ModeIsExclude, "239.1.1.1"), rec(igmp.ModeIsExclude, "239.2.2.2")}}},
			{nil, time.Minute, nil},
		}},
		{"rule 3: group query answers that group", []step{
			{&igmp.QueryFields{Version: 3, MaxResp: 2 * time.Second, Group: g2}, time.Second, [][]igmp.RecordFields{{rec(igmp.ModeIsExclude, "239.2.2.2")}}},
		}},
		{"group query for a group we did not join: silence", []step{
			{&igmp.QueryFields{Version: 3, MaxResp: 2 * time.Second, Group: netip.MustParseAddr("239.9.9.9")}, time.Minute, nil},
		}},
		{"rule 3: group-and-source query answers IS_IN(sources)", []step{
			{&igmp.QueryFields{Version: 3, MaxResp: 2 * time.Second, Group: g1, Sources: src("10.0.0.7", "10.0.0.8")}, time.Second, [][]igmp.RecordFields{{rec(igmp.ModeIsInclude, "239.1.1.1", "10.0.0.7", "10.0.0.8")}}},
		}},
		{"rule 5: source lists of pending answers merge", []step{
			{&igmp.QueryFields{Version: 3, MaxResp: 4 * time.Second, Group: g1, Sources: src("10.0.0.7")}, 0, nil},
			{&igmp.QueryFields{Version: 3, MaxResp: 2 * time.Second, Group: g1, Sources: src("10.0.0.8", "10.0.0.7")}, time.Second, [][]igmp.RecordFields{{rec(igmp.ModeIsInclude, "239.1.1.1", "10.0.0.7", "10.0.0.8")}}},
			{nil, time.Minute, nil},
		}},
		{"rule 4: a group query widens a pending source answer", []step{
			{&igmp.QueryFields{Version: 3, MaxResp: 2 * time.Second, Group: g1, Sources: src("10.0.0.7")}, 0, nil},
			{&igmp.QueryFields{Version: 3, MaxResp: 4 * time.Second, Group: g1}, time.Second, [][]igmp.RecordFields{{rec(igmp.ModeIsExclude, "239.1.1.1")}}},
			{nil, time.Minute, nil},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, half)
			mustJoin(t, e.nic, g1.String())
			mustJoin(t, e.nic, g2.String())
			e.clock.Advance(time.Minute)
			e.take(t)
			for i, st := range tc.steps {
				if st.query != nil {
					dst := all
					if st.query.Group.IsValid() {
						dst = st.query.Group
					}
					e.inject(dst, query(*st.query))
				}
				e.clock.Advance(st.advance)
				if got := recs(t, e.take(t)); fmtRecs(got) != fmtRecs(st.want) {
					t.Fatalf("step %d: sent %v, want %v", i, got, st.want)
				}
			}
		})
	}
}

// TestRobustnessFromQueryRFC3376_8_1 checks that the querier's QRV becomes
// our robustness variable: QRV 3 makes a join reported three times.
func TestRobustnessFromQueryRFC3376_8_1(t *testing.T) {
	e := newEnv(t, latest)
	e.inject(netip.MustParseAddr("224.0.0.1"), query(igmp.QueryFields{Version: 3, MaxResp: time.Second, QRV: 3, QQI: 60 * time.Second}))
	e.clock.Advance(time.Minute)
	mustJoin(t, e.nic, "239.1.2.3")
	e.clock.Advance(time.Minute)
	if got := e.take(t); len(got) != 3 {
		t.Errorf("join with QRV 3 sent %d reports, want 3", len(got))
	}
}

// TestOlderQuerierFallbackRFC3376_7_2_1 checks host compatibility mode: a
// version 2 query makes us answer with version 2 reports sent to the
// group, leave with a version 2 leave to 224.0.0.2, and join with a
// version 2 report; a version 1 query makes us answer with version 1
// reports and leave silently; after the older version querier present
// timeout (robustness * query interval + query response interval) we
// speak version 3 again. Pending version 3 retransmissions are cancelled
// by the switch.
func TestOlderQuerierFallbackRFC3376_7_2_1(t *testing.T) {
	e := newEnv(t, latest)
	all := netip.MustParseAddr("224.0.0.1")
	g := mustJoin(t, e.nic, "239.1.2.3")
	e.take(t) // the first TO_EX; its retransmission is pending
	e.inject(all, query(igmp.QueryFields{Version: 2, MaxResp: 10 * time.Second}))
	if v := e.igmp.Version(e.nic); v != 2 {
		t.Fatalf("version %d after a v2 query", v)
	}
	e.clock.Advance(10 * time.Second)
	got := e.take(t)
	if len(got) != 1 || got[0].msg[0] != igmp.TypeV2Report || got[0].dst != g || igmp.Message(got[0].msg).Group() != g || len(got[0].msg) != 8 {
		t.Fatalf("answer to a v2 query: %+v, want one v2 report to %v", got, g)
	}
	g2 := mustJoin(t, e.nic, "239.5.5.5")
	if got := e.take(t); len(got) != 1 || got[0].msg[0] != igmp.TypeV2Report || got[0].dst != g2 {
		t.Fatalf("join in v2 mode: %+v", got)
	}
	if err := e.nic.LeaveGroup(g2); err != nil {
		t.Fatal(err)
	}
	if got := e.take(t); len(got) != 1 || got[0].msg[0] != igmp.TypeV2Leave || got[0].dst != netip.MustParseAddr("224.0.0.2") {
		t.Fatalf("leave in v2 mode: %+v", got)
	}
	e.inject(all, query(igmp.QueryFields{Version: 1}))
	if v := e.igmp.Version(e.nic); v != 1 {
		t.Fatalf("version %d after a v1 query", v)
	}
	e.clock.Advance(10 * time.Second)
	if got := e.take(t); len(got) != 1 || got[0].msg[0] != igmp.TypeV1Report || got[0].dst != g {
		t.Fatalf("answer to a v1 query: %+v", got)
	}
	if err := e.nic.LeaveGroup(g); err != nil {
		t.Fatal(err)
	}
	if got := e.take(t); len(got) != 0 {
		t.Fatalf("leave in v1 mode sent %d messages", len(got))
	}
	// 2 * 125 s + 10 s after the v1 query (10 s ago), version 3 is back.
	e.clock.Advance(2*igmp.DefaultQueryInterval - time.Millisecond)
	if v := e.igmp.Version(e.nic); v != 1 {
		t.Fatalf("version %d just before the older querier timeout", v)
	}
	e.clock.Advance(time.Millisecond)
	if v := e.igmp.Version(e.nic); v != 3 {
		t.Fatalf("version %d after the older querier timeout", v)
	}
	mustJoin(t, e.nic, "239.7.7.7")
	if got := e.take(t); len(got) != 1 || got[0].msg[0] != igmp.TypeV3Report {
		t.Errorf("join after the timeout: %+v", got)
	}
}

// TestReportSuppressionRFC2236_3 checks that in version 2 mode another
// host's report for a group cancels our pending answer, and that in
// version 3 mode it does not (RFC 3376 has no suppression).
func TestReportSuppressionRFC2236_3(t *testing.T) {
	for _, v := range []int{2, 3} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			e := newEnv(t, latest)
			g := mustJoin(t, e.nic, "239.1.2.3")
			e.clock.Advance(time.Minute)
			e.take(t)
			e.inject(g, query(igmp.QueryFields{Version: v, MaxResp: 5 * time.Second, Group: g}))
			other := make([]byte, 8)
			igmp.QueryFields{Version: 2, Group: g}.Encode(other) // checksum, then retype
			other[0] = igmp.TypeV2Report
			other[2], other[3] = 0, 0
			fixChecksum(other)
			e.inject(g, other)
			e.clock.Advance(time.Minute)
			n := len(e.take(t))
			if want := map[int]int{2: 0, 3: 1}[v]; n != want {
				t.Errorf("sent %d answers after another host's report, want %d", n, want)
			}
		})
	}
}

// TestBadInputCounted checks that malformed messages are counted and
// dropped without an answer.
func TestBadInputCounted(t *testing.T) {
	all := netip.MustParseAddr("224.0.0.1")
	good := query(igmp.QueryFields{Version: 3, MaxResp: time.Second})
	bad := func(b []byte, f func([]byte)) []byte { b = slices.Clone(b); f(b); return b }
	long := func(n int) []byte { b := make([]byte, n); b[0] = igmp.TypeQuery; fixChecksum(b); return b }
	tests := []struct {
		name    string
		msg     []byte
		counter string
	}{
		{"too short", []byte{0x11, 0, 0xee, 0xff}, "igmp.rx.too_short"},
		{"bad checksum", bad(good, func(b []byte) { b[1] ^= 1 }), "igmp.rx.bad_checksum"},
		{"query of 10 bytes (RFC 3376 7.1)", long(10), "igmp.rx.bad_query"},
		{"query shorter than its sources", bad(good, func(b []byte) { b[11] = 3; b[2], b[3] = 0, 0; fixChecksum(b) }), "igmp.rx.bad_query"},
		{"query for a unicast group", bad(good, func(b []byte) { copy(b[4:8], []byte{10, 0, 0, 9}); b[2], b[3] = 0, 0; fixChecksum(b) }), "igmp.rx.bad_query"},
		{"truncated v3 report", bad(make([]byte, 8), func(b []byte) { b[0], b[7] = igmp.TypeV3Report, 1; fixChecksum(b) }), "igmp.rx.bad_report"},
		{"unknown type", bad(make([]byte, 8), func(b []byte) { b[0] = 0x42; fixChecksum(b) }), "igmp.rx.unknown_type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, latest)
			mustJoin(t, e.nic, "239.1.2.3")
			e.clock.Advance(time.Minute)
			e.take(t)
			e.inject(all, tc.msg)
			e.clock.Advance(time.Minute)
			if n := e.count(tc.counter); n != 1 {
				t.Errorf("%s = %d, want 1", tc.counter, n)
			}
			if got := e.take(t); len(got) != 0 {
				t.Errorf("answered with %d messages", len(got))
			}
		})
	}
}

// TestManyGroupsSplitReports checks that a general answer for more groups
// than one MTU holds is split into several valid reports, and that joins
// past MaxGroups are counted and not reported.
func TestManyGroupsSplitReports(t *testing.T) {
	e := newEnv(t, latest)
	for i := 0; i < igmp.MaxGroups+5; i++ {
		mustJoin(t, e.nic, netip.AddrFrom4([4]byte{239, 0, byte(i >> 8), byte(i)}).String())
	}
	e.clock.Advance(time.Minute)
	e.take(t)
	if n := e.count("igmp.groups_over_limit"); n != 5 {
		t.Errorf("igmp.groups_over_limit = %d, want 5", n)
	}
	e.inject(netip.MustParseAddr("224.0.0.1"), query(igmp.QueryFields{Version: 3, MaxResp: time.Second}))
	e.clock.Advance(time.Second)
	total := 0
	got := e.take(t)
	for _, m := range got {
		if len(m.msg)+24 > 1500 {
			t.Errorf("report of %d bytes exceeds the MTU", len(m.msg))
		}
		total += len(records(t, m.msg))
	}
	if total != igmp.MaxGroups || len(got) < 2 {
		t.Errorf("%d records in %d reports, want %d in several", total, len(got), igmp.MaxGroups)
	}
}
