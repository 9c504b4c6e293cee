package server

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// FormatLeases writes leases as a table for a status page, one line per
// address, a header first:
//
//	ADDRESS    STATE  MAC                HOSTNAME  EXPIRES  CLIENT-ID
//	10.0.2.15  bound  52:54:00:12:34:56  vm1       59m58s   01525400123456
//
// EXPIRES is the time left from now, rounded to the second ("-" once
// passed); HOSTNAME and CLIENT-ID (hex) are "-" when the client sent
// none. The columns are those of dnsmasq's lease file in another order
// (its file has expiry, MAC, address, hostname, client-id).
func FormatLeases(w io.Writer, leases []Lease, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tSTATE\tMAC\tHOSTNAME\tEXPIRES\tCLIENT-ID")
	for _, l := range leases {
		host, id, left := "-", "-", "-"
		if l.Hostname != "" {
			host = printable(l.Hostname)
		}
		if len(l.ClientID) > 0 {
			id = hex.EncodeToString(l.ClientID)
		}
		if d := l.Expires.Sub(now); d > 0 {
			left = d.Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%v\t%v\t%v\t%s\t%s\t%s\n", l.Addr, l.State, l.MAC, host, left, id)
	}
	return tw.Flush()
}

// printable replaces blanks and control bytes of a client-chosen name, so
// a hostname cannot break the table's lines or columns.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f || r == '\uFFFD' {
			return '?'
		}
		return r
	}, s)
}

// WriteLeases writes the server's lease table (FormatLeases at the
// stack's time) under a "# dhcp leases" heading, as a section of a status
// page.
func (srv *Server) WriteLeases(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "\n# dhcp leases (server on %v)\n", srv.core.cfg.Subnet); err != nil {
		return err
	}
	return FormatLeases(w, srv.Leases(), srv.s.Clock().Now())
}
