package server

import (
	"testing"
	"time"

	"github.com/tapstack/tapstack/dhcp"
)

// FuzzHandle feeds arbitrary messages to a core with a pool of two: nothing
// panics, every reply validates and is a BOOTREPLY, and the lease table
// never outgrows the pool.
func FuzzHandle(f *testing.F) {
	f.Add(msg(dhcp.Discover, macA), uint8(0))
	f.Add(msg(dhcp.Request, macA, withServer(router), withRequested(first)), uint8(1))
	f.Add(msg(dhcp.Request, macA, withCIAddr(first)), uint8(2))
	f.Add(msg(dhcp.Decline, macA, withServer(router), withRequested(first)), uint8(3))
	f.Add(msg(dhcp.Release, macA, withServer(router), withCIAddr(first)), uint8(4))
	f.Add(msg(dhcp.Inform, macA, withCIAddr(first)), uint8(5))
	f.Add([]byte{}, uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, step uint8) {
		c, err := NewCore(Config{Subnet: subnet, Router: router, DNS: nil, RangeStart: first, RangeEnd: second, ClientRate: -1, GlobalRate: -1})
		if err != nil {
			t.Fatal(err)
		}
		// A lease for macA first, so the state logic has something to act on.
		c.Handle(t0, msg(dhcp.Discover, macA))
		c.Handle(t0, msg(dhcp.Request, macA, withServer(router), withRequested(first)))
		for i := range 3 {
			now := t0.Add(time.Duration(i*int(step)) * time.Minute)
			out := c.Handle(now, b)
			if out.Reply != nil {
				m := dhcp.Message(out.Reply)
				if m.Validate() != nil || m.Op() != dhcp.OpReply || !out.To.IsValid() {
					t.Fatalf("bad reply %x to %v", out.Reply, out.To)
				}
			}
			if n := len(c.Leases(now)); n > 2 || len(c.pool.byKey) > 2 {
				t.Fatalf("table %d entries, index %d, pool 2", n, len(c.pool.byKey))
			}
		}
	})
}
