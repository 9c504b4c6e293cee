package mld_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/mld"
)

func fuzzSeeds(f *testing.F) {
	f.Add(query(mld.QueryFields{Version: 2, MaxResp: time.Second}))
	f.Add(query(mld.QueryFields{Version: 2, MaxResp: time.Second, Address: netip.MustParseAddr("ff05::1:3"), Sources: []netip.Addr{netip.MustParseAddr("fd00::7")}}))
	f.Add(query(mld.QueryFields{Version: 1, MaxResp: time.Second}))
	r := mld.ReportFields{Records: []mld.RecordFields{{Type: mld.ModeIsExclude, Address: netip.MustParseAddr("ff05::1:3"), Sources: []netip.Addr{netip.MustParseAddr("fd00::7")}}}}
	b := make([]byte, r.Len())
	r.Encode(b)
	f.Add(b)
}

// FuzzMessage checks that no input makes a validated view panic.
func FuzzMessage(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m := mld.Message(b)
		if m.Validate() != nil {
			return
		}
		_ = m.Type()
		if m.Type() != mld.TypeV2Report {
			_ = m.Address()
		}
		if q := mld.Query(b); len(b) >= 24 && q.ValidateQuery() == nil {
			_, _, _, _ = q.Version(), q.MaxRespTime(), q.QRV(), q.QueryInterval()
			for i := 0; i < q.NumSources(); i++ {
				q.Source(i)
			}
		}
		if r := mld.Report(b); r.ValidateReport() == nil {
			r.Records(func(rec mld.Record) bool {
				_, _ = rec.Type(), rec.Address()
				for i := 0; i < rec.NumSources(); i++ {
					rec.Source(i)
				}
				return true
			})
		}
	})
}

// FuzzHandleICMPv6 feeds arbitrary MLD messages of each type to the
// handler with groups joined and fires the timers.
func FuzzHandleICMPv6(f *testing.F) {
	fuzzSeeds(f)
	e := newEnv(f, func(d time.Duration) time.Duration { return d / 3 }, false, "fe80::2/64")
	mustJoin(f, e.nic, "ff05::1:3")
	mustJoin(f, e.nic, "ff02::1:ff00:2")
	types := []uint8{mld.TypeQuery, mld.TypeV1Report, mld.TypeV1Done, mld.TypeV2Report}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 4 {
			return
		}
		b[0] = types[int(b[1])%len(types)]
		e.inject(peerLL, allNodes, 1, b)
		e.clock.Advance(30 * time.Second)
		e.take(t)
	})
}
