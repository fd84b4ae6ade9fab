package channel

import (
	"errors"
	"strings"
	"testing"
)

func TestParseName(t *testing.T) {
	// maxLength is a private- name of exactly MaxNameLength bytes.
	maxLength := "private-" + strings.Repeat("a", MaxNameLength-len("private-"))

	tests := []struct {
		name     string
		channel  string
		wantKind Kind
		wantErr  error
	}{
		{name: "private channel is accepted", channel: "private-room-1", wantKind: KindPrivate},
		{name: "private-cache channel is private", channel: "private-cache-room", wantKind: KindPrivate},
		{name: "presence channel is accepted", channel: "presence-room-1", wantKind: KindPresence},
		{name: "presence-cache channel is presence", channel: "presence-cache-room", wantKind: KindPresence},
		{name: "encrypted channel is accepted", channel: "private-encrypted-inbox", wantKind: KindEncrypted},
		{name: "encrypted cache channel is encrypted", channel: "private-encrypted-cache-inbox", wantKind: KindEncrypted},
		{name: "every punctuation in the alphabet is accepted", channel: "private-a_b-c=d@e,f.g;h", wantKind: KindPrivate},
		{name: "UUID suffix is accepted", channel: "private-user-123e4567-e89b-12d3-a456-426614174000", wantKind: KindPrivate},
		{name: "prefix with an empty rest is accepted", channel: "private-", wantKind: KindPrivate},
		{name: "164 characters is accepted", channel: maxLength, wantKind: KindPrivate},

		{name: "165 characters is too long", channel: maxLength + "a", wantErr: ErrNameTooLong},
		{name: "empty name is rejected", channel: "", wantErr: ErrNameEmpty},
		{name: "server-to-user channel is reserved", channel: "#server-to-user-x", wantErr: ErrNameReserved},
		{name: "lone hash is reserved", channel: "#", wantErr: ErrNameReserved},
		{name: "overlong reserved name reports reserved", channel: "#" + strings.Repeat("a", 300), wantErr: ErrNameReserved},
		{name: "public channel is not authorizable", channel: "public-room", wantErr: ErrNotAuthorizable},
		{name: "prefix without dash is not authorizable", channel: "private", wantErr: ErrNotAuthorizable},
		{name: "upper-case prefix is not authorizable", channel: "Private-room", wantErr: ErrNotAuthorizable},
		{name: "presence without dash is not authorizable", channel: "presenceroom", wantErr: ErrNotAuthorizable},
		{name: "plus and slash are bad characters", channel: "private-user.someone+tag@example.com", wantErr: ErrNameCharacters},
		{name: "space is a bad character", channel: "private-room 1", wantErr: ErrNameCharacters},
		{name: "hash after the first byte is a bad character", channel: "private-room#1", wantErr: ErrNameCharacters},
		{name: "pipe is a bad character", channel: "private-user-auth0|abc", wantErr: ErrNameCharacters},
		{name: "non-ASCII letter is a bad character", channel: "private-caf\u00e9", wantErr: ErrNameCharacters},
		{name: "NUL byte is a bad character", channel: "private-a\x00b", wantErr: ErrNameCharacters},
		{name: "newline is a bad character", channel: "private-a\nb", wantErr: ErrNameCharacters},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kind, err := ParseName(tc.channel)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("ParseName(%q) error = %v, want %v", tc.channel, err, tc.wantErr)
			}
			if err == nil && kind != tc.wantKind {
				t.Errorf("ParseName(%q) kind = %v, want %v", tc.channel, kind, tc.wantKind)
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		name    string
		channel string
		want    Kind
	}{
		{name: "private prefix is private", channel: "private-x", want: KindPrivate},
		{name: "private-cache prefix is private", channel: "private-cache-x", want: KindPrivate},
		{name: "private-encrypted prefix wins over private", channel: "private-encrypted-x", want: KindEncrypted},
		{name: "private-encrypted-cache prefix is encrypted", channel: "private-encrypted-cache-x", want: KindEncrypted},
		{name: "private-encrypted without dash is private", channel: "private-encryptedx", want: KindPrivate},
		{name: "presence prefix is presence", channel: "presence-x", want: KindPresence},
		{name: "presence-cache prefix is presence", channel: "presence-cache-x", want: KindPresence},
		{name: "no known prefix is public", channel: "room-x", want: KindPublic},
		{name: "prefix inside the name is public", channel: "x-private-y", want: KindPublic},
		{name: "empty name is public", channel: "", want: KindPublic},
		{name: "bad characters after the prefix still give the kind", channel: "presence-a b", want: KindPresence},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := KindOf(tc.channel); got != tc.want {
				t.Errorf("KindOf(%q) = %v, want %v", tc.channel, got, tc.want)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	tests := []struct {
		kind Kind
		want string
	}{
		{KindPublic, "public"},
		{KindPrivate, "private"},
		{KindPresence, "presence"},
		{KindEncrypted, "encrypted"},
		{Kind(99), "public"},
	}
	for _, tc := range tests {
		if got := tc.kind.String(); got != tc.want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(tc.kind), got, tc.want)
		}
	}
}

func TestKindNeedsMember(t *testing.T) {
	for _, k := range []Kind{KindPublic, KindPrivate, KindPresence, KindEncrypted} {
		want := k == KindPresence
		if got := k.NeedsMember(); got != want {
			t.Errorf("%v.NeedsMember() = %v, want %v", k, got, want)
		}
	}
}

