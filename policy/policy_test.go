package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pusher-authd/pusher-authd/channel"
)

// mustCompile compiles spec and fails the test on any problem.
func mustCompile(t *testing.T, spec Spec) *Engine {
	t.Helper()
	e, err := Compile(spec)
	if err != nil {
		t.Fatalf("Compile error:\n%v", err)
	}
	return e
}

// channelInput builds the Input a handler would pass for name, taking the
// kind from channel.ParseName as the handler does.
func channelInput(t *testing.T, name string, claims map[string]any) Input {
	t.Helper()
	kind, err := channel.ParseName(name)
	if err != nil {
		t.Fatalf("ParseName(%q) error = %v; the test needs an authorizable name", name, err)
	}
	return Input{Channel: name, Kind: kind, SocketID: "1234.5678", Claims: claims}
}

// jsonText returns v encoded as JSON, the form Pusher receives.
func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal(%#v) error = %v", v, err)
	}
	return string(b)
}

func TestDecideRuleOrder(t *testing.T) {
	admin := map[string]any{"sub": "u1", "role": "admin"}
	guest := map[string]any{"sub": "u2", "role": "guest"}

	tests := []struct {
		name       string
		rules      []RuleSpec
		channel    string
		claims     map[string]any
		wantAllow  bool
		wantRule   string
		wantReason Reason
	}{
		{
			name: "first matching allow rule wins over a later deny",
			rules: []RuleSpec{
				{Name: "open", Channel: "private-x"},
				{Name: "closed", Channel: "private-x", Effect: EffectDeny},
			},
			channel: "private-x", claims: guest,
			wantAllow: true, wantRule: "open", wantReason: ReasonAllowed,
		},
		{
			name: "deny rule before an allow rule denies",
			rules: []RuleSpec{
				{Name: "closed", Channel: "private-x", Effect: EffectDeny},
				{Name: "open", Channel: "private-x"},
			},
			channel: "private-x", claims: guest,
			wantRule: "closed", wantReason: ReasonDeniedByRule,
		},
		{
			name: "rule with a false condition falls through to the next rule",
			rules: []RuleSpec{
				{Name: "admins", Channel: "private-x", When: "claims.role == 'admin'"},
				{Name: "fallback", Channel: "private-*"},
			},
			channel: "private-x", claims: guest,
			wantAllow: true, wantRule: "fallback", wantReason: ReasonAllowed,
		},
		{
			name: "deny rule with a false condition falls through to an allow rule",
			rules: []RuleSpec{
				{Name: "non-admins", Channel: "private-admin-*", When: "claims.role != 'admin'", Effect: EffectDeny},
				{Name: "admin", Channel: "private-admin-*"},
			},
			channel: "private-admin-reports", claims: admin,
			wantAllow: true, wantRule: "admin", wantReason: ReasonAllowed,
		},
		{
			name: "deny rule with a true condition denies",
			rules: []RuleSpec{
				{Name: "non-admins", Channel: "private-admin-*", When: "claims.role != 'admin'", Effect: EffectDeny},
				{Name: "admin", Channel: "private-admin-*"},
			},
			channel: "private-admin-reports", claims: guest,
			wantRule: "non-admins", wantReason: ReasonDeniedByRule,
		},
		{
			name: "explicit allow effect allows",
			rules: []RuleSpec{
				{Name: "open", Channel: "private-x", Effect: EffectAllow},
			},
			channel: "private-x", claims: guest,
			wantAllow: true, wantRule: "open", wantReason: ReasonAllowed,
		},
		{
			name: "channel no pattern matches is denied with no_rule",
			rules: []RuleSpec{
				{Name: "team", Channel: "private-team-{team}"},
			},
			channel: "private-other", claims: guest,
			wantReason: ReasonNoRule,
		},
		{
			name: "every condition false is denied with no_rule",
			rules: []RuleSpec{
				{Name: "a", Channel: "private-x", When: "false"},
				{Name: "b", Channel: "private-x", When: "claims.role == 'admin'"},
			},
			channel: "private-x", claims: guest,
			wantReason: ReasonNoRule,
		},
		{
			name:    "engine without rules denies with no_rule",
			channel: "private-x", claims: guest,
			wantReason: ReasonNoRule,
		},
		{
			name: "rule for another kind is skipped",
			rules: []RuleSpec{
				{Name: "rooms", Channel: "presence-*"},
				{Name: "closed", Channel: "private-*", Effect: EffectDeny},
			},
			channel: "private-x", claims: guest,
			wantRule: "closed", wantReason: ReasonDeniedByRule,
		},
		{
			name: "condition error denies at once although a later rule allows",
			rules: []RuleSpec{
				{Name: "broken", Channel: "private-x", When: "claims.missing == 'x'"},
				{Name: "open", Channel: "private-x"},
			},
			channel: "private-x", claims: guest,
			wantRule: "broken", wantReason: ReasonConditionError,
		},
		{
			name: "condition error in a deny rule does not fall through to allow",
			rules: []RuleSpec{
				{Name: "broken-deny", Channel: "private-*", When: "claims.banned", Effect: EffectDeny},
				{Name: "open", Channel: "private-*"},
			},
			channel: "private-x", claims: guest,
			wantRule: "broken-deny", wantReason: ReasonConditionError,
		},
		{
			name: "condition returning a string at run time is a condition error",
			rules: []RuleSpec{
				{Name: "flag", Channel: "private-x", When: "claims.role"},
				{Name: "open", Channel: "private-x"},
			},
			channel: "private-x", claims: guest,
			wantRule: "flag", wantReason: ReasonConditionError,
		},
		{
			name: "condition error in a rule that does not match is never evaluated",
			rules: []RuleSpec{
				{Name: "broken", Channel: "private-y", When: "claims.missing == 'x'"},
				{Name: "open", Channel: "private-x"},
			},
			channel: "private-x", claims: guest,
			wantAllow: true, wantRule: "open", wantReason: ReasonAllowed,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := mustCompile(t, Spec{Rules: tc.rules})

			got := e.Decide(t.Context(), channelInput(t, tc.channel, tc.claims))
			if got.Allow != tc.wantAllow {
				t.Errorf("Decide(%q).Allow = %v, want %v", tc.channel, got.Allow, tc.wantAllow)
			}
			if got.Rule != tc.wantRule {
				t.Errorf("Decide(%q).Rule = %q, want %q", tc.channel, got.Rule, tc.wantRule)
			}
			if got.Reason != tc.wantReason {
				t.Errorf("Decide(%q).Reason = %q, want %q (detail %q)", tc.channel, got.Reason, tc.wantReason, got.Detail)
			}
			if got.Member != nil {
				t.Errorf("Decide(%q).Member = %+v, want nil for a private channel", tc.channel, got.Member)
			}
		})
	}
}

