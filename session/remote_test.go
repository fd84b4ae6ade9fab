package session

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwksServer is a JWKS and OpenID discovery endpoint for tests. Its key
// set, delay and failure mode can change while it runs.
type jwksServer struct {
	t        *testing.T
	srv      *httptest.Server
	mu       sync.Mutex
	keys     map[string]*rsa.PrivateKey
	down     bool
	delay    time.Duration
	padding  int
	fetches  atomic.Int64
	requests atomic.Int64
	issuer   string
}

func newJWKSServer(t *testing.T, kids ...string) *jwksServer {
	t.Helper()
	s := &jwksServer{t: t, keys: map[string]*rsa.PrivateKey{}}
	for _, kid := range kids {
		s.addKey(kid)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	s.issuer = s.srv.URL
	return s
}

func (s *jwksServer) addKey(kid string) *rsa.PrivateKey {
	s.t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		s.t.Fatalf("generate RSA key: %v", err)
	}
	s.mu.Lock()
	s.keys[kid] = key
	s.mu.Unlock()
	return key
}

func (s *jwksServer) removeKey(kid string) {
	s.mu.Lock()
	delete(s.keys, kid)
	s.mu.Unlock()
}

func (s *jwksServer) key(kid string) *rsa.PrivateKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[kid]
}

func (s *jwksServer) set(fn func(s *jwksServer)) {
	s.mu.Lock()
	fn(s)
	s.mu.Unlock()
}

func (s *jwksServer) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.mu.Lock()
	down, delay, padding := s.down, s.delay, s.padding
	type jwk struct {
		Kty string `json:"kty"`
		Kid string `json:"kid"`
		Use string `json:"use"`
		Alg string `json:"alg"`
		N   string `json:"n"`
		E   string `json:"e"`
	}
	doc := struct {
		Keys    []jwk  `json:"keys"`
		Padding string `json:"padding,omitempty"`
	}{Keys: []jwk{}, Padding: strings.Repeat("x", padding)}
	for kid, k := range s.keys {
		doc.Keys = append(doc.Keys, jwk{Kty: "RSA", Kid: kid, Use: "sig", Alg: "RS256",
			N: base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
			E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())})
	}
	s.mu.Unlock()

	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": s.issuer, "jwks_uri": s.srv.URL + "/jwks.json"})
	case "/jwks.json":
		s.fetches.Add(1)
		_ = json.NewEncoder(w).Encode(doc)
	default:
		http.NotFound(w, r)
	}
}

func (s *jwksServer) token(t *testing.T, kid string, claims jwt.MapClaims) string {
	t.Helper()
	return s.tokenWith(t, s.key(kid), kid, claims)
}

func (s *jwksServer) tokenWith(t *testing.T, key *rsa.PrivateKey, kid string, claims jwt.MapClaims) string {
	t.Helper()
	if claims == nil {
		claims = jwt.MapClaims{}
	}
	if _, ok := claims["iss"]; !ok {
		claims["iss"] = s.issuer
	}
	if _, ok := claims["exp"]; !ok {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
	}
	if _, ok := claims["sub"]; !ok {
		claims["sub"] = "user-1"
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	signed, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign token: %v", err)
	}
	return signed
}

type remoteOptions struct {
	discovery bool
	jwks      JWKSSpec
	cache     CacheSpec
	claims    []ClaimSpec
}

func newRemoteVerifier(t *testing.T, servers []*jwksServer, opts remoteOptions) *Verifier {
	t.Helper()
	var issuers []IssuerSpec
	for i, s := range servers {
		is := IssuerSpec{Name: string(rune('a' + i)), Issuer: s.issuer, Algorithms: []string{"RS256"}, Claims: opts.claims}
		if opts.discovery {
			is.Discovery = true
		} else {
			is.JWKSURL = s.srv.URL + "/jwks.json"
		}
		issuers = append(issuers, is)
	}
	if opts.jwks.Timeout == 0 {
		opts.jwks.Timeout = 2 * time.Second
	}
	v, err := New(Spec{Issuers: issuers, Leeway: 30 * time.Second, RequireExpiry: true, JWKS: opts.jwks, Cache: opts.cache})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(v.Close)
	return v
}

