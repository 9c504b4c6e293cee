package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// Defaults of Resolver.
const (
	DefaultTimeout  = 5 * time.Second // per query and server, like resolv.conf
	DefaultAttempts = 2               // rounds over the server list
	// maxCNAMEs bounds the CNAME chain followed for one lookup.
	maxCNAMEs = 8
)

// DialFunc opens a connection: network is "udp" or "tcp", addr "ip:port".
// A tapstack host's DialContext has this shape.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Resolver looks up IPv4 and IPv6 addresses of host names over DNS. Its zero value
// has no servers; set Servers (and Dial to go through tapstack). It is
// safe for concurrent use.
type Resolver struct {
	// Servers are the name servers, tried in order; IPv4 or IPv6
	// ([fd00::1]:53), dialled as "ip:port" strings.
	Servers []netip.AddrPort
	// Dial opens connections to servers; nil means the kernel's network
	// (net.Dialer). Pass a tapstack host's DialContext to resolve over the
	// stack.
	Dial DialFunc
	// Timeout bounds each query to one server; 0 means DefaultTimeout.
	Timeout time.Duration
	// Attempts is how many rounds over Servers a lookup makes before it
	// fails; 0 means DefaultAttempts.
	Attempts int
	// Clock drives the Happy Eyeballs connection attempt delay of
	// DialContext; nil means the wall clock. A tapstack host passes its
	// stack's clock.
	Clock stack.Clock
}

func (r *Resolver) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return DefaultTimeout
}

func (r *Resolver) attempts() int {
	if r.Attempts > 0 {
		return r.Attempts
	}
	return DefaultAttempts
}

func (r *Resolver) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if r.Dial != nil {
		return r.Dial(ctx, network, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// LookupHost returns the IPv4 addresses of host: an IPv4 literal is
// returned as it is, "localhost" is 127.0.0.1, anything else is looked up
// with LookupA.
func (r *Resolver) LookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		if a = a.Unmap(); a.Is4() {
			return []netip.Addr{a}, nil
		}
		return nil, &net.DNSError{Err: "not an IPv4 address (LookupNetIP returns both families)", Name: host, IsNotFound: true}
	}
	if n := strings.TrimSuffix(strings.ToLower(host), "."); n == "localhost" || strings.HasSuffix(n, ".localhost") {
		return []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1})}, nil
	}
	return r.LookupA(ctx, host)
}

// LookupA queries the servers for the A records of name (taken as fully
// qualified), following CNAMEs, and returns the addresses in the order of
// the answer. Errors are *net.DNSError: IsNotFound for NXDOMAIN and for a
// name without A records, IsTimeout when no server answered in time,
// IsTemporary for server failures.
func (r *Resolver) LookupA(ctx context.Context, name string) ([]netip.Addr, error) {
	return r.lookup(ctx, name, TypeA)
}

// LookupAAAA is LookupA for the IPv6 addresses of name: its AAAA records
// (RFC 3596).
func (r *Resolver) LookupAAAA(ctx context.Context, name string) ([]netip.Addr, error) {
	return r.lookup(ctx, name, TypeAAAA)
}

