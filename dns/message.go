package dns

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
)

// HeaderLen is the length of the fixed DNS header.
const HeaderLen = 12

// Record types and the class this package uses.
const (
	TypeA     uint16 = 1
	TypeNS    uint16 = 2
	TypeCNAME uint16 = 5
	TypeSOA   uint16 = 6
	TypeAAAA  uint16 = 28
	ClassINET uint16 = 1
)

// Response codes (RCODE).
const (
	RcodeSuccess        = 0
	RcodeFormatError    = 1
	RcodeServerFailure  = 2
	RcodeNameError      = 3 // NXDOMAIN
	RcodeNotImplemented = 4
	RcodeRefused        = 5
)

// Header flag bits (in the 16-bit flags word).
const (
	flagQR = 1 << 15
	flagAA = 1 << 10
	flagTC = 1 << 9
	flagRD = 1 << 8
	flagRA = 1 << 7
)

// Limits of names (RFC 1035 2.3.4) and of decoding work.
const (
	maxLabelLen = 63
	maxNameLen  = 255 // wire length, including length bytes and the root
	// maxPointers bounds the compression pointers followed while reading
	// one name. Pointers must also point backwards, so loops are
	// impossible; this is a second guard.
	maxPointers = 64
	// maxRecords bounds the records decoded from one message.
	maxRecords = 512
)

// Errors of the wire format.
var (
	ErrShort        = errors.New("dns: message too short")
	ErrLabelTooLong = errors.New("dns: label longer than 63 bytes")
	ErrEmptyLabel   = errors.New("dns: empty label in name")
	ErrNameTooLong  = errors.New("dns: name longer than 255 bytes")
	ErrBadPointer   = errors.New("dns: compression pointer does not point backwards")
	ErrTooManyPtrs  = errors.New("dns: too many compression pointers")
	ErrBadLabel     = errors.New("dns: reserved label type")
	ErrTooMany      = errors.New("dns: too many records")
	ErrBadRData     = errors.New("dns: record data has the wrong length for its type")
)

// Header is a view of the 12-byte DNS header. Call Validate first.
type Header []byte

// Validate checks that the header is complete.
func (h Header) Validate() error {
	if len(h) < HeaderLen {
		return ErrShort
	}
	return nil
}

// ID returns the query ID.
func (h Header) ID() uint16 { return binary.BigEndian.Uint16(h[0:]) }

// Flags returns the flags word (QR, opcode, AA, TC, RD, RA, Z, RCODE).
func (h Header) Flags() uint16 { return binary.BigEndian.Uint16(h[2:]) }

// Response reports the QR bit.
func (h Header) Response() bool { return h.Flags()&flagQR != 0 }

// Truncated reports the TC bit.
func (h Header) Truncated() bool { return h.Flags()&flagTC != 0 }

// Rcode returns the response code.
func (h Header) Rcode() int { return int(h.Flags() & 0xf) }

// QDCount, ANCount, NSCount and ARCount return the section counts.
func (h Header) QDCount() uint16 { return binary.BigEndian.Uint16(h[4:]) }

// ANCount returns the number of answer records.
func (h Header) ANCount() uint16 { return binary.BigEndian.Uint16(h[6:]) }

// NSCount returns the number of authority records.
func (h Header) NSCount() uint16 { return binary.BigEndian.Uint16(h[8:]) }

// ARCount returns the number of additional records.
func (h Header) ARCount() uint16 { return binary.BigEndian.Uint16(h[10:]) }

// HeaderFields are the header's values.
type HeaderFields struct {
	ID                 uint16
	Response           bool // QR
	Opcode             uint8
	Authoritative      bool // AA
	Truncated          bool // TC
	RecursionDesired   bool // RD
	RecursionAvailable bool // RA
	Rcode              int
	QDCount, ANCount   uint16
	NSCount, ARCount   uint16
}

// Encode writes the header into b[:HeaderLen].
func (f HeaderFields) Encode(b []byte) {
	_ = b[HeaderLen-1]
	fl := uint16(f.Opcode&0xf)<<11 | uint16(f.Rcode&0xf)
	for _, x := range []struct {
		on  bool
		bit uint16
	}{{f.Response, flagQR}, {f.Authoritative, flagAA}, {f.Truncated, flagTC}, {f.RecursionDesired, flagRD}, {f.RecursionAvailable, flagRA}} {
		if x.on {
			fl |= x.bit
		}
	}
	binary.BigEndian.PutUint16(b[0:], f.ID)
	binary.BigEndian.PutUint16(b[2:], fl)
	binary.BigEndian.PutUint16(b[4:], f.QDCount)
	binary.BigEndian.PutUint16(b[6:], f.ANCount)
	binary.BigEndian.PutUint16(b[8:], f.NSCount)
	binary.BigEndian.PutUint16(b[10:], f.ARCount)
}

