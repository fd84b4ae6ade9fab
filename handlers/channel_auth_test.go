package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const formType = "application/x-www-form-urlencoded"

func TestChannelAuthReplies(t *testing.T) {
	app := newTestApp(t, appOptions{})
	e, _ := newTestEcho(t, app)
	token := userOne(t)

	tests := []struct {
		name        string
		contentType string
		body        string
		want        string
	}{
		{
			name:        "private form body with joined content type",
			contentType: formType + ", application/json",
			body:        "socket_id=1234.1234&channel_name=private-foobar",
			want:        `{"auth":"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"}`,
		},
		{
			name:        "private JSON body",
			contentType: "application/json",
			body:        `{"socket_id":"1234.1234","channel_name":"private-foobar"}`,
			want:        `{"auth":"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"}`,
		},
		{
			name:        "private JSON body sent as form type",
			contentType: formType,
			body:        `{"socket_id":"1234.1234","channel_name":"private-foobar"}`,
			want:        `{"auth":"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"}`,
		},
		{
			name: "private form body without content type",
			body: "channel_name=private-foobar&socket_id=1234.1234",
			want: `{"auth":"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"}`,
		},
		{
			name:        "presence member from claims",
			contentType: formType,
			body:        "socket_id=1234.1234&channel_name=presence-foobar",
			want: `{"auth":"278d425bdf160c739803:9592770216bd112a3f41f9d1b489648251e745e5a5b9ea8fa44db8139adc02da",` +
				`"channel_data":"{\"user_id\":\"user-1\",\"user_info\":{\"name\":\"User One\"}}"}`,
		},
		{
			name:        "encrypted channel with shared secret",
			contentType: formType,
			body:        "socket_id=1234.1234&channel_name=private-encrypted-foobar",
			want: `{"auth":"278d425bdf160c739803:e6a18892d037c5d5e76a2265df4f086ffc38631605530dfd214aa5bff495f533",` +
				`"shared_secret":"AWykI0LdIogmHc8RemnT6ERNSn3VSQeaf8imb9u8U/I="}`,
		},
		{
			name:        "nested user_info is sent as built",
			contentType: formType,
			body:        "socket_id=1234.1234&channel_name=presence-nested",
			want: `{"auth":"278d425bdf160c739803:` + presenceAuth(t, "1234.1234:presence-nested:"+`{"user_id":"user-1","user_info":{"profile":{"name":"x"}}}`) + `",` +
				`"channel_data":"{\"user_id\":\"user-1\",\"user_info\":{\"profile\":{\"name\":\"x\"}}}"}`,
		},
		{
			name:        "percent-encoded name is signed decoded",
			contentType: formType,
			body:        "socket_id=1234.1234&channel_name=private-a%3Db&tenant=acme",
			want:        `{"auth":"278d425bdf160c739803:4a5746b602669316f9d7c7b3985a0346509e2710d2cf67ac16e1bad004238a24"}`,
		},
		{
			name:        "socket id of two 64-bit numbers",
			contentType: formType,
			body:        "socket_id=18446744073709551615.18446744073709551615&channel_name=private-foobar",
			want:        `{"auth":"278d425bdf160c739803:2f5ac240e27ab854d47ec5f25dacd2af8daa95a7a2eabc6fa652090b23c226a2"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(t, e, request{contentType: tc.contentType, body: tc.body, token: token})
			if rec.Code != http.StatusOK {
				t.Fatalf("POST %q: status = %d, want 200; body %s", tc.body, rec.Code, rec.Body)
			}
			if got := rec.Body.String(); got != tc.want {
				t.Errorf("POST %q:\n got %s\nwant %s", tc.body, got, tc.want)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
		})
	}
}

// TestPresenceNumericSubject checks the published vector V3: a numeric id is
// sent as the string "10".
func TestPresenceNumericSubject(t *testing.T) {
	e, _ := newTestEcho(t, newTestApp(t, appOptions{}))
	token := signSession(t, jwt.MapClaims{"sub": 10, "name": "Mr. Channels"})
	rec := do(t, e, request{contentType: formType, body: "socket_id=1234.1234&channel_name=presence-foobar", token: token})
	want := `{"auth":"278d425bdf160c739803:4c6d8fc42a207ba96a0779844171b0bb819d96ffceef9609f5cce596ab17a800",` +
		`"channel_data":"{\"user_id\":\"10\",\"user_info\":{\"name\":\"Mr. Channels\"}}"}`
	if got := rec.Body.String(); rec.Code != http.StatusOK || got != want {
		t.Errorf("presence with sub 10: status %d body %s, want 200 %s", rec.Code, got, want)
	}
}

func TestChannelAuthSessionChecks(t *testing.T) {
	now := time.Now()
	e, _ := newTestEcho(t, newTestApp(t, appOptions{now: func() time.Time { return now }}))
	body := "socket_id=1234.1234&channel_name=private-foobar"

	tests := []struct {
		name       string
		token      string
		header     http.Header
		wantStatus int
		wantReason string
		wantAuth   string
	}{
		{name: "no token gets 401 missing_token", wantStatus: 401, wantReason: "missing_token",
			wantAuth: `Bearer realm="pusher-authd"`},
		{name: "expired two minutes ago gets 401 token_expired",
			token:      signSession(t, jwt.MapClaims{"sub": "user-1", "exp": now.Add(-2 * time.Minute).Unix()}),
			wantStatus: 401, wantReason: "token_expired",
			wantAuth: `Bearer realm="pusher-authd", error="invalid_token", error_description="token_expired"`},
		{name: "expired ten seconds ago is within leeway",
			token:      signSession(t, jwt.MapClaims{"sub": "user-1", "exp": now.Add(-10 * time.Second).Unix()}),
			wantStatus: 200},
		{name: "token signed with another secret gets invalid_signature",
			token: func() string {
				tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "x", "exp": now.Add(time.Hour).Unix()}).
					SignedString([]byte("another-secret-another-secret-0123456789"))
				return tok
			}(),
			wantStatus: 401, wantReason: "invalid_signature"},
		{name: "garbage token gets malformed_token", token: "not.a.jwt", wantStatus: 401, wantReason: "malformed_token"},
		{name: "two comma-joined tokens get malformed_authorization",
			header:     http.Header{"Authorization": {"Bearer a.b.c, Bearer d.e.f"}},
			wantStatus: 401, wantReason: "malformed_authorization",
			wantAuth: `Bearer realm="pusher-authd", error="invalid_request"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(t, e, request{contentType: formType, body: body, token: tc.token, header: tc.header})
			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if tc.wantReason != "" {
				if got := errorReason(t, rec.Body.String()); got != tc.wantReason {
					t.Errorf("error = %q, want %q", got, tc.wantReason)
				}
			}
			if tc.wantAuth != "" {
				if got := rec.Header().Get("WWW-Authenticate"); got != tc.wantAuth {
					t.Errorf("WWW-Authenticate = %q, want %q", got, tc.wantAuth)
				}
			}
			if loc := rec.Header().Get("Location"); loc != "" {
				t.Errorf("Location = %q, want no redirect", loc)
			}
		})
	}
}

