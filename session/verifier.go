package session

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
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
	Audience []string `mapstructure:"audience"`
	// Keys are static verification keys. An issuer has either Keys or a
	// remote key set (JWKSURL or Discovery), not both.
	Keys []KeySpec `mapstructure:"keys"`
	// JWKSURL is the URL of the issuer's JSON Web Key Set.
	JWKSURL string `mapstructure:"jwks_url"`
	// Discovery finds the JWKS through Issuer's OpenID configuration.
	Discovery bool `mapstructure:"discovery"`
	// Algorithms is the allow-list for keys from a remote key set.
	Algorithms []string `mapstructure:"algorithms"`
	// Claims adds claims under new names for policies.
	Claims []ClaimSpec `mapstructure:"claims"`
}

// ClaimSpec copies the claim at Path to the name Name. Path is a top-level
// key (such as https://example.com/roles) or a dotted path into nested
// objects (such as app_metadata.tenant). It is a list entry, not a map key,
// because configuration loaders fold map keys to lower case.
type ClaimSpec struct {
	Name string `mapstructure:"name"`
	Path string `mapstructure:"path"`
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
	// JWKS tunes remote key sets; zero fields take the defaults.
	JWKS JWKSSpec
	// Cache bounds the verified-token cache.
	Cache CacheSpec
	// Log receives key fetch failures; nil discards them.
	Log *slog.Logger
	// Observe, if set, is called after every key set and discovery fetch.
	Observe FetchObserver
	// Transport carries key set and discovery requests; nil means
	// http.DefaultTransport.
	Transport http.RoundTripper
	// Offline builds remote key sets without fetching them; check uses it.
	Offline bool
	// Previous, when set, lends its remote key sets to the new Verifier
	// wherever the issuer and JWKS settings are unchanged, so a reload
	// keeps the fetched keys instead of starting cold.
	Previous *Verifier
}

// ProblemsError lists every problem found in a Spec.
type ProblemsError struct {
	Problems []string
}

func (e *ProblemsError) Error() string { return strings.Join(e.Problems, "\n") }

// Verifier checks session tokens. It is safe for concurrent use.
type Verifier struct {
	parser    *jwt.Parser
	issuers   map[string]*issuer
	remotes   []*remoteKeys
	sources   []source
	maxAge    time.Duration
	leeway    time.Duration
	now       func() time.Time
	algNames  []string
	cache     *tokenCache
	reused    []*remoteKeys
	closeOnce sync.Once
	log       *slog.Logger
}

type issuer struct {
	name       string
	keys       []*key
	remote     *remoteKeys
	algorithms map[string]bool
	validator  *jwt.Validator
	claims     []claimAlias
}

// claimName matches the names a CEL policy can reach as claims.<name>.
var claimName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// claimAlias copies the claim at path to name.
type claimAlias struct {
	name string
	path string
}

