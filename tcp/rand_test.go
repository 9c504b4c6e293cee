package tcp

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// TestOptionsRand: the same seeded Rand gives the same ISNs, timestamp
// offsets, SYN cookie secret and ephemeral ports; crypto/rand (nil) does
// not repeat itself.
func TestOptionsRand(t *testing.T) {
	seed := [32]byte{7}
	mk := func(r *rand.ChaCha8) *Protocol {
		s := stack.New(stack.Options{})
		t.Cleanup(func() { s.Close() })
		opts := Options{}
		if r != nil {
			opts.Rand = r
		}
		p, err := Register(s, opts)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	draw := func(p *Protocol) (iss uint32, ts uint32, ports [4]uint16) {
		tp := tuple{netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:80")}
		// The same moment of each protocol's life: the ISN's clock counts
		// from the protocol's base time (config.nanos).
		i, o := p.isn(tp, p.cfg.base.Add(time.Second))
		p.mu.Lock()
		defer p.mu.Unlock()
		for k := range ports {
			var err error
			ports[k], err = p.pickEphemeralLocked(netip.MustParseAddrPort("10.0.0.1:0"), netip.MustParseAddrPort("10.0.0.2:80"))
			if err != nil {
				t.Fatal(err)
			}
		}
		return uint32(i), o, ports
	}
	a, b := mk(rand.NewChaCha8(seed)), mk(rand.NewChaCha8(seed))
	ia, ta, pa := draw(a)
	ib, tb, pb := draw(b)
	if ia != ib || ta != tb || pa != pb || a.cookieSecret != b.cookieSecret {
		t.Errorf("same seed, different choices: isn %d/%d ts %d/%d ports %v/%v", ia, ib, ta, tb, pa, pb)
	}
	c := mk(rand.NewChaCha8([32]byte{8}))
	if ic, _, pc := draw(c); ic == ia && pc == pa {
		t.Errorf("another seed repeats the choices: isn %d ports %v", ic, pc)
	}
	x, y := mk(nil), mk(nil)
	if x.secret == y.secret || x.cookieSecret == y.cookieSecret {
		t.Error("crypto/rand gave two protocols the same secrets")
	}
}
