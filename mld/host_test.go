package mld_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/mld"
)

var (
	allNodes = netip.MustParseAddr("ff02::1")
	mldv2    = netip.MustParseAddr("ff02::16")
	hbh      = []byte{58, 0, 5, 2, 0, 0, 1, 0}
)

func rec(typ uint8, g string, srcs ...string) mld.RecordFields {
	r := mld.RecordFields{Type: typ, Address: netip.MustParseAddr(g)}
	for _, s := range srcs {
		r.Sources = append(r.Sources, netip.MustParseAddr(s))
	}
	return r
}

func recs(t testing.TB, s []sent) string {
	t.Helper()
	var out [][]mld.RecordFields
	for _, m := range s {
		if m.dst != mldv2 {
			t.Errorf("MLDv2 report sent to %v, want ff02::16", m.dst)
		}
		out = append(out, records(t, m.msg))
	}
	return fmt.Sprint(out)
}

func want(r ...[]mld.RecordFields) string {
	if len(r) == 0 {
		return fmt.Sprint([][]mld.RecordFields(nil))
	}
	return fmt.Sprint(r)
}

// TestJoinReportsRFC3810_6_1 checks RFC 3810 6.1, 5.2.13 and RFC 2711: a
// join is reported at once as TO_EX{} to ff02::16 from the link-local
// address with hop limit 1 and the Router Alert hop-by-hop option, and
// again robustness-1 times within 1 s; the last member's leave likewise
// as TO_IN{}.
func TestJoinReportsRFC3810_6_1(t *testing.T) {
	e := newEnv(t, latest, false, "fd00::2/64", "fe80::2/64")
	g := mustJoin(t, e.nic, "ff05::1:3")
	first := e.take(t)
	if got, w := recs(t, first), want([]mld.RecordFields{rec(mld.ChangeToExclude, "ff05::1:3")}); got != w {
		t.Fatalf("join sent %s, want %s", got, w)
	}
	if first[0].src != ourLL || !bytes.Equal(first[0].hbh, hbh) || first[0].nic != e.nic {
		t.Errorf("report from %v with hop-by-hop %x", first[0].src, first[0].hbh)
	}
	e.clock.Advance(mld.UnsolicitedReportInterval - time.Millisecond)
	if n := len(e.take(t)); n != 0 {
		t.Fatalf("retransmitted early (%d)", n)
	}
	e.clock.Advance(time.Millisecond)
	if got := e.take(t); len(got) != 1 {
		t.Fatalf("%d retransmissions at 1 s, want 1", len(got))
	}
	e.clock.Advance(time.Minute)
	if n := len(e.take(t)); n != 0 {
		t.Fatalf("%d reports after robustness (2)", n)
	}
	if err := e.nic.LeaveGroup(g); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	w := want([]mld.RecordFields{rec(mld.ChangeToInclude, "ff05::1:3")}, []mld.RecordFields{rec(mld.ChangeToInclude, "ff05::1:3")})
	if got := recs(t, e.take(t)); got != w {
		t.Errorf("leave sent %s, want %s", got, w)
	}
}

// TestReportedGroupsRFC3810_6 checks which groups are reported: never
// ff02::1 nor scopes 0 and 1 (nor IPv4 groups, IGMP's business); the
// solicited-node groups are, for snooping bridges.
func TestReportedGroupsRFC3810_6(t *testing.T) {
	tests := []struct {
		group    string
		reported bool
	}{
		{"ff02::1", false},
		{"ff01::1:3", false}, // interface-local
		{"ff00::1:3", false}, // reserved scope 0
		{"ff10::1:3", false}, // transient, scope 0
		{"224.0.0.251", false},
		{"ff02::1:ff00:2", true}, // solicited-node
		{"ff02::fb", true},
		{"ff0e::1:3", true},
	}
	for _, tc := range tests {
		t.Run(tc.group, func(t *testing.T) {
			e := newEnv(t, latest, false, "fe80::2/64")
			mustJoin(t, e.nic, tc.group)
			if got := len(e.take(t)) == 1; got != tc.reported {
				t.Errorf("reported %v, want %v", got, tc.reported)
			}
		})
	}
}

