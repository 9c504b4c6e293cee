package igmp

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/internal/checksum"
)

// Message types (RFC 3376 4, RFC 2236 2.1, RFC 1112 appendix I).
const (
	TypeQuery    uint8 = 0x11 // membership query, every version
	TypeV1Report uint8 = 0x12 // version 1 membership report
	TypeV2Report uint8 = 0x16 // version 2 membership report
	TypeV2Leave  uint8 = 0x17 // version 2 leave group
	TypeV3Report uint8 = 0x22 // version 3 membership report
)

// Group record types of a version 3 report (RFC 3376 4.2.12).
const (
	ModeIsInclude   uint8 = 1 // current state: INCLUDE(sources)
	ModeIsExclude   uint8 = 2 // current state: EXCLUDE(sources)
	ChangeToInclude uint8 = 3 // filter mode change: TO_IN(sources)
	ChangeToExclude uint8 = 4 // filter mode change: TO_EX(sources)
	AllowNewSources uint8 = 5 // source list change: ALLOW(sources)
	BlockOldSources uint8 = 6 // source list change: BLOCK(sources)
	minRecordType         = ModeIsInclude
	maxRecordType         = BlockOldSources
	headerLen             = 8  // type, code, checksum, group (every version)
	queryV3Len            = 12 // a version 3 query without sources
	recordLen             = 8  // a group record without sources
)

// Errors of the Validate methods, one per reason.
var (
	ErrTooShort        = errors.New("igmp: message shorter than 8 bytes")
	ErrBadChecksum     = errors.New("igmp: bad checksum")
	ErrBadQueryLength  = errors.New("igmp: query of 9 to 11 bytes (RFC 3376 7.1) or shorter than its sources")
	ErrTruncatedReport = errors.New("igmp: version 3 report shorter than its group records")
)

// Message is a view of an IGMP message of any version: the bytes from the
// IGMP header to the end of the IP payload. Call Validate first; after it
// returns nil the accessors of Message do not panic.
//
//	 0        1        2                 4                                 8
//	+--------+--------+-----------------+---------------------------------+
//	| type   | max    | checksum        | group address                   |
//	|        | resp   |                 | (v3 report: reserved, records)  |
//	+--------+--------+-----------------+---------------------------------+
type Message []byte

// Validate checks the length (at least 8 bytes) and the checksum, which
// covers the whole message (RFC 3376 4.1.2).
func (m Message) Validate() error {
	if len(m) < headerLen {
		return ErrTooShort
	}
	if checksum.Checksum(m, 0) != 0 {
		return ErrBadChecksum
	}
	return nil
}

// Type is the message type.
func (m Message) Type() uint8 { return m[0] }

// MaxRespCode is the second byte: the max response code of a query.
func (m Message) MaxRespCode() uint8 { return m[1] }

// Group is the group address field (zero in a general query).
func (m Message) Group() netip.Addr { return netip.AddrFrom4([4]byte(m[4:8])) }

// Query is a view of a membership query. After ValidateQuery no accessor
// panics. An 8-byte query is version 1 (max resp code 0) or 2; one of 12
// or more bytes is version 3:
//
//	 8         9      10                12
//	+----+-+---+------+-----------------+--------------------------------+
//	|resv|S|QRV| QQIC | number of srcs  | source addresses ...           |
//	+----+-+---+------+-----------------+--------------------------------+
type Query []byte

// ValidateQuery checks a query whose Message validated: 8 bytes, or 12
// plus 4 per source. Queries of 9 to 11 bytes MUST be ignored (RFC 3376
// 7.1); longer ones may carry data after the sources, which is ignored.
func (q Query) ValidateQuery() error {
	if len(q) == headerLen {
		return nil
	}
	if len(q) < queryV3Len || len(q) < queryV3Len+4*int(binary.BigEndian.Uint16(q[10:12])) {
		return ErrBadQueryLength
	}
	return nil
}

// Version is the querier's IGMP version: 1 (8 bytes, max resp code 0), 2
// (8 bytes) or 3 (RFC 3376 7.1).
func (q Query) Version() int {
	switch {
	case len(q) >= queryV3Len:
		return 3
	case q[1] == 0:
		return 1
	}
	return 2
}

