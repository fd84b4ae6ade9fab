package handlers

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pusher-authd/pusher-authd/limits"
	"github.com/pusher-authd/pusher-authd/metrics"
	"github.com/pusher-authd/pusher-authd/policy"
	"github.com/pusher-authd/pusher-authd/session"
	"github.com/pusher-authd/pusher-authd/signer"
)

func newOpsEcho(t *testing.T, mutate func(*Options)) (*echo.Echo, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	opts := Options{
		Routes: Routes{ChannelAuthPath: "/pusher/auth", UserAuthPath: "/pusher/user-auth", MaxBodyBytes: DefaultMaxBodyBytes},
		Apps:   StaticApp(newTestApp(t, appOptions{})),
		Log:    slog.New(slog.NewJSONHandler(&logs, nil)),
	}
	mutate(&opts)
	return NewEcho(opts), &logs
}

func TestCORS(t *testing.T) {
	e, _ := newOpsEcho(t, func(o *Options) {
		o.CORS = CORS{AllowedOrigins: []string{"https://app.example.com"}, ExtraHeaders: []string{"X-CSRF-Token", "X-Socket-ID"}}
	})
	preflight := func(origin string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodOptions, "/pusher/auth", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}

	t.Run("preflight from an allowed origin", func(t *testing.T) {
		rec := preflight("https://app.example.com")
		if rec.Code != http.StatusNoContent {
			t.Fatalf("status = %d, want 204 without a session check", rec.Code)
		}
		if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
			t.Errorf("Access-Control-Allow-Origin = %q, want the exact origin", got)
		}
		allowed := strings.ToLower(rec.Header().Get("Access-Control-Allow-Headers"))
		for _, h := range []string{"authorization", "content-type", "x-csrf-token", "x-socket-id"} {
			if !strings.Contains(allowed, h) {
				t.Errorf("Access-Control-Allow-Headers = %q, want it to include %s", allowed, h)
			}
		}
		if !strings.Contains(rec.Header().Get("Access-Control-Allow-Methods"), "POST") {
			t.Errorf("Access-Control-Allow-Methods = %q, want POST", rec.Header().Get("Access-Control-Allow-Methods"))
		}
		if !strings.Contains(strings.Join(rec.Header().Values("Vary"), ","), "Origin") {
			t.Errorf("Vary = %q, want Origin", rec.Header().Values("Vary"))
		}
	})

	t.Run("preflight from an unknown origin gets no CORS headers", func(t *testing.T) {
		rec := preflight("https://evil.example.com")
		for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Headers", "Access-Control-Allow-Credentials"} {
			if got := rec.Header().Get(h); got != "" {
				t.Errorf("%s = %q, want none", h, got)
			}
		}
	})

	t.Run("POST after the preflight", func(t *testing.T) {
		rec := do(t, e, request{contentType: formType, body: "socket_id=1.1&channel_name=private-foobar", token: userOne(t),
			header: http.Header{"Origin": {"https://app.example.com"}}})
		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
		}
		if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
			t.Errorf("Access-Control-Allow-Origin = %q, want the exact origin", got)
		}
	})
}

