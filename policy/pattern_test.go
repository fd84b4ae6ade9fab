package policy

import (
	"maps"
	"strings"
	"testing"

	"github.com/pusher-authd/pusher-authd/channel"
)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		name         string
		pattern      string
		channel      string
		wantMatch    bool
		wantCaptures map[string]string
	}{
		{
			name:      "literal pattern matches the same name",
			pattern:   "private-lobby",
			channel:   "private-lobby",
			wantMatch: true,
		},
		{
			name:    "literal pattern does not match a longer name",
			pattern: "private-lobby",
			channel: "private-lobby-2",
		},
		{
			name:    "literal pattern is case sensitive",
			pattern: "private-Lobby",
			channel: "private-lobby",
		},
		{
			name:         "capture takes a whole UUID with dashes",
			pattern:      "private-user-{id}",
			channel:      "private-user-123e4567-e89b-12d3-a456-426614174000",
			wantMatch:    true,
			wantCaptures: map[string]string{"id": "123e4567-e89b-12d3-a456-426614174000"},
		},
		{
			name:         "capture takes every punctuation of the channel alphabet",
			pattern:      "private-user-{id}",
			channel:      "private-user-a_b-c=d@e,f.g;h",
			wantMatch:    true,
			wantCaptures: map[string]string{"id": "a_b-c=d@e,f.g;h"},
		},
		{
			name:    "capture needs at least one character",
			pattern: "private-user-{id}",
			channel: "private-user-",
		},
		{
			name:         "capture before a literal suffix",
			pattern:      "presence-{room}-chat",
			channel:      "presence-lobby-chat",
			wantMatch:    true,
			wantCaptures: map[string]string{"room": "lobby"},
		},
		{
			name:    "capture before a literal suffix needs the suffix",
			pattern: "presence-{room}-chat",
			channel: "presence-lobby",
		},
		{
			name:    "pattern is anchored at the end",
			pattern: "private-{x}-end",
			channel: "private-a-end-more",
		},
		{
			name:         "leftmost capture takes the longest value",
			pattern:      "private-{org}-{team}",
			channel:      "private-acme-eu-web",
			wantMatch:    true,
			wantCaptures: map[string]string{"org": "acme-eu", "team": "web"},
		},
		{
			name:         "capture with underscore in its name",
			pattern:      "private-user-{user_id}",
			channel:      "private-user-42",
			wantMatch:    true,
			wantCaptures: map[string]string{"user_id": "42"},
		},
		{
			name:      "wildcard matches any rest of the name",
			pattern:   "private-admin-*",
			channel:   "private-admin-reports-2024",
			wantMatch: true,
		},
		{
			name:      "wildcard matches an empty rest",
			pattern:   "private-admin-*",
			channel:   "private-admin-",
			wantMatch: true,
		},
		{
			name:      "wildcard in the middle",
			pattern:   "private-*-logs",
			channel:   "private-eu-west-logs",
			wantMatch: true,
		},
		{
			name:    "wildcard does not match a different literal prefix",
			pattern: "private-admin-*",
			channel: "private-team-admin-x",
		},
		{
			name:         "capture and wildcard together",
			pattern:      "private-team-{team}-*",
			channel:      "private-team-red-notes-1",
			wantMatch:    true,
			wantCaptures: map[string]string{"team": "red-notes"},
		},
		{
			name:    "private wildcard does not match an encrypted channel",
			pattern: "private-*",
			channel: "private-encrypted-x",
		},
		{
			name:    "private wildcard does not match a presence channel",
			pattern: "private-*",
			channel: "presence-x",
		},
		{
			name:    "private capture does not match an encrypted cache channel",
			pattern: "private-{x}",
			channel: "private-encrypted-cache-x",
		},
		{
			name:    "presence wildcard does not match a private channel",
			pattern: "presence-*",
			channel: "private-presence-x",
		},
		{
			name:         "private capture matches a private-cache channel",
			pattern:      "private-{x}",
			channel:      "private-cache-foo",
			wantMatch:    true,
			wantCaptures: map[string]string{"x": "cache-foo"},
		},
		{
			name:    "private-cache pattern does not match a plain private channel",
			pattern: "private-cache-{x}",
			channel: "private-foo",
		},
		{
			name:         "encrypted capture matches an encrypted cache channel",
			pattern:      "private-encrypted-{x}",
			channel:      "private-encrypted-cache-inbox",
			wantMatch:    true,
			wantCaptures: map[string]string{"x": "cache-inbox"},
		},
		{
			name:         "presence-cache pattern matches its channel",
			pattern:      "presence-cache-{room}",
			channel:      "presence-cache-lobby",
			wantMatch:    true,
			wantCaptures: map[string]string{"room": "lobby"},
		},
		{
			name:    "private-encrypted pattern without dash is private and misses encrypted channels",
			pattern: "private-encrypted{x}",
			channel: "private-encrypted-x",
		},
		{
			name:    "dot in a pattern is literal",
			pattern: "private-a.b",
			channel: "private-axb",
		},
		{
			name:      "dot in a pattern matches a dot",
			pattern:   "private-a.b",
			channel:   "private-a.b",
			wantMatch: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := compilePattern(tc.pattern)
			if err != nil {
				t.Fatalf("compilePattern(%q) error = %v", tc.pattern, err)
			}
			kind, err := channel.ParseName(tc.channel)
			if err != nil {
				t.Fatalf("ParseName(%q) error = %v; the test needs an authorizable name", tc.channel, err)
			}

			captures, ok := p.match(tc.channel, kind)
			if ok != tc.wantMatch {
				t.Fatalf("pattern %q match(%q) = %v, want %v", tc.pattern, tc.channel, ok, tc.wantMatch)
			}
			if !maps.Equal(captures, tc.wantCaptures) {
				t.Errorf("pattern %q match(%q) captures = %v, want %v", tc.pattern, tc.channel, captures, tc.wantCaptures)
			}
		})
	}
}