func TestDecideConditionErrorDetail(t *testing.T) {
	e := mustCompile(t, Spec{Rules: []RuleSpec{
		{Name: "broken", Channel: "private-x", When: "claims.missing == 'x'"},
	}})

	got := e.Decide(t.Context(), channelInput(t, "private-x", map[string]any{"sub": "u1"}))
	if got.Reason != ReasonConditionError {
		t.Fatalf("Decide.Reason = %q, want %q", got.Reason, ReasonConditionError)
	}
	if got.Detail != "when: no such key" {
		t.Errorf("Decide.Detail = %q, want %q: the expression and the kind of failure, no claim name or value", got.Detail, "when: no such key")
	}
}

func TestDecideConditions(t *testing.T) {
	tests := []struct {
		name       string
		pattern    string
		when       string
		channel    string
		claims     map[string]any
		params     map[string]string
		socketID   string
		wantReason Reason
	}{
		{
			name:    "nested claim matching the tenant capture is allowed",
			pattern: "private-tenant-{tenant}-*",
			when:    "claims.app_metadata.tenant == tenant",
			channel: "private-tenant-acme-orders",
			claims:  map[string]any{"app_metadata": map[string]any{"tenant": "acme"}},
			// tenant captures "acme", the text before the last dash.
			wantReason: ReasonAllowed,
		},
		{
			name:       "nested claim for another tenant is denied",
			pattern:    "private-tenant-{tenant}-*",
			when:       "claims.app_metadata.tenant == tenant",
			channel:    "private-tenant-globex-orders",
			claims:     map[string]any{"app_metadata": map[string]any{"tenant": "acme"}},
			wantReason: ReasonNoRule,
		},
		{
			name:       "namespaced claim key with the role is allowed",
			pattern:    "private-admin-*",
			when:       "'admin' in claims['https://example.com/roles']",
			channel:    "private-admin-x",
			claims:     map[string]any{"https://example.com/roles": []any{"editor", "admin"}},
			wantReason: ReasonAllowed,
		},
		{
			name:       "namespaced claim key without the role is denied",
			pattern:    "private-admin-*",
			when:       "'admin' in claims['https://example.com/roles']",
			channel:    "private-admin-x",
			claims:     map[string]any{"https://example.com/roles": []any{"editor"}},
			wantReason: ReasonNoRule,
		},
		{
			name:       "capture in a list claim is allowed",
			pattern:    "private-team-{team}",
			when:       "'teams' in claims && team in claims.teams",
			channel:    "private-team-red",
			claims:     map[string]any{"teams": []any{"blue", "red"}},
			wantReason: ReasonAllowed,
		},
		{
			name:       "absent list claim guarded by in is denied without error",
			pattern:    "private-team-{team}",
			when:       "'teams' in claims && team in claims.teams",
			channel:    "private-team-red",
			claims:     map[string]any{"sub": "u1"},
			wantReason: ReasonNoRule,
		},
		{
			name:       "list claim with exists macro is allowed",
			pattern:    "private-team-{team}",
			when:       "claims.groups.exists(g, g.startsWith(team + ':'))",
			channel:    "private-team-red",
			claims:     map[string]any{"groups": []any{"blue:member", "red:owner"}},
			wantReason: ReasonAllowed,
		},
		{
			name:       "capture by name and through captures agree",
			pattern:    "presence-room-{room}",
			when:       "room == 'lobby' && captures.room == room && captures['room'] == 'lobby'",
			channel:    "presence-room-lobby",
			claims:     map[string]any{"sub": "u1"},
			wantReason: ReasonAllowed,
		},
		{
			name:       "pattern without captures has an empty captures map",
			pattern:    "private-lobby",
			when:       "size(captures) == 0",
			channel:    "private-lobby",
			wantReason: ReasonAllowed,
		},
		{
			name:       "channel variable holds the whole name",
			pattern:    "private-*",
			when:       "channel == 'private-x-1'",
			channel:    "private-x-1",
			wantReason: ReasonAllowed,
		},
		{
			name:       "socket_id variable holds the request socket id",
			pattern:    "private-*",
			when:       "socket_id == '99.100'",
			channel:    "private-x",
			socketID:   "99.100",
			wantReason: ReasonAllowed,
		},
		{
			name:       "param equal to the capture is allowed",
			pattern:    "private-doc-{doc}",
			when:       "params.doc == doc",
			channel:    "private-doc-7",
			params:     map[string]string{"doc": "7"},
			wantReason: ReasonAllowed,
		},
		{
			name:       "param presence test with in is false without error",
			pattern:    "private-doc-{doc}",
			when:       "'invite' in params",
			channel:    "private-doc-7",
			params:     map[string]string{"doc": "7"},
			wantReason: ReasonNoRule,
		},
		{
			name:       "missing param read directly is a condition error",
			pattern:    "private-doc-{doc}",
			when:       "params.invite == 'yes'",
			channel:    "private-doc-7",
			wantReason: ReasonConditionError,
		},
		{
			name:       "has on an absent claim is false without error",
			pattern:    "private-*",
			when:       "has(claims.admin) && claims.admin == true",
			channel:    "private-x",
			claims:     map[string]any{"sub": "u1"},
			wantReason: ReasonNoRule,
		},
		{
			name:       "float claim compares with an int literal",
			pattern:    "private-*",
			when:       "claims.level >= 2",
			channel:    "private-x",
			claims:     map[string]any{"level": 3.0},
			wantReason: ReasonAllowed,
		},
		{
			name:       "int64 claim compares with a double literal",
			pattern:    "private-*",
			when:       "claims.level == 3.0",
			channel:    "private-x",
			claims:     map[string]any{"level": int64(3)},
			wantReason: ReasonAllowed,
		},
		{
			name:       "string extension functions are available",
			pattern:    "private-*",
			when:       "claims.email.lowerAscii().endsWith('@example.com')",
			channel:    "private-x",
			claims:     map[string]any{"email": "Ann@Example.com"},
			wantReason: ReasonAllowed,
		},
		{
			name:       "nil claims behave as an empty map",
			pattern:    "private-*",
			when:       "!('sub' in claims) && size(params) == 0",
			channel:    "private-x",
			wantReason: ReasonAllowed,
		},
		{
			name:       "claim of the wrong type is a condition error",
			pattern:    "private-*",
			when:       "claims.level > 2",
			channel:    "private-x",
			claims:     map[string]any{"level": "high"},
			wantReason: ReasonConditionError,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := mustCompile(t, Spec{Rules: []RuleSpec{{Name: "rule", Channel: tc.pattern, When: tc.when}}})
			in := channelInput(t, tc.channel, tc.claims)
			in.Params = tc.params
			if tc.socketID != "" {
				in.SocketID = tc.socketID
			}

			got := e.Decide(t.Context(), in)
			if got.Reason != tc.wantReason {
				t.Errorf("Decide(%q) with when %q: Reason = %q, want %q (detail %q)", tc.channel, tc.when, got.Reason, tc.wantReason, got.Detail)
			}
			if wantAllow := tc.wantReason == ReasonAllowed; got.Allow != wantAllow {
				t.Errorf("Decide(%q) with when %q: Allow = %v, want %v", tc.channel, tc.when, got.Allow, wantAllow)
			}
		})
	}
}