func TestRateLimits(t *testing.T) {
	newLimiter := func(t *testing.T) *limits.Limiter {
		l, err := limits.New(0.001, 2, 100)
		if err != nil {
			t.Fatalf("limits.New: %v", err)
		}
		return l
	}
	trusted, err := limits.NewClientIP([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatalf("NewClientIP: %v", err)
	}
	post := func(e *echo.Echo, remote, xff, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/pusher/auth", strings.NewReader("socket_id=1.1&channel_name=private-foobar"))
		req.RemoteAddr = remote
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}
	token := userOne(t)

	t.Run("client IP over its burst gets 429 with Retry-After", func(t *testing.T) {
		e, _ := newOpsEcho(t, func(o *Options) { o.IPLimit, o.ClientIP = newLimiter(t), trusted.From })
		for i := range 2 {
			if rec := post(e, "192.0.2.1:1000", "", token); rec.Code != http.StatusOK {
				t.Fatalf("request %d: status = %d, want 200", i, rec.Code)
			}
		}
		rec := post(e, "192.0.2.1:1000", "", token)
		if rec.Code != http.StatusTooManyRequests {
			t.Fatalf("third request: status = %d, want 429", rec.Code)
		}
		if got := rec.Header().Get("Retry-After"); got == "" || got == "0" {
			t.Errorf("Retry-After = %q, want whole seconds above 0", got)
		}
		if got := errorReason(t, rec.Body.String()); got != "rate_limited" {
			t.Errorf("error = %q, want rate_limited", got)
		}
	})

	t.Run("spoofed X-Forwarded-For from an untrusted peer is ignored", func(t *testing.T) {
		e, _ := newOpsEcho(t, func(o *Options) { o.IPLimit, o.ClientIP = newLimiter(t), trusted.From })
		codes := []int{}
		for _, xff := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"} {
			codes = append(codes, post(e, "192.0.2.9:1000", xff, token).Code)
		}
		if codes[2] != http.StatusTooManyRequests {
			t.Errorf("statuses with a new spoofed address each time = %v, want the third limited", codes)
		}
	})

	t.Run("X-Forwarded-For from a trusted proxy separates clients", func(t *testing.T) {
		e, _ := newOpsEcho(t, func(o *Options) { o.IPLimit, o.ClientIP = newLimiter(t), trusted.From })
		for _, xff := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"} {
			if rec := post(e, "10.1.2.3:1000", xff, token); rec.Code != http.StatusOK {
				t.Errorf("client %s behind a trusted proxy: status = %d, want 200", xff, rec.Code)
			}
		}
	})

	t.Run("subject over its burst gets 429 from any address", func(t *testing.T) {
		e, _ := newOpsEcho(t, func(o *Options) { o.SubjectLimit = newLimiter(t) })
		codes := []int{}
		for i := range 3 {
			codes = append(codes, post(e, "192.0.2."+string(rune('1'+i))+":1000", "", token).Code)
		}
		if codes[0] != 200 || codes[1] != 200 || codes[2] != http.StatusTooManyRequests {
			t.Errorf("statuses for one subject from three addresses = %v, want [200 200 429]", codes)
		}
		other := signSession(t, jwt.MapClaims{"sub": "user-2"})
		if rec := post(e, "192.0.2.1:1000", "", other); rec.Code != http.StatusOK {
			t.Errorf("another subject: status = %d, want 200", rec.Code)
		}
	})

	t.Run("numeric subjects get their own buckets", func(t *testing.T) {
		e, _ := newOpsEcho(t, func(o *Options) { o.SubjectLimit = newLimiter(t) })
		fortyTwo := signSession(t, jwt.MapClaims{"sub": 42})
		for range 3 {
			post(e, "192.0.2.1:1000", "", fortyTwo)
		}
		if rec := post(e, "192.0.2.1:1000", "", signSession(t, jwt.MapClaims{"sub": 43})); rec.Code != http.StatusOK {
			t.Errorf("sub 43 after sub 42 used its burst: status = %d, want 200", rec.Code)
		}
	})
}

func TestMetricsSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test")
	e, _ := newOpsEcho(t, func(o *Options) { o.Metrics = m })
	token := userOne(t)
	do(t, e, request{contentType: formType, body: "socket_id=1.1&channel_name=private-foobar", token: token})
	do(t, e, request{contentType: formType, body: "socket_id=1.1&channel_name=presence-foobar", token: token})
	do(t, e, request{contentType: formType, body: "socket_id=1.1&channel_name=private-vault", token: token})
	do(t, e, request{contentType: formType, body: "socket_id=1.1&channel_name=private-foobar"})

	checks := []struct {
		name string
		got  float64
		want float64
	}{
		{"requests 200", testutil.ToFloat64(m.Requests.WithLabelValues("channel_auth", "test", "200")), 2},
		{"requests 403", testutil.ToFloat64(m.Requests.WithLabelValues("channel_auth", "test", "403")), 1},
		{"requests 401", testutil.ToFloat64(m.Requests.WithLabelValues("channel_auth", "test", "401")), 1},
		{"private allow", testutil.ToFloat64(m.Decisions.WithLabelValues("channel_auth", "test", "private", "allow", "foobar", "allowed")), 1},
		{"presence allow", testutil.ToFloat64(m.Decisions.WithLabelValues("channel_auth", "test", "presence", "allow", "presence-member", "allowed")), 1},
		{"deny by rule", testutil.ToFloat64(m.Decisions.WithLabelValues("channel_auth", "test", "private", "deny", "deny-vault", "denied_by_rule")), 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.RequestDuration); n != 1 {
		t.Errorf("request duration series = %d, want 1 (channel_auth)", n)
	}

	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			for _, label := range metric.GetLabel() {
				for _, forbidden := range []string{"user-1", "private-foobar", "presence-foobar", "1.1", token} {
					if label.GetValue() == forbidden {
						t.Errorf("metric %s label %s = %q: a channel, user, socket or token", f.GetName(), label.GetName(), label.GetValue())
					}
				}
			}
		}
	}
}

func TestRequestID(t *testing.T) {
	e, logs := newOpsEcho(t, func(*Options) {})
	body := "socket_id=1.1&channel_name=private-foobar"

	rec := do(t, e, request{contentType: formType, body: body, token: userOne(t), header: http.Header{"X-Request-Id": {"gw-123"}}})
	if got := rec.Header().Get("X-Request-ID"); got != "gw-123" {
		t.Errorf("X-Request-ID = %q, want the gateway's gw-123", got)
	}
	if !strings.Contains(logs.String(), `"request_id":"gw-123"`) {
		t.Errorf("decision log lacks request_id gw-123: %s", logs)
	}

	rec = do(t, e, request{contentType: formType, body: body, token: userOne(t)})
	if got := rec.Header().Get("X-Request-ID"); len(got) != 32 {
		t.Errorf("generated X-Request-ID = %q, want 32 hex characters", got)
	}

	rec = do(t, e, request{contentType: formType, body: body, token: userOne(t), header: http.Header{"X-Request-Id": {"bad id\"x"}}})
	if got := rec.Header().Get("X-Request-ID"); got == "bad id\"x" || len(got) != 32 {
		t.Errorf("X-Request-ID for an invalid one = %q, want a fresh id", got)
	}
}

