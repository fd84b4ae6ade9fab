package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxLeeway bounds the clock skew allowance; a larger one would keep
// expired sessions alive for minutes.
const MaxLeeway = 5 * time.Minute

// DefaultLeeway is the clock skew allowed when none is configured.
const DefaultLeeway = 30 * time.Second

// IssuerSpec is one token issuer as written in configuration.
type IssuerSpec struct {
	// Name identifies the issuer in logs and metrics.
	Name string `mapstructure:"name"`
	// Issuer is the exact iss value of its tokens; empty means tokens that
	// carry no iss claim, which at most one issuer may accept.
	Issuer string `mapstructure:"issuer"`
	// Audience lists accepted aud values; a token must carry one of them.
	// Empty means aud is not checked.
	Audience []string  `mapstructure:"audience"`
	Keys     []KeySpec `mapstructure:"keys"`
}

// Spec configures a Verifier.
type Spec struct {
	Issuers []IssuerSpec
	Sources []SourceSpec
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// RequireExpiry rejects tokens without exp.
	RequireExpiry bool
	// MaxAge, when set, requires iat and rejects tokens issued longer ago.
	MaxAge time.Duration
}

// ProblemsError lists every problem found in a Spec.
type ProblemsError struct {
	Problems []string
}

func (e *ProblemsError) Error() string { return strings.Join(e.Problems, "\n") }

// Verifier checks session tokens. It is safe for concurrent use.
type Verifier struct {
	parser   *jwt.Parser
	issuers  map[string]*issuer
	sources  []source
	maxAge   time.Duration
	leeway   time.Duration
	now      func() time.Time
	algNames []string
}

type issuer struct {
	name       string
	keys       []*key
	algorithms map[string]bool
	validator  *jwt.Validator
}

// Option changes how New builds a Verifier.
type Option func(*Verifier)

// WithClock makes the Verifier read the time from now; tests use it.
func WithClock(now func() time.Time) Option {
	return func(v *Verifier) { v.now = now }
}

// New checks spec and returns a Verifier. All problems are returned at once
// in a *ProblemsError, each starting with the key path under session.
func New(spec Spec, opts ...Option) (*Verifier, error) {
	v := &Verifier{issuers: map[string]*issuer{}, maxAge: spec.MaxAge, leeway: spec.Leeway, now: time.Now}
	for _, opt := range opts {
		opt(v)
	}
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if spec.Leeway < 0 || spec.Leeway > MaxLeeway {
		report("session.leeway: %s is outside 0s..%s", spec.Leeway, MaxLeeway)
	}
	if spec.MaxAge < 0 {
		report("session.max_age: %s is negative", spec.MaxAge)
	}
	if spec.MaxAge > 0 && spec.Leeway >= spec.MaxAge {
		report("session.leeway (%s) must be less than session.max_age (%s)", spec.Leeway, spec.MaxAge)
	}
	if len(spec.Issuers) == 0 {
		report("session.issuers: empty; configure at least one issuer with keys")
	}

	allAlgs := map[string]bool{}
	names := map[string]bool{}
	for i, is := range spec.Issuers {
		path := fmt.Sprintf("session.issuers[%d]", i)
		if is.Name == "" {
			report("%s.name: missing", path)
		} else if names[is.Name] {
			report("%s.name: %q is used by another issuer", path, is.Name)
		}
		names[is.Name] = true
		if prev, dup := v.issuers[is.Issuer]; dup {
			if is.Issuer == "" {
				report("%s.issuer: empty, but issuer %q already accepts tokens without iss; only one issuer may", path, prev.name)
			} else {
				report("%s.issuer: %q is already configured by issuer %q", path, is.Issuer, prev.name)
			}
			continue
		}

		iss := &issuer{name: is.Name, algorithms: map[string]bool{}}
		if len(is.Keys) == 0 {
			report("%s.keys: empty; add at least one key", path)
		}
		for j, ks := range is.Keys {
			k, keyProblems := parseKey(ks)
			for _, p := range keyProblems {
				report("%s.keys[%d].%s", path, j, p)
			}
			if k == nil {
				continue
			}
			iss.keys = append(iss.keys, k)
			for alg := range k.algorithms {
				iss.algorithms[alg] = true
				allAlgs[alg] = true
			}
		}

		validatorOpts := []jwt.ParserOption{jwt.WithLeeway(spec.Leeway), jwt.WithTimeFunc(v.now)}
		if spec.RequireExpiry {
			validatorOpts = append(validatorOpts, jwt.WithExpirationRequired())
		}
		if spec.MaxAge > 0 {
			validatorOpts = append(validatorOpts, jwt.WithIssuedAt())
		}
		if len(is.Audience) > 0 {
			validatorOpts = append(validatorOpts, jwt.WithAudience(is.Audience...))
		}
		if is.Issuer != "" {
			validatorOpts = append(validatorOpts, jwt.WithIssuer(is.Issuer))
		}
		iss.validator = jwt.NewValidator(validatorOpts...)
		v.issuers[is.Issuer] = iss
	}

	sources, sourceProblems := parseSources(spec.Sources)
	problems = append(problems, sourceProblems...)
	v.sources = sources

	if len(problems) > 0 {
		return nil, &ProblemsError{Problems: problems}
	}
	for alg := range allAlgs {
		v.algNames = append(v.algNames, alg)
	}
	sort.Strings(v.algNames)
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(v.algNames),
		jwt.WithJSONNumber(),
		jwt.WithoutClaimsValidation(),
	)
	return v, nil
}