func TestDecideMember(t *testing.T) {
	long := strings.Repeat("u", MaxUserIDLength)

	tests := []struct {
		name         string
		member       *MemberSpec
		claims       map[string]any
		wantReason   Reason
		wantUserID   string
		wantUserInfo string // JSON of Member.UserInfo, or "null" when it is left out
	}{
		{
			name:       "omitted member takes user_id from claims.sub",
			claims:     map[string]any{"sub": "u-1", "name": "Ann"},
			wantReason: ReasonAllowed, wantUserID: "u-1", wantUserInfo: "null",
		},
		{
			name:       "presence channel without sub claim is denied",
			claims:     map[string]any{"name": "Ann"},
			wantReason: ReasonMemberError,
		},
		{
			name:       "presence channel with nil claims is denied",
			wantReason: ReasonMemberError,
		},
		{
			name:       "user_id from a string claim",
			member:     &MemberSpec{UserID: "claims.uid"},
			claims:     map[string]any{"sub": "ignored", "uid": "abc"},
			wantReason: ReasonAllowed, wantUserID: "abc", wantUserInfo: "null",
		},
		{
			name:       "int64 claim 42 becomes user_id 42",
			member:     &MemberSpec{UserID: "claims.uid"},
			claims:     map[string]any{"uid": int64(42)},
			wantReason: ReasonAllowed, wantUserID: "42", wantUserInfo: "null",
		},
		{
			name:       "float64 claim 42.0 becomes user_id 42",
			member:     &MemberSpec{UserID: "claims.uid"},
			claims:     map[string]any{"uid": 42.0},
			wantReason: ReasonAllowed, wantUserID: "42", wantUserInfo: "null",
		},
		{
			name:       "uint64 claim becomes its decimal text",
			member:     &MemberSpec{UserID: "claims.uid"},
			claims:     map[string]any{"uid": uint64(18446744073709551615)},
			wantReason: ReasonAllowed, wantUserID: "18446744073709551615", wantUserInfo: "null",
		},
		{
			name:       "large whole float64 is written without exponent",
			member:     &MemberSpec{UserID: "claims.uid"},
			claims:     map[string]any{"uid": 1e15},
			wantReason: ReasonAllowed, wantUserID: "1000000000000000", wantUserInfo: "null",
		},
		{
			name:       "negative int becomes a signed decimal",
			member:     &MemberSpec{UserID: "claims.uid"},
			claims:     map[string]any{"uid": int64(-7)},
			wantReason: ReasonAllowed, wantUserID: "-7", wantUserInfo: "null",
		},
		{
			name:       "non-integral float64 4.5 is a member error",
			member:     &MemberSpec{UserID: "claims.uid"},
			claims:     map[string]any{"uid": 4.5},
			wantReason: ReasonMemberError,
		},
		{
			name:       "bool user_id is a member error",
			member:     &MemberSpec{UserID: "claims.uid"},
			claims:     map[string]any{"uid": true},
			wantReason: ReasonMemberError,
		},
		{
			name:       "user_id from a capture",
			member:     &MemberSpec{UserID: "room + ':' + claims.sub"},
			claims:     map[string]any{"sub": "u1"},
			wantReason: ReasonAllowed, wantUserID: "lobby:u1", wantUserInfo: "null",
		},
		{
			name:       "presence user_id need not be channel safe",
			claims:     map[string]any{"sub": "auth0|abc123"},
			wantReason: ReasonAllowed, wantUserID: "auth0|abc123", wantUserInfo: "null",
		},
		{
			name:       "empty user_id is invalid",
			claims:     map[string]any{"sub": ""},
			wantReason: ReasonInvalidUserID,
		},
		{
			name:       "user_id of 128 bytes is allowed",
			claims:     map[string]any{"sub": long},
			wantReason: ReasonAllowed, wantUserID: long, wantUserInfo: "null",
		},
		{
			name:       "user_id of 129 bytes is invalid",
			claims:     map[string]any{"sub": long + "u"},
			wantReason: ReasonInvalidUserID,
		},
		{
			name:       "user_info map is kept",
			member:     &MemberSpec{UserInfo: "{'name': claims.name, 'tags': claims.tags}"},
			claims:     map[string]any{"sub": "u1", "name": "Ann", "tags": []any{"a", "b"}},
			wantReason: ReasonAllowed, wantUserID: "u1", wantUserInfo: `{"name":"Ann","tags":["a","b"]}`,
		},
		{
			name:       "user_info keeps JSON types",
			member:     &MemberSpec{UserInfo: "{'n': 1, 'f': 1.5, 'b': true, 'z': null, 'm': {'k': 'v'}}"},
			claims:     map[string]any{"sub": "u1"},
			wantReason: ReasonAllowed, wantUserID: "u1", wantUserInfo: `{"b":true,"f":1.5,"m":{"k":"v"},"n":1,"z":null}`,
		},
		{
			name:       "user_info may be a whole claim map",
			member:     &MemberSpec{UserInfo: "claims.profile"},
			claims:     map[string]any{"sub": "u1", "profile": map[string]any{"name": "Ann", "age": 30.0}},
			wantReason: ReasonAllowed, wantUserID: "u1", wantUserInfo: `{"age":30,"name":"Ann"}`,
		},
		{
			name:       "empty user_info map is left out",
			member:     &MemberSpec{UserInfo: "{}"},
			claims:     map[string]any{"sub": "u1"},
			wantReason: ReasonAllowed, wantUserID: "u1", wantUserInfo: "null",
		},
		{
			name:       "conditional user_info without the claim is left out",
			member:     &MemberSpec{UserInfo: "'name' in claims ? {'name': claims.name} : {}"},
			claims:     map[string]any{"sub": "u1"},
			wantReason: ReasonAllowed, wantUserID: "u1", wantUserInfo: "null",
		},
		{
			name:       "user_info that is not a map at run time is a member error",
			member:     &MemberSpec{UserInfo: "claims.profile"},
			claims:     map[string]any{"sub": "u1", "profile": "Ann"},
			wantReason: ReasonMemberError,
		},
		{
			name:       "user_info reading a missing claim is a member error",
			member:     &MemberSpec{UserInfo: "{'name': claims.name}"},
			claims:     map[string]any{"sub": "u1"},
			wantReason: ReasonMemberError,
		},
		{
			name:       "user_info with a non-string key is a member error",
			member:     &MemberSpec{UserInfo: "{claims.n: 1}"},
			claims:     map[string]any{"sub": "u1", "n": 7.0},
			wantReason: ReasonMemberError,
		},
		{
			name:       "user_info with bytes is a member error",
			member:     &MemberSpec{UserInfo: "{'b': b'raw'}"},
			claims:     map[string]any{"sub": "u1"},
			wantReason: ReasonMemberError,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := mustCompile(t, Spec{Rules: []RuleSpec{{Name: "rooms", Channel: "presence-{room}", Member: tc.member}}})

			got := e.Decide(t.Context(), channelInput(t, "presence-lobby", tc.claims))
			if got.Reason != tc.wantReason {
				t.Fatalf("Decide.Reason = %q, want %q (detail %q)", got.Reason, tc.wantReason, got.Detail)
			}
			if got.Rule != "rooms" {
				t.Errorf("Decide.Rule = %q, want %q", got.Rule, "rooms")
			}
			if tc.wantReason != ReasonAllowed {
				if got.Allow || got.Member != nil {
					t.Errorf("Decide = allow %v member %+v, want a denial without member", got.Allow, got.Member)
				}
				if got.Detail == "" {
					t.Errorf("Decide.Detail is empty, want the reason for the log")
				}
				return
			}

			if !got.Allow {
				t.Fatalf("Decide.Allow = false, want true")
			}
			if got.Member == nil {
				t.Fatalf("Decide.Member = nil, want a member for a presence channel")
			}
			if got.Member.UserID != tc.wantUserID {
				t.Errorf("Member.UserID = %q, want %q", got.Member.UserID, tc.wantUserID)
			}
			if info := jsonText(t, got.Member.UserInfo); info != tc.wantUserInfo {
				t.Errorf("Member.UserInfo = %s, want %s", info, tc.wantUserInfo)
			}
		})
	}
}