func waitReady(t *testing.T, v *Verifier) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !v.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("verifier not ready after 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func wantReason(t *testing.T, call string, err error, want Reason) *Error {
	t.Helper()
	var se *Error
	if !errors.As(err, &se) {
		t.Fatalf("%s: err = %v, want *Error with reason %s", call, err, want)
	}
	if se.Reason != want {
		t.Fatalf("%s: reason = %s (%s), want %s", call, se.Reason, se.Detail, want)
	}
	return se
}

func TestJWKSRotationVerifiesAfterOneRefetch(t *testing.T) {
	srv := newJWKSServer(t, "k1")
	v := newRemoteVerifier(t, []*jwksServer{srv}, remoteOptions{jwks: JWKSSpec{UnknownKIDInterval: time.Hour}})
	waitReady(t, v)
	if _, err := v.Verify(t.Context(), srv.token(t, "k1", nil)); err != nil {
		t.Fatalf("Verify(k1 token): %v", err)
	}
	before := srv.fetches.Load()

	srv.addKey("k2")
	if _, err := v.Verify(t.Context(), srv.token(t, "k2", nil)); err != nil {
		t.Fatalf("Verify(k2 token after rotation): %v", err)
	}
	if got := srv.fetches.Load() - before; got != 1 {
		t.Errorf("fetches for the new kid = %d, want 1", got)
	}
}

func TestJWKSRemovedKeyStopsVerifyingAfterRefresh(t *testing.T) {
	srv := newJWKSServer(t, "old", "new")
	v := newRemoteVerifier(t, []*jwksServer{srv}, remoteOptions{
		jwks:  JWKSSpec{RefreshInterval: 100 * time.Millisecond, UnknownKIDInterval: time.Hour},
		cache: CacheSpec{MaxEntries: 100},
	})
	waitReady(t, v)
	oldToken := srv.token(t, "old", nil)
	if _, err := v.Verify(t.Context(), oldToken); err != nil {
		t.Fatalf("Verify(old key token): %v", err)
	}

	srv.removeKey("old")
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, err := v.Verify(t.Context(), oldToken)
		if err != nil {
			wantReason(t, "Verify(token of removed key)", err, ReasonUnknownKey)
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("token signed with a removed key still verifies 3s after the key left the JWKS")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestJWKSUnknownKIDFloodFetchesOncePerWindow(t *testing.T) {
	srv := newJWKSServer(t, "k1")
	v := newRemoteVerifier(t, []*jwksServer{srv}, remoteOptions{jwks: JWKSSpec{UnknownKIDInterval: time.Hour}})
	waitReady(t, v)
	before := srv.fetches.Load()

	bogus := srv.addKey("bogus")
	srv.removeKey("bogus")
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := srv.tokenWith(t, bogus, "bogus-"+string(rune('a'+i%26)), nil)
			_, err := v.Verify(t.Context(), tok)
			if err == nil {
				t.Errorf("Verify(bogus kid) succeeded")
			}
		}()
	}
	wg.Wait()
	if got := srv.fetches.Load() - before; got > 1 {
		t.Errorf("fetches during a flood of 200 unknown kids = %d, want at most 1", got)
	}
}

func TestJWKSProviderDownKeepsCachedKeys(t *testing.T) {
	srv := newJWKSServer(t, "k1")
	v := newRemoteVerifier(t, []*jwksServer{srv}, remoteOptions{jwks: JWKSSpec{RefreshInterval: 50 * time.Millisecond}})
	waitReady(t, v)
	srv.set(func(s *jwksServer) { s.down = true })
	time.Sleep(200 * time.Millisecond) // several failed refreshes

	for i := range 3 {
		tok := srv.token(t, "k1", jwt.MapClaims{"n": i})
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Fatalf("Verify(k1 token) with provider down: %v", err)
		}
	}
}

func TestJWKSColdCacheProviderDownGets503Fast(t *testing.T) {
	srv := newJWKSServer(t, "k1")
	srv.set(func(s *jwksServer) { s.down = true })
	v := newRemoteVerifier(t, []*jwksServer{srv}, remoteOptions{})
	tok := srv.token(t, "k1", nil)

	start := time.Now()
	for range 5 {
		_, err := v.Verify(t.Context(), tok)
		se := wantReason(t, "Verify(cold cache, provider down)", err, ReasonKeysUnavailable)
		if !se.Unavailable || se.RetryAfter <= 0 {
			t.Errorf("error = %+v, want Unavailable with RetryAfter", se)
		}
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("5 requests took %s, want a fast 503", elapsed)
	}
}