// TestUnspecifiedSourceRFC3810_5_2_13 checks that before the interface
// has a link-local address reports go from ::.
func TestUnspecifiedSourceRFC3810_5_2_13(t *testing.T) {
	e := newEnv(t, latest, false, "fd00::2/64")
	mustJoin(t, e.nic, "ff02::1:ff00:2")
	if got := e.take(t); len(got) != 1 || !got[0].src.IsUnspecified() {
		t.Fatalf("sent %+v, want one report from ::", got)
	}
}

// TestQueryResponsesRFC3810_6_2 checks the answers to general,
// multicast-address-specific and source-specific queries and the merging
// rules of RFC 3810 6.2.
func TestQueryResponsesRFC3810_6_2(t *testing.T) {
	g1, g2 := "ff05::1:1", "ff05::2:2"
	type step struct {
		q       *mld.QueryFields
		advance time.Duration
		want    string
	}
	q := func(resp time.Duration, addr string, srcs ...string) *mld.QueryFields {
		f := &mld.QueryFields{Version: 2, MaxResp: resp}
		if addr != "" {
			f.Address = netip.MustParseAddr(addr)
		}
		for _, s := range srcs {
			f.Sources = append(f.Sources, netip.MustParseAddr(s))
		}
		return f
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"general: every group after the delay", []step{
			{q(10*time.Second, ""), 5*time.Second - time.Millisecond, want()},
			{nil, time.Millisecond, want([]mld.RecordFields{rec(mld.ModeIsExclude, g1), rec(mld.ModeIsExclude, g2)})},
		}},
		{"rule 1: a sooner general answer covers a later query", []step{
			{q(2*time.Second, ""), 0, want()},
			{q(10*time.Second, g1), time.Second, want([]mld.RecordFields{rec(mld.ModeIsExclude, g1), rec(mld.ModeIsExclude, g2)})},
			{nil, time.Minute, want()},
		}},
		{"address-specific query", []step{
			{q(2*time.Second, g2), time.Second, want([]mld.RecordFields{rec(mld.ModeIsExclude, g2)})},
		}},
		{"address we did not join", []step{
			{q(2*time.Second, "ff05::9:9"), time.Minute, want()},
		}},
		{"source-specific: IS_IN(sources), merged", []step{
			{q(4*time.Second, g1, "fd00::7"), 0, want()},
			{q(2*time.Second, g1, "fd00::8"), time.Second, want([]mld.RecordFields{rec(mld.ModeIsInclude, g1, "fd00::7", "fd00::8")})},
		}},
		{"an address query widens a pending source answer", []step{
			{q(2*time.Second, g1, "fd00::7"), 0, want()},
			{q(4*time.Second, g1), time.Second, want([]mld.RecordFields{rec(mld.ModeIsExclude, g1)})},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(d time.Duration) time.Duration { return d / 2 }, false, "fe80::2/64")
			mustJoin(t, e.nic, g1)
			mustJoin(t, e.nic, g2)
			e.clock.Advance(time.Minute)
			e.take(t)
			for i, st := range tc.steps {
				if st.q != nil {
					dst := allNodes
					if st.q.Address.IsValid() {
						dst = st.q.Address
					}
					e.inject(peerLL, dst, 1, query(*st.q))
				}
				e.clock.Advance(st.advance)
				if got := recs(t, e.take(t)); got != st.want {
					t.Fatalf("step %d: sent %s, want %s", i, got, st.want)
				}
			}
		})
	}
}