// lookup queries the servers for the records of type qtype (A or AAAA) of
// name, following CNAMEs.
func (r *Resolver) lookup(ctx context.Context, name string, qtype uint16) ([]netip.Addr, error) {
	fqdn := strings.TrimSuffix(name, ".")
	if err := checkName(fqdn); err != nil || fqdn == "" {
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	fqdn += "."
	if len(r.Servers) == 0 {
		return nil, &net.DNSError{Err: "no DNS servers configured", Name: name}
	}
	qname := fqdn
	for range maxCNAMEs {
		m, server, err := r.exchange(ctx, qname, qtype)
		if err != nil {
			err.Name = name
			return nil, err
		}
		addrs, target := answerAddrs(m, qname, qtype)
		if len(addrs) > 0 {
			return addrs, nil
		}
		if m.Header.Rcode == RcodeNameError {
			return nil, &net.DNSError{Err: "no such host", Name: name, Server: server, IsNotFound: true}
		}
		if target == qname {
			return nil, &net.DNSError{Err: "no such host", Name: name, Server: server, IsNotFound: true} // NODATA
		}
		qname = target // the chain left the answer: ask for its end
	}
	return nil, &net.DNSError{Err: "CNAME chain too long", Name: name}
}

// answerAddrs follows the CNAME chain from qname through m's answer
// section and returns the records of type qtype (A or AAAA) of its end,
// and the end of the chain.
func answerAddrs(m *Msg, qname string, qtype uint16) ([]netip.Addr, string) {
	target := qname
	for range maxCNAMEs + 1 {
		var addrs []netip.Addr
		for _, rr := range m.Answers {
			if rr.Type == qtype && rr.Class == ClassINET && strings.EqualFold(rr.Name, target) {
				addrs = append(addrs, rr.A)
			}
		}
		if len(addrs) > 0 {
			return addrs, target
		}
		next := ""
		for _, rr := range m.Answers {
			if rr.Type == TypeCNAME && strings.EqualFold(rr.Name, target) {
				next = rr.Target
				break
			}
		}
		if next == "" {
			break
		}
		target = next
	}
	return nil, target
}

// exchange asks the servers, round after round, until one gives an
// authoritative-enough answer (NOERROR or NXDOMAIN).
func (r *Resolver) exchange(ctx context.Context, name string, qtype uint16) (*Msg, string, *net.DNSError) {
	var last *net.DNSError
	for range r.attempts() {
		for _, srv := range r.Servers {
			server := srv.String()
			m, err := r.query(ctx, "udp", server, name, qtype)
			if err == nil && m.Header.Truncated {
				m, err = r.query(ctx, "tcp", server, name, qtype)
			}
			if ctx.Err() != nil {
				return nil, server, &net.DNSError{Err: ctx.Err().Error(), Server: server, IsTimeout: errors.Is(ctx.Err(), context.DeadlineExceeded), UnwrapErr: ctx.Err()}
			}
			if err != nil {
				last = toDNSError(err, server)
				continue
			}
			switch m.Header.Rcode {
			case RcodeSuccess, RcodeNameError:
				return m, server, nil
			case RcodeServerFailure:
				last = &net.DNSError{Err: "server misbehaving", Server: server, IsTemporary: true}
			default:
				last = &net.DNSError{Err: "server refused the query (rcode " + strconv.Itoa(m.Header.Rcode) + ")", Server: server}
			}
		}
	}
	return nil, "", last
}

var errTimeout = errors.New("i/o timeout")

func toDNSError(err error, server string) *net.DNSError {
	if errors.Is(err, errTimeout) {
		return &net.DNSError{Err: "i/o timeout", Server: server, IsTimeout: true, IsTemporary: true}
	}
	return &net.DNSError{Err: err.Error(), Server: server, IsTemporary: true, UnwrapErr: err}
}

// query sends one query to server over network and waits up to Timeout for
// the matching answer. Over UDP, answers with another ID or question are
// ignored (spoofing or late answers to an earlier query).
func (r *Resolver) query(ctx context.Context, network, server, name string, qtype uint16) (*Msg, error) {
	qctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	conn, err := r.dial(qctx, network, server)
	if err != nil {
		if qctx.Err() != nil {
			return nil, errTimeout
		}
		return nil, err
	}
	// Closing the conn is the one way to interrupt a read that works for
	// every net.Conn whatever clock its deadlines follow.
	stop := context.AfterFunc(qctx, func() { conn.Close() })
	defer func() {
		if stop() {
			conn.Close()
		}
	}()
	id := uint16(rand.Uint32())
	q, err := NewQuery(id, name, qtype)
	if err != nil {
		return nil, err
	}
	timedOut := func(err error) error {
		if qctx.Err() != nil {
			return errTimeout
		}
		return err
	}
	if network == "tcp" {
		msg := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(q)), uint16(len(q)))
		if _, err := conn.Write(append(msg, q...)); err != nil {
			return nil, timedOut(err)
		}
		var l [2]byte
		if _, err := io.ReadFull(conn, l[:]); err != nil {
			return nil, timedOut(err)
		}
		buf := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(conn, buf); err != nil {
			return nil, timedOut(err)
		}
		m, err := Parse(buf)
		if err != nil {
			return nil, err
		}
		if !matches(m, id, name, qtype) {
			return nil, errors.New("answer does not match the query")
		}
		return m, nil
	}
	if _, err := conn.Write(q); err != nil {
		return nil, timedOut(err)
	}
	buf := make([]byte, 65535)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return nil, timedOut(err)
		}
		m, err := Parse(buf[:n])
		if err != nil || !matches(m, id, name, qtype) {
			continue
		}
		return m, nil
	}
}

// matches reports whether m answers the query (id, name, qtype).
func matches(m *Msg, id uint16, name string, qtype uint16) bool {
	if m.Header.ID != id || !m.Header.Response || len(m.Questions) != 1 {
		return false
	}
	q := m.Questions[0]
	return q.Type == qtype && q.Class == ClassINET && strings.EqualFold(q.Name, name)
}
