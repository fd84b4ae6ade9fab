package limits_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/pusher-authd/pusher-authd/limits"
)

// trustedProxies stand for the gateway and ingress ranges of a cluster.
var trustedProxies = []string{"10.0.0.0/8", "192.168.0.0/16", "2001:db8:cafe::/48"}

func newRequest(t *testing.T, remoteAddr string, xff ...string) *http.Request {
	t.Helper()
	r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/pusher/auth", nil)
	r.RemoteAddr = remoteAddr
	for _, v := range xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	return r
}

func TestClientIPFrom(t *testing.T) {
	tests := []struct {
		name       string
		trusted    []string
		remoteAddr string
		xff        []string
		want       string
	}{
		{name: "untrusted peer without header is the client", remoteAddr: "203.0.113.9:51000", want: "203.0.113.9"},
		{name: "untrusted peer with spoofed header is the client", remoteAddr: "203.0.113.9:51000", xff: []string{"198.51.100.1"}, want: "203.0.113.9"},
		{name: "untrusted peer with trusted-looking header is the client", remoteAddr: "203.0.113.9:51000", xff: []string{"10.0.0.1"}, want: "203.0.113.9"},
		{name: "no trusted proxies ignores the header", trusted: []string{}, remoteAddr: "10.1.1.1:51000", xff: []string{"198.51.100.1"}, want: "10.1.1.1"},
		{name: "trusted peer without header is the client", remoteAddr: "10.1.1.1:51000", want: "10.1.1.1"},
		{name: "trusted peer with one hop gives the hop", remoteAddr: "10.1.1.1:51000", xff: []string{"203.0.113.7"}, want: "203.0.113.7"},
		{name: "spoofed left entry is skipped for the rightmost untrusted", remoteAddr: "10.1.1.1:51000", xff: []string{"198.51.100.1, 203.0.113.7"}, want: "203.0.113.7"},
		{name: "several trusted proxies are skipped", remoteAddr: "10.1.1.1:51000", xff: []string{"198.51.100.1, 203.0.113.7, 10.0.0.5, 192.168.1.2"}, want: "203.0.113.7"},
		{name: "header lines are read as one list", remoteAddr: "10.1.1.1:51000", xff: []string{"198.51.100.1, 203.0.113.7", "10.0.0.5"}, want: "203.0.113.7"},
		{name: "last header line is read first", remoteAddr: "10.1.1.1:51000", xff: []string{"198.51.100.1", "203.0.113.7"}, want: "203.0.113.7"},
		{name: "all trusted entries give the leftmost", remoteAddr: "10.1.1.1:51000", xff: []string{"10.0.0.9, 192.168.0.4"}, want: "10.0.0.9"},
		{name: "malformed entry stops at the last trusted hop", remoteAddr: "10.1.1.1:51000", xff: []string{"203.0.113.7, not-an-ip, 10.0.0.5"}, want: "10.0.0.5"},
		{name: "malformed rightmost entry gives the peer", remoteAddr: "10.1.1.1:51000", xff: []string{"203.0.113.7, unknown"}, want: "10.1.1.1"},
		{name: "malformed entry left of the client is never read", remoteAddr: "10.1.1.1:51000", xff: []string{"garbage, 203.0.113.7"}, want: "203.0.113.7"},
		{name: "prefix is not an address", remoteAddr: "10.1.1.1:51000", xff: []string{"203.0.113.0/24"}, want: "10.1.1.1"},
		{name: "empty elements are skipped", remoteAddr: "10.1.1.1:51000", xff: []string{" , 203.0.113.7 ,, 10.0.0.5 ,"}, want: "203.0.113.7"},
		{name: "empty header line is skipped", remoteAddr: "10.1.1.1:51000", xff: []string{"203.0.113.7", ""}, want: "203.0.113.7"},
		{name: "tabs around entries are trimmed", remoteAddr: "10.1.1.1:51000", xff: []string{"\t203.0.113.7\t,10.0.0.5"}, want: "203.0.113.7"},
		{name: "entry with port drops the port", remoteAddr: "10.1.1.1:51000", xff: []string{"203.0.113.7:4711"}, want: "203.0.113.7"},

		{name: "IPv6 trusted peer gives IPv6 client", remoteAddr: "[2001:db8:cafe::1]:443", xff: []string{"2001:db8:1::99"}, want: "2001:db8:1::99"},
		{name: "IPv6 client behind IPv4 proxy", remoteAddr: "10.1.1.1:51000", xff: []string{"2001:db8:1::99, 10.0.0.5"}, want: "2001:db8:1::99"},
		{name: "bracketed IPv6 entry with port", remoteAddr: "10.1.1.1:51000", xff: []string{"[2001:db8:1::99]:8080"}, want: "2001:db8:1::99"},
		{name: "bracketed IPv6 entry without port", remoteAddr: "10.1.1.1:51000", xff: []string{"[2001:db8:1::99]"}, want: "2001:db8:1::99"},
		{name: "trusted IPv6 hop is skipped", remoteAddr: "10.1.1.1:51000", xff: []string{"203.0.113.7, 2001:db8:cafe::7"}, want: "203.0.113.7"},
		{name: "untrusted IPv6 peer with spoofed header", remoteAddr: "[2001:db8:1::5]:443", xff: []string{"203.0.113.7"}, want: "2001:db8:1::5"},
		{name: "IPv4-mapped peer is trusted in IPv4 form", remoteAddr: "[::ffff:10.0.0.1]:51000", xff: []string{"203.0.113.7"}, want: "203.0.113.7"},
		{name: "IPv4-mapped untrusted peer is unmapped", remoteAddr: "[::ffff:203.0.113.9]:51000", want: "203.0.113.9"},
		{name: "IPv4-mapped client entry is unmapped", remoteAddr: "10.1.1.1:51000", xff: []string{"::ffff:203.0.113.7"}, want: "203.0.113.7"},
		{name: "IPv4-mapped trusted entry is skipped", remoteAddr: "10.1.1.1:51000", xff: []string{"203.0.113.7, ::ffff:10.0.0.5"}, want: "203.0.113.7"},
		{name: "peer zone is dropped", remoteAddr: "[fe80::1%eth0]:51000", want: "fe80::1"},
		{name: "entry zone is dropped", remoteAddr: "10.1.1.1:51000", xff: []string{"fe80::7%eth0"}, want: "fe80::7"},

		{name: "IPv4 peer without port is read", remoteAddr: "10.1.1.1", xff: []string{"203.0.113.7"}, want: "203.0.113.7"},
		{name: "untrusted IPv4 peer without port", remoteAddr: "203.0.113.9", xff: []string{"198.51.100.1"}, want: "203.0.113.9"},
		{name: "IPv6 peer without port is read", remoteAddr: "2001:db8:cafe::1", xff: []string{"203.0.113.7"}, want: "203.0.113.7"},
		{name: "bracketed IPv6 peer without port is read", remoteAddr: "[2001:db8:cafe::1]", xff: []string{"203.0.113.7"}, want: "203.0.113.7"},
		{name: "empty peer gives the zero address", remoteAddr: "", xff: []string{"203.0.113.7"}, want: "invalid IP"},
		{name: "unix socket peer gives the zero address", remoteAddr: "@", xff: []string{"203.0.113.7"}, want: "invalid IP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			trusted := trustedProxies
			if tc.trusted != nil {
				trusted = tc.trusted
			}
			c, err := limits.NewClientIP(trusted)
			if err != nil {
				t.Fatalf("NewClientIP(%q) error = %v", trusted, err)
			}

			got := c.From(newRequest(t, tc.remoteAddr, tc.xff...))
			if got.String() != tc.want {
				t.Errorf("From(RemoteAddr %q, X-Forwarded-For %q) = %s, want %s", tc.remoteAddr, tc.xff, got, tc.want)
			}
		})
	}
}