func TestHealthEndpoints(t *testing.T) {
	ready := true
	e, _ := newOpsEcho(t, func(o *Options) {
		o.Health = &Health{Ready: func() (bool, string) { return ready, "jwks_not_fetched" }}
	})
	for _, tc := range []struct {
		path  string
		ready bool
		want  int
	}{
		{HealthPath, false, 200},
		{ReadyPath, true, 200},
		{ReadyPath, false, 503},
	} {
		ready = tc.ready
		rec := do(t, e, request{method: http.MethodGet, path: tc.path})
		if rec.Code != tc.want {
			t.Errorf("GET %s with ready=%v: status = %d, want %d", tc.path, tc.ready, rec.Code, tc.want)
		}
	}
}

func TestAccessLogCoversRequestsWithoutDecision(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test")
	var logs bytes.Buffer
	e := NewEcho(Options{
		Routes:  Routes{ChannelAuthPath: "/pusher/auth", UserAuthPath: "/pusher/user-auth", MaxBodyBytes: DefaultMaxBodyBytes},
		Apps:    StaticApp(newTestApp(t, appOptions{})),
		Log:     slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: m,
		Health:  &Health{Ready: func() (bool, string) { return true, "" }},
	})
	do(t, e, request{method: http.MethodGet, path: "/nope/" + strings.Repeat("x", 40), header: http.Header{"X-Request-Id": {"rid-404"}}})
	do(t, e, request{method: http.MethodGet, path: "/pusher/auth", header: http.Header{"X-Request-Id": {"rid-405"}}})
	do(t, e, request{method: http.MethodGet, path: HealthPath})
	do(t, e, request{contentType: formType, body: "socket_id=1.1&channel_name=private-foobar", token: userOne(t)})

	for _, tc := range []struct {
		endpoint, status string
		want             float64
	}{
		{"unmatched", "404", 1},
		{"/pusher/auth", "405", 1},
		{HealthPath, "200", 1},
		{"channel_auth", "200", 1},
		{"/pusher/auth", "200", 0},
	} {
		if got := testutil.ToFloat64(m.Requests.WithLabelValues(tc.endpoint, "", tc.status)); tc.endpoint != "channel_auth" && got != tc.want {
			t.Errorf("http_requests_total{endpoint=%q,status=%s} = %v, want %v", tc.endpoint, tc.status, got, tc.want)
		}
	}
	if got := testutil.ToFloat64(m.Requests.WithLabelValues("channel_auth", "test", "200")); got != 1 {
		t.Errorf("http_requests_total{endpoint=channel_auth,status=200} = %v, want 1 (counted once)", got)
	}
	for _, want := range []string{`"request_id":"rid-404"`, `"request_id":"rid-405"`, `"route":"unmatched"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("access log lacks %s:\n%s", want, logs.String())
		}
	}
	if strings.Count(logs.String(), `"msg":"http request"`) != 3 {
		t.Errorf("access log lines = %d, want 3 (404, 405, health; the auth request has its decision line)",
			strings.Count(logs.String(), `"msg":"http request"`))
	}
}

func TestTokenParamNeverReachesPolicy(t *testing.T) {
	sign, err := signer.New(signer.App{Key: docsKey, Secret: docsSecret})
	if err != nil {
		t.Fatalf("signer.New: %v", err)
	}
	engine, err := policy.Compile(policy.Spec{Rules: []policy.RuleSpec{
		{Name: "token-not-in-params", Channel: "private-x", When: "!('session_token' in params) && params.tenant == 'acme'"},
	}})
	if err != nil {
		t.Fatalf("policy.Compile: %v", err)
	}
	verifier, err := session.New(session.Spec{
		Issuers:       []session.IssuerSpec{{Name: "t", Keys: []session.KeySpec{{Algorithms: []string{"HS256"}, Secret: sessionSecret}}}},
		Sources:       []session.SourceSpec{{Type: "param", Name: "session_token"}},
		RequireExpiry: true,
	})
	if err != nil {
		t.Fatalf("session.New: %v", err)
	}
	e, _ := newTestEcho(t, &App{Name: "t", Signer: sign, Policy: engine, Sessions: verifier})
	body := "socket_id=1.1&channel_name=private-x&tenant=acme&session_token=" + userOne(t)
	rec := do(t, e, request{contentType: formType, body: body})
	if rec.Code != http.StatusOK {
		t.Errorf("token in a body param: status = %d, want 200 with the token removed from params; body %s", rec.Code, rec.Body)
	}
}