// Fields decodes the header.
func (h Header) Fields() HeaderFields {
	fl := h.Flags()
	return HeaderFields{
		ID: h.ID(), Response: fl&flagQR != 0, Opcode: uint8(fl>>11) & 0xf,
		Authoritative: fl&flagAA != 0, Truncated: fl&flagTC != 0,
		RecursionDesired: fl&flagRD != 0, RecursionAvailable: fl&flagRA != 0,
		Rcode: int(fl & 0xf), QDCount: h.QDCount(), ANCount: h.ANCount(), NSCount: h.NSCount(), ARCount: h.ARCount(),
	}
}

// Question is one entry of the question section.
type Question struct {
	Name  string // dotted, with the trailing dot: "web.test."
	Type  uint16
	Class uint16
}

// Resource is a resource record. Data is the raw RDATA; A and Target are
// decoded for A, AAAA and CNAME records.
type Resource struct {
	Name  string
	Type  uint16
	Class uint16
	TTL   uint32
	Data  []byte
	// A is the address of an A record (IPv4) or an AAAA record (IPv6,
	// RFC 3596).
	A netip.Addr
	// Target is the canonical name of a CNAME record (or an NS record's
	// host), decompressed.
	Target string
}

// Msg is a decoded DNS message.
type Msg struct {
	Header     HeaderFields
	Questions  []Question
	Answers    []Resource
	Authority  []Resource
	Additional []Resource
}

// Parse decodes a whole DNS message. It rejects malformed input with an
// error and never panics; compression pointers must point backwards.
func Parse(b []byte) (*Msg, error) {
	h := Header(b)
	if err := h.Validate(); err != nil {
		return nil, err
	}
	m := &Msg{Header: h.Fields()}
	if int(h.QDCount())+int(h.ANCount())+int(h.NSCount())+int(h.ARCount()) > maxRecords {
		return nil, ErrTooMany
	}
	off := HeaderLen
	for range h.QDCount() {
		name, next, err := readName(b, off)
		if err != nil {
			return nil, err
		}
		if next+4 > len(b) {
			return nil, ErrShort
		}
		m.Questions = append(m.Questions, Question{name, binary.BigEndian.Uint16(b[next:]), binary.BigEndian.Uint16(b[next+2:])})
		off = next + 4
	}
	for _, sec := range []struct {
		n   uint16
		dst *[]Resource
	}{{h.ANCount(), &m.Answers}, {h.NSCount(), &m.Authority}, {h.ARCount(), &m.Additional}} {
		for range sec.n {
			r, next, err := readResource(b, off)
			if err != nil {
				return nil, err
			}
			*sec.dst = append(*sec.dst, r)
			off = next
		}
	}
	return m, nil
}

func readResource(b []byte, off int) (Resource, int, error) {
	name, off, err := readName(b, off)
	if err != nil {
		return Resource{}, 0, err
	}
	if off+10 > len(b) {
		return Resource{}, 0, ErrShort
	}
	r := Resource{
		Name:  name,
		Type:  binary.BigEndian.Uint16(b[off:]),
		Class: binary.BigEndian.Uint16(b[off+2:]),
		TTL:   binary.BigEndian.Uint32(b[off+4:]),
	}
	n := int(binary.BigEndian.Uint16(b[off+8:]))
	off += 10
	if off+n > len(b) {
		return Resource{}, 0, ErrShort
	}
	r.Data = b[off : off+n]
	switch r.Type {
	case TypeA:
		if n != 4 {
			return Resource{}, 0, ErrBadRData
		}
		r.A = netip.AddrFrom4([4]byte(r.Data))
	case TypeAAAA:
		if n != 16 {
			return Resource{}, 0, ErrBadRData
		}
		r.A = netip.AddrFrom16([16]byte(r.Data))
	case TypeCNAME, TypeNS:
		t, end, err := readName(b, off)
		if err != nil {
			return Resource{}, 0, err
		}
		if end != off+n {
			return Resource{}, 0, ErrBadRData
		}
		r.Target = t
	}
	return r, off + n, nil
}

// readName decodes the (possibly compressed) name at off and returns it in
// dotted form with a trailing dot, and the offset just past it where it
// starts. Every pointer must point before the label that holds it, so
// decoding always ends.
func readName(b []byte, off int) (string, int, error) {
	var sb strings.Builder
	end := -1 // where the name ends in the original position
	wire := 0
	ptrs := 0
	limit := off // pointers must point before this
	for {
		if off >= len(b) {
			return "", 0, ErrShort
		}
		l := int(b[off])
		switch l & 0xc0 {
		case 0x00:
			if l == 0 {
				if end < 0 {
					end = off + 1
				}
				if sb.Len() == 0 {
					return ".", end, nil
				}
				return sb.String(), end, nil
			}
			if off+1+l > len(b) {
				return "", 0, ErrShort
			}
			wire += 1 + l
			if wire+1 > maxNameLen {
				return "", 0, ErrNameTooLong
			}
			sb.Write(b[off+1 : off+1+l])
			sb.WriteByte('.')
			off += 1 + l
		case 0xc0:
			if off+2 > len(b) {
				return "", 0, ErrShort
			}
			if ptrs++; ptrs > maxPointers {
				return "", 0, ErrTooManyPtrs
			}
			p := int(binary.BigEndian.Uint16(b[off:]) & 0x3fff)
			if p >= limit {
				return "", 0, ErrBadPointer
			}
			if end < 0 {
				end = off + 2
			}
			off, limit = p, p
		default:
			return "", 0, ErrBadLabel
		}
	}
}

