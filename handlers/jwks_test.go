package handlers

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pusher-authd/pusher-authd/policy"
	"github.com/pusher-authd/pusher-authd/session"
	"github.com/pusher-authd/pusher-authd/signer"
)

// newRS256App returns an app whose only issuer publishes one RS256 key at a
// local JWKS endpoint, and a function that signs tokens with that key.
// With down set, the endpoint responds with 503.
func newRS256App(tb testing.TB, down bool, cache session.CacheSpec) (*App, func(jwt.MapClaims) string) {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatalf("generate RSA key: %v", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
		}}})
	}))
	tb.Cleanup(srv.Close)

	verifier, err := session.New(session.Spec{
		Issuers: []session.IssuerSpec{{Name: "idp", Issuer: srv.URL, JWKSURL: srv.URL + "/jwks", Algorithms: []string{"RS256"}}},
		Leeway:  30 * time.Second, RequireExpiry: true, Cache: cache,
	})
	if err != nil {
		tb.Fatalf("session.New: %v", err)
	}
	tb.Cleanup(verifier.Close)
	if !down {
		deadline := time.Now().Add(5 * time.Second)
		for !verifier.Ready() {
			if time.Now().After(deadline) {
				tb.Fatal("JWKS not fetched within 5s")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	sign, err := signer.New(signer.App{Key: docsKey, Secret: docsSecret, MasterKeyBase64: masterKey})
	if err != nil {
		tb.Fatalf("signer.New: %v", err)
	}
	engine, err := policy.Compile(policy.Spec{Rules: testRules, EncryptionEnabled: true})
	if err != nil {
		tb.Fatalf("policy.Compile: %v", err)
	}
	mint := func(claims jwt.MapClaims) string {
		claims["iss"] = srv.URL
		claims["exp"] = time.Now().Add(time.Hour).Unix()
		t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
		t.Header["kid"] = "k1"
		s, err := t.SignedString(key)
		if err != nil {
			tb.Fatalf("sign: %v", err)
		}
		return s
	}
	return &App{Name: "idp", Signer: sign, Policy: engine, Sessions: verifier}, mint
}

func TestJWKSUnavailableGets503WithRetryAfter(t *testing.T) {
	app, mint := newRS256App(t, true, session.CacheSpec{})
	e, _ := newTestEcho(t, app)
	rec := do(t, e, request{contentType: formType, body: "socket_id=1.1&channel_name=private-foobar", token: mint(jwt.MapClaims{"sub": "u"})})
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503; body %s", rec.Code, rec.Body)
	}
	if got := errorReason(t, rec.Body.String()); got != "jwks_unavailable" {
		t.Errorf("error = %q, want jwks_unavailable", got)
	}
	if got := rec.Header().Get("Retry-After"); got == "" || got == "0" {
		t.Errorf("Retry-After = %q, want a positive number of seconds", got)
	}
}

func TestRS256TokenFromJWKS(t *testing.T) {
	app, mint := newRS256App(t, false, session.CacheSpec{MaxEntries: 100})
	e, _ := newTestEcho(t, app)
	token := mint(jwt.MapClaims{"sub": "user-1"})
	for range 2 {
		rec := do(t, e, request{contentType: formType, body: "socket_id=1234.1234&channel_name=private-foobar", token: token})
		if want := `{"auth":"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"}`; rec.Body.String() != want {
			t.Errorf("reply = %s, want %s", rec.Body, want)
		}
	}
}

// BenchmarkRepeatedToken compares the request path for one HS256 token and
// one RS256 token sent again and again, as pusher-js does for every channel
// and reconnect. With the verified-token cache both skip the signature check
// after the first request.
func BenchmarkRepeatedToken(b *testing.B) {
	const body = "socket_id=1234.1234&channel_name=private-foobar"
	cache := session.CacheSpec{MaxEntries: session.DefaultCacheMaxEntries}

	hsApp := newTestApp(b, appOptions{})
	hsApp.Sessions = newHS256Verifier(b, cache)
	hsNoCache := newTestApp(b, appOptions{})
	hsNoCache.Sessions = newHS256Verifier(b, session.CacheSpec{})
	hsToken := signSession(b, jwt.MapClaims{"sub": "user-1"})
	rsApp, mint := newRS256App(b, false, cache)
	rsToken := mint(jwt.MapClaims{"sub": "user-1"})
	rsNoCache, mintNoCache := newRS256App(b, false, session.CacheSpec{})
	rsNoCacheToken := mintNoCache(jwt.MapClaims{"sub": "user-1"})

	for _, bc := range []struct {
		name  string
		app   *App
		token string
	}{
		{"HS256", hsApp, hsToken},
		{"HS256-no-cache", hsNoCache, hsToken},
		{"RS256", rsApp, rsToken},
		{"RS256-no-cache", rsNoCache, rsNoCacheToken},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e, _ := newTestEcho(b, bc.app)
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/pusher/auth", strings.NewReader(body))
				req.Header.Set("Content-Type", formType)
				req.Header.Set("Authorization", "Bearer "+bc.token)
				rec := httptest.NewRecorder()
				e.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

func newHS256Verifier(tb testing.TB, cache session.CacheSpec) *session.Verifier {
	tb.Helper()
	v, err := session.New(session.Spec{
		Issuers: []session.IssuerSpec{{Name: "test", Keys: []session.KeySpec{{Algorithms: []string{"HS256"}, Secret: sessionSecret}}}},
		Leeway:  30 * time.Second, RequireExpiry: true, Cache: cache,
	})
	if err != nil {
		tb.Fatalf("session.New: %v", err)
	}
	return v
}
