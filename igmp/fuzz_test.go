package igmp_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/igmp"
)

func fuzzSeeds(f *testing.F) {
	f.Add(query(igmp.QueryFields{Version: 3, MaxResp: time.Second}))
	f.Add(query(igmp.QueryFields{Version: 3, MaxResp: time.Second, Group: netip.MustParseAddr("239.1.2.3"), Sources: []netip.Addr{netip.MustParseAddr("10.0.0.7")}}))
	f.Add(query(igmp.QueryFields{Version: 2, MaxResp: time.Second}))
	f.Add(query(igmp.QueryFields{Version: 1}))
	r := igmp.ReportFields{Records: []igmp.RecordFields{{Type: igmp.ModeIsExclude, Group: netip.MustParseAddr("239.1.2.3"), Sources: []netip.Addr{netip.MustParseAddr("10.0.0.7")}}}}
	b := make([]byte, r.Len())
	r.Encode(b)
	f.Add(b)
	f.Add([]byte{0x16, 0, 0, 0, 239, 1, 2, 3})
}

// FuzzMessage checks that no sequence of bytes makes a view panic once
// its Validate passed.
func FuzzMessage(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m := igmp.Message(b)
		if m.Validate() != nil {
			return
		}
		_, _, _ = m.Type(), m.MaxRespCode(), m.Group()
		if q := igmp.Query(b); q.ValidateQuery() == nil {
			_, _, _, _ = q.Version(), q.MaxRespTime(), q.QRV(), q.QueryInterval()
			for i := 0; i < q.NumSources(); i++ {
				q.Source(i)
			}
		}
		if r := igmp.Report(b); r.ValidateReport() == nil {
			r.Records(func(rec igmp.Record) bool {
				_, _ = rec.Type(), rec.Group()
				for i := 0; i < rec.NumSources(); i++ {
					rec.Source(i)
				}
				return true
			})
		}
	})
}

// FuzzInbound feeds arbitrary IGMP messages (with a fixed-up checksum half
// the time) through ipv4 to IGMP with groups joined, and fires the timers:
// nothing may panic or leak.
func FuzzInbound(f *testing.F) {
	fuzzSeeds(f)
	e := newEnv(f, func(d time.Duration) time.Duration { return d / 3 })
	mustJoin(f, e.nic, "239.1.2.3")
	mustJoin(f, e.nic, "224.0.0.251")
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= 4 && b[len(b)-1]&1 == 0 {
			b[2], b[3] = 0, 0
			fixChecksum(b)
		}
		e.inject(netip.MustParseAddr("224.0.0.1"), b)
		e.clock.Advance(30 * time.Second)
		e.link.Take()
	})
}