// TestMemberUserInfoEmptyList checks that an empty CEL list in user_info
// encodes as [], not null, as toNative promises.
func TestMemberUserInfoEmptyList(t *testing.T) {
	e := mustCompile(t, Spec{Rules: []RuleSpec{{
		Name:    "rooms",
		Channel: "presence-{room}",
		Member:  &MemberSpec{UserInfo: "{'tags': claims.tags, 'literal': []}"},
	}}})

	got := e.Decide(t.Context(), channelInput(t, "presence-lobby", map[string]any{"sub": "u1", "tags": []any{}}))
	if !got.Allow || got.Member == nil {
		t.Fatalf("Decide = %+v, want allowed with a member", got)
	}
	want := `{"literal":[],"tags":[]}`
	if info := jsonText(t, got.Member.UserInfo); info != want {
		t.Errorf("Member.UserInfo = %s, want %s", info, want)
	}
}

func TestDecidePrivateHasNoMember(t *testing.T) {
	e := mustCompile(t, Spec{Rules: []RuleSpec{{Name: "open", Channel: "private-*"}}})

	got := e.Decide(t.Context(), channelInput(t, "private-x", map[string]any{"sub": "u1"}))
	if !got.Allow {
		t.Fatalf("Decide.Allow = false, want true (reason %q)", got.Reason)
	}
	if got.Member != nil || got.UserData != nil {
		t.Errorf("Decide = member %+v user data %+v, want neither for a private channel", got.Member, got.UserData)
	}
}

func TestDecideEncrypted(t *testing.T) {
	e := mustCompile(t, Spec{
		Rules:             []RuleSpec{{Name: "inbox", Channel: "private-encrypted-inbox-{id}", When: "id == claims.sub"}},
		EncryptionEnabled: true,
	})

	tests := []struct {
		name      string
		channel   string
		wantAllow bool
	}{
		{name: "own encrypted inbox is allowed", channel: "private-encrypted-inbox-u1", wantAllow: true},
		{name: "another user's encrypted inbox is denied", channel: "private-encrypted-inbox-u2"},
		{name: "private channel with the same suffix is denied", channel: "private-inbox-u1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := e.Decide(t.Context(), channelInput(t, tc.channel, map[string]any{"sub": "u1"}))
			if got.Allow != tc.wantAllow {
				t.Errorf("Decide(%q).Allow = %v, want %v (reason %q)", tc.channel, got.Allow, tc.wantAllow, got.Reason)
			}
		})
	}
}

