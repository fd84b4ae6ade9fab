package session_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pusher-authd/pusher-authd/session"
)

// knownReasons are the reasons Verify and Extract may return for attacker
// input. ReasonKeysUnavailable is absent because the fuzzed verifiers have
// only static keys, which New loads before the first request.
var knownReasons = map[session.Reason]bool{
	session.ReasonMissingToken:           true,
	session.ReasonMalformedAuthorization: true,
	session.ReasonMalformedToken:         true,
	session.ReasonTokenExpired:           true,
	session.ReasonTokenNotYetValid:       true,
	session.ReasonTokenTooOld:            true,
	session.ReasonMissingClaim:           true,
	session.ReasonUnknownIssuer:          true,
	session.ReasonInvalidAudience:        true,
	session.ReasonAlgorithmNotAllowed:    true,
	session.ReasonUnknownKey:             true,
	session.ReasonInvalidSignature:       true,
	session.ReasonInvalidToken:           true,
}

// checkFuzzRejection fails unless err is a *session.Error with a known
// reason in the ErrSessionInvalid category.
func checkFuzzRejection(t *testing.T, call string, err error) {
	t.Helper()
	var sessErr *session.Error
	if !errors.As(err, &sessErr) {
		t.Fatalf("%s error = %T %q, want *session.Error", call, err, err)
	}
	if !errors.Is(err, session.ErrSessionInvalid) {
		t.Errorf("errors.Is(%s error, ErrSessionInvalid) = false, want true", call)
	}
	if !knownReasons[sessErr.Reason] {
		t.Errorf("%s reason = %q, want one of the declared reasons", call, sessErr.Reason)
	}
}

func FuzzVerify(f *testing.F) {
	k := keys(f)
	spec := defaultSpec(f, k)
	spec.MaxAge = 0
	v := newVerifier(f, spec)

	f.Add(signRS256(f, k, claimsWith(nil)))
	f.Add(signToken(f, jwt.SigningMethodHS256, []byte(k.hmacSecret), "hmac", claimsWith(nil)))
	f.Add(joinToken(`{"alg":"none"}`, `{"iss":"https://a.example"}`, ""))
	f.Add(joinToken(`{"alg":"RS256","kid":7}`, `{"iss":["x"],"exp":"soon","aud":{"a":1}}`, "c2ln"))
	f.Add("a.b.c")
	f.Add("...")
	f.Add("")

	f.Fuzz(func(t *testing.T, raw string) {
		claims, err := v.Verify(t.Context(), raw)
		if err == nil {
			if claims == nil {
				t.Fatalf("Verify(%q) = nil claims and nil error", raw)
			}
			return
		}
		checkFuzzRejection(t, "Verify", err)
		if len(raw) >= 16 && strings.Contains(err.Error(), raw) {
			t.Errorf("Verify(%q) error text %q contains the raw token", raw, err.Error())
		}
	})
}

func FuzzExtractAuthorization(f *testing.F) {
	v := newVerifier(f, issuerWithKey(session.KeySpec{Algorithms: []string{"HS256"}, Secret: keys(f).hmacSecret}))

	f.Add("Bearer abc.def.ghi")
	f.Add("bearer  abc")
	f.Add("Bearer a, Bearer b")
	f.Add("Basic dXNlcjpwYXNz")
	f.Add("Bearer")
	f.Add(" \t ")

	f.Fuzz(func(t *testing.T, value string) {
		r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "http://127.0.0.1/pusher/auth", nil)
		r.Header.Set("Authorization", value)

		token, err := v.Extract(r, nil)
		if err != nil {
			checkFuzzRejection(t, "Extract", err)
			return
		}
		if token == "" || strings.ContainsAny(token, ", \t") {
			t.Errorf("Extract(Authorization %q) = %q, want one non-empty token without commas or blanks", value, token)
		}
	})
}
