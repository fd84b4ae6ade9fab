package session_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/pusher-authd/pusher-authd/session"
)

// Extract reads only the request, so these tokens need not be valid JWTs.
const (
	headerToken = "header.token.value"
	cookieToken = "cookie.token.value"
	paramToken  = "param.token.value"
	queryToken  = "query.token.value"
)

// extractorWith builds a Verifier with sources, or DefaultSources when
// sources is nil.
func extractorWith(t *testing.T, sources []session.SourceSpec) *session.Verifier {
	t.Helper()
	spec := issuerWithKey(session.KeySpec{Algorithms: []string{"HS256"}, Secret: keys(t).hmacSecret})
	spec.Sources = sources
	return newVerifier(t, spec)
}

func TestExtract(t *testing.T) {
	headerCookieParam := []session.SourceSpec{
		{Type: "header", Name: "Authorization", Scheme: "Bearer"},
		{Type: "cookie", Name: "session"},
		{Type: "param", Name: "session_token"},
	}
	paramFirst := []session.SourceSpec{
		{Type: "param", Name: "session_token"},
		{Type: "header", Name: "Authorization", Scheme: "Bearer"},
	}
	rawHeader := []session.SourceSpec{{Type: "header", Name: "x-session-token"}}
	customScheme := []session.SourceSpec{
		{Type: "header", Name: "Authorization", Scheme: "Session"},
		{Type: "header", Name: "Authorization", Scheme: "Bearer"},
	}

	tests := []struct {
		name    string
		sources []session.SourceSpec
		// target is the request path and query, and empty means "/pusher/auth".
		target  string
		headers [][2]string
		cookies []*http.Cookie
		params  map[string]string
		want    string
		// wantReason is the rejection reason, and empty means want is returned.
		wantReason    session.Reason
		wantTokenSent bool
	}{
		// Custom scheme names.
		{
			name:    "custom scheme is matched without regard to case",
			sources: customScheme,
			headers: [][2]string{{"Authorization", "session " + headerToken}},
			want:    headerToken,
		},
		{
			name:    "Bearer falls through the custom scheme",
			sources: customScheme,
			headers: [][2]string{{"Authorization", "Bearer " + headerToken}},
			want:    headerToken,
		},
		// Default source: Authorization: Bearer.
		{
			name:    "Bearer token is returned by default",
			headers: [][2]string{{"Authorization", "Bearer " + headerToken}},
			want:    headerToken,
		},
		{
			name:    "lower-case bearer scheme is accepted",
			headers: [][2]string{{"Authorization", "bearer " + headerToken}},
			want:    headerToken,
		},
		{
			name:    "upper-case BEARER scheme is accepted",
			headers: [][2]string{{"Authorization", "BEARER " + headerToken}},
			want:    headerToken,
		},
		{
			name:    "spaces around and inside the value are trimmed",
			headers: [][2]string{{"Authorization", "  Bearer   " + headerToken + "  "}},
			want:    headerToken,
		},
		{
			name:       "missing Authorization gets missing_token without TokenSent",
			wantReason: session.ReasonMissingToken,
		},
		{
			name:       "empty Authorization gets missing_token without TokenSent",
			headers:    [][2]string{{"Authorization", ""}},
			wantReason: session.ReasonMissingToken,
		},
		{
			name:          "Bearer with no token gets malformed_authorization",
			headers:       [][2]string{{"Authorization", "Bearer"}},
			wantReason:    session.ReasonMalformedAuthorization,
			wantTokenSent: true,
		},
		{
			name:          "Bearer followed only by spaces gets malformed_authorization",
			headers:       [][2]string{{"Authorization", "Bearer    "}},
			wantReason:    session.ReasonMalformedAuthorization,
			wantTokenSent: true,
		},
		{
			name:          "two comma-joined Bearer tokens get malformed_authorization",
			headers:       [][2]string{{"Authorization", "Bearer " + headerToken + ", Bearer " + cookieToken}},
			wantReason:    session.ReasonMalformedAuthorization,
			wantTokenSent: true,
		},
		{
			name:          "comma-joined tokens without space get malformed_authorization",
			headers:       [][2]string{{"Authorization", "Bearer " + headerToken + "," + cookieToken}},
			wantReason:    session.ReasonMalformedAuthorization,
			wantTokenSent: true,
		},
		{
			name:          "two space-separated tokens get malformed_authorization",
			headers:       [][2]string{{"Authorization", "Bearer " + headerToken + " " + cookieToken}},
			wantReason:    session.ReasonMalformedAuthorization,
			wantTokenSent: true,
		},
		{
			name:          "Authorization sent twice gets malformed_authorization",
			headers:       [][2]string{{"Authorization", "Bearer " + headerToken}, {"Authorization", "Bearer " + cookieToken}},
			wantReason:    session.ReasonMalformedAuthorization,
			wantTokenSent: true,
		},
		{
			name:       "Basic scheme with no other source gets missing_token",
			headers:    [][2]string{{"Authorization", "Basic dXNlcjpwYXNz"}},
			wantReason: session.ReasonMissingToken,
		},
		{
			name:       "Bearer glued to token gets missing_token",
			headers:    [][2]string{{"Authorization", "Bearer" + headerToken}},
			wantReason: session.ReasonMissingToken,
		},

		// Header, then cookie, then param.
		{
			name:    "Basic scheme falls through to the cookie",
			sources: headerCookieParam,
			headers: [][2]string{{"Authorization", "Basic dXNlcjpwYXNz"}},
			cookies: []*http.Cookie{{Name: "session", Value: cookieToken}},
			want:    cookieToken,
		},
		{
			name:    "cookie is used when no header is sent",
			sources: headerCookieParam,
			cookies: []*http.Cookie{{Name: "other", Value: "x"}, {Name: "session", Value: cookieToken}},
			want:    cookieToken,
		},
		{
			name:    "empty cookie falls through to the param",
			sources: headerCookieParam,
			cookies: []*http.Cookie{{Name: "session", Value: ""}},
			params:  map[string]string{"session_token": paramToken},
			want:    paramToken,
		},
		{
			name:    "param is read from the params map",
			sources: headerCookieParam,
			params:  map[string]string{"socket_id": "123.456", "session_token": paramToken},
			want:    paramToken,
		},
		{
			name:    "param is read from the URL query",
			sources: headerCookieParam,
			target:  "/pusher/auth?session_token=" + queryToken,
			want:    queryToken,
		},
		{
			name:    "params map wins over the URL query",
			sources: headerCookieParam,
			target:  "/pusher/auth?session_token=" + queryToken,
			params:  map[string]string{"session_token": paramToken},
			want:    paramToken,
		},
		{
			name:    "empty param in the map falls back to the URL query",
			sources: headerCookieParam,
			target:  "/pusher/auth?session_token=" + queryToken,
			params:  map[string]string{"session_token": ""},
			want:    queryToken,
		},
		{
			name:    "header listed first wins over cookie and param",
			sources: headerCookieParam,
			headers: [][2]string{{"Authorization", "Bearer " + headerToken}},
			cookies: []*http.Cookie{{Name: "session", Value: cookieToken}},
			params:  map[string]string{"session_token": paramToken},
			want:    headerToken,
		},
		{
			name:    "cookie listed before param wins over it",
			sources: headerCookieParam,
			cookies: []*http.Cookie{{Name: "session", Value: cookieToken}},
			params:  map[string]string{"session_token": paramToken},
			want:    cookieToken,
		},
		{
			name:    "param listed first wins over the header",
			sources: paramFirst,
			headers: [][2]string{{"Authorization", "Bearer " + headerToken}},
			params:  map[string]string{"session_token": paramToken},
			want:    paramToken,
		},
		{
			name:    "header after an absent param is used",
			sources: paramFirst,
			headers: [][2]string{{"Authorization", "Bearer " + headerToken}},
			want:    headerToken,
		},
		{
			name:          "malformed header wins over a later cookie",
			sources:       headerCookieParam,
			headers:       [][2]string{{"Authorization", "Bearer"}},
			cookies:       []*http.Cookie{{Name: "session", Value: cookieToken}},
			wantReason:    session.ReasonMalformedAuthorization,
			wantTokenSent: true,
		},
		{
			name:       "no source present gets missing_token",
			sources:    headerCookieParam,
			target:     "/pusher/auth?other=1",
			cookies:    []*http.Cookie{{Name: "other", Value: "x"}},
			params:     map[string]string{"socket_id": "123.456"},
			wantReason: session.ReasonMissingToken,
		},

		// Header without a scheme.
		{
			name:    "header without scheme returns its whole value",
			sources: rawHeader,
			headers: [][2]string{{"X-Session-Token", headerToken}},
			want:    headerToken,
		},
		{
			name:    "header name from config matches in any case",
			sources: rawHeader,
			headers: [][2]string{{"x-SESSION-token", headerToken}},
			want:    headerToken,
		},
		{
			name:          "header without scheme holding two values gets malformed_authorization",
			sources:       rawHeader,
			headers:       [][2]string{{"X-Session-Token", headerToken + "," + cookieToken}},
			wantReason:    session.ReasonMalformedAuthorization,
			wantTokenSent: true,
		},
		{
			name:          "header without scheme holding only spaces gets malformed_authorization",
			sources:       rawHeader,
			headers:       [][2]string{{"X-Session-Token", "   "}},
			wantReason:    session.ReasonMalformedAuthorization,
			wantTokenSent: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := extractorWith(t, tc.sources)
			target := tc.target
			if target == "" {
				target = "/pusher/auth"
			}
			r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "http://127.0.0.1"+target, nil)
			for _, h := range tc.headers {
				r.Header.Add(h[0], h[1])
			}
			for _, c := range tc.cookies {
				r.AddCookie(c)
			}

			call := fmt.Sprintf("Extract(%s, headers %q, cookies %v, params %v)", target, tc.headers, tc.cookies, tc.params)

			got, err := v.Extract(r, tc.params)
			if tc.wantReason == "" {
				if err != nil {
					t.Fatalf("%s error = %v, want nil", call, err)
				}
				if got != tc.want {
					t.Errorf("%s = %q, want %q", call, got, tc.want)
				}
				return
			}

			sessErr := requireRejection(t, call, err, tc.wantReason)
			if got != "" {
				t.Errorf("%s token = %q, want empty with an error", call, got)
			}
			if sessErr.TokenSent != tc.wantTokenSent {
				t.Errorf("%s TokenSent = %v, want %v", call, sessErr.TokenSent, tc.wantTokenSent)
			}
			for _, token := range []string{headerToken, cookieToken, paramToken, queryToken, "dXNlcjpwYXNz"} {
				if strings.Contains(err.Error(), token) {
					t.Errorf("%s error text %q contains the token %q", call, err.Error(), token)
				}
			}
		})
	}
}

func TestTokenParams(t *testing.T) {
	tests := []struct {
		name    string
		sources []session.SourceSpec
		want    []string
	}{
		{
			name: "default sources have no token params",
			want: nil,
		},
		{
			name: "param sources are listed in configured order",
			sources: []session.SourceSpec{
				{Type: "param", Name: "session_token"},
				{Type: "header", Name: "Authorization", Scheme: "Bearer"},
				{Type: "cookie", Name: "session"},
				{Type: "param", Name: "jwt"},
			},
			want: []string{"session_token", "jwt"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := extractorWith(t, tc.sources)

			if got := v.TokenParams(); !slices.Equal(got, tc.want) {
				t.Errorf("TokenParams() with sources %+v = %q, want %q", tc.sources, got, tc.want)
			}
		})
	}
}
