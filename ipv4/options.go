package ipv4

// IP option types (RFC 791 and the IANA registry) that validation knows.
const (
	OptionEOL         uint8 = 0   // end of option list
	OptionNOP         uint8 = 1   // no operation
	OptionRecordRoute uint8 = 7   // record route (RFC 791)
	OptionTimestamp   uint8 = 68  // internet timestamp (RFC 791)
	OptionLSRR        uint8 = 131 // loose source and record route
	OptionSSRR        uint8 = 137 // strict source and record route
	OptionRouterAlert uint8 = 148 // router alert (RFC 2113)
)

// optionCopied is the copied flag of an option type: the option goes into
// every fragment, not only the first (RFC 791).
const optionCopied = 0x80

// ValidateOptions checks the option list of a header (the bytes between
// the fixed 20-byte header and IHL*4): every option other than EOL and NOP
// has a length byte of at least 2 that stays within the list; the options
// this package knows have their fixed minimum lengths and pointers (record
// route and source routes: length >= 3, pointer >= 4; timestamp: length >=
// 4, pointer >= 5, flag 0, 1 or 3; router alert: length 4); and there is at
// most one source route. EOL ends the list; what follows it is ignored.
//
// It returns -1 when the list is well formed, else the offset within opts
// of the offending byte: add HeaderLen for the pointer of an ICMP parameter
// problem (RFC 792), as Linux does.
func ValidateOptions(opts []byte) int {
	srr := false
	for i := 0; i < len(opts); {
		t := opts[i]
		switch t {
		case OptionEOL:
			return -1
		case OptionNOP:
			i++
			continue
		}
		if i+1 >= len(opts) {
			return i
		}
		l := int(opts[i+1])
		if l < 2 || i+l > len(opts) {
			return i + 1
		}
		switch t {
		case OptionRecordRoute, OptionLSRR, OptionSSRR:
			if l < 3 {
				return i + 1
			}
			if opts[i+2] < 4 {
				return i + 2
			}
			if t != OptionRecordRoute {
				if srr {
					return i
				}
				srr = true
			}
		case OptionTimestamp:
			if l < 4 {
				return i + 1
			}
			if opts[i+2] < 5 {
				return i + 2
			}
			if fl := opts[i+3] & 0x0f; fl != 0 && fl != 1 && fl != 3 {
				return i + 3
			}
		case OptionRouterAlert:
			if l != 4 {
				return i + 1
			}
		}
		i += l
	}
	return -1
}

// hasSourceRoute reports whether a validated option list carries a loose
// or strict source route.
func hasSourceRoute(opts []byte) bool {
	for i := 0; i < len(opts); {
		switch t := opts[i]; t {
		case OptionEOL:
			return false
		case OptionNOP:
			i++
			continue
		case OptionLSRR, OptionSSRR:
			return true
		}
		if i+1 >= len(opts) || opts[i+1] < 2 {
			return false
		}
		i += int(opts[i+1])
	}
	return false
}

// clearUncopiedOptions overwrites, in a validated option list, every
// option whose copied flag is clear with NOPs, so the header of a second
// or later fragment keeps the first one's length (as Linux does).
func clearUncopiedOptions(opts []byte) {
	for i := 0; i < len(opts); {
		t := opts[i]
		switch t {
		case OptionEOL:
			return
		case OptionNOP:
			i++
			continue
		}
		if i+1 >= len(opts) || opts[i+1] < 2 {
			return
		}
		l := min(int(opts[i+1]), len(opts)-i)
		if t&optionCopied == 0 {
			for j := i; j < i+l; j++ {
				opts[j] = OptionNOP
			}
		}
		i += l
	}
}