func TestSignIn(t *testing.T) {
	tests := []struct {
		name          string
		spec          SignInSpec
		claims        map[string]any
		wantReason    Reason
		wantID        string
		wantUserInfo  string // JSON of UserData.UserInfo, or "null" when it is left out
		wantWatchlist []string
	}{
		{
			name:       "omitted spec takes id from claims.sub",
			claims:     map[string]any{"sub": "u1"},
			wantReason: ReasonAllowed, wantID: "u1", wantUserInfo: "null",
		},
		{
			name:       "numeric sub 42.0 becomes id 42",
			claims:     map[string]any{"sub": 42.0},
			wantReason: ReasonAllowed, wantID: "42", wantUserInfo: "null",
		},
		{
			name: "id, user_info and watchlist are built from claims",
			spec: SignInSpec{
				UserID:    "claims.uid",
				UserInfo:  "{'name': claims.name}",
				Watchlist: "claims.friends",
			},
			claims:     map[string]any{"uid": "u9", "name": "Ann", "friends": []any{"u2", "u3"}},
			wantReason: ReasonAllowed, wantID: "u9", wantUserInfo: `{"name":"Ann"}`,
			wantWatchlist: []string{"u2", "u3"},
		},
		{
			name:       "watchlist numbers become strings",
			spec:       SignInSpec{Watchlist: "claims.friends"},
			claims:     map[string]any{"sub": "u1", "friends": []any{int64(7), 8.0, "nine"}},
			wantReason: ReasonAllowed, wantID: "u1", wantUserInfo: "null",
			wantWatchlist: []string{"7", "8", "nine"},
		},
		{
			name:       "watchlist built with map macro",
			spec:       SignInSpec{Watchlist: "claims.friends.map(f, 'u' + string(f))"},
			claims:     map[string]any{"sub": "u1", "friends": []any{int64(2), int64(3)}},
			wantReason: ReasonAllowed, wantID: "u1", wantUserInfo: "null",
			wantWatchlist: []string{"u2", "u3"},
		},
		{
			name:       "empty watchlist gives no ids",
			spec:       SignInSpec{Watchlist: "[]"},
			claims:     map[string]any{"sub": "u1"},
			wantReason: ReasonAllowed, wantID: "u1", wantUserInfo: "null",
		},
		{
			name:       "watchlist with a fraction is a member error",
			spec:       SignInSpec{Watchlist: "claims.friends"},
			claims:     map[string]any{"sub": "u1", "friends": []any{4.5}},
			wantReason: ReasonMemberError,
		},
		{
			name:       "watchlist that is not a list at run time is a member error",
			spec:       SignInSpec{Watchlist: "claims.friends"},
			claims:     map[string]any{"sub": "u1", "friends": "u2"},
			wantReason: ReasonMemberError,
		},
		{
			name:       "empty user_info map is left out",
			spec:       SignInSpec{UserInfo: "'name' in claims ? {'name': claims.name} : {}"},
			claims:     map[string]any{"sub": "u1"},
			wantReason: ReasonAllowed, wantID: "u1", wantUserInfo: "null",
		},
		{
			name:       "user_info reading a missing claim is a member error",
			spec:       SignInSpec{UserInfo: "{'name': claims.name}"},
			claims:     map[string]any{"sub": "u1"},
			wantReason: ReasonMemberError,
		},
		{
			name:       "when true allows sign-in",
			spec:       SignInSpec{When: "claims.email_verified == true"},
			claims:     map[string]any{"sub": "u1", "email_verified": true},
			wantReason: ReasonAllowed, wantID: "u1", wantUserInfo: "null",
		},
		{
			name:       "when false denies sign-in",
			spec:       SignInSpec{When: "claims.email_verified == true"},
			claims:     map[string]any{"sub": "u1", "email_verified": false},
			wantReason: ReasonSignInCondition,
		},
		{
			name:       "when that fails to evaluate is a condition error",
			spec:       SignInSpec{When: "claims.email_verified == true"},
			claims:     map[string]any{"sub": "u1"},
			wantReason: ReasonConditionError,
		},
		{
			name:       "id with a pipe is not channel safe",
			claims:     map[string]any{"sub": "auth0|abc123"},
			wantReason: ReasonUserIDNotSafe,
		},
		{
			name:       "id with a pipe mapped by replace is allowed",
			spec:       SignInSpec{UserID: "claims.sub.replace('|', '_')"},
			claims:     map[string]any{"sub": "auth0|abc123"},
			wantReason: ReasonAllowed, wantID: "auth0_abc123", wantUserInfo: "null",
		},
		{
			name:       "id with an email plus sign is not channel safe",
			claims:     map[string]any{"sub": "someone+tag@example.com"},
			wantReason: ReasonUserIDNotSafe,
		},
		{
			name:       "missing sub is a member error",
			claims:     map[string]any{"name": "Ann"},
			wantReason: ReasonMemberError,
		},
		{
			name:       "empty id is invalid",
			claims:     map[string]any{"sub": ""},
			wantReason: ReasonInvalidUserID,
		},
		{
			name:       "id of 129 bytes is invalid",
			claims:     map[string]any{"sub": strings.Repeat("u", MaxUserIDLength+1)},
			wantReason: ReasonInvalidUserID,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := mustCompile(t, Spec{SignIn: tc.spec})

			got := e.SignIn(t.Context(), Input{SocketID: "1234.5678", Claims: tc.claims})
			if got.Reason != tc.wantReason {
				t.Fatalf("SignIn.Reason = %q, want %q (detail %q)", got.Reason, tc.wantReason, got.Detail)
			}
			if got.Rule != "signin" {
				t.Errorf("SignIn.Rule = %q, want %q", got.Rule, "signin")
			}
			if tc.wantReason != ReasonAllowed {
				if got.Allow || got.UserData != nil {
					t.Errorf("SignIn = allow %v user data %+v, want a denial without user data", got.Allow, got.UserData)
				}
				return
			}

			if !got.Allow || got.UserData == nil {
				t.Fatalf("SignIn = allow %v user data %+v, want allowed with user data", got.Allow, got.UserData)
			}
			if got.UserData.ID != tc.wantID {
				t.Errorf("UserData.ID = %q, want %q", got.UserData.ID, tc.wantID)
			}
			if info := jsonText(t, got.UserData.UserInfo); info != tc.wantUserInfo {
				t.Errorf("UserData.UserInfo = %s, want %s", info, tc.wantUserInfo)
			}
			if !slices.Equal(got.UserData.Watchlist, tc.wantWatchlist) {
				t.Errorf("UserData.Watchlist = %q, want %q", got.UserData.Watchlist, tc.wantWatchlist)
			}
		})
	}
}

func TestSignInIgnoresChannelRules(t *testing.T) {
	e := mustCompile(t, Spec{Rules: []RuleSpec{{Name: "closed", Channel: "private-*", Effect: EffectDeny}}})

	got := e.SignIn(t.Context(), Input{Claims: map[string]any{"sub": "u1"}})
	if !got.Allow {
		t.Errorf("SignIn.Allow = false, want true (reason %q)", got.Reason)
	}
}

