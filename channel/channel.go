// Package channel validates Pusher channel names and socket ids and derives
// a channel's kind from its name prefix.
package channel

import (
	"errors"
	"fmt"
	"strings"
)

// MaxNameLength is the longest channel name Pusher accepts, prefix included
// (Pusher Channels docs, "Channel naming conventions"). pusher-http-go and
// soketi allow 200, so a name valid here is valid on every server.
const MaxNameLength = 164

// Kind is the family of a channel, decided by the anchored prefix of its name.
type Kind int

// Channel kinds that an auth endpoint serves, and KindPublic for names that
// pusher-js subscribes to without asking an endpoint.
const (
	KindPublic Kind = iota
	KindPrivate
	KindPresence
	KindEncrypted
)

// Errors returned by ParseName and ValidateSocketID. Handlers map each to a
// 400 reason.
var (
	ErrNameEmpty         = errors.New("channel name is empty")
	ErrNameTooLong       = fmt.Errorf("channel name is longer than %d characters", MaxNameLength)
	ErrNameCharacters    = errors.New("channel name has characters outside a-z, A-Z, 0-9 and _ - = @ , . ;")
	ErrNameReserved      = errors.New("channel names starting with # are reserved for server-to-user channels")
	ErrNotAuthorizable   = errors.New("channel is public: only private-, private-encrypted- and presence- channels need authorization")
	ErrSocketIDEmpty     = errors.New("socket_id is empty")
	ErrSocketIDMalformed = errors.New("socket_id must be two numbers joined by a dot, like 1234.5678")
)

// prefixes lists the name prefixes that decide a kind, longest first, so that
// private-encrypted- wins over private-.
var prefixes = []struct {
	prefix string
	kind   Kind
}{
	{"private-encrypted-cache-", KindEncrypted},
	{"private-encrypted-", KindEncrypted},
	{"presence-cache-", KindPresence},
	{"presence-", KindPresence},
	{"private-cache-", KindPrivate},
	{"private-", KindPrivate},
}

// KindOf returns the kind of a channel name by its prefix; a name without a
// known prefix is KindPublic. It does not validate the rest of the name.
func KindOf(name string) Kind {
	for _, p := range prefixes {
		if strings.HasPrefix(name, p.prefix) {
			return p.kind
		}
	}
	return KindPublic
}

// String returns the snake_case kind used in logs, metrics and policy.
func (k Kind) String() string {
	switch k {
	case KindPrivate:
		return "private"
	case KindPresence:
		return "presence"
	case KindEncrypted:
		return "encrypted"
	default:
		return "public"
	}
}

// NeedsMember reports whether a reply for this kind carries channel_data.
func (k Kind) NeedsMember() bool { return k == KindPresence }

// ParseName validates a decoded channel name and returns its kind. It accepts
// only names that pusher-js sends to an auth endpoint: Pusher's alphabet, at
// most MaxNameLength characters, and a private-, private-encrypted- or
// presence- prefix.
func ParseName(name string) (Kind, error) {
	if name == "" {
		return 0, ErrNameEmpty
	}
	if name[0] == '#' {
		return 0, ErrNameReserved
	}
	if len(name) > MaxNameLength {
		return 0, ErrNameTooLong
	}
	for i := 0; i < len(name); i++ {
		if !IsNameByte(name[i]) {
			return 0, ErrNameCharacters
		}
	}
	kind := KindOf(name)
	if kind == KindPublic {
		return 0, ErrNotAuthorizable
	}
	return kind, nil
}

// IsNameByte reports whether b may appear in a Pusher channel name.
func IsNameByte(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	switch b {
	case '_', '-', '=', '@', ',', '.', ';':
		return true
	}
	return false
}

// IsNameSafe reports whether s is non-empty and uses only channel-name
// characters, so that it can be embedded in a channel name such as
// #server-to-user-<id>.
func IsNameSafe(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !IsNameByte(s[i]) {
			return false
		}
	}
	return true
}

// ValidateSocketID checks that id is digits, a dot and digits. The digit count
// is not capped: Sockudo sends two 64-bit numbers.
func ValidateSocketID(id string) error {
	if id == "" {
		return ErrSocketIDEmpty
	}
	dot := strings.IndexByte(id, '.')
	if dot <= 0 || dot == len(id)-1 {
		return ErrSocketIDMalformed
	}
	for i := 0; i < len(id); i++ {
		if i == dot {
			continue
		}
		if id[i] < '0' || id[i] > '9' {
			return ErrSocketIDMalformed
		}
	}
	return nil
}