func TestClientIPZeroValue(t *testing.T) {
	var c limits.ClientIP
	got := c.From(newRequest(t, "10.1.1.1:51000", "203.0.113.7"))
	if want := netip.MustParseAddr("10.1.1.1"); got != want {
		t.Errorf("zero ClientIP From = %s, want the peer %s", got, want)
	}
}

func TestClientIPSingleAddress(t *testing.T) {
	c, err := limits.NewClientIP([]string{"10.1.1.1", "2001:db8::1"})
	if err != nil {
		t.Fatalf("NewClientIP error = %v", err)
	}

	tests := []struct {
		name       string
		remoteAddr string
		want       string
	}{
		{name: "listed IPv4 address is trusted", remoteAddr: "10.1.1.1:51000", want: "203.0.113.7"},
		{name: "neighbour IPv4 address is not trusted", remoteAddr: "10.1.1.2:51000", want: "10.1.1.2"},
		{name: "listed IPv6 address is trusted", remoteAddr: "[2001:db8::1]:443", want: "203.0.113.7"},
		{name: "neighbour IPv6 address is not trusted", remoteAddr: "[2001:db8::2]:443", want: "2001:db8::2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := c.From(newRequest(t, tc.remoteAddr, "203.0.113.7"))
			if got.String() != tc.want {
				t.Errorf("From(RemoteAddr %q) = %s, want %s", tc.remoteAddr, got, tc.want)
			}
		})
	}
}