func TestCompile(t *testing.T) {
	e := mustCompile(t, Spec{
		Rules: []RuleSpec{
			{Name: "own-user-channel", Channel: "private-user-{id}", When: "id == claims.sub"},
			{Name: "rooms", Channel: "presence-room-{room}", Member: &MemberSpec{
				UserID:   "claims.sub",
				UserInfo: "'name' in claims ? {'name': claims.name} : {}",
			}},
			{Name: "inbox-closed", Channel: "private-encrypted-*", Effect: EffectDeny},
			{Name: "admin", Channel: "private-admin-*", Effect: EffectAllow},
			// A capture may take the name of a CEL type or macro.
			{Name: "typed", Channel: "private-{int}-{has}", When: "int(claims.n) == 3 && has == 'x'"},
		},
		SignIn: SignInSpec{When: "true", UserID: "claims.sub", UserInfo: "{}", Watchlist: "[]"},
	})
	if got := e.RuleCount(); got != 5 {
		t.Errorf("RuleCount() = %d, want 5", got)
	}

	got := e.Decide(t.Context(), channelInput(t, "private-a-x", map[string]any{"n": 3.0}))
	if !got.Allow || got.Rule != "typed" {
		t.Errorf("Decide(private-a-x) = allow %v rule %q, want allowed by typed", got.Allow, got.Rule)
	}
}