func TestPatternMatchKindMustAgree(t *testing.T) {
	// match compares its kind argument, which Decide takes from ParseName, and
	// does not read the kind from the name again.
	p, err := compilePattern("private-*")
	if err != nil {
		t.Fatalf("compilePattern error = %v", err)
	}
	if _, ok := p.match("private-x", channel.KindPresence); ok {
		t.Errorf("match(%q, presence) = true, want false", "private-x")
	}
	if _, ok := p.match("private-x", channel.KindPrivate); !ok {
		t.Errorf("match(%q, private) = false, want true", "private-x")
	}
}

func TestCompilePatternKind(t *testing.T) {
	tests := []struct {
		pattern string
		want    channel.Kind
	}{
		{"private-lobby", channel.KindPrivate},
		{"private-*", channel.KindPrivate},
		{"private-cache-{x}", channel.KindPrivate},
		{"private-encrypted{x}", channel.KindPrivate},
		{"private-encrypted-*", channel.KindEncrypted},
		{"private-encrypted-cache-{x}", channel.KindEncrypted},
		{"presence-{room}", channel.KindPresence},
		{"presence-cache-*", channel.KindPresence},
	}
	for _, tc := range tests {
		p, err := compilePattern(tc.pattern)
		if err != nil {
			t.Errorf("compilePattern(%q) error = %v", tc.pattern, err)
			continue
		}
		if p.kind != tc.want {
			t.Errorf("compilePattern(%q).kind = %v, want %v", tc.pattern, p.kind, tc.want)
		}
	}
}

func TestCompilePatternCaptureNames(t *testing.T) {
	p, err := compilePattern("presence-{org}-room-{room}-*")
	if err != nil {
		t.Fatalf("compilePattern error = %v", err)
	}
	want := []string{"org", "room"}
	if strings.Join(p.names, ",") != strings.Join(want, ",") {
		t.Errorf("compilePattern names = %v, want %v", p.names, want)
	}
}