// Group is the queried group; zero for a general query.
func (q Query) Group() netip.Addr { return Message(q).Group() }

// MaxRespTime is the longest a host may wait before answering: the max
// response code in tenths of a second (version 3: the RFC 3376 4.1.1
// floating-point code), 10 s for a version 1 query.
func (q Query) MaxRespTime() time.Duration {
	switch q.Version() {
	case 1:
		return 10 * time.Second
	case 2:
		return time.Duration(q[1]) * 100 * time.Millisecond
	}
	return time.Duration(decodeCode(q[1])) * 100 * time.Millisecond
}

// SuppressRouterSide is the S flag of a version 3 query.
func (q Query) SuppressRouterSide() bool { return len(q) >= queryV3Len && q[8]&0x08 != 0 }

// QRV is the querier's robustness variable of a version 3 query (0: use
// the default).
func (q Query) QRV() int {
	if len(q) < queryV3Len {
		return 0
	}
	return int(q[8] & 0x07)
}

// QueryInterval is the querier's query interval of a version 3 query
// (QQIC, RFC 3376 4.1.7), or 0.
func (q Query) QueryInterval() time.Duration {
	if len(q) < queryV3Len {
		return 0
	}
	return time.Duration(decodeCode(q[9])) * time.Second
}

// NumSources is the number of source addresses of a version 3 query.
func (q Query) NumSources() int {
	if len(q) < queryV3Len {
		return 0
	}
	return int(binary.BigEndian.Uint16(q[10:12]))
}

// Source returns source address i (0 <= i < NumSources).
func (q Query) Source(i int) netip.Addr {
	o := queryV3Len + 4*i
	return netip.AddrFrom4([4]byte(q[o : o+4]))
}

// decodeCode decodes a max resp code or QQIC (RFC 3376 4.1.1, 4.1.7):
// below 128 the value itself, else a 3-bit exponent and 4-bit mantissa.
func decodeCode(c uint8) int {
	if c < 128 {
		return int(c)
	}
	return int(c&0x0f|0x10) << ((c>>4)&0x07 + 3)
}

// encodeCode is the inverse of decodeCode, rounding down to the nearest
// value the code can express.
func encodeCode(v int) uint8 {
	if v < 128 {
		return uint8(max(v, 0))
	}
	for exp := 7; exp >= 0; exp-- {
		if mant := v>>(exp+3) - 0x10; mant >= 0 {
			return 0x80 | uint8(exp)<<4 | uint8(min(mant, 0x0f))
		}
	}
	return 127
}

// QueryFields describe a membership query to encode (tests and queriers).
type QueryFields struct {
	// Version is 1, 2 or 3.
	Version int
	// MaxResp is the max response time (ignored for version 1).
	MaxResp time.Duration
	// Group is the queried group, zero for a general query.
	Group netip.Addr
	// S, QRV and QQI are the version 3 fields.
	S   bool
	QRV int
	QQI time.Duration
	// Sources are the queried sources (version 3).
	Sources []netip.Addr
}

// Len is the encoded length.
func (f QueryFields) Len() int {
	if f.Version < 3 {
		return headerLen
	}
	return queryV3Len + 4*len(f.Sources)
}

// Encode writes the query, checksum included, into b (at least Len bytes).
func (f QueryFields) Encode(b []byte) {
	b = b[:f.Len()]
	clear(b)
	b[0] = TypeQuery
	tenths := int(f.MaxResp / (100 * time.Millisecond))
	switch f.Version {
	case 1:
	case 2:
		b[1] = uint8(min(tenths, 255))
	default:
		b[1] = encodeCode(tenths)
	}
	putAddr(b[4:8], f.Group)
	if f.Version >= 3 {
		if f.S {
			b[8] |= 0x08
		}
		b[8] |= uint8(f.QRV) & 0x07
		b[9] = encodeCode(int(f.QQI / time.Second))
		binary.BigEndian.PutUint16(b[10:12], uint16(len(f.Sources)))
		for i, s := range f.Sources {
			putAddr(b[queryV3Len+4*i:], s)
		}
	}
	binary.BigEndian.PutUint16(b[2:4], checksum.Checksum(b, 0))
}