func TestJWKSSlowProviderIsBoundedByTimeout(t *testing.T) {
	srv := newJWKSServer(t, "k1")
	v := newRemoteVerifier(t, []*jwksServer{srv}, remoteOptions{jwks: JWKSSpec{Timeout: 300 * time.Millisecond}})
	waitReady(t, v)
	srv.addKey("k2")
	srv.set(func(s *jwksServer) { s.delay = 5 * time.Second })

	// The first unknown kid waits for one refetch; a second one inside the
	// unknown-kid interval must not wait longer.
	for _, kid := range []string{"k2", "k3"} {
		start := time.Now()
		_, err := v.Verify(t.Context(), srv.tokenWith(t, srv.key("k2"), kid, nil))
		elapsed := time.Since(start)
		if err == nil {
			t.Fatalf("Verify(%s) succeeded although the provider never answered", kid)
		}
		if elapsed > time.Second {
			t.Errorf("Verify(%s) with a slow provider took %s, want at most about the 300ms timeout", kid, elapsed)
		}
	}
}

func TestJWKSOversizedDocumentIsRejected(t *testing.T) {
	srv := newJWKSServer(t, "k1")
	srv.set(func(s *jwksServer) { s.padding = 64 << 10 })
	v := newRemoteVerifier(t, []*jwksServer{srv}, remoteOptions{jwks: JWKSSpec{MaxBytes: 16 << 10}})
	time.Sleep(300 * time.Millisecond)
	if v.Ready() {
		t.Fatal("Ready() = true after an oversized JWKS, want false")
	}
	_, err := v.Verify(t.Context(), srv.token(t, "k1", nil))
	wantReason(t, "Verify(after oversized JWKS)", err, ReasonKeysUnavailable)
}

func TestJWKSSameKIDAtTwoIssuersNeverMixes(t *testing.T) {
	a := newJWKSServer(t, "shared")
	b := newJWKSServer(t, "shared")
	v := newRemoteVerifier(t, []*jwksServer{a, b}, remoteOptions{})
	waitReady(t, v)

	if _, err := v.Verify(t.Context(), a.token(t, "shared", nil)); err != nil {
		t.Fatalf("Verify(A's token): %v", err)
	}
	if _, err := v.Verify(t.Context(), b.token(t, "shared", nil)); err != nil {
		t.Fatalf("Verify(B's token): %v", err)
	}
	forged := a.tokenWith(t, a.key("shared"), "shared", jwt.MapClaims{"iss": b.issuer})
	_, err := v.Verify(t.Context(), forged)
	wantReason(t, "Verify(iss B signed with A's key)", err, ReasonInvalidSignature)
}

func TestJWKSUnconfiguredIssuerMakesNoRequest(t *testing.T) {
	srv := newJWKSServer(t, "k1")
	other := newJWKSServer(t, "k1")
	v := newRemoteVerifier(t, []*jwksServer{srv}, remoteOptions{})
	waitReady(t, v)
	before := srv.requests.Load()

	// A kid no configured key set has seen: consulting any of them would
	// trigger a refetch and show up as a request.
	_, err := v.Verify(t.Context(), other.tokenWith(t, other.key("k1"), "never-seen-kid", nil))
	wantReason(t, "Verify(unconfigured iss)", err, ReasonUnknownIssuer)
	if got := srv.requests.Load() - before; got != 0 {
		t.Errorf("requests to the configured provider = %d, want 0", got)
	}
	if got := other.requests.Load(); got != 0 {
		t.Errorf("requests to the token's own iss = %d, want 0", got)
	}
}

func TestOIDCDiscovery(t *testing.T) {
	srv := newJWKSServer(t, "k1")
	v := newRemoteVerifier(t, []*jwksServer{srv}, remoteOptions{discovery: true})
	waitReady(t, v)
	if _, err := v.Verify(t.Context(), srv.token(t, "k1", nil)); err != nil {
		t.Fatalf("Verify(token from discovered issuer): %v", err)
	}
}

