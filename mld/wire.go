package mld

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/internal/checksum"
)

// ICMPv6 types of MLD messages (RFC 2710 3, RFC 3810 5).
const (
	TypeQuery    uint8 = 130 // multicast listener query, both versions
	TypeV1Report uint8 = 131 // MLDv1 report
	TypeV1Done   uint8 = 132 // MLDv1 done
	TypeV2Report uint8 = 143 // MLDv2 report
)

// Multicast address record types of an MLDv2 report (RFC 3810 5.2.12).
const (
	ModeIsInclude   uint8 = 1
	ModeIsExclude   uint8 = 2
	ChangeToInclude uint8 = 3
	ChangeToExclude uint8 = 4
	AllowNewSources uint8 = 5
	BlockOldSources uint8 = 6
)

const (
	v1Len     = 24 // type, code, checksum, max resp delay, reserved, address
	queryV2   = 28 // an MLDv2 query without sources
	reportHdr = 8  // type, reserved, checksum, reserved, number of records
	recordLen = 20 // record type, aux len, number of sources, address
)

// Errors of the Validate methods.
var (
	ErrTooShort        = errors.New("mld: message shorter than 24 bytes (8 for a v2 report)")
	ErrBadQueryLength  = errors.New("mld: query of 25 to 27 bytes (RFC 3810 8.1) or shorter than its sources")
	ErrTruncatedReport = errors.New("mld: v2 report shorter than its address records")
)

// Message is a view of an MLD message from the ICMPv6 header on. Call
// Validate first. (The IPv6 layer has verified the ICMPv6 checksum.)
//
//	 0       1       2               4               6               8
//	+-------+-------+---------------+---------------+---------------+
//	| type  | code  | checksum      | max resp code | reserved      |
//	+-------+-------+---------------+---------------+---------------+
//	| multicast address (16 bytes)                                  |
//	+---------------------------------------------------------------+
//	| v2 query: S|QRV, QQIC, number of sources, sources ...         |
type Message []byte

// Validate checks the length: 8 bytes for a v2 report, 24 for others.
func (m Message) Validate() error {
	if len(m) < reportHdr || (m[0] != TypeV2Report && len(m) < v1Len) {
		return ErrTooShort
	}
	return nil
}

// Type is the ICMPv6 type.
func (m Message) Type() uint8 { return m[0] }

// Address is the multicast address field of a query, v1 report or done
// (zero in a general query).
func (m Message) Address() netip.Addr { return netip.AddrFrom16([16]byte(m[8:24])) }

// Query is a view of a multicast listener query: 24 bytes for MLDv1, 28
// plus 16 per source for MLDv2.
type Query []byte

// ValidateQuery checks the length of a query whose Message validated;
// queries of 25 to 27 bytes MUST be ignored (RFC 3810 8.1).
func (q Query) ValidateQuery() error {
	if len(q) == v1Len {
		return nil
	}
	if len(q) < queryV2 || len(q) < queryV2+16*int(binary.BigEndian.Uint16(q[26:28])) {
		return ErrBadQueryLength
	}
	return nil
}

// Version is 1 (24 bytes) or 2.
func (q Query) Version() int {
	if len(q) >= queryV2 {
		return 2
	}
	return 1
}

// Address is the queried address, zero for a general query.
func (q Query) Address() netip.Addr { return Message(q).Address() }

// MaxRespTime is the maximum response delay: milliseconds for MLDv1, the
// RFC 3810 5.1.3 floating-point code for MLDv2.
func (q Query) MaxRespTime() time.Duration {
	c := binary.BigEndian.Uint16(q[4:6])
	if q.Version() == 1 || c < 32768 {
		return time.Duration(c) * time.Millisecond
	}
	return time.Duration(int(c&0x0fff|0x1000)<<((c>>12)&0x07+3)) * time.Millisecond
}

// QRV is the querier's robustness variable (0: default).
func (q Query) QRV() int {
	if len(q) < queryV2 {
		return 0
	}
	return int(q[24] & 0x07)
}

// QueryInterval is the querier's query interval (QQIC, RFC 3810 5.1.9).
func (q Query) QueryInterval() time.Duration {
	if len(q) < queryV2 {
		return 0
	}
	c := q[25]
	if c < 128 {
		return time.Duration(c) * time.Second
	}
	return time.Duration(int(c&0x0f|0x10)<<((c>>4)&0x07+3)) * time.Second
}

// NumSources is the number of sources of an MLDv2 query.
func (q Query) NumSources() int {
	if len(q) < queryV2 {
		return 0
	}
	return int(binary.BigEndian.Uint16(q[26:28]))
}

// Source returns source i.
func (q Query) Source(i int) netip.Addr {
	o := queryV2 + 16*i
	return netip.AddrFrom16([16]byte(q[o : o+16]))
}