// generation changes whenever the issuer's remote key set changes.
func (i *issuer) generation() uint64 {
	if i.remote == nil {
		return 0
	}
	return i.remote.generation.Load()
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
	v := &Verifier{issuers: map[string]*issuer{}, maxAge: spec.MaxAge, leeway: spec.Leeway, now: time.Now, log: spec.Log}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	spec.JWKS.applyDefaults()
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
		prev, duplicate := v.issuers[is.Issuer]
		if duplicate {
			if is.Issuer == "" {
				report("%s.issuer: empty, but issuer %q already accepts tokens without iss; only one issuer may", path, prev.name)
			} else {
				report("%s.issuer: %q is already configured by issuer %q", path, is.Issuer, prev.name)
			}
		}

		iss := &issuer{name: is.Name, algorithms: map[string]bool{}}
		remote := is.JWKSURL != "" || is.Discovery
		switch {
		case remote && len(is.Keys) > 0:
			report("%s: set either keys or jwks_url/discovery, not both", path)
		case !remote && len(is.Keys) == 0:
			report("%s.keys: empty; add static keys, a jwks_url, or discovery: true", path)
		case !remote && len(is.Algorithms) > 0:
			report("%s.algorithms: only for jwks_url or discovery issuers; static keys list their own", path)
		}
		if is.JWKSURL != "" && is.Discovery {
			report("%s.jwks_url: set either jwks_url or discovery: true, not both", path)
		}
		if is.JWKSURL != "" {
			if err := checkHTTPURL(is.JWKSURL); err != nil {
				report("%s.jwks_url: %v", path, err)
			}
		}
		if is.Discovery {
			if err := checkHTTPURL(is.Issuer); err != nil {
				report("%s.issuer: discovery needs the issuer URL: %v", path, err)
			}
		}
		if remote {
			if len(is.Algorithms) == 0 {
				report("%s.algorithms: empty; list the algorithms the issuer signs with, such as [RS256]", path)
			}
			for j, alg := range is.Algorithms {
				fam, known := algorithms[alg]
				switch {
				case !known:
					report("%s.algorithms[%d]: unknown algorithm %q, want one of %s", path, j, alg, SupportedAlgorithms)
				case fam == familyHMAC:
					report("%s.algorithms[%d]: %s needs a shared secret, which a published key set never holds", path, j, alg)
				default:
					iss.algorithms[alg] = true
					allAlgs[alg] = true
				}
			}
		}
		aliasNames := map[string]bool{}
		for j, c := range is.Claims {
			switch {
			case !claimName.MatchString(c.Name):
				report("%s.claims[%d].name: %q is not an identifier (letters, digits, _)", path, j, c.Name)
			case aliasNames[c.Name]:
				report("%s.claims[%d].name: %q is used twice", path, j, c.Name)
			case c.Path == "":
				report("%s.claims[%d].path: empty; name a claim such as app_metadata.tenant", path, j)
			default:
				aliasNames[c.Name] = true
				iss.claims = append(iss.claims, claimAlias{name: c.Name, path: c.Path})
			}
		}
		for j, ks := range is.Keys {
			k, keyProblems := parseKey(ks)
			for _, p := range keyProblems {
				report("%s.keys[%d]%s", path, j, p)
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

		// iat in the future (beyond the leeway) is rejected even without
		// max_age: no honest issuer dates a token ahead.
		validatorOpts := []jwt.ParserOption{jwt.WithLeeway(spec.Leeway), jwt.WithTimeFunc(v.now), jwt.WithIssuedAt()}
		if spec.RequireExpiry {
			validatorOpts = append(validatorOpts, jwt.WithExpirationRequired())
		}
		if len(is.Audience) > 0 {
			validatorOpts = append(validatorOpts, jwt.WithAudience(is.Audience...))
		}
		if is.Issuer != "" {
			validatorOpts = append(validatorOpts, jwt.WithIssuer(is.Issuer))
		}
		iss.validator = jwt.NewValidator(validatorOpts...)
		if duplicate {
			continue
		}
		if remote {
			iss.remote = newRemoteKeys(is, spec.JWKS, spec.Transport, v.log, spec.Observe)
			switch prev, same := spec.Previous.remote(iss.remote); {
			case prev == nil || spec.Offline:
				v.remotes = append(v.remotes, iss.remote)
			case same:
				iss.remote = prev
				prev.refs.Add(1)
				v.reused = append(v.reused, prev)
			default:
				// Same source, other JWKS settings: the old key set
				// verifies tokens until the new one has fetched.
				iss.remote.lean(prev)
				v.remotes = append(v.remotes, iss.remote)
			}
		}
		v.issuers[is.Issuer] = iss
	}
	if spec.JWKS.Timeout < 0 || spec.JWKS.RefreshInterval < 0 || spec.JWKS.UnknownKIDInterval < 0 || spec.JWKS.MaxBytes < 0 {
		report("session.jwks: durations and max_bytes must not be negative")
	}

	sources, sourceProblems := parseSources(spec.Sources)
	problems = append(problems, sourceProblems...)
	v.sources = sources

	if len(problems) > 0 {
		for _, r := range v.reused {
			r.release()
		}
		for _, r := range v.remotes {
			if fb := r.fallback.Swap(nil); fb != nil {
				fb.release()
			}
		}
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
	v.cache = newTokenCache(spec.Cache)

	if !spec.Offline {
		for _, r := range v.remotes {
			r.run()
		}
	}
	v.remotes = append(v.remotes, v.reused...)
	return v, nil
}

// remote returns this verifier's key set from the same source as want, or
// nil. The bool reports whether it is also fetched the same way.
func (v *Verifier) remote(want *remoteKeys) (*remoteKeys, bool) {
	if v == nil {
		return nil, false
	}
	for _, r := range v.remotes {
		if r.identity() == want.identity() {
			return r, true
		}
	}
	for _, r := range v.remotes {
		if r.source() == want.source() {
			return r, false
		}
	}
	return nil, false
}

// Close stops the background refreshes of the key sets that no other
// verifier uses. It is safe to call more than once.
func (v *Verifier) Close() {
	v.closeOnce.Do(func() {
		for _, r := range v.remotes {
			r.release()
		}
	})
}

// Ready reports whether every issuer with a remote key set has fetched it at
// least once.
func (v *Verifier) Ready() bool {
	for _, r := range v.remotes {
		if !r.ready() {
			return false
		}
	}
	return true
}

// Algorithms returns the sorted algorithms some key accepts.
func (v *Verifier) Algorithms() []string { return v.algNames }

// Verify checks raw and returns its claims with JSON numbers turned into
// int64, uint64 or float64 and the issuer's claim aliases added. Every
// failure is an *Error. A token verified before is served from the cache
// after its time claims are checked again. The returned map is shared, so
// callers must not change it.
func (v *Verifier) Verify(ctx context.Context, raw string) (map[string]any, error) {
	var ck cacheKey
	if v.cache != nil && len(raw) <= maxCachedTokenBytes {
		ck = sha256.Sum256([]byte(raw))
		if e := v.cache.get(ck); e != nil {
			if e.generation == e.issuer.generation() {
				if err := v.validate(e.issuer, e.raw); err != nil {
					v.cache.remove(ck)
					return nil, err
				}
				return e.claims, nil
			}
			v.cache.remove(ck)
		}
	}

	claims := jwt.MapClaims{}
	var chosen *issuer
	var generation uint64
	_, err := v.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		var err *Error
		chosen, err = v.selectIssuer(claims)
		if err != nil {
			return nil, err
		}
		generation = chosen.generation()
		alg := t.Method.Alg()
		if !chosen.algorithms[alg] {
			return nil, reject(ReasonAlgorithmNotAllowed, "alg %q not allowed for issuer %q", alg, chosen.name)
		}
		if chosen.remote != nil {
			return chosen.remote.key(ctx, t)
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
	if err := v.validate(chosen, claims); err != nil {
		return nil, err
	}

	out := normalizeMap(claims)
	for _, alias := range chosen.claims {
		if value, ok := lookupClaim(out, alias.path); ok {
			out[alias.name] = value
		}
	}
	if v.cache != nil && len(raw) <= maxCachedTokenBytes {
		v.cache.add(&cacheEntry{key: ck, issuer: chosen, generation: generation, raw: claims, claims: out,
			cost: int64(3*len(raw)) + 512})
	}
	return out, nil
}

// validate checks the time, audience and issuer claims and max_age.
func (v *Verifier) validate(iss *issuer, claims jwt.MapClaims) error {
	if err := iss.validator.Validate(claims); err != nil {
		return classify(err)
	}
	return v.checkMaxAge(claims)
}

// lookupClaim returns the claim at path: a top-level key when one has that
// exact name, otherwise a dotted path through nested objects.
func lookupClaim(claims map[string]any, path string) (any, bool) {
	if value, ok := claims[path]; ok {
		return value, true
	}
	var cur any = claims
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
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
// a numeric user id claim keeps all its digits: int64, then uint64, then the
// decimal string for larger integers, and float64 for fractions.
func normalize(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(string(v), 10, 64); err == nil {
			return u
		}
		if !strings.ContainsAny(string(v), ".eE") {
			// An integer beyond 64 bits keeps its digits as a string,
			// since float64 would round a large numeric user id.
			return string(v)
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