func TestOIDCDiscoveryIssuerMismatchNeverReady(t *testing.T) {
	srv := newJWKSServer(t, "k1")
	configured := srv.issuer
	srv.issuer = configured + "/other"
	v, err := New(Spec{Issuers: []IssuerSpec{{Name: "a", Issuer: configured, Discovery: true, Algorithms: []string{"RS256"}}},
		RequireExpiry: true, JWKS: JWKSSpec{Timeout: time.Second}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(v.Close)
	time.Sleep(300 * time.Millisecond)
	if v.Ready() {
		t.Error("Ready() = true although discovery named another issuer")
	}
}

func TestCacheHitSkipsSignatureCheck(t *testing.T) {
	v, err := New(Spec{Issuers: []IssuerSpec{{Name: "dev", Keys: []KeySpec{
		{Algorithms: []string{"HS256"}, Secret: "cache-test-secret-0123456789abcdef"}}}},
		RequireExpiry: true, Cache: CacheSpec{MaxEntries: 10}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	sign := func(claims jwt.MapClaims) string {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
		tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("cache-test-secret-0123456789abcdef"))
		return tok
	}
	cached := sign(jwt.MapClaims{"sub": "a"})
	if _, err := v.Verify(t.Context(), cached); err != nil {
		t.Fatalf("Verify(first): %v", err)
	}
	fresh := sign(jwt.MapClaims{"sub": "b"})

	// Swap the key: only a cache hit can still verify the first token.
	v.issuers[""].keys[0].material = []byte("another-secret-another-secret-0123")
	if _, err := v.Verify(t.Context(), cached); err != nil {
		t.Errorf("Verify(cached token) after key swap: %v, want a cache hit", err)
	}
	_, err = v.Verify(t.Context(), fresh)
	wantReason(t, "Verify(uncached token) after key swap", err, ReasonInvalidSignature)
}

func TestCacheNeverServesExpiredToken(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	v, err := New(Spec{Issuers: []IssuerSpec{{Name: "dev", Keys: []KeySpec{
		{Algorithms: []string{"HS256"}, Secret: "cache-test-secret-0123456789abcdef"}}}},
		RequireExpiry: true, Leeway: 10 * time.Second, Cache: CacheSpec{MaxEntries: 10}}, WithClock(clock))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "a", "exp": now.Add(time.Minute).Unix()}).
		SignedString([]byte("cache-test-secret-0123456789abcdef"))
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	now = now.Add(2 * time.Minute)
	_, err = v.Verify(t.Context(), tok)
	wantReason(t, "Verify(cached token after exp)", err, ReasonTokenExpired)
}

func TestCacheIsBounded(t *testing.T) {
	c := newTokenCache(CacheSpec{MaxEntries: 3, MaxBytes: 1 << 20})
	for i := range 10 {
		c.add(&cacheEntry{key: cacheKey{byte(i)}, cost: 100})
	}
	if got := c.len(); got != 3 {
		t.Errorf("entries after 10 adds with MaxEntries 3 = %d, want 3", got)
	}
	c = newTokenCache(CacheSpec{MaxEntries: 100, MaxBytes: 1000})
	for i := range 10 {
		c.add(&cacheEntry{key: cacheKey{byte(i)}, cost: 300})
	}
	if got := c.len(); got != 3 {
		t.Errorf("entries after 10 adds of 300 bytes with MaxBytes 1000 = %d, want 3", got)
	}
}

func TestClaimAliases(t *testing.T) {
	srv := newJWKSServer(t, "k1")
	v := newRemoteVerifier(t, []*jwksServer{srv}, remoteOptions{claims: []ClaimSpec{
		{Name: "roles", Path: "https://example.com/roles"},
		{Name: "tenantID", Path: "app_metadata.tenant"},
		{Name: "absent", Path: "no.such.path"},
	}})
	waitReady(t, v)
	claims, err := v.Verify(t.Context(), srv.token(t, "k1", jwt.MapClaims{
		"https://example.com/roles": []any{"admin"},
		"app_metadata":              map[string]any{"tenant": "acme"},
	}))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if roles, ok := claims["roles"].([]any); !ok || len(roles) != 1 || roles[0] != "admin" {
		t.Errorf("claims[roles] = %#v, want [admin]", claims["roles"])
	}
	if claims["tenantID"] != "acme" {
		t.Errorf("claims[tenantID] = %#v, want acme (case kept)", claims["tenantID"])
	}
	if _, ok := claims["absent"]; ok {
		t.Errorf("claims[absent] is set, want it left out")
	}
}

func TestRemoteIssuerConfigProblems(t *testing.T) {
	_, err := New(Spec{Issuers: []IssuerSpec{
		{Name: "a", Issuer: "https://a.example", JWKSURL: "https://a.example/jwks", Algorithms: []string{"HS256"}},
		{Name: "b", Issuer: "not a url", Discovery: true, Algorithms: []string{"RS256"}},
		{Name: "c", Issuer: "https://c.example", JWKSURL: "ftp://c.example/jwks"},
		{Name: "d", Issuer: "https://d.example", JWKSURL: "https://d.example/jwks", Algorithms: []string{"RS256"},
			Keys: []KeySpec{{Algorithms: []string{"HS256"}, Secret: strings.Repeat("s", 32)}}},
	}})
	var pe *ProblemsError
	if !errors.As(err, &pe) {
		t.Fatalf("New: err = %v, want *ProblemsError", err)
	}
	text := pe.Error()
	for _, want := range []string{
		"session.issuers[0].algorithms[0]: HS256 needs a shared secret",
		"session.issuers[1].issuer: discovery needs the issuer URL",
		"session.issuers[2].jwks_url: URL \"ftp://c.example/jwks\" must be absolute http or https",
		"session.issuers[2].algorithms: empty",
		"session.issuers[3]: set either keys or jwks_url/discovery, not both",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("problems lack %q; got:\n%s", want, text)
		}
	}
}