func TestChannelAuthBadInput(t *testing.T) {
	e, _ := newTestEcho(t, newTestApp(t, appOptions{}))
	token := userOne(t)
	name164 := "private-open-" + strings.Repeat("a", 164-len("private-open-"))

	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantReason string
	}{
		{name: "164-character name is accepted", body: "socket_id=1.1&channel_name=" + name164, wantStatus: 200},
		{name: "165-character name is rejected", body: "socket_id=1.1&channel_name=" + name164 + "a",
			wantStatus: 400, wantReason: "invalid_channel_name"},
		{name: "plus and at sign outside the alphabet", body: "socket_id=1.1&channel_name=private-user.someone%2Btag%40example.com",
			wantStatus: 400, wantReason: "invalid_channel_name"},
		{name: "server-to-user channel is not authorizable", body: "socket_id=1.1&channel_name=%23server-to-user-user-1",
			wantStatus: 400, wantReason: "channel_not_authorizable"},
		{name: "public channel is not authorizable", body: "socket_id=1.1&channel_name=public-room",
			wantStatus: 400, wantReason: "channel_not_authorizable"},
		{name: "socket id as JSON number is rejected", body: `{"socket_id":1234.1234,"channel_name":"private-foobar"}`,
			wantStatus: 400, wantReason: "invalid_socket_id"},
		{name: "channel name as JSON null is rejected", body: `{"socket_id":"1.1","channel_name":null}`,
			wantStatus: 400, wantReason: "invalid_channel_name"},
		{name: "missing socket id", body: "channel_name=private-foobar", wantStatus: 400, wantReason: "missing_socket_id"},
		{name: "missing channel name", body: "socket_id=1.1", wantStatus: 400, wantReason: "missing_channel_name"},
		{name: "empty body", body: "", wantStatus: 400, wantReason: "missing_socket_id"},
		{name: "socket id with letters", body: "socket_id=1.1a&channel_name=private-foobar", wantStatus: 400, wantReason: "invalid_socket_id"},
		{name: "socket id without dot", body: "socket_id=11&channel_name=private-foobar", wantStatus: 400, wantReason: "invalid_socket_id"},
		{name: "channel name sent twice", body: "socket_id=1.1&channel_name=private-foobar&channel_name=private-vault",
			wantStatus: 400, wantReason: "duplicate_channel_name"},
		{name: "JSON with duplicate channel name", body: `{"socket_id":"1.1","channel_name":"private-foobar","channel_name":"private-vault"}`,
			wantStatus: 400, wantReason: "duplicate_channel_name"},
		{name: "truncated JSON", body: `{"socket_id":"1.1",`, wantStatus: 400, wantReason: "malformed_body"},
		{name: "JSON with trailing data", body: `{"socket_id":"1.1","channel_name":"private-foobar"} x`, wantStatus: 400, wantReason: "malformed_body"},
		{name: "JSON param that is an object", body: `{"socket_id":"1.1","channel_name":"private-foobar","p":{}}`,
			wantStatus: 400, wantReason: "invalid_params"},
		{name: "bad percent escape", body: "socket_id=1.1&channel_name=private-%zz", wantStatus: 400, wantReason: "malformed_body"},
		{name: "body over the limit gets 413", body: "socket_id=1.1&channel_name=private-foobar&pad=" + strings.Repeat("x", DefaultMaxBodyBytes),
			wantStatus: 413, wantReason: "body_too_large"},
		{name: "explicit deny rule gets 403", body: "socket_id=1.1&channel_name=private-vault", wantStatus: 403, wantReason: "denied_by_rule"},
		{name: "no matching rule gets 403", body: "socket_id=1.1&channel_name=presence-other", wantStatus: 403, wantReason: "no_rule"},
		{name: "GET gets 405", method: http.MethodGet, wantStatus: 405, wantReason: "method_not_allowed"},
		{name: "unknown path gets 404", path: "/pusher/other", wantStatus: 404, wantReason: "not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(t, e, request{method: tc.method, path: tc.path, contentType: formType, body: tc.body, token: token})
			if rec.Code != tc.wantStatus {
				t.Fatalf("POST %.80q: status = %d, want %d; body %s", tc.body, rec.Code, tc.wantStatus, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if tc.wantReason != "" {
				if got := errorReason(t, rec.Body.String()); got != tc.wantReason {
					t.Errorf("error = %q, want %q", got, tc.wantReason)
				}
			}
		})
	}
}