func TestIsNameByte(t *testing.T) {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-=@,.;"
	for b := 0; b < 256; b++ {
		want := strings.IndexByte(alphabet, byte(b)) >= 0
		if got := IsNameByte(byte(b)); got != want {
			t.Errorf("IsNameByte(%q) = %v, want %v", byte(b), got, want)
		}
	}
}

func TestIsNameSafe(t *testing.T) {
	tests := []struct {
		name string
		s    string
		want bool
	}{
		{name: "plain id is safe", s: "user-42", want: true},
		{name: "id with every punctuation is safe", s: "a_b-c=d@e,f.g;h", want: true},
		{name: "empty string is not safe", s: "", want: false},
		{name: "auth0 id with pipe is not safe", s: "auth0|abc123", want: false},
		{name: "id with plus is not safe", s: "someone+tag@example.com", want: false},
		{name: "id with colon is not safe", s: "google-oauth2:123", want: false},
		{name: "id with space is not safe", s: "a b", want: false},
		{name: "non-ASCII id is not safe", s: "jos\u00e9", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsNameSafe(tc.s); got != tc.want {
				t.Errorf("IsNameSafe(%q) = %v, want %v", tc.s, got, tc.want)
			}
		})
	}
}

func TestValidateSocketID(t *testing.T) {
	tests := []struct {
		name    string
		id      string
		wantErr error
	}{
		{name: "Pusher socket id is accepted", id: "1234.1234"},
		{name: "two 64-bit numbers are accepted", id: "18446744073709551615.18446744073709551615"},
		{name: "single digits are accepted", id: "1.2"},
		{name: "leading zeros are accepted", id: "0001.0002"},
		{name: "long digit runs are accepted", id: strings.Repeat("9", 40) + "." + strings.Repeat("9", 40)},

		{name: "empty id is rejected", id: "", wantErr: ErrSocketIDEmpty},
		{name: "number without dot is rejected", id: "1234", wantErr: ErrSocketIDMalformed},
		{name: "leading dot is rejected", id: ".1", wantErr: ErrSocketIDMalformed},
		{name: "trailing dot is rejected", id: "1.", wantErr: ErrSocketIDMalformed},
		{name: "lone dot is rejected", id: ".", wantErr: ErrSocketIDMalformed},
		{name: "letters are rejected", id: "a.b", wantErr: ErrSocketIDMalformed},
		{name: "two dots are rejected", id: "1.2.3", wantErr: ErrSocketIDMalformed},
		{name: "adjacent dots are rejected", id: "1..2", wantErr: ErrSocketIDMalformed},
		{name: "sign is rejected", id: "-1.2", wantErr: ErrSocketIDMalformed},
		{name: "space is rejected", id: "1. 2", wantErr: ErrSocketIDMalformed},
		{name: "trailing newline is rejected", id: "1.2\n", wantErr: ErrSocketIDMalformed},
		{name: "hex digits are rejected", id: "0x1.2", wantErr: ErrSocketIDMalformed},
		{name: "non-ASCII digit is rejected", id: "1.\u0662", wantErr: ErrSocketIDMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidateSocketID(tc.id); !errors.Is(err, tc.wantErr) {
				t.Errorf("ValidateSocketID(%q) = %v, want %v", tc.id, err, tc.wantErr)
			}
		})
	}
}

func FuzzParseName(f *testing.F) {
	seeds := []string{
		"", "#", "#server-to-user-x", "public-room", "private-", "private-x",
		"private-cache-x", "private-encrypted-x", "private-encrypted-cache-x",
		"presence-x", "presence-cache-x", "private-user.someone+tag@example.com",
		"private-" + strings.Repeat("a", MaxNameLength), "presence-caf\u00e9",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		kind, err := ParseName(name)
		if err != nil {
			if !isNameError(err) {
				t.Fatalf("ParseName(%q) error = %v, want one of the channel name errors", name, err)
			}
			return
		}

		if len(name) == 0 || len(name) > MaxNameLength {
			t.Fatalf("ParseName(%q) accepted a name of %d bytes, want 1 to %d", name, len(name), MaxNameLength)
		}
		if !IsNameSafe(name) {
			t.Fatalf("ParseName(%q) accepted a name with characters outside the alphabet", name)
		}
		if kind == KindPublic {
			t.Fatalf("ParseName(%q) kind = public, want an authorizable kind", name)
		}
		if got := KindOf(name); got != kind {
			t.Fatalf("ParseName(%q) kind = %v, but KindOf = %v", name, kind, got)
		}
	})
}

func isNameError(err error) bool {
	for _, want := range []error{ErrNameEmpty, ErrNameTooLong, ErrNameCharacters, ErrNameReserved, ErrNotAuthorizable} {
		if errors.Is(err, want) {
			return true
		}
	}
	return false
}

func FuzzValidateSocketID(f *testing.F) {
	seeds := []string{
		"", "1234.1234", "18446744073709551615.18446744073709551615",
		"1234", ".1", "1.", "a.b", "1.2.3", "1..2", "\u0661.\u0662",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := ValidateSocketID(id)
		if err != nil {
			if !errors.Is(err, ErrSocketIDEmpty) && !errors.Is(err, ErrSocketIDMalformed) {
				t.Fatalf("ValidateSocketID(%q) error = %v, want ErrSocketIDEmpty or ErrSocketIDMalformed", id, err)
			}
			return
		}

		left, right, found := strings.Cut(id, ".")
		if !found {
			t.Fatalf("ValidateSocketID(%q) accepted an id without a dot", id)
		}
		if !isDigits(left) || !isDigits(right) {
			t.Fatalf("ValidateSocketID(%q) accepted an id that is not digits.digits", id)
		}
	})
}

// isDigits reports whether s is one or more ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