func TestCompileProblems(t *testing.T) {
	tests := []struct {
		name         string
		spec         Spec
		wantProblems []Problem // Message is a substring of the reported message
	}{
		{
			name: "rule without name is rejected",
			spec: Spec{Rules: []RuleSpec{{Channel: "private-x"}}},
			wantProblems: []Problem{
				{Path: "policies[0].name", Message: "missing; every rule needs a name"},
			},
		},
		{
			name: "duplicate rule names are rejected",
			spec: Spec{Rules: []RuleSpec{
				{Name: "a", Channel: "private-x"},
				{Name: "b", Channel: "private-y"},
				{Name: "a", Channel: "private-z"},
			}},
			wantProblems: []Problem{
				{Path: "policies[2].name", Message: `"a" is already the name of policies[0]`},
			},
		},
		{
			name: "unknown effect is rejected",
			spec: Spec{Rules: []RuleSpec{{Name: "a", Channel: "private-x", Effect: "permit"}}},
			wantProblems: []Problem{
				{Path: "policies[0].effect", Message: `unknown effect "permit", want allow or deny`},
			},
		},
		{
			name: "invalid pattern is rejected",
			spec: Spec{Rules: []RuleSpec{{Name: "a", Channel: "room-{id}"}}},
			wantProblems: []Problem{
				{Path: "policies[0].channel", Message: `invalid pattern "room-{id}": pattern must start with`},
			},
		},
		{
			name: "missing pattern is rejected",
			spec: Spec{Rules: []RuleSpec{{Name: "a"}}},
			wantProblems: []Problem{
				{Path: "policies[0].channel", Message: `invalid pattern "": empty pattern`},
			},
		},
		{
			name: "condition returning string is rejected",
			spec: Spec{Rules: []RuleSpec{{Name: "a", Channel: "private-x", When: "'x'"}}},
			wantProblems: []Problem{
				{Path: "policies[0].when", Message: "expression returns string, want bool"},
			},
		},
		{
			name: "condition with a syntax error is rejected",
			spec: Spec{Rules: []RuleSpec{{Name: "a", Channel: "private-x", When: "claims.sub =="}}},
			wantProblems: []Problem{
				{Path: "policies[0].when", Message: "Syntax error"},
			},
		},
		{
			name: "condition using a capture of another rule is rejected",
			spec: Spec{Rules: []RuleSpec{
				{Name: "a", Channel: "private-team-{team}"},
				{Name: "b", Channel: "private-room-{room}", When: "team == 'x'"},
			}},
			wantProblems: []Problem{
				{Path: "policies[1].when", Message: "undeclared reference to 'team'"},
			},
		},
		{
			name: "condition calling an unknown function is rejected",
			spec: Spec{Rules: []RuleSpec{{Name: "a", Channel: "private-x", When: "isAdmin(claims)"}}},
			wantProblems: []Problem{
				{Path: "policies[0].when", Message: "undeclared reference to 'isAdmin'"},
			},
		},
		{
			name: "encrypted allow rule without encryption is rejected",
			spec: Spec{Rules: []RuleSpec{{Name: "inbox", Channel: "private-encrypted-inbox-{id}"}}},
			wantProblems: []Problem{
				{Path: "policies[0].channel", Message: "allows private-encrypted- channels but pusher.encryption_master_key is empty"},
			},
		},
		{
			name: "encrypted cache allow rule without encryption is rejected",
			spec: Spec{Rules: []RuleSpec{{Name: "inbox", Channel: "private-encrypted-cache-*", Effect: EffectAllow}}},
			wantProblems: []Problem{
				{Path: "policies[0].channel", Message: "allows private-encrypted- channels"},
			},
		},
		{
			name: "encrypted allow rule with encryption compiles",
			spec: Spec{Rules: []RuleSpec{{Name: "inbox", Channel: "private-encrypted-inbox-{id}"}}, EncryptionEnabled: true},
		},
		{
			name: "encrypted deny rule without encryption compiles",
			spec: Spec{Rules: []RuleSpec{{Name: "no-inbox", Channel: "private-encrypted-*", Effect: EffectDeny}}},
		},
		{
			name: "member on a private rule is rejected",
			spec: Spec{Rules: []RuleSpec{{Name: "a", Channel: "private-x", Member: &MemberSpec{UserID: "claims.sub"}}}},
			wantProblems: []Problem{
				{Path: "policies[0].member", Message: "only presence- channels have members, but the pattern is for private channels"},
			},
		},
		{
			name: "member on an encrypted rule is rejected",
			spec: Spec{
				Rules:             []RuleSpec{{Name: "a", Channel: "private-encrypted-x", Member: &MemberSpec{}}},
				EncryptionEnabled: true,
			},
			wantProblems: []Problem{
				{Path: "policies[0].member", Message: "but the pattern is for encrypted channels"},
			},
		},
		{
			name: "member on a presence deny rule is rejected",
			spec: Spec{Rules: []RuleSpec{{Name: "a", Channel: "presence-x", Effect: EffectDeny, Member: &MemberSpec{}}}},
			wantProblems: []Problem{
				{Path: "policies[0].member", Message: "a deny rule builds no member"},
			},
		},
		{
			name: "member user_id returning bool is rejected",
			spec: Spec{Rules: []RuleSpec{{Name: "a", Channel: "presence-x", Member: &MemberSpec{UserID: "claims.sub == 'x'"}}}},
			wantProblems: []Problem{
				{Path: "policies[0].member.user_id", Message: "expression returns bool, want string or number"},
			},
		},
		{
			name: "member user_info returning list is rejected",
			spec: Spec{Rules: []RuleSpec{{Name: "a", Channel: "presence-x", Member: &MemberSpec{UserInfo: "[1, 2]"}}}},
			wantProblems: []Problem{
				{Path: "policies[0].member.user_info", Message: "expression returns list(int), want map"},
			},
		},
		{
			name: "signin expressions of the wrong type are all rejected",
			spec: Spec{SignIn: SignInSpec{When: "'x'", UserID: "{}", UserInfo: "'s'", Watchlist: "{'a': 1}"}},
			wantProblems: []Problem{
				{Path: "signin.user_id", Message: "expression returns map(dyn, dyn), want string or number"},
				{Path: "signin.user_info", Message: "expression returns string, want map"},
				{Path: "signin.watchlist", Message: "expression returns map(string, int), want list"},
				{Path: "signin.when", Message: "expression returns string, want bool"},
			},
		},
		{
			name: "signin cannot use channel variables from captures",
			spec: Spec{SignIn: SignInSpec{UserID: "room"}},
			wantProblems: []Problem{
				{Path: "signin.user_id", Message: "undeclared reference to 'room'"},
			},
		},
		{
			name: "every problem is reported at once",
			spec: Spec{
				Rules: []RuleSpec{
					{Name: "a", Channel: "private-x", When: "1"},
					{Name: "a", Channel: "private-{claims}"},
					{Name: "c", Channel: "presence-x", Effect: "block", When: "claims.sub +"},
				},
				SignIn: SignInSpec{Watchlist: "'u1'"},
			},
			wantProblems: []Problem{
				{Path: "policies[0].when", Message: "expression returns int, want bool"},
				{Path: "policies[1].channel", Message: `capture name "claims" is reserved`},
				{Path: "policies[1].name", Message: `"a" is already the name of policies[0]`},
				{Path: "policies[2].effect", Message: `unknown effect "block"`},
				{Path: "policies[2].when", Message: "Syntax error"},
				{Path: "signin.watchlist", Message: "expression returns string, want list"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Compile(tc.spec)
			if len(tc.wantProblems) == 0 {
				if err != nil {
					t.Fatalf("Compile error:\n%v\nwant none", err)
				}
				if e == nil {
					t.Fatalf("Compile returned a nil engine without error")
				}
				return
			}

			if e != nil {
				t.Errorf("Compile returned an engine together with problems")
			}
			var problems *ProblemsError
			if !errors.As(err, &problems) {
				t.Fatalf("Compile error = %v (%T), want *ProblemsError", err, err)
			}
			if len(problems.Problems) != len(tc.wantProblems) {
				t.Errorf("Compile reported %d problems, want %d:\n%v", len(problems.Problems), len(tc.wantProblems), err)
			}
			for _, want := range tc.wantProblems {
				if !hasProblem(problems.Problems, want) {
					t.Errorf("Compile problems lack %s: ...%s...; got:\n%v", want.Path, want.Message, err)
				}
			}
			if lines := strings.Count(err.Error(), "\n") + 1; lines < len(problems.Problems) {
				t.Errorf("ProblemsError.Error() has %d lines, want at least one per problem (%d)", lines, len(problems.Problems))
			}
		})
	}
}

// hasProblem reports whether problems has one at want.Path whose message
// contains want.Message.
func hasProblem(problems []Problem, want Problem) bool {
	for _, p := range problems {
		if p.Path == want.Path && strings.Contains(p.Message, want.Message) {
			return true
		}
	}
	return false
}

// TestCompileProblemsInRuleOrder checks the documented order of
// ProblemsError: by rule index, so policies[2] comes before policies[10], and
// sign-in problems come last.
func TestCompileProblemsInRuleOrder(t *testing.T) {
	rules := make([]RuleSpec, 12)
	for i := range rules {
		rules[i] = RuleSpec{Name: fmt.Sprintf("rule-%d", i), Channel: "private-x"}
	}
	rules[2].When = "1"
	rules[10].When = "2"
	rules[11].Effect = "permit"

	_, err := Compile(Spec{Rules: rules, SignIn: SignInSpec{When: "3"}})
	var problems *ProblemsError
	if !errors.As(err, &problems) {
		t.Fatalf("Compile error = %v, want *ProblemsError", err)
	}

	index := regexp.MustCompile(`^policies\[(\d+)\]`)
	var order []int
	for _, p := range problems.Problems {
		m := index.FindStringSubmatch(p.Path)
		if m == nil {
			order = append(order, len(rules)) // sign-in problems belong after every rule
			continue
		}
		i, _ := strconv.Atoi(m[1])
		order = append(order, i)
	}
	want := []int{2, 10, 11, len(rules)}
	if !slices.Equal(order, want) {
		t.Errorf("Compile problems come from rules %v, want %v:\n%v", order, want, err)
	}
}

func TestDecideCostLimit(t *testing.T) {
	big := make([]any, 100_000)
	for i := range big {
		big[i] = fmt.Sprintf("g%d", i)
	}
	claims := map[string]any{"sub": "u1", "groups": big}

	t.Run("comprehension over a large claim list is a condition error", func(t *testing.T) {
		e := mustCompile(t, Spec{Rules: []RuleSpec{
			{Name: "scan", Channel: "private-*", When: "claims.groups.exists(g, g == 'none')"},
			{Name: "open", Channel: "private-*"},
		}})

		got := e.Decide(t.Context(), channelInput(t, "private-x", claims))
		if got.Reason != ReasonConditionError || got.Rule != "scan" {
			t.Fatalf("Decide = rule %q reason %q, want rule scan reason %q", got.Rule, got.Reason, ReasonConditionError)
		}
		if !strings.Contains(got.Detail, "cost limit exceeded") {
			t.Errorf("Decide.Detail = %q, want it to mention the cost limit", got.Detail)
		}
	})

	t.Run("small list within the default limit is allowed", func(t *testing.T) {
		e := mustCompile(t, Spec{Rules: []RuleSpec{
			{Name: "scan", Channel: "private-*", When: "claims.groups.exists(g, g == 'g9')"},
		}})

		got := e.Decide(t.Context(), channelInput(t, "private-x", map[string]any{"groups": big[:10]}))
		if !got.Allow {
			t.Errorf("Decide = reason %q detail %q, want allowed", got.Reason, got.Detail)
		}
	})

	t.Run("spec cost limit lowers the default", func(t *testing.T) {
		e := mustCompile(t, Spec{
			Rules:     []RuleSpec{{Name: "scan", Channel: "private-*", When: "claims.groups.exists(g, g == 'none')"}},
			CostLimit: 10,
		})

		got := e.Decide(t.Context(), channelInput(t, "private-x", map[string]any{"groups": big[:100]}))
		if got.Reason != ReasonConditionError {
			t.Errorf("Decide.Reason = %q, want %q with CostLimit 10", got.Reason, ReasonConditionError)
		}
	})

	t.Run("member user_info over a large list is a member error", func(t *testing.T) {
		e := mustCompile(t, Spec{Rules: []RuleSpec{{
			Name:    "rooms",
			Channel: "presence-*",
			Member:  &MemberSpec{UserInfo: "{'groups': claims.groups.filter(g, g.startsWith('g1'))}"},
		}}})

		got := e.Decide(t.Context(), channelInput(t, "presence-x", claims))
		if got.Reason != ReasonMemberError {
			t.Errorf("Decide.Reason = %q, want %q (detail %q)", got.Reason, ReasonMemberError, got.Detail)
		}
	})

	t.Run("sign-in watchlist over a large list is a member error", func(t *testing.T) {
		e := mustCompile(t, Spec{SignIn: SignInSpec{Watchlist: "claims.groups.map(g, g + '-x')"}})

		got := e.SignIn(t.Context(), Input{Claims: claims})
		if got.Reason != ReasonMemberError {
			t.Errorf("SignIn.Reason = %q, want %q (detail %q)", got.Reason, ReasonMemberError, got.Detail)
		}
	})
}

func TestDecideCanceledContext(t *testing.T) {
	groups := make([]any, 1000)
	for i := range groups {
		groups[i] = "g"
	}
	e := mustCompile(t, Spec{
		Rules:     []RuleSpec{{Name: "scan", Channel: "private-*", When: "claims.groups.exists(g, g == 'none')"}},
		CostLimit: 1_000_000,
	})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	got := e.Decide(ctx, channelInput(t, "private-x", map[string]any{"groups": groups}))
	if got.Reason != ReasonConditionError {
		t.Errorf("Decide with canceled context: Reason = %q, want %q (detail %q)", got.Reason, ReasonConditionError, got.Detail)
	}
}

// TestDecisionDetailOmitsClaimValues checks the Decision.Detail contract:
// Detail goes to the log, so it must never contain claim values.
func TestDecisionDetailOmitsClaimValues(t *testing.T) {
	const secret = "s3cret-claim-value"

	tests := []struct {
		name       string
		rule       RuleSpec
		channel    string
		claims     map[string]any
		wantReason Reason
		leaked     string // claim value that must not appear in Detail
	}{
		{
			name:       "conversion error names no claim value",
			rule:       RuleSpec{Name: "r", Channel: "private-*", When: "int(claims.code) == 3"},
			channel:    "private-x",
			claims:     map[string]any{"code": secret},
			wantReason: ReasonConditionError,
			leaked:     secret,
		},
		{
			name:       "missing map key taken from a claim names no claim value",
			rule:       RuleSpec{Name: "r", Channel: "private-*", When: "claims.teams[claims.team] == 'owner'"},
			channel:    "private-x",
			claims:     map[string]any{"team": secret, "teams": map[string]any{}},
			wantReason: ReasonConditionError,
			leaked:     secret,
		},
		{
			name:       "timestamp parse error names no claim value",
			rule:       RuleSpec{Name: "r", Channel: "private-*", When: "timestamp(claims.since) < timestamp('2030-01-01T00:00:00Z')"},
			channel:    "private-x",
			claims:     map[string]any{"since": secret},
			wantReason: ReasonConditionError,
			leaked:     secret,
		},
		{
			name:       "fractional user id names no claim value",
			rule:       RuleSpec{Name: "r", Channel: "presence-*", Member: &MemberSpec{UserID: "claims.uid"}},
			channel:    "presence-x",
			claims:     map[string]any{"uid": 4.123456},
			wantReason: ReasonMemberError,
			leaked:     "4.123456",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := mustCompile(t, Spec{Rules: []RuleSpec{tc.rule}})

			got := e.Decide(t.Context(), channelInput(t, tc.channel, tc.claims))
			if got.Reason != tc.wantReason {
				t.Fatalf("Decide.Reason = %q, want %q (detail %q)", got.Reason, tc.wantReason, got.Detail)
			}
			if strings.Contains(got.Detail, tc.leaked) {
				t.Errorf("Decide.Detail = %q, contains the claim value %q", got.Detail, tc.leaked)
			}
		})
	}
}