func TestChannelAuthParamsReachPolicy(t *testing.T) {
	e, _ := newTestEcho(t, newTestApp(t, appOptions{}))
	token := userOne(t)
	for _, tc := range []struct {
		body       string
		wantStatus int
	}{
		{"socket_id=1.1&channel_name=private-x&tenant=acme", 200},
		{"socket_id=1.1&channel_name=private-x&tenant=other", 403},
		{`{"socket_id":"1.1","channel_name":"private-x","tenant":"acme"}`, 200},
	} {
		rec := do(t, e, request{contentType: formType, body: tc.body, token: token})
		if rec.Code != tc.wantStatus {
			t.Errorf("POST %q: status = %d, want %d; body %s", tc.body, rec.Code, tc.wantStatus, rec.Body)
		}
	}
}

func errorReason(t *testing.T, body string) string {
	t.Helper()
	var got struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	if got.Message == "" {
		t.Errorf("error body %q has no message", body)
	}
	return got.Error
}

// presenceAuth returns the hex HMAC-SHA256 of stringToSign with the docs
// secret, for replies the published vectors do not cover.
func presenceAuth(t *testing.T, stringToSign string) string {
	t.Helper()
	mac := hmac.New(sha256.New, []byte(docsSecret))
	mac.Write([]byte(stringToSign))
	return hex.EncodeToString(mac.Sum(nil))
}