// QueryFields describe a query to encode (tests, queriers).
type QueryFields struct {
	Version int           // 1 or 2
	MaxResp time.Duration // below 32.768 s for v2 (the exact range)
	Address netip.Addr    // zero: general query
	QRV     int
	QQI     time.Duration // below 128 s
	Sources []netip.Addr
}

// Len is the encoded length.
func (f QueryFields) Len() int {
	if f.Version < 2 {
		return v1Len
	}
	return queryV2 + 16*len(f.Sources)
}

// Encode writes the query into b with a zero checksum (the sender fills
// it in with the pseudo-header; see Checksum).
func (f QueryFields) Encode(b []byte) {
	b = b[:f.Len()]
	clear(b)
	b[0] = TypeQuery
	binary.BigEndian.PutUint16(b[4:6], uint16(min(f.MaxResp/time.Millisecond, 0x7fff)))
	putAddr(b[8:24], f.Address)
	if f.Version >= 2 {
		b[24] = uint8(f.QRV) & 0x07
		b[25] = uint8(min(f.QQI/time.Second, 127))
		binary.BigEndian.PutUint16(b[26:28], uint16(len(f.Sources)))
		for i, s := range f.Sources {
			putAddr(b[queryV2+16*i:], s)
		}
	}
}

// Report is a view of an MLDv2 report (RFC 3810 5.2).
type Report []byte

// NumRecords is the number of multicast address records.
func (r Report) NumRecords() int { return int(binary.BigEndian.Uint16(r[6:8])) }

// ValidateReport checks that every announced record fits.
func (r Report) ValidateReport() error {
	if len(r) < reportHdr {
		return ErrTooShort
	}
	off := reportHdr
	for i := 0; i < r.NumRecords(); i++ {
		if len(r)-off < recordLen {
			return ErrTruncatedReport
		}
		n := recordLen + 4*int(r[off+1]) + 16*int(binary.BigEndian.Uint16(r[off+2:off+4]))
		if len(r)-off < n {
			return ErrTruncatedReport
		}
		off += n
	}
	return nil
}

// Records calls f for each record of a validated report until f returns
// false.
func (r Report) Records(f func(Record) bool) {
	off := reportHdr
	for i := 0; i < r.NumRecords(); i++ {
		n := recordLen + 4*int(r[off+1]) + 16*int(binary.BigEndian.Uint16(r[off+2:off+4]))
		if !f(Record(r[off : off+n])) {
			return
		}
		off += n
	}
}

// Record is one multicast address record of a validated report.
type Record []byte

// Type is the record type.
func (r Record) Type() uint8 { return r[0] }

// Address is the multicast address.
func (r Record) Address() netip.Addr { return netip.AddrFrom16([16]byte(r[4:20])) }

// NumSources is the number of sources.
func (r Record) NumSources() int { return int(binary.BigEndian.Uint16(r[2:4])) }

// Source returns source i.
func (r Record) Source(i int) netip.Addr {
	o := recordLen + 16*i
	return netip.AddrFrom16([16]byte(r[o : o+16]))
}

// RecordFields describe one record to encode.
type RecordFields struct {
	Type    uint8
	Address netip.Addr
	Sources []netip.Addr
}

// ReportFields describe an MLDv2 report to encode.
type ReportFields struct {
	Records []RecordFields
}

// Len is the encoded length.
func (f ReportFields) Len() int {
	n := reportHdr
	for _, r := range f.Records {
		n += recordLen + 16*len(r.Sources)
	}
	return n
}

// Encode writes the report into b with a zero checksum.
func (f ReportFields) Encode(b []byte) {
	b = b[:f.Len()]
	clear(b)
	b[0] = TypeV2Report
	binary.BigEndian.PutUint16(b[6:8], uint16(len(f.Records)))
	off := reportHdr
	for _, r := range f.Records {
		b[off] = r.Type
		binary.BigEndian.PutUint16(b[off+2:], uint16(len(r.Sources)))
		putAddr(b[off+4:off+20], r.Address)
		for i, s := range r.Sources {
			putAddr(b[off+recordLen+16*i:], s)
		}
		off += recordLen + 16*len(r.Sources)
	}
}

// encodeV1 writes a 24-byte MLDv1 report or done for addr into b.
func encodeV1(b []byte, typ uint8, addr netip.Addr) {
	clear(b[:v1Len])
	b[0] = typ
	putAddr(b[8:24], addr)
}

// SetChecksum fills in the ICMPv6 checksum of an MLD message m sent from
// src to dst (RFC 4443 2.3, the RFC 8200 8.1 pseudo-header).
func SetChecksum(m []byte, src, dst netip.Addr) {
	m[2], m[3] = 0, 0
	binary.BigEndian.PutUint16(m[2:4], checksum.Checksum(m, checksum.PseudoHeader(src, dst, 58, uint16(len(m)))))
}

func putAddr(b []byte, a netip.Addr) {
	if a.Is6() {
		v := a.As16()
		copy(b[:16], v[:])
	}
}