func TestEngineConcurrentUse(t *testing.T) {
	e := mustCompile(t, Spec{
		Rules: []RuleSpec{
			{Name: "own", Channel: "private-user-{id}", When: "id == claims.sub"},
			{Name: "rooms", Channel: "presence-room-{room}", Member: &MemberSpec{UserInfo: "{'room': room}"}},
		},
		SignIn: SignInSpec{UserInfo: "{'name': claims.name}"},
	})

	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				sub := fmt.Sprintf("u%d-%d", g, i)
				claims := map[string]any{"sub": sub, "name": "n"}
				ctx := context.Background()

				if d := e.Decide(ctx, Input{Channel: "private-user-" + sub, Kind: channel.KindPrivate, Claims: claims}); !d.Allow {
					errs <- fmt.Sprintf("Decide(private-user-%s) denied: %s", sub, d.Reason)
					return
				}
				room := fmt.Sprintf("r%d", i)
				d := e.Decide(ctx, Input{Channel: "presence-room-" + room, Kind: channel.KindPresence, Claims: claims})
				if !d.Allow || d.Member.UserID != sub || d.Member.UserInfo["room"] != room {
					errs <- fmt.Sprintf("Decide(presence-room-%s) = %+v, want member %s in room %s", room, d, sub, room)
					return
				}
				if s := e.SignIn(ctx, Input{Claims: claims}); !s.Allow || s.UserData.ID != sub {
					errs <- fmt.Sprintf("SignIn(%s) = %+v", sub, s)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
}

func TestMemberUserInfoRejectsNonFiniteNumbers(t *testing.T) {
	e := mustCompile(t, Spec{Rules: []RuleSpec{{Name: "ratio", Channel: "presence-x", Member: &MemberSpec{
		UserInfo: "{'ratio': claims.a / claims.b}"}}}})
	got := e.Decide(t.Context(), Input{Channel: "presence-x", Kind: channel.KindPresence,
		Claims: map[string]any{"sub": "u", "a": 1.5, "b": 0.0}})
	if got.Allow || got.Reason != ReasonMemberError {
		t.Errorf("Decide with user_info 1.5/0.0 = allow %v reason %q, want deny %q", got.Allow, got.Reason, ReasonMemberError)
	}
}