func TestCompilePatternErrors(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		wantErr string
	}{
		{name: "empty pattern is rejected", pattern: "", wantErr: "empty pattern"},
		{name: "pattern without kind prefix is rejected", pattern: "room-{id}", wantErr: "must start with private-, private-encrypted- or presence-"},
		{name: "public literal pattern is rejected", pattern: "public-room", wantErr: "must start with private-"},
		{name: "prefix without dash is rejected", pattern: "private", wantErr: "must start with private-"},
		{name: "capture before the prefix is rejected", pattern: "{kind}-room", wantErr: "must start with private-"},
		{name: "lone wildcard is rejected", pattern: "*", wantErr: "must start with private-"},
		{name: "wildcard inside the prefix is rejected", pattern: "pri*", wantErr: "must start with private-"},
		{name: "presence capture without dash is rejected", pattern: "presence{x}", wantErr: "must start with private-"},
		{name: "unclosed capture is rejected", pattern: "private-{id", wantErr: "capture at offset 8 has no closing }"},
		{name: "closing brace without opening is rejected", pattern: "private-id}", wantErr: "} at offset 10 has no opening {"},
		{name: "empty capture name is rejected", pattern: "private-{}", wantErr: `capture name "" is not an identifier`},
		{name: "capture name starting with a digit is rejected", pattern: "private-{1id}", wantErr: `capture name "1id" is not an identifier`},
		{name: "capture name with dash is rejected", pattern: "private-{user-id}", wantErr: `capture name "user-id" is not an identifier`},
		{name: "nested brace in capture is rejected", pattern: "private-{a{b}", wantErr: `capture name "a{b" is not an identifier`},
		{name: "capture named claims is reserved", pattern: "private-{claims}", wantErr: `capture name "claims" is reserved`},
		{name: "capture named channel is reserved", pattern: "private-{channel}", wantErr: `capture name "channel" is reserved`},
		{name: "capture named socket_id is reserved", pattern: "private-{socket_id}", wantErr: `capture name "socket_id" is reserved`},
		{name: "capture named params is reserved", pattern: "private-{params}", wantErr: `capture name "params" is reserved`},
		{name: "capture named captures is reserved", pattern: "private-{captures}", wantErr: `capture name "captures" is reserved`},
		{name: "capture named like a CEL keyword is reserved", pattern: "private-{in}", wantErr: `capture name "in" is reserved`},
		{name: "capture named like a CEL literal is reserved", pattern: "private-{null}", wantErr: `capture name "null" is reserved`},
		{name: "duplicate capture is rejected", pattern: "private-{a}-{a}", wantErr: `capture name "a" is used twice`},
		{name: "adjacent captures are rejected", pattern: "private-{a}{b}", wantErr: "capture {b} directly follows another capture or *"},
		{name: "capture after wildcard is rejected", pattern: "private-*{a}", wantErr: "capture {a} directly follows another capture or *"},
		{name: "wildcard after capture is rejected", pattern: "private-{a}*", wantErr: "* at offset 11 directly follows another capture or *"},
		{name: "double wildcard is rejected", pattern: "private-**", wantErr: "* at offset 9 directly follows"},
		{name: "space is rejected", pattern: "private-room 1", wantErr: `character ' ' at offset 12 is not allowed`},
		{name: "slash is rejected", pattern: "private-room/1", wantErr: `character '/' at offset 12 is not allowed`},
		{name: "plus is rejected", pattern: "private-a+b", wantErr: "is not allowed in a channel name"},
		{name: "regexp syntax is rejected", pattern: "private-(a|b)", wantErr: "is not allowed in a channel name"},
		{name: "hash is rejected", pattern: "#server-to-user-{id}", wantErr: "is not allowed in a channel name"},
		{name: "non-ASCII byte is rejected", pattern: "private-caf\u00e9", wantErr: "is not allowed in a channel name"},
		{
			name:    "literal longer than a channel name is rejected",
			pattern: "private-" + strings.Repeat("a", channel.MaxNameLength-len("private-")+1),
			wantErr: "longer than the 164 characters",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := compilePattern(tc.pattern)
			if err == nil {
				t.Fatalf("compilePattern(%q) = %+v, want error containing %q", tc.pattern, p, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("compilePattern(%q) error = %q, want it to contain %q", tc.pattern, err, tc.wantErr)
			}
		})
	}
}

func TestCompilePatternLiteralAtMaxLength(t *testing.T) {
	src := "private-" + strings.Repeat("a", channel.MaxNameLength-len("private-"))
	p, err := compilePattern(src)
	if err != nil {
		t.Fatalf("compilePattern(%d-byte literal) error = %v", len(src), err)
	}
	if _, ok := p.match(src, channel.KindPrivate); !ok {
		t.Errorf("%d-byte literal pattern does not match itself", len(src))
	}
}

// FuzzCompilePattern checks that compiling and matching any pattern never
// panics, that a compiled pattern always has an authorizable kind, and that a
// literal pattern matches its own text.
func FuzzCompilePattern(f *testing.F) {
	seeds := []struct{ pattern, name string }{
		{"private-lobby", "private-lobby"},
		{"private-user-{id}", "private-user-123e4567-e89b-12d3-a456-426614174000"},
		{"private-{org}-{team}", "private-acme-eu-web"},
		{"presence-{room}-*", "presence-lobby-x"},
		{"private-encrypted-cache-*", "private-encrypted-cache-x"},
		{"private-{a}{b}", "private-ab"},
		{"private-{id", "private-x"},
		{"room-{id}", "room-x"},
	}
	for _, s := range seeds {
		f.Add(s.pattern, s.name)
	}
	f.Fuzz(func(t *testing.T, src, name string) {
		p, err := compilePattern(src)
		if err != nil {
			return
		}
		if p.kind == channel.KindPublic {
			t.Fatalf("compilePattern(%q) kind = public", src)
		}
		if p.re == nil {
			if _, ok := p.match(src, channel.KindOf(src)); !ok {
				t.Fatalf("literal pattern %q does not match itself", src)
			}
		}

		captures, ok := p.match(name, channel.KindOf(name))
		if !ok {
			return
		}
		if len(captures) != len(p.names) {
			t.Fatalf("pattern %q match(%q) captures = %v, want one per name in %v", src, name, captures, p.names)
		}
		for _, n := range p.names {
			if captures[n] == "" {
				t.Fatalf("pattern %q match(%q) capture %q is empty", src, name, n)
			}
		}
	})
}