// Builder encodes a message with name compression.
type Builder struct {
	buf   []byte
	names map[string]int // lower-cased suffix → offset
}

// NewBuilder starts a message with the given header; the section counts
// are filled in as questions and records are added.
func NewBuilder(h HeaderFields) *Builder {
	h.QDCount, h.ANCount, h.NSCount, h.ARCount = 0, 0, 0, 0
	b := &Builder{buf: make([]byte, HeaderLen, 512), names: map[string]int{}}
	h.Encode(b.buf)
	return b
}

func (b *Builder) inc(at int) {
	binary.BigEndian.PutUint16(b.buf[at:], binary.BigEndian.Uint16(b.buf[at:])+1)
}

// appendName writes name, pointing at an earlier copy of its longest
// known suffix.
func (b *Builder) appendName(name string) error {
	name = strings.TrimSuffix(name, ".")
	if err := checkName(name); err != nil {
		return err
	}
	for name != "" {
		key := strings.ToLower(name)
		if off, ok := b.names[key]; ok {
			b.buf = binary.BigEndian.AppendUint16(b.buf, 0xc000|uint16(off))
			return nil
		}
		if len(b.buf) < 0x3fff {
			b.names[key] = len(b.buf)
		}
		label, rest, _ := strings.Cut(name, ".")
		b.buf = append(b.buf, byte(len(label)))
		b.buf = append(b.buf, label...)
		name = rest
	}
	b.buf = append(b.buf, 0)
	return nil
}

// Question adds a question.
func (b *Builder) Question(q Question) error {
	if err := b.appendName(q.Name); err != nil {
		return err
	}
	b.buf = binary.BigEndian.AppendUint16(b.buf, q.Type)
	b.buf = binary.BigEndian.AppendUint16(b.buf, q.Class)
	b.inc(4)
	return nil
}

// Answer adds a record to the answer section: for TypeA and TypeAAAA its
// A field is encoded (an IPv4 address for A, an IPv6 one for AAAA, else
// ErrBadRData), for TypeCNAME and TypeNS its Target (compressed),
// otherwise Data.
func (b *Builder) Answer(r Resource) error { return b.record(r, 6) }

// Authority adds a record to the authority section.
func (b *Builder) Authority(r Resource) error { return b.record(r, 8) }

func (b *Builder) record(r Resource, count int) error {
	if (r.Type == TypeA && !r.A.Is4()) || (r.Type == TypeAAAA && !r.A.Is6()) {
		return ErrBadRData
	}
	if err := b.appendName(r.Name); err != nil {
		return err
	}
	b.buf = binary.BigEndian.AppendUint16(b.buf, r.Type)
	b.buf = binary.BigEndian.AppendUint16(b.buf, r.Class)
	b.buf = binary.BigEndian.AppendUint32(b.buf, r.TTL)
	lenAt := len(b.buf)
	b.buf = append(b.buf, 0, 0)
	switch r.Type {
	case TypeA:
		a := r.A.As4()
		b.buf = append(b.buf, a[:]...)
	case TypeAAAA:
		a := r.A.As16()
		b.buf = append(b.buf, a[:]...)
	case TypeCNAME, TypeNS:
		if err := b.appendName(r.Target); err != nil {
			return err
		}
	default:
		b.buf = append(b.buf, r.Data...)
	}
	binary.BigEndian.PutUint16(b.buf[lenAt:], uint16(len(b.buf)-lenAt-2))
	b.inc(count)
	return nil
}

// Bytes returns the encoded message.
func (b *Builder) Bytes() []byte { return b.buf }

// checkName validates a dotted name without its trailing dot: labels of
// 1..63 bytes, at most 253 characters.
func checkName(name string) error {
	if len(name) > maxNameLen-2 {
		return ErrNameTooLong
	}
	if name == "" {
		return nil // the root
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" {
			return ErrEmptyLabel
		}
		if len(label) > maxLabelLen {
			return ErrLabelTooLong
		}
	}
	return nil
}

// NewQuery encodes an A (or other qtype) query for name with recursion
// desired.
func NewQuery(id uint16, name string, qtype uint16) ([]byte, error) {
	b := NewBuilder(HeaderFields{ID: id, RecursionDesired: true})
	if err := b.Question(Question{Name: name, Type: qtype, Class: ClassINET}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
