package limits

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP resolves the client address of a request that may have passed
// through reverse proxies. Only X-Forwarded-For is read: the Forwarded
// header (RFC 7239) and X-Real-IP are ignored. The zero value trusts no
// proxy, so From returns the peer address.
type ClientIP struct {
	trusted []netip.Prefix
}

// NewClientIP returns a ClientIP that trusts the proxies in trustedProxies
// to append the address they received a request from to X-Forwarded-For.
// Each entry is a CIDR such as "10.0.0.0/8" or a single address such as
// "10.1.2.3". The error names every invalid entry by its index, one per
// line, for example `trusted_proxies[1]: invalid CIDR "10.0.0/8"`.
//
// Trusting 0.0.0.0/0 or ::/0 lets every client choose the address From
// returns, because any peer may then set X-Forwarded-For.
func NewClientIP(trustedProxies []string) (*ClientIP, error) {
	var problems []error
	prefixes := make([]netip.Prefix, 0, len(trustedProxies))
	for i, s := range trustedProxies {
		p, err := parseTrustedProxy(s)
		if err != nil {
			problems = append(problems, fmt.Errorf("trusted_proxies[%d]: %w", i, err))
			continue
		}
		prefixes = append(prefixes, p)
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	return &ClientIP{trusted: prefixes}, nil
}

func parseTrustedProxy(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		addr, err := netip.ParseAddr(s)
		if err != nil || addr.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q, want a prefix such as 10.0.0.0/8 or a single address", s)
		}
		addr = addr.Unmap()
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}

	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR %q, want a prefix such as 10.0.0.0/8 or a single address", s)
	}
	if p.Addr().Is4In6() {
		// From unmaps every address, so a mapped prefix would never match.
		want := "an IPv4 CIDR"
		if p.Bits() >= 96 {
			want = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked().String()
		}
		return netip.Prefix{}, fmt.Errorf("IPv4-mapped CIDR %q never matches because addresses are compared in IPv4 form, want %s", s, want)
	}
	if masked := p.Masked(); masked != p {
		return netip.Prefix{}, fmt.Errorf("CIDR %q has host bits set, want %s", s, masked)
	}
	return p, nil
}

// From returns the client address of r.
//
// When the peer (r.RemoteAddr) is not a trusted proxy, the peer is the
// client and X-Forwarded-For is ignored, so a client cannot choose its own
// address. When the peer is trusted, From reads the X-Forwarded-For entries
// from the right, across all header lines in order, skips trusted addresses
// and returns the first untrusted one. The entries left of it were written
// by the client or by untrusted proxies, so they are never used.
// When every entry is trusted, the leftmost one is returned.
//
// A malformed entry stops the walk, and From returns the last address it
// could parse, which is a trusted proxy or the peer. A trusted proxy
// appends only well-formed addresses, so a malformed entry shows that the
// chain of trusted proxies ended there. Returning the nearest known proxy
// never lets a client pick the address, at the cost of grouping the clients
// behind that proxy under one address. Empty list elements are skipped, as
// HTTP list syntax allows them. Entries may carry a port ("192.0.2.1:4711",
// "[2001:db8::1]:4711"), which is dropped.
//
// Returned addresses are unmapped (::ffff:192.0.2.1 becomes 192.0.2.1) and
// carry no IPv6 zone. When r.RemoteAddr has no port, it is read as a bare
// address. When r.RemoteAddr is not an address at all (as with a Unix
// socket listener), From returns the zero netip.Addr, whose IsValid is
// false and whose String is "invalid IP".
func (c *ClientIP) From(r *http.Request) netip.Addr {
	peer, ok := parseAddr(r.RemoteAddr)
	if !ok || !c.isTrusted(peer) {
		return peer
	}

	client := peer
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		list := values[i]
		for list != "" {
			var entry string
			if j := strings.LastIndexByte(list, ','); j >= 0 {
				list, entry = list[:j], list[j+1:]
			} else {
				list, entry = "", list
			}
			entry = strings.Trim(entry, " \t")
			if entry == "" {
				continue
			}

			addr, ok := parseAddr(entry)
			if !ok {
				return client
			}
			if !c.isTrusted(addr) {
				return addr
			}
			client = addr
		}
	}
	return client
}

// isTrusted reports whether addr is inside a trusted proxy prefix.
func (c *ClientIP) isTrusted(addr netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// parseAddr reads an address with or without a port, in the forms
// "192.0.2.1", "192.0.2.1:80", "2001:db8::1", "[2001:db8::1]" and
// "[2001:db8::1]:80". It unmaps IPv4-mapped addresses and drops the zone.
func parseAddr(s string) (netip.Addr, bool) {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		var addrPort netip.AddrPort
		addrPort, err = netip.ParseAddrPort(s)
		addr = addrPort.Addr()
	}
	if err != nil && len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		addr, err = netip.ParseAddr(s[1 : len(s)-1])
	}
	if err != nil {
		return netip.Addr{}, false
	}
	return addr.Unmap().WithZone(""), true
}

// AddrKey returns the rate-limit key for a client address: the address for
// IPv4 and its /64 prefix for IPv6. An IPv6 host picks its own interface ID
// inside its /64 (SLAAC and privacy addresses), so a per-address key would
// let one host rotate past the limit. The zero Addr gives "invalid IP",
// which puts every unresolved client in one bucket. IPv4-mapped addresses
// are keyed in IPv4 form.
func AddrKey(addr netip.Addr) string {
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}