func TestNewClientIPErrors(t *testing.T) {
	tests := []struct {
		name      string
		trusted   []string
		wantLines []string
	}{
		{
			name:      "short IPv4 prefix names its index",
			trusted:   []string{"192.168.0.0/16", "10.0.0/8"},
			wantLines: []string{`trusted_proxies[1]: invalid CIDR "10.0.0/8", want a prefix such as 10.0.0.0/8 or a single address`},
		},
		{
			name:      "host name is invalid",
			trusted:   []string{"gateway.internal"},
			wantLines: []string{`trusted_proxies[0]: invalid CIDR "gateway.internal", want a prefix such as 10.0.0.0/8 or a single address`},
		},
		{
			name:      "empty entry is invalid",
			trusted:   []string{""},
			wantLines: []string{`trusted_proxies[0]: invalid CIDR "", want a prefix such as 10.0.0.0/8 or a single address`},
		},
		{
			name:      "prefix length out of range is invalid",
			trusted:   []string{"10.0.0.0/33"},
			wantLines: []string{`trusted_proxies[0]: invalid CIDR "10.0.0.0/33", want a prefix such as 10.0.0.0/8 or a single address`},
		},
		{
			name:      "surrounding space is invalid",
			trusted:   []string{" 10.0.0.0/8"},
			wantLines: []string{`trusted_proxies[0]: invalid CIDR " 10.0.0.0/8", want a prefix such as 10.0.0.0/8 or a single address`},
		},
		{
			name:      "address with zone is invalid",
			trusted:   []string{"fe80::1%eth0"},
			wantLines: []string{`trusted_proxies[0]: invalid CIDR "fe80::1%eth0", want a prefix such as 10.0.0.0/8 or a single address`},
		},
		{
			name:      "host bits set names the masked prefix",
			trusted:   []string{"10.0.0.1/8"},
			wantLines: []string{`trusted_proxies[0]: CIDR "10.0.0.1/8" has host bits set, want 10.0.0.0/8`},
		},
		{
			name:      "IPv4-mapped prefix is rejected",
			trusted:   []string{"::ffff:10.0.0.0/104"},
			wantLines: []string{`trusted_proxies[0]: IPv4-mapped CIDR "::ffff:10.0.0.0/104" never matches because addresses are compared in IPv4 form, want 10.0.0.0/8`},
		},
		{
			name:      "IPv4-mapped prefix with host bits names the masked IPv4 prefix",
			trusted:   []string{"::ffff:192.168.1.7/112"},
			wantLines: []string{`trusted_proxies[0]: IPv4-mapped CIDR "::ffff:192.168.1.7/112" never matches because addresses are compared in IPv4 form, want 192.168.0.0/16`},
		},
		{
			name:      "short IPv4-mapped prefix asks for IPv4",
			trusted:   []string{"::ffff:0.0.0.0/80"},
			wantLines: []string{`trusted_proxies[0]: IPv4-mapped CIDR "::ffff:0.0.0.0/80" never matches because addresses are compared in IPv4 form, want an IPv4 CIDR`},
		},
		{
			name:    "every invalid entry is reported",
			trusted: []string{"10.0.0/8", "192.168.0.0/16", "bad", "2001:db8::1/32"},
			wantLines: []string{
				`trusted_proxies[0]: invalid CIDR "10.0.0/8", want a prefix such as 10.0.0.0/8 or a single address`,
				`trusted_proxies[2]: invalid CIDR "bad", want a prefix such as 10.0.0.0/8 or a single address`,
				`trusted_proxies[3]: CIDR "2001:db8::1/32" has host bits set, want 2001:db8::/32`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := limits.NewClientIP(tc.trusted)
			if err == nil {
				t.Fatalf("NewClientIP(%q) = %v, nil; want an error", tc.trusted, c)
			}
			if got, want := err.Error(), strings.Join(tc.wantLines, "\n"); got != want {
				t.Errorf("NewClientIP(%q) error:\n%s\nwant:\n%s", tc.trusted, got, want)
			}
		})
	}
}

