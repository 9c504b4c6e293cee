package dns

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// fakeServer is a DNS server on the kernel's loopback (UDP and TCP on
// separate ports): handle builds the replies for each query (zero, one or
// several datagrams). It records the IDs of the queries it saw.
type fakeServer struct {
	udp    net.PacketConn
	tcp    net.Listener
	handle func(q *Msg, tcp bool) [][]byte

	mu  sync.Mutex
	ids []uint16
	n   int
}

func newFakeServer(t *testing.T, handle func(q *Msg, tcp bool) [][]byte) *fakeServer {
	t.Helper()
	return newFakeServerAt(t, "127.0.0.1", handle)
}

// newFakeServerAt is newFakeServer on the loopback address host (::1 for
// a server reached over IPv6).
func newFakeServerAt(t *testing.T, host string, handle func(q *Msg, tcp bool) [][]byte) *fakeServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{udp: pc, tcp: l, handle: handle}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q, err := Parse(buf[:n])
			if err != nil {
				continue
			}
			s.record(q)
			for _, r := range s.handle(q, false) {
				pc.WriteTo(r, from)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			var lb [2]byte
			if _, err := io.ReadFull(c, lb[:]); err == nil {
				b := make([]byte, binary.BigEndian.Uint16(lb[:]))
				if _, err := io.ReadFull(c, b); err == nil {
					if q, err := Parse(b); err == nil {
						s.record(q)
						for _, r := range s.handle(q, true) {
							c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(r))))
							c.Write(r)
						}
					}
				}
			}
			c.Close()
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		l.Close()
		wg.Wait()
	})
	return s
}

func (s *fakeServer) record(q *Msg) {
	s.mu.Lock()
	s.ids = append(s.ids, q.Header.ID)
	s.n++
	s.mu.Unlock()
}

func (s *fakeServer) queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// addr is the UDP address of the server.
func (s *fakeServer) addr() netip.AddrPort {
	return s.udp.LocalAddr().(*net.UDPAddr).AddrPort()
}

// dialer returns a Dial function that reaches the fake servers over the
// kernel, sending "tcp" connections to the TCP port of the server whose
// UDP port was asked for.
func dialer(servers ...*fakeServer) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		if network == "tcp" {
			for _, s := range servers {
				if s.addr().String() == addr {
					addr = s.tcp.Addr().String()
				}
			}
		}
		return d.DialContext(ctx, network, addr)
	}
}

// reply starts an answer to q.
func reply(q *Msg, rcode int) *Builder {
	b := NewBuilder(HeaderFields{ID: q.Header.ID, Response: true, RecursionDesired: true, RecursionAvailable: true, Rcode: rcode})
	for _, qq := range q.Questions {
		b.Question(qq)
	}
	return b
}

// zone answers A and AAAA queries from a map name → addresses (IPv4 ones
// for A, IPv6 ones for AAAA) and CNAMEs from another; unknown names get
// NXDOMAIN; other types get an empty NOERROR.
func zone(a map[string][]string, cname map[string]string) func(q *Msg, tcp bool) [][]byte {
	return func(q *Msg, _ bool) [][]byte {
		name := strings.ToLower(q.Questions[0].Name)
		_, okA := a[name]
		_, okC := cname[name]
		if !okA && !okC {
			return [][]byte{reply(q, RcodeNameError).Bytes()}
		}
		b := reply(q, RcodeSuccess)
		qt := q.Questions[0].Type
		if qt != TypeA && qt != TypeAAAA {
			return [][]byte{b.Bytes()}
		}
		for {
			if t, ok := cname[name]; ok {
				b.Answer(Resource{Name: name, Type: TypeCNAME, Class: ClassINET, TTL: 60, Target: t})
				name = t
				continue
			}
			break
		}
		for _, s := range a[name] {
			if ip := netip.MustParseAddr(s); ip.Is4() == (qt == TypeA) {
				b.Answer(Resource{Name: name, Type: qt, Class: ClassINET, TTL: 60, A: ip})
			}
		}
		return [][]byte{b.Bytes()}
	}
}