func TestJWKSFirstFetchIsRetried(t *testing.T) {
	srv := newJWKSServer(t, "k1")
	srv.set(func(s *jwksServer) { s.down = true })
	v := newRemoteVerifier(t, []*jwksServer{srv}, remoteOptions{jwks: JWKSSpec{RefreshInterval: time.Hour}})
	time.Sleep(300 * time.Millisecond)
	if v.Ready() {
		t.Fatal("Ready() = true while the provider is down")
	}
	srv.set(func(s *jwksServer) { s.down = false })

	// The retry backoff starts at 1s, far below the one-hour refresh.
	waitReady(t, v)
	if _, err := v.Verify(t.Context(), srv.token(t, "k1", nil)); err != nil {
		t.Errorf("Verify after the provider recovered: %v", err)
	}
}

func TestJWKSKeysSurviveReload(t *testing.T) {
	srv := newJWKSServer(t, "k1")
	first := newRemoteVerifier(t, []*jwksServer{srv}, remoteOptions{})
	waitReady(t, first)
	srv.set(func(s *jwksServer) { s.down = true })

	spec := Spec{
		Issuers: []IssuerSpec{{Name: "a", Issuer: srv.issuer, JWKSURL: srv.srv.URL + "/jwks.json", Algorithms: []string{"RS256"}}},
		Leeway:  30 * time.Second, RequireExpiry: true, JWKS: JWKSSpec{Timeout: 2 * time.Second},
		Previous: first,
	}
	second, err := New(spec)
	if err != nil {
		t.Fatalf("New(reloaded spec): %v", err)
	}
	t.Cleanup(second.Close)
	first.Close()

	if !second.Ready() {
		t.Error("reloaded verifier is not ready although the unchanged key set was fetched")
	}
	if _, err := second.Verify(t.Context(), srv.token(t, "k1", nil)); err != nil {
		t.Errorf("Verify after reload with the provider down: %v, want the kept keys to verify", err)
	}
}

func TestJWKSTokenWithoutKID(t *testing.T) {
	srv := newJWKSServer(t, "k1", "k2")
	v := newRemoteVerifier(t, []*jwksServer{srv}, remoteOptions{})
	waitReady(t, v)
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": srv.issuer, "sub": "u", "exp": time.Now().Add(time.Hour).Unix()})
	signed, err := tok.SignedString(srv.key("k2"))
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	if _, err := v.Verify(t.Context(), signed); err != nil {
		t.Errorf("Verify(token without kid, signed by a published key): %v", err)
	}
}