// FuzzClientIPFrom checks that any RemoteAddr and X-Forwarded-For give a
// normalized address, and that an untrusted peer always wins over the header.
func FuzzClientIPFrom(f *testing.F) {
	f.Add("10.1.1.1:51000", "198.51.100.1, 203.0.113.7, 10.0.0.5")
	f.Add("203.0.113.9:51000", "10.0.0.1")
	f.Add("[::ffff:10.0.0.1]:1", "::ffff:203.0.113.7, [2001:db8::1]:80")
	f.Add("10.1.1.1", ",,, ,garbage,")
	f.Add("[fe80::1%eth0]:80", "fe80::7%eth0")
	f.Add("", "")

	c, err := limits.NewClientIP(trustedProxies)
	if err != nil {
		f.Fatalf("NewClientIP error = %v", err)
	}
	untrusted, err := limits.NewClientIP(nil)
	if err != nil {
		f.Fatalf("NewClientIP(nil) error = %v", err)
	}

	f.Fuzz(func(t *testing.T, remoteAddr, xff string) {
		r := &http.Request{RemoteAddr: remoteAddr, Header: http.Header{"X-Forwarded-For": {xff}}}
		peer := untrusted.From(r)
		got := c.From(r)

		if got.Zone() != "" {
			t.Errorf("From(%q, %q) = %s, has a zone", remoteAddr, xff, got)
		}
		if got.Is4In6() {
			t.Errorf("From(%q, %q) = %s, is IPv4-mapped", remoteAddr, xff, got)
		}
		if peer.IsValid() != got.IsValid() {
			t.Errorf("From(%q, %q) = %s, but the peer alone gives %s", remoteAddr, xff, got, peer)
		}
		if !isTrusted(peer) && got != peer {
			t.Errorf("From(%q, %q) = %s, want the untrusted peer %s", remoteAddr, xff, got, peer)
		}
	})
}

func isTrusted(addr netip.Addr) bool {
	for _, s := range trustedProxies {
		if netip.MustParsePrefix(s).Contains(addr) {
			return true
		}
	}
	return false
}

func TestAddrKey(t *testing.T) {
	tests := []struct {
		name string
		addr netip.Addr
		want string
	}{
		{name: "IPv4 address is its own key", addr: netip.MustParseAddr("203.0.113.7"), want: "203.0.113.7"},
		{name: "IPv6 address is keyed by its /64", addr: netip.MustParseAddr("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), want: "2001:db8:1:2::/64"},
		{name: "IPv6 neighbour in the same /64 shares the key", addr: netip.MustParseAddr("2001:db8:1:2::1"), want: "2001:db8:1:2::/64"},
		{name: "IPv6 loopback is keyed by its /64", addr: netip.MustParseAddr("::1"), want: "::/64"},
		{name: "IPv4-mapped address is keyed in IPv4 form", addr: netip.MustParseAddr("::ffff:203.0.113.7"), want: "203.0.113.7"},
		{name: "IPv6 zone is dropped", addr: netip.MustParseAddr("fe80::1%eth0"), want: "fe80::/64"},
		{name: "zero address is one shared key", addr: netip.Addr{}, want: "invalid IP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := limits.AddrKey(tc.addr); got != tc.want {
				t.Errorf("AddrKey(%s) = %q, want %q", tc.addr, got, tc.want)
			}
		})
	}
}
