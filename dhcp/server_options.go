package dhcp

// Option codes a server writes besides the ones the client reads (RFC
// 2132).
const (
	OptDomainName    uint8 = 15 // 3.17: the client's DNS domain
	OptBroadcastAddr uint8 = 28 // 5.3: the subnet's broadcast address
)

// ClientKey returns the key a server files a client's lease under: the
// client identifier (option 61) when the client sent one, otherwise the
// hardware type 1 and the MAC, the same bytes a client identifier of type
// 1 would hold (RFC 2132 9.14), so a client that starts sending its
// identifier keeps its lease. m must have been validated.
func (m Message) ClientKey() string {
	if id, ok := m.Option(OptClientID); ok && len(id) > 0 {
		return string(id)
	}
	mac := m.CHAddr()
	return string(append([]byte{1}, mac[:]...))
}
