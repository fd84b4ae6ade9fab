package policy

import (
	"testing"

	"github.com/pusher-authd/pusher-authd/channel"
)

// BenchmarkDecide measures one decision through four rules like those of the
// example config.yaml. The presence decision matches the third rule and builds
// a member from claims, and the private decision matches the fourth.
func BenchmarkDecide(b *testing.B) {
	e, err := Compile(Spec{Rules: []RuleSpec{
		{Name: "banned", Channel: "presence-*", When: "has(claims.banned) && claims.banned == true", Effect: EffectDeny},
		{Name: "own-user-channel", Channel: "private-user-{id}", When: "id == claims.sub"},
		{Name: "rooms", Channel: "presence-room-{room}", When: "'rooms' in claims && room in claims.rooms", Member: &MemberSpec{
			UserID:   "claims.sub",
			UserInfo: "'name' in claims ? {'name': claims.name, 'room': room} : {}",
		}},
		{Name: "team-channels", Channel: "private-team-{team}", When: "'teams' in claims && team in claims.teams"},
	}})
	if err != nil {
		b.Fatalf("Compile error:\n%v", err)
	}
	claims := map[string]any{
		"sub":   "123e4567-e89b-12d3-a456-426614174000",
		"name":  "Ann",
		"rooms": []any{"kitchen", "lobby", "garden"},
		"teams": []any{"red", "blue"},
		"iat":   1.7e9,
		"exp":   1.7e9 + 3600,
	}

	benchmarks := []struct {
		name     string
		in       Input
		wantRule string
	}{
		{
			name:     "presence",
			in:       Input{Channel: "presence-room-lobby", Kind: channel.KindPresence, SocketID: "1234.5678", Claims: claims},
			wantRule: "rooms",
		},
		{
			name:     "private",
			in:       Input{Channel: "private-team-blue", Kind: channel.KindPrivate, SocketID: "1234.5678", Claims: claims},
			wantRule: "team-channels",
		},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			ctx := b.Context()
			if d := e.Decide(ctx, bm.in); !d.Allow || d.Rule != bm.wantRule {
				b.Fatalf("Decide(%q) = allow %v rule %q reason %q, want allowed by %s", bm.in.Channel, d.Allow, d.Rule, d.Reason, bm.wantRule)
			}
			b.ReportAllocs()
			for b.Loop() {
				e.Decide(ctx, bm.in)
			}
		})
	}
}
