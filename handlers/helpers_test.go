package handlers

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"

	"github.com/pusher-authd/pusher-authd/policy"
	"github.com/pusher-authd/pusher-authd/session"
	"github.com/pusher-authd/pusher-authd/signer"
)

// Credentials from Pusher's auth signature docs, and the master key from the
// pusher-http-node encryption test; the published vectors use them.
const (
	docsKey       = "278d425bdf160c739803"
	docsSecret    = "7ad3773142a6692b25b8"
	masterKey     = "zyrm8pvV2C9fJcBfhyXzvxbJVN/H7QLmbe0xJi1GhPU="
	sessionSecret = "handlers-test-session-secret-0123456789"
)

// testRules allow private-foobar, presence-foobar with user_info {name} from
// the claim, private-encrypted-foobar, and a few channels for other tests.
var testRules = []policy.RuleSpec{
	{Name: "foobar", Channel: "private-foobar"},
	{Name: "presence-member", Channel: "presence-foobar", Member: &policy.MemberSpec{
		UserID: "claims.sub", UserInfo: "'name' in claims ? {'name': claims.name} : {}"}},
	{Name: "encrypted-foobar", Channel: "private-encrypted-foobar"},
	{Name: "any-private", Channel: "private-*", When: "'tenant' in params && params.tenant == 'acme'"},
	{Name: "open-private", Channel: "private-open-{rest}"},
	{Name: "deny-vault", Channel: "private-vault", Effect: policy.EffectDeny},
	{Name: "presence-nested", Channel: "presence-nested", Member: &policy.MemberSpec{
		UserInfo: "{'profile': {'name': 'x'}}"}},
}

type appOptions struct {
	key, secret string
	signIn      policy.SignInSpec
	now         func() time.Time
}

func newTestApp(t testing.TB, opts appOptions) *App {
	t.Helper()
	if opts.key == "" {
		opts.key, opts.secret = docsKey, docsSecret
	}
	sign, err := signer.New(signer.App{ID: "test", Key: opts.key, Secret: opts.secret, MasterKeyBase64: masterKey})
	if err != nil {
		t.Fatalf("signer.New: %v", err)
	}
	engine, err := policy.Compile(policy.Spec{Rules: testRules, SignIn: opts.signIn, EncryptionEnabled: true})
	if err != nil {
		t.Fatalf("policy.Compile: %v", err)
	}
	var vopts []session.Option
	if opts.now != nil {
		vopts = append(vopts, session.WithClock(opts.now))
	}
	verifier, err := session.New(session.Spec{
		Issuers: []session.IssuerSpec{{Name: "test", Keys: []session.KeySpec{
			{Algorithms: []string{"HS256"}, Secret: sessionSecret}}}},
		Leeway:        30 * time.Second,
		RequireExpiry: true,
	}, vopts...)
	if err != nil {
		t.Fatalf("session.New: %v", err)
	}
	return &App{Name: "test", Signer: sign, Policy: engine, Sessions: verifier}
}

// newTestEcho returns a router for app and the buffer its logs go to.
func newTestEcho(t testing.TB, app *App) (*echo.Echo, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := NewEcho(Options{
		Routes: Routes{ChannelAuthPath: "/pusher/auth", UserAuthPath: "/pusher/user-auth", MaxBodyBytes: DefaultMaxBodyBytes},
		Apps:   StaticApp(app),
		Log:    log,
	})
	return e, &logs
}

func signSession(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	if _, ok := claims["exp"]; !ok {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(sessionSecret))
	if err != nil {
		t.Fatalf("sign session: %v", err)
	}
	return tok
}

// userOne is the session of the published-input checks.
func userOne(t *testing.T) string {
	t.Helper()
	return signSession(t, jwt.MapClaims{"sub": "user-1", "name": "User One"})
}

type request struct {
	method      string
	path        string
	contentType string
	body        string
	token       string
	header      http.Header
}

func do(t *testing.T, e *echo.Echo, r request) *httptest.ResponseRecorder {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.path == "" {
		r.path = "/pusher/auth"
	}
	req := httptest.NewRequestWithContext(t.Context(), r.method, r.path, strings.NewReader(r.body))
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, vs := range r.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}
