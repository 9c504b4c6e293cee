package tcp

// connKey is a connection's tuple as the demux map keys it: 38 bytes
// without pointers instead of the tuple's 64 (two netip.AddrPorts, each
// with a zone pointer). A map slot is then 48 bytes, not 72, and the
// collector need not scan the keys: with 50,000 connections the map is
// some 2 MiB smaller. Zones play no part, as in the demux (which strips
// them from arriving segments); v4 keeps 10.0.0.1 and ::ffff:10.0.0.1
// apart.
type connKey struct {
	local, remote [16]byte
	lport, rport  uint16
	v4            bool
}

// key returns t's demux key.
func (t tuple) key() connKey {
	return connKey{
		local:  t.local.Addr().As16(),
		remote: t.remote.Addr().As16(),
		lport:  t.local.Port(),
		rport:  t.remote.Port(),
		v4:     t.local.Addr().Is4(),
	}
}
