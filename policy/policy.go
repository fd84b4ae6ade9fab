// Package policy decides whether a session may join a channel or sign in,
// from ordered rules with channel patterns and CEL conditions. It maps an
// Input to a Decision and does not depend on HTTP, configuration files or
// Pusher signing.
package policy

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"

	"github.com/pusher-authd/pusher-authd/channel"
)

// MaxUserIDLength is the longest user id Pusher accepts for presence members
// and signed-in users (Pusher Channels docs, presence channels).
const MaxUserIDLength = 128

// Reason is the cause of a Decision, shared by logs, metrics and tests.
type Reason string

// Decision reasons.
const (
	ReasonAllowed         Reason = "allowed"
	ReasonNoRule          Reason = "no_rule"
	ReasonDeniedByRule    Reason = "denied_by_rule"
	ReasonConditionError  Reason = "condition_error"
	ReasonMemberError     Reason = "member_error"
	ReasonInvalidUserID   Reason = "invalid_user_id"
	ReasonUserIDNotSafe   Reason = "user_id_not_channel_safe"
	ReasonSignInCondition Reason = "signin_condition_false"
)

// Effect is the action of a matching rule.
type Effect string

// Rule effects; a rule without one allows.
const (
	EffectAllow Effect = "allow"
	EffectDeny  Effect = "deny"
)

// RuleSpec is one rule as written in configuration.
type RuleSpec struct {
	Name    string      `mapstructure:"name"`
	Channel string      `mapstructure:"channel"`
	When    string      `mapstructure:"when"`
	Effect  Effect      `mapstructure:"effect"`
	Member  *MemberSpec `mapstructure:"member"`
}

// MemberSpec contains the CEL expressions that build a presence member.
type MemberSpec struct {
	// UserID defaults to claims.sub.
	UserID string `mapstructure:"user_id"`
	// UserInfo must evaluate to a map; an empty map is left out.
	UserInfo string `mapstructure:"user_info"`
}

// SignInSpec contains the CEL expressions that build user_data for pusher.signin().
type SignInSpec struct {
	// When, if set, must hold for sign-in to be allowed.
	When string `mapstructure:"when"`
	// UserID defaults to claims.sub.
	UserID    string `mapstructure:"user_id"`
	UserInfo  string `mapstructure:"user_info"`
	Watchlist string `mapstructure:"watchlist"`
}

// Spec is the whole policy as written in configuration.
type Spec struct {
	Rules  []RuleSpec
	SignIn SignInSpec
	// EncryptionEnabled reports whether a master key is configured. Without
	// one, a rule that allows private-encrypted- channels is an error.
	EncryptionEnabled bool
	// CostLimit bounds each expression evaluation; zero means DefaultCostLimit.
	CostLimit uint64
}

// Problem is one error in a Spec, at the key path the YAML uses.
type Problem struct {
	Path    string
	Message string
}

// ProblemsError lists every problem found in a Spec, in rule order.
type ProblemsError struct {
	Problems []Problem
}

func (e *ProblemsError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Path + ": " + p.Message
	}
	return strings.Join(lines, "\n")
}

// Input is the request data a decision is made on.
type Input struct {
	Channel  string
	Kind     channel.Kind
	SocketID string
	// Claims are the verified session token's claims.
	Claims map[string]any
	// Params are the extra request parameters pusher-js sent.
	Params map[string]string
}

// Member is the presence member a rule built.
type Member struct {
	UserID   string
	UserInfo map[string]any
}

// UserData is the user_data of a pusher.signin() reply, before signing.
type UserData struct {
	ID        string
	UserInfo  map[string]any
	Watchlist []string
}

// Decision is the outcome for one Input.
type Decision struct {
	Allow  bool
	Rule   string
	Reason Reason
	// Detail explains a denial for the log. It names the failing expression
	// and the kind of failure, never a claim value (see evalFailure).
	Detail string
	// Member is set when a presence channel is allowed.
	Member *Member
	// UserData is set when sign-in is allowed.
	UserData *UserData
}

// Engine contains the compiled rules. It is safe for concurrent use.
type Engine struct {
	rules  []rule
	signIn signIn
}

type rule struct {
	name     string
	pattern  *pattern
	when     cel.Program
	effect   Effect
	userID   cel.Program
	userInfo cel.Program
}

type signIn struct {
	when      cel.Program
	userID    cel.Program
	userInfo  cel.Program
	watchlist cel.Program
}