// Report is a view of a version 3 membership report (RFC 3376 4.2):
//
//	 0        1        2                 4                 6                 8
//	+--------+--------+-----------------+-----------------+-----------------+
//	| 0x22   | resv   | checksum        | reserved        | number of recs  |
//	+--------+--------+-----------------+-----------------+-----------------+
//	| group records ...                                                     |
//
// After ValidateReport, Records walks the group records without panicking.
type Report []byte

// NumRecords is the number of group records.
func (r Report) NumRecords() int { return int(binary.BigEndian.Uint16(r[6:8])) }

// ValidateReport checks that every group record the header announces fits
// in r.
func (r Report) ValidateReport() error {
	if len(r) < headerLen {
		return ErrTooShort
	}
	off := headerLen
	for i := 0; i < r.NumRecords(); i++ {
		if len(r)-off < recordLen {
			return ErrTruncatedReport
		}
		n := recordLen + 4*(int(r[off+1])+int(binary.BigEndian.Uint16(r[off+2:off+4])))
		if len(r)-off < n {
			return ErrTruncatedReport
		}
		off += n
	}
	return nil
}

// Records calls f for each group record of a validated report, stopping
// when f returns false.
func (r Report) Records(f func(Record) bool) {
	off := headerLen
	for i := 0; i < r.NumRecords(); i++ {
		n := recordLen + 4*(int(r[off+1])+int(binary.BigEndian.Uint16(r[off+2:off+4])))
		if !f(Record(r[off : off+n])) {
			return
		}
		off += n
	}
}

// Record is a view of one group record of a validated version 3 report:
// record type, aux data length (in 32-bit words), number of sources,
// multicast address, the sources, aux data.
type Record []byte

// Type is the record type (ModeIsInclude ... BlockOldSources).
func (r Record) Type() uint8 { return r[0] }

// Group is the record's multicast address.
func (r Record) Group() netip.Addr { return netip.AddrFrom4([4]byte(r[4:8])) }

// NumSources is the number of sources.
func (r Record) NumSources() int { return int(binary.BigEndian.Uint16(r[2:4])) }

// Source returns source i.
func (r Record) Source(i int) netip.Addr {
	o := recordLen + 4*i
	return netip.AddrFrom4([4]byte(r[o : o+4]))
}

// RecordFields describe one group record to encode.
type RecordFields struct {
	Type    uint8
	Group   netip.Addr
	Sources []netip.Addr
}

// ReportFields describe a version 3 report to encode.
type ReportFields struct {
	Records []RecordFields
}

// Len is the encoded length.
func (f ReportFields) Len() int {
	n := headerLen
	for _, r := range f.Records {
		n += recordLen + 4*len(r.Sources)
	}
	return n
}

// Encode writes the report, checksum included, into b (at least Len
// bytes).
func (f ReportFields) Encode(b []byte) {
	b = b[:f.Len()]
	clear(b)
	b[0] = TypeV3Report
	binary.BigEndian.PutUint16(b[6:8], uint16(len(f.Records)))
	off := headerLen
	for _, r := range f.Records {
		b[off] = r.Type
		binary.BigEndian.PutUint16(b[off+2:], uint16(len(r.Sources)))
		putAddr(b[off+4:], r.Group)
		for i, s := range r.Sources {
			putAddr(b[off+recordLen+4*i:], s)
		}
		off += recordLen + 4*len(r.Sources)
	}
	binary.BigEndian.PutUint16(b[2:4], checksum.Checksum(b, 0))
}

// encodeV2 writes an 8-byte version 1 or 2 message (report or leave) for
// group into b.
func encodeV2(b []byte, typ uint8, group netip.Addr) {
	clear(b[:headerLen])
	b[0] = typ
	putAddr(b[4:8], group)
	binary.BigEndian.PutUint16(b[2:4], checksum.Checksum(b[:headerLen], 0))
}

// putAddr writes an IPv4 address (zero for the zero Addr).
func putAddr(b []byte, a netip.Addr) {
	if a.Is4() {
		v := a.As4()
		copy(b[:4], v[:])
	}
}