// Algorithms returns the sorted algorithms some key accepts.
func (v *Verifier) Algorithms() []string { return v.algNames }

// Verify checks raw and returns its claims with JSON numbers turned into
// int64, uint64 or float64. Every failure is an *Error.
func (v *Verifier) Verify(ctx context.Context, raw string) (map[string]any, error) {
	claims := jwt.MapClaims{}
	var chosen *issuer
	_, err := v.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		var err *Error
		chosen, err = v.selectIssuer(claims)
		if err != nil {
			return nil, err
		}
		alg := t.Method.Alg()
		if !chosen.algorithms[alg] {
			return nil, reject(ReasonAlgorithmNotAllowed, "alg %q not allowed for issuer %q", alg, chosen.name)
		}
		kid, _ := t.Header["kid"].(string)
		keys := verificationKeys(chosen.keys, alg, kid)
		if len(keys) == 0 {
			return nil, reject(ReasonUnknownKey, "no key of issuer %q matches kid %q and alg %s", chosen.name, kid, alg)
		}
		if len(keys) == 1 {
			return keys[0], nil
		}
		return jwt.VerificationKeySet{Keys: keys}, nil
	})
	if err != nil {
		return nil, classify(err)
	}
	if err := chosen.validator.Validate(claims); err != nil {
		return nil, classify(err)
	}
	if err := v.checkMaxAge(claims); err != nil {
		return nil, err
	}
	return normalizeMap(claims), nil
}

func (v *Verifier) selectIssuer(claims jwt.MapClaims) (*issuer, *Error) {
	var iss string
	if value, present := claims["iss"]; present {
		s, ok := value.(string)
		if !ok {
			return nil, reject(ReasonInvalidToken, "iss claim is not a string")
		}
		iss = s
	}
	chosen, ok := v.issuers[iss]
	if !ok {
		if iss == "" {
			return nil, reject(ReasonUnknownIssuer, "token has no iss claim and no issuer accepts that")
		}
		return nil, reject(ReasonUnknownIssuer, "iss is not a configured issuer")
	}
	return chosen, nil
}

func (v *Verifier) checkMaxAge(claims jwt.MapClaims) error {
	if v.maxAge == 0 {
		return nil
	}
	iat, err := claims.GetIssuedAt()
	if err != nil || iat == nil {
		return reject(ReasonMissingClaim, "iat is required when session.max_age is set")
	}
	if age := v.now().Sub(iat.Time); age > v.maxAge+v.leeway {
		return reject(ReasonTokenTooOld, "issued %s ago, session.max_age is %s", age.Round(time.Second), v.maxAge)
	}
	return nil
}

// classify turns a golang-jwt error into an *Error with a stable reason.
func classify(err error) *Error {
	var ours *Error
	if errors.As(err, &ours) {
		return ours
	}
	detail := err.Error()
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return reject(ReasonMalformedToken, "%s", detail)
	case errors.Is(err, jwt.ErrTokenUnverifiable), strings.Contains(detail, "signing method"):
		return reject(ReasonAlgorithmNotAllowed, "%s", detail)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return reject(ReasonInvalidSignature, "%s", detail)
	case errors.Is(err, jwt.ErrTokenExpired):
		return reject(ReasonTokenExpired, "%s", detail)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return reject(ReasonTokenNotYetValid, "%s", detail)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return reject(ReasonInvalidAudience, "%s", detail)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return reject(ReasonUnknownIssuer, "%s", detail)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return reject(ReasonMissingClaim, "%s", detail)
	default:
		return reject(ReasonInvalidToken, "%s", detail)
	}
}

func normalizeMap(in map[string]any) map[string]any {
	out := make(map[string]any, len(in))
	for k, v := range in {
		out[k] = normalize(v)
	}
	return out
}

// normalize replaces json.Number with the narrowest exact Go number, so that
// a numeric user id claim keeps all its digits.
func normalize(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(string(v), 10, 64); err == nil {
			return u
		}
		f, err := v.Float64()
		if err != nil || math.IsInf(f, 0) {
			return string(v)
		}
		return f
	case map[string]any:
		return normalizeMap(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalize(e)
		}
		return out
	default:
		return v
	}
}