// Compile checks and compiles every rule of spec. All problems are reported
// together in a *ProblemsError; a request never parses policy text.
func Compile(spec Spec) (*Engine, error) {
	costLimit := spec.CostLimit
	if costLimit == 0 {
		costLimit = DefaultCostLimit
	}
	var problems []Problem
	report := func(path, format string, args ...any) {
		problems = append(problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}

	e := &Engine{}
	names := map[string]int{}
	for i, rs := range spec.Rules {
		path := fmt.Sprintf("policies[%d]", i)
		r := rule{name: rs.Name, effect: rs.Effect}
		if rs.Name == "" {
			report(path+".name", "missing; every rule needs a name for logs and metrics")
		} else if first, dup := names[rs.Name]; dup {
			report(path+".name", "%q is already the name of policies[%d]", rs.Name, first)
		} else {
			names[rs.Name] = i
		}
		switch rs.Effect {
		case "":
			r.effect = EffectAllow
		case EffectAllow, EffectDeny:
		default:
			report(path+".effect", "unknown effect %q, want allow or deny", rs.Effect)
		}

		p, err := compilePattern(rs.Channel)
		if err != nil {
			report(path+".channel", "invalid pattern %q: %v", rs.Channel, err)
			continue
		}
		r.pattern = p
		if p.kind == channel.KindEncrypted && r.effect == EffectAllow && !spec.EncryptionEnabled {
			report(path+".channel", "allows private-encrypted- channels but pusher.encryption_master_key is empty")
		}

		env, err := newEnv(p.names)
		if err != nil {
			report(path, "build CEL environment: %v", err)
			continue
		}
		if rs.When != "" {
			r.when, err = compileExpr(env, rs.When, outputBool, costLimit)
			if err != nil {
				report(path+".when", "%v", err)
			}
		}

		switch {
		case rs.Member != nil && p.kind != channel.KindPresence:
			report(path+".member", "only presence- channels have members, but the pattern is for %s channels", p.kind)
		case rs.Member != nil && r.effect == EffectDeny:
			report(path+".member", "a deny rule builds no member")
		case p.kind == channel.KindPresence && r.effect == EffectAllow:
			var member MemberSpec
			if rs.Member != nil {
				member = *rs.Member
			}
			r.userID, r.userInfo = compileMember(env, member, path+".member", costLimit, report)
		}
		e.rules = append(e.rules, r)
	}

	e.signIn = compileSignIn(spec.SignIn, costLimit, report)

	if len(problems) > 0 {
		return nil, &ProblemsError{Problems: problems}
	}
	return e, nil
}

func compileMember(env *cel.Env, spec MemberSpec, path string, costLimit uint64, report func(string, string, ...any)) (userID, userInfo cel.Program) {
	src := spec.UserID
	if src == "" {
		src = "claims.sub"
	}
	userID, err := compileExpr(env, src, outputID, costLimit)
	if err != nil {
		report(path+".user_id", "%v", err)
	}
	if spec.UserInfo != "" {
		userInfo, err = compileExpr(env, spec.UserInfo, outputMap, costLimit)
		if err != nil {
			report(path+".user_info", "%v", err)
		}
	}
	return userID, userInfo
}

func compileSignIn(spec SignInSpec, costLimit uint64, report func(string, string, ...any)) signIn {
	var s signIn
	env, err := newEnv(nil)
	if err != nil {
		report("signin", "build CEL environment: %v", err)
		return s
	}
	if spec.When != "" {
		if s.when, err = compileExpr(env, spec.When, outputBool, costLimit); err != nil {
			report("signin.when", "%v", err)
		}
	}
	src := spec.UserID
	if src == "" {
		src = "claims.sub"
	}
	if s.userID, err = compileExpr(env, src, outputID, costLimit); err != nil {
		report("signin.user_id", "%v", err)
	}
	if spec.UserInfo != "" {
		if s.userInfo, err = compileExpr(env, spec.UserInfo, outputMap, costLimit); err != nil {
			report("signin.user_info", "%v", err)
		}
	}
	if spec.Watchlist != "" {
		if s.watchlist, err = compileExpr(env, spec.Watchlist, outputList, costLimit); err != nil {
			report("signin.watchlist", "%v", err)
		}
	}
	return s
}

// RuleCount returns the number of channel rules.
func (e *Engine) RuleCount() int { return len(e.rules) }

// Decide applies the first rule whose pattern matches in.Channel and whose
// condition holds. With no such rule it denies with ReasonNoRule. A condition
// or member expression that fails to evaluate denies at once, so a broken
// deny rule never falls through to a later allow rule.
func (e *Engine) Decide(ctx context.Context, in Input) Decision {
	for i := range e.rules {
		r := &e.rules[i]
		captures, ok := r.pattern.match(in.Channel, in.Kind)
		if !ok {
			continue
		}
		vars := variables(in, captures)
		if r.when != nil {
			matched, err := evalBool(ctx, r.when, vars)
			if err != nil {
				return Decision{Rule: r.name, Reason: ReasonConditionError, Detail: "when: " + evalFailure(err)}
			}
			if !matched {
				continue
			}
		}
		if r.effect == EffectDeny {
			return Decision{Rule: r.name, Reason: ReasonDeniedByRule}
		}
		d := Decision{Allow: true, Rule: r.name, Reason: ReasonAllowed}
		if in.Kind == channel.KindPresence {
			member, reason, err := r.buildMember(ctx, vars)
			if err != nil {
				return Decision{Rule: r.name, Reason: reason, Detail: err.Error()}
			}
			d.Member = member
		}
		return d
	}
	return Decision{Reason: ReasonNoRule}
}

func (r *rule) buildMember(ctx context.Context, vars map[string]any) (*Member, Reason, error) {
	id, err := evalID(ctx, r.userID, vars)
	if err != nil {
		return nil, ReasonMemberError, fmt.Errorf("member.user_id: %s", evalFailure(err))
	}
	if err := checkUserID(id); err != nil {
		return nil, ReasonInvalidUserID, err
	}
	m := &Member{UserID: id}
	if r.userInfo != nil {
		info, err := evalMap(ctx, r.userInfo, vars)
		if err != nil {
			return nil, ReasonMemberError, fmt.Errorf("member.user_info: %s", evalFailure(err))
		}
		if len(info) > 0 {
			m.UserInfo = info
		}
	}
	return m, "", nil
}

// SignIn builds user_data for pusher.signin(). The id must also be usable in
// the #server-to-user-<id> channel name, so an id with characters outside the
// channel alphabet is denied with ReasonUserIDNotSafe; a user_id expression
// can map such ids, for example with replace().
func (e *Engine) SignIn(ctx context.Context, in Input) Decision {
	s := &e.signIn
	vars := variables(in, nil)
	if s.when != nil {
		allowed, err := evalBool(ctx, s.when, vars)
		if err != nil {
			return Decision{Rule: "signin", Reason: ReasonConditionError, Detail: "signin.when: " + evalFailure(err)}
		}
		if !allowed {
			return Decision{Rule: "signin", Reason: ReasonSignInCondition}
		}
	}

	id, err := evalID(ctx, s.userID, vars)
	if err != nil {
		return Decision{Rule: "signin", Reason: ReasonMemberError, Detail: "signin.user_id: " + evalFailure(err)}
	}
	if err := checkUserID(id); err != nil {
		return Decision{Rule: "signin", Reason: ReasonInvalidUserID, Detail: err.Error()}
	}
	if !channel.IsNameSafe(id) {
		return Decision{Rule: "signin", Reason: ReasonUserIDNotSafe,
			Detail: "user id has characters outside the channel alphabet, so #server-to-user-<id> would be invalid"}
	}
	u := &UserData{ID: id}
	if s.userInfo != nil {
		info, err := evalMap(ctx, s.userInfo, vars)
		if err != nil {
			return Decision{Rule: "signin", Reason: ReasonMemberError, Detail: "signin.user_info: " + evalFailure(err)}
		}
		if len(info) > 0 {
			u.UserInfo = info
		}
	}
	if s.watchlist != nil {
		ids, err := evalIDList(ctx, s.watchlist, vars)
		if err != nil {
			return Decision{Rule: "signin", Reason: ReasonMemberError, Detail: "signin.watchlist: " + evalFailure(err)}
		}
		for _, id := range ids {
			if checkUserID(id) != nil || !channel.IsNameSafe(id) {
				return Decision{Rule: "signin", Reason: ReasonMemberError,
					Detail: "signin.watchlist: an id is empty, longer than 128 bytes or outside the channel alphabet"}
			}
		}
		u.Watchlist = ids
	}
	return Decision{Allow: true, Rule: "signin", Reason: ReasonAllowed, UserData: u}
}

func checkUserID(id string) error {
	if id == "" {
		return fmt.Errorf("user id is empty")
	}
	if len(id) > MaxUserIDLength {
		return fmt.Errorf("user id is %d bytes, longer than %d", len(id), MaxUserIDLength)
	}
	return nil
}

func variables(in Input, captures map[string]string) map[string]any {
	claims := in.Claims
	if claims == nil {
		claims = map[string]any{}
	}
	params := in.Params
	if params == nil {
		params = map[string]string{}
	}
	if captures == nil {
		captures = map[string]string{}
	}
	vars := make(map[string]any, 5+len(captures))
	vars["claims"] = claims
	vars["channel"] = in.Channel
	vars["socket_id"] = in.SocketID
	vars["params"] = params
	vars["captures"] = captures
	for k, v := range captures {
		vars[k] = v
	}
	return vars
}
