package gateway

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/ipv6"
)

// writer sends s's queued echoes; a send refused at once for want of a
// route answers the guest with destination unreachable from the router.
func (p *Pinger) writer(s *pingSock) {
	defer p.wg.Done()
	for o := range s.out {
		var to net.Addr = &net.UDPAddr{IP: o.dst.AsSlice()}
		if s.raw {
			to = &net.IPAddr{IP: o.dst.AsSlice()}
		}
		if _, err := s.conn.WriteTo(o.msg[:o.n], to); err != nil {
			typ, code, ok := unreachableFor(s.v6, err)
			if sl, found := p.take(o.seq, o.dst); found && ok {
				p.icmpError(s, s.router, typ, code, sl, o.n)
			} else {
				p.ctrSendErr.Inc()
			}
		}
		p.pool.Put(o)
	}
}

// unreachableFor maps a send error to the destination unreachable a
// router would send (ok false: none).
func unreachableFor(v6 bool, err error) (typ, code uint8, ok bool) {
	net, host := errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH)
	switch {
	case !net && !host:
		return 0, 0, false
	case v6 && net:
		return ipv6.ICMPDestUnreach, ipv6.CodeNoRoute, true
	case v6:
		return ipv6.ICMPDestUnreach, ipv6.CodeAddrUnreachable, true
	case net:
		return ipv4.ICMPDestUnreach, ipv4.CodeNetUnreachable, true
	}
	return ipv4.ICMPDestUnreach, ipv4.CodeHostUnreachable, true
}

// reader takes s's echo replies (and, on a raw socket, the errors about
// the relay's echoes) and answers the guests.
func (p *Pinger) reader(s *pingSock) {
	defer p.wg.Done()
	buf := make([]byte, 65536)
	reply, unreach, exceeded := ipv4.ICMPEchoReply, ipv4.ICMPDestUnreach, ipv4.ICMPTimeExceeded
	if s.v6 {
		reply, unreach, exceeded = ipv6.ICMPEchoReply, ipv6.ICMPDestUnreach, ipv6.ICMPTimeExceeded
	}
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		var ip net.IP
		switch a := from.(type) {
		case *net.UDPAddr:
			ip = a.IP
		case *net.IPAddr:
			ip = a.IP
		}
		src, ok := netip.AddrFromSlice(ip)
		if !ok || n < ipv4.ICMPHeaderLen {
			continue
		}
		src = src.Unmap()
		m := buf[:n]
		switch m[0] {
		case reply:
			if s.raw && uint16(m[4])<<8|uint16(m[5]) != relayID {
				continue // another process's ping
			}
			sl, ok := p.take(uint16(m[6])<<8|uint16(m[7]), src)
			if !ok {
				p.ctrStale.Inc()
				continue
			}
			p.ctrReplies.Inc()
			s.send(sl.dst, sl.guest, icmpMsg{typ: reply, rest: uint32(sl.id)<<16 | uint32(sl.gseq), payload: m[ipv4.ICMPHeaderLen:]})
		case unreach, exceeded:
			// Only a raw socket reads these: the quote is our echo.
			if !s.raw {
				continue
			}
			dst, seq, ok := quotedEcho(s.v6, m[ipv4.ICMPHeaderLen:])
			if !ok {
				continue
			}
			if sl, ok := p.take(seq, dst); ok {
				p.icmpError(s, src, m[0], m[1], sl, ipv4.ICMPHeaderLen)
			}
		}
	}
}

// quotedEcho returns the destination and the relay's sequence number of
// the relay's echo quoted in an ICMP error (ok false: something else).
func quotedEcho(v6 bool, q []byte) (dst netip.Addr, seq uint16, ok bool) {
	var e []byte
	if v6 {
		h := ipv6.Header(q)
		if len(q) < ipv6.HeaderLen+ipv4.ICMPHeaderLen || h.NextHeader() != 58 {
			return dst, 0, false
		}
		dst, e = h.Dst(), q[ipv6.HeaderLen:]
		if e[0] != ipv6.ICMPEchoRequest {
			return dst, 0, false
		}
	} else {
		h := ipv4.Header(q)
		if len(q) < ipv4.HeaderLen || h.HeaderLength() < ipv4.HeaderLen || len(q) < h.HeaderLength()+ipv4.ICMPHeaderLen || h.Protocol() != 1 {
			return dst, 0, false
		}
		dst, e = h.Dst(), q[h.HeaderLength():]
		if e[0] != ipv4.ICMPEcho {
			return dst, 0, false
		}
	}
	if uint16(e[4])<<8|uint16(e[5]) != relayID {
		return dst, 0, false
	}
	return dst.Unmap(), uint16(e[6])<<8 | uint16(e[7]), true
}

// ListenICMP opens the ICMP socket of network "ip4" or "ip6" in the
// process's namespace: an unprivileged datagram socket (raw false) when
// net.ipv4.ping_group_range allows the process's group, else a raw socket
// (root or CAP_NET_RAW).
func ListenICMP(network string) (c net.PacketConn, raw bool, err error) {
	if c, err = ListenICMPDatagram(network); err == nil {
		return c, false, nil
	}
	rawNet, any := "ip4:icmp", "0.0.0.0"
	if network == "ip6" {
		rawNet, any = "ip6:ipv6-icmp", "::"
	}
	c, err = net.ListenPacket(rawNet, any)
	if err != nil {
		return nil, false, errors.New("gateway: cannot open an ICMP socket (allow ping sockets with sysctl net.ipv4.ping_group_range, or run as root): " + err.Error())
	}
	return c, true, nil
}

// ListenICMPDatagram opens only the unprivileged ICMP datagram socket of
// network "ip4" or "ip6" (socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP) or
// AF_INET6 with IPPROTO_ICMPV6), for a gateway that must not use raw
// sockets.
func ListenICMPDatagram(network string) (net.PacketConn, error) {
	family, proto := unix.AF_INET, unix.IPPROTO_ICMP
	if network == "ip6" {
		family, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "icmp")
	defer f.Close()
	return net.FilePacketConn(f)
}