func TestOIDCDiscoveryKeysSurviveReload(t *testing.T) {
	srv := newJWKSServer(t, "k1")
	first := newRemoteVerifier(t, []*jwksServer{srv}, remoteOptions{discovery: true})
	waitReady(t, first)
	srv.set(func(s *jwksServer) { s.down = true })

	second, err := New(Spec{
		Issuers: []IssuerSpec{{Name: "a", Issuer: srv.issuer, Discovery: true, Algorithms: []string{"RS256"}}},
		Leeway:  30 * time.Second, RequireExpiry: true, JWKS: JWKSSpec{Timeout: 2 * time.Second},
		Previous: first,
	})
	if err != nil {
		t.Fatalf("New(reloaded spec): %v", err)
	}
	t.Cleanup(second.Close)
	first.Close()
	if _, err := second.Verify(t.Context(), srv.token(t, "k1", nil)); err != nil {
		t.Errorf("Verify after reload with discovery and the provider down: %v", err)
	}
}

func TestJWKSFailedFetchesLeaveOneRefresher(t *testing.T) {
	srv := newJWKSServer(t, "k1")
	srv.set(func(s *jwksServer) { s.down = true })
	v := newRemoteVerifier(t, []*jwksServer{srv}, remoteOptions{jwks: JWKSSpec{RefreshInterval: 200 * time.Millisecond}})
	time.Sleep(1500 * time.Millisecond) // first attempt, then retries after 200ms backoff steps
	srv.set(func(s *jwksServer) { s.down = false })
	waitReady(t, v)

	before := srv.fetches.Load()
	time.Sleep(time.Second)
	// One refresher at 200ms fetches about 5 times a second; a leaked one
	// per failed attempt would multiply that.
	if got := srv.fetches.Load() - before; got > 7 {
		t.Errorf("fetches in 1s after recovery = %d, want about 5 from a single refresher", got)
	}
}

func TestJWKSSettingsChangeKeepsKeysUntilRefetch(t *testing.T) {
	srv := newJWKSServer(t, "k1")
	first := newRemoteVerifier(t, []*jwksServer{srv}, remoteOptions{})
	waitReady(t, first)
	srv.set(func(s *jwksServer) { s.down = true })

	second, err := New(Spec{
		Issuers: []IssuerSpec{{Name: "renamed", Issuer: srv.issuer, JWKSURL: srv.srv.URL + "/jwks.json", Algorithms: []string{"RS256"}}},
		Leeway:  30 * time.Second, RequireExpiry: true, JWKS: JWKSSpec{Timeout: time.Second},
		Previous: first,
	})
	if err != nil {
		t.Fatalf("New(reloaded spec): %v", err)
	}
	t.Cleanup(second.Close)
	first.Close()
	if !second.Ready() {
		t.Error("Ready() = false after a reload that only changed jwks.timeout and the issuer name")
	}
	if _, err := second.Verify(t.Context(), srv.token(t, "k1", nil)); err != nil {
		t.Errorf("Verify with the previous key set as fallback: %v", err)
	}
}

func TestJWKSFetchesAreObserved(t *testing.T) {
	srv := newJWKSServer(t, "k1")
	var mu sync.Mutex
	seen := map[string]int{}
	v, err := New(Spec{
		Issuers:       []IssuerSpec{{Name: "idp", Issuer: srv.issuer, Discovery: true, Algorithms: []string{"RS256"}}},
		RequireExpiry: true, JWKS: JWKSSpec{Timeout: time.Second},
		Observe: func(issuer, kind string, err error) {
			mu.Lock()
			defer mu.Unlock()
			seen[fmt.Sprintf("%s/%s/%v", issuer, kind, err == nil)]++
		},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(v.Close)
	waitReady(t, v)
	mu.Lock()
	defer mu.Unlock()
	if seen["idp/discovery/true"] != 1 || seen["idp/jwks/true"] < 1 {
		t.Errorf("observed fetches = %v, want one successful discovery and at least one successful jwks fetch", seen)
	}
}