// TestMLDv1FallbackRFC3810_8_2_1 checks host compatibility mode: after an
// MLDv1 query we answer with MLDv1 reports to the address, another node's
// MLDv1 report suppresses ours (RFC 2710 4), a leave sends a done to
// ff02::2, and MLDv2 comes back after the older version querier present
// timeout (2 * 125 s + the query's max response delay).
func TestMLDv1FallbackRFC3810_8_2_1(t *testing.T) {
	e := newEnv(t, latest, false, "fe80::2/64")
	g := mustJoin(t, e.nic, "ff05::1:3")
	g2 := mustJoin(t, e.nic, "ff05::4:4")
	e.take(t)
	e.inject(peerLL, allNodes, 1, query(mld.QueryFields{Version: 1, MaxResp: 10 * time.Second}))
	if v := e.mld.Version(e.nic); v != 1 {
		t.Fatalf("version %d after an MLDv1 query", v)
	}
	other := make([]byte, 24)
	other[0] = mld.TypeV1Report
	copy(other[8:], g2.AsSlice())
	e.inject(peerLL, g2, 1, other) // suppresses our answer for g2
	e.clock.Advance(10 * time.Second)
	got := e.take(t)
	if len(got) != 1 || got[0].msg[0] != mld.TypeV1Report || got[0].dst != g || mld.Message(got[0].msg).Address() != g || !bytes.Equal(got[0].hbh, hbh) {
		t.Fatalf("answer to an MLDv1 query: %+v, want one v1 report to %v", got, g)
	}
	if err := e.nic.LeaveGroup(g); err != nil {
		t.Fatal(err)
	}
	if got := e.take(t); len(got) != 1 || got[0].msg[0] != mld.TypeV1Done || got[0].dst != netip.MustParseAddr("ff02::2") {
		t.Fatalf("leave in MLDv1 mode: %+v", got)
	}
	e.clock.Advance(2*mld.DefaultQueryInterval - time.Millisecond)
	if v := e.mld.Version(e.nic); v != 1 {
		t.Fatalf("version %d before the timeout", v)
	}
	e.clock.Advance(time.Millisecond)
	if v := e.mld.Version(e.nic); v != 2 {
		t.Fatalf("version %d after the timeout", v)
	}
}

// TestWithoutHopByHopWriter checks the fallback for an IPv6 writer without
// the hook: the report still goes, without the option, and is counted.
func TestWithoutHopByHopWriter(t *testing.T) {
	e := newEnv(t, latest, true, "fe80::2/64")
	mustJoin(t, e.nic, "ff05::1:3")
	if got := e.take(t); len(got) != 1 || got[0].hbh != nil {
		t.Fatalf("sent %+v", got)
	}
	if n := e.count("mld.tx.no_router_alert"); n != 1 {
		t.Errorf("mld.tx.no_router_alert = %d", n)
	}
}

// TestBadInputCounted checks RFC 3810 5.1.14 and 8.1 and RFC 2710 5:
// queries from a non-link-local source, with a hop limit other than 1, of
// 25-27 bytes or shorter than their sources, and short messages are
// counted and dropped without an answer.
func TestBadInputCounted(t *testing.T) {
	good := query(mld.QueryFields{Version: 2, MaxResp: time.Second})
	tests := []struct {
		name    string
		src     netip.Addr
		hl      uint8
		msg     []byte
		counter string
	}{
		{"global source", netip.MustParseAddr("fd00::1"), 1, good, "mld.rx.bad_source"},
		{"hop limit 255", peerLL, 255, good, "mld.rx.bad_hop_limit"},
		{"too short", peerLL, 1, make([]byte, 20), "mld.rx.too_short"},
		{"query of 26 bytes", peerLL, 1, make([]byte, 26), "mld.rx.bad_query"},
		{"query shorter than its sources", peerLL, 1, func() []byte { b := query(mld.QueryFields{Version: 2}); b[27] = 2; return b }(), "mld.rx.bad_query"},
		{"query for a unicast address", peerLL, 1, query(mld.QueryFields{Version: 2, Address: netip.MustParseAddr("fd00::9")}), "mld.rx.bad_query"},
		{"truncated v2 report", peerLL, 1, []byte{143, 0, 0, 0, 0, 0, 0, 1}, "mld.rx.bad_report"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, latest, false, "fe80::2/64")
			mustJoin(t, e.nic, "ff05::1:3")
			e.clock.Advance(time.Minute)
			e.take(t)
			if len(tc.msg) > 0 && tc.msg[0] == 0 {
				tc.msg[0] = mld.TypeQuery
			}
			e.inject(tc.src, allNodes, tc.hl, tc.msg)
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
