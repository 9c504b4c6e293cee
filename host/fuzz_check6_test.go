package host

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/tapstack/tapstack/link"
)

// fzCheckIPv6 checks an IPv6 packet we sent: a well-formed header whose
// payload length fits the frame, a hop limit, and, unless its payload was
// delivered to us verbatim (forwarded), one of our addresses (or ::, DAD)
// as source and gopacket decoding it without error.
func fzCheckIPv6(b, p []byte, in [][]byte) error {
	if len(p) < 40 {
		return fmt.Errorf("IPv6 packet of %d bytes", len(p))
	}
	if v := p[0] >> 4; v != 6 {
		return fmt.Errorf("IP version %d in an IPv6 frame", v)
	}
	plen := int(binary.BigEndian.Uint16(p[4:6]))
	switch {
	case 40+plen > len(p):
		return fmt.Errorf("IPv6 payload length %d in %d bytes", plen, len(p)-40)
	case p[7] == 0:
		return errors.New("hop limit 0")
	}
	seg := p[40 : 40+plen]
	for _, f := range in {
		if bytes.Contains(f, seg) {
			return nil
		}
	}
	src, _ := netip.AddrFromSlice(p[8:24])
	if !fzIsOurs(src) && !src.IsUnspecified() && !src.IsLinkLocalUnicast() {
		return fmt.Errorf("source %v of a packet we made", src)
	}
	pkt := gopacket.NewPacket(b[:link.EthernetHeaderLen+40+plen], layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		return fmt.Errorf("gopacket: %v", el.Error())
	}
	return nil
}
