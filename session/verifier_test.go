package session_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pusher-authd/pusher-authd/session"
)

// defaultSpec configures issuerA for testAudience with an HS256 key (kid
// "hmac") and an RS256 key (kid "rsa"), with a 30s leeway.
func defaultSpec(t testing.TB, k *testKeys) session.Spec {
	t.Helper()
	return session.Spec{
		Issuers: []session.IssuerSpec{{
			Name:     "a",
			Issuer:   issuerA,
			Audience: []string{testAudience},
			Keys: []session.KeySpec{
				{ID: "hmac", Algorithms: []string{"HS256"}, Secret: k.hmacSecret},
				{ID: "rsa", Algorithms: []string{"RS256"}, PublicKey: publicKeyPEM(t, &k.rsa.PublicKey)},
			},
		}},
		Leeway: testLeeway,
	}
}

// signRS256 signs claims with the default RSA key under kid "rsa".
func signRS256(t testing.TB, k *testKeys, claims jwt.MapClaims) string {
	t.Helper()
	return signToken(t, jwt.SigningMethodRS256, k.rsa, "rsa", claims)
}

func TestVerifyEveryAlgorithm(t *testing.T) {
	k := keys(t)
	tests := []struct {
		method  jwt.SigningMethod
		signKey any
		key     session.KeySpec
	}{
		{jwt.SigningMethodHS256, []byte(k.hmacSecret), session.KeySpec{Secret: k.hmacSecret}},
		{jwt.SigningMethodHS384, []byte(k.hmacSecret), session.KeySpec{Secret: k.hmacSecret}},
		{jwt.SigningMethodHS512, []byte(k.hmacSecret), session.KeySpec{Secret: k.hmacSecret}},
		{jwt.SigningMethodRS256, k.rsa, session.KeySpec{PublicKey: publicKeyPEM(t, &k.rsa.PublicKey)}},
		{jwt.SigningMethodRS384, k.rsa, session.KeySpec{PublicKey: publicKeyPEM(t, &k.rsa.PublicKey)}},
		{jwt.SigningMethodRS512, k.rsa, session.KeySpec{PublicKey: publicKeyPEM(t, &k.rsa.PublicKey)}},
		{jwt.SigningMethodPS256, k.rsa, session.KeySpec{PublicKey: publicKeyPEM(t, &k.rsa.PublicKey)}},
		{jwt.SigningMethodPS384, k.rsa, session.KeySpec{PublicKey: publicKeyPEM(t, &k.rsa.PublicKey)}},
		{jwt.SigningMethodPS512, k.rsa, session.KeySpec{PublicKey: publicKeyPEM(t, &k.rsa.PublicKey)}},
		{jwt.SigningMethodES256, k.p256, session.KeySpec{PublicKey: publicKeyPEM(t, &k.p256.PublicKey)}},
		{jwt.SigningMethodES384, k.p384, session.KeySpec{PublicKey: publicKeyPEM(t, &k.p384.PublicKey)}},
		{jwt.SigningMethodES512, k.p521, session.KeySpec{PublicKey: publicKeyPEM(t, &k.p521.PublicKey)}},
		{jwt.SigningMethodEdDSA, k.ed25519, session.KeySpec{PublicKey: publicKeyPEM(t, k.ed25519.Public())}},
	}
	for _, tc := range tests {
		alg := tc.method.Alg()
		t.Run(alg+" token verifies against key allowing "+alg, func(t *testing.T) {
			key := tc.key
			key.ID = "only"
			key.Algorithms = []string{alg}
			v := newVerifier(t, session.Spec{
				Issuers: []session.IssuerSpec{{Name: "a", Issuer: issuerA, Audience: []string{testAudience}, Keys: []session.KeySpec{key}}},
				Leeway:  testLeeway,
			})
			raw := signToken(t, tc.method, tc.signKey, "only", claimsWith(nil))

			claims, err := v.Verify(t.Context(), raw)
			if err != nil {
				t.Fatalf("Verify(%s) error = %v, want nil", describeToken(raw), err)
			}
			if got := claims["sub"]; got != testSubject {
				t.Errorf("Verify(%s) claims[sub] = %#v, want %q", describeToken(raw), got, testSubject)
			}
			if got := claims["iss"]; got != issuerA {
				t.Errorf("Verify(%s) claims[iss] = %#v, want %q", describeToken(raw), got, issuerA)
			}
			if got, want := claims["exp"], fixedNow.Add(10*time.Minute).Unix(); got != want {
				t.Errorf("Verify(%s) claims[exp] = %#v, want int64 %d", describeToken(raw), got, want)
			}
		})
	}
}

func TestVerifyPublicKeyFormats(t *testing.T) {
	k := keys(t)
	edFile := filepath.Join(t.TempDir(), "ed25519.pem")
	if err := os.WriteFile(edFile, []byte(publicKeyPEM(t, k.ed25519.Public())), 0o600); err != nil {
		t.Fatalf("os.WriteFile(%s) error = %v", edFile, err)
	}

	tests := []struct {
		name    string
		key     session.KeySpec
		method  jwt.SigningMethod
		signKey any
	}{
		{
			name:    "PKIX RSA public key verifies RS256",
			key:     session.KeySpec{PublicKey: publicKeyPEM(t, &k.rsa.PublicKey)},
			method:  jwt.SigningMethodRS256,
			signKey: k.rsa,
		},
		{
			name:    "PKCS#1 RSA public key verifies PS256",
			key:     session.KeySpec{PublicKey: rsaPublicKeyPEM(t, &k.rsa.PublicKey)},
			method:  jwt.SigningMethodPS256,
			signKey: k.rsa,
		},
		{
			name:    "self-signed P-256 certificate verifies ES256",
			key:     session.KeySpec{PublicKey: certificatePEM(t, k.p256)},
			method:  jwt.SigningMethodES256,
			signKey: k.p256,
		},
		{
			name:    "Ed25519 PKIX key read from public_key_file verifies EdDSA",
			key:     session.KeySpec{PublicKeyFile: edFile},
			method:  jwt.SigningMethodEdDSA,
			signKey: k.ed25519,
		},
		{
			name:    "PEM after explanatory text and blank lines verifies RS256",
			key:     session.KeySpec{PublicKey: "signing key of the login service\n\n" + publicKeyPEM(t, &k.rsa.PublicKey) + "\n\n"},
			method:  jwt.SigningMethodRS256,
			signKey: k.rsa,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.key
			key.Algorithms = []string{tc.method.Alg()}
			v := newVerifier(t, session.Spec{
				Issuers: []session.IssuerSpec{{Name: "a", Issuer: issuerA, Keys: []session.KeySpec{key}}},
			})
			raw := signToken(t, tc.method, tc.signKey, "", claimsWith(nil))

			if _, err := v.Verify(t.Context(), raw); err != nil {
				t.Errorf("Verify(%s) error = %v, want nil", describeToken(raw), err)
			}
		})
	}
}

func TestVerifyNormalizesClaims(t *testing.T) {
	k := keys(t)
	v := newVerifier(t, defaultSpec(t, k))
	raw := signRS256(t, k, claimsWith(jwt.MapClaims{
		"user_id":  json.Number("42"),
		"negative": json.Number("-7"),
		"max_u64":  json.Number("18446744073709551615"),
		"ratio":    json.Number("1.5"),
		"exponent": json.Number("1e3"),
		"huge":     json.Number("1e400"),
		"admin":    true,
		"nothing":  json.RawMessage("null"),
		"profile": map[string]any{
			"level": json.Number("3"),
			"tags":  []any{"a", json.Number("2"), map[string]any{"n": json.Number("9")}},
		},
		"scores": []any{json.Number("1"), json.Number("2.5"), "x"},
	}))

	claims, err := v.Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("Verify(%s) error = %v, want nil", describeToken(raw), err)
	}

	want := map[string]any{
		"iss":      issuerA,
		"aud":      testAudience,
		"sub":      testSubject,
		"iat":      fixedNow.Unix(),
		"exp":      fixedNow.Add(10 * time.Minute).Unix(),
		"user_id":  int64(42),
		"negative": int64(-7),
		"max_u64":  uint64(18446744073709551615),
		"ratio":    1.5,
		"exponent": 1000.0,
		"huge":     "1e400",
		"admin":    true,
		"nothing":  nil,
		"profile": map[string]any{
			"level": int64(3),
			"tags":  []any{"a", int64(2), map[string]any{"n": int64(9)}},
		},
		"scores": []any{int64(1), 2.5, "x"},
	}
	for name, wantValue := range want {
		got, ok := claims[name]
		if !ok {
			t.Errorf("Verify(%s) claims[%s] missing, want %#v", describeToken(raw), name, wantValue)
			continue
		}
		if !reflect.DeepEqual(got, wantValue) {
			t.Errorf("Verify(%s) claims[%s] = %#v, want %#v", describeToken(raw), name, got, wantValue)
		}
	}
	if len(claims) != len(want) {
		t.Errorf("Verify(%s) returned %d claims, want %d: %#v", describeToken(raw), len(claims), len(want), claims)
	}
}

// A numeric user id longer than uint64 must not collapse into a float64:
// two ids that differ in their last digits would then become the same user.
func TestVerifyKeepsDigitsOfLargeIntegers(t *testing.T) {
	k := keys(t)
	v := newVerifier(t, defaultSpec(t, k))
	ids := []string{"123456789012345678901234567890", "123456789012345678901234567891", "-9223372036854775809"}

	for _, id := range ids {
		raw := signRS256(t, k, claimsWith(jwt.MapClaims{"user_id": json.Number(id)}))

		claims, err := v.Verify(t.Context(), raw)
		if err != nil {
			t.Fatalf("Verify(%s) error = %v, want nil", describeToken(raw), err)
		}
		if got := fmt.Sprint(claims["user_id"]); got != id {
			t.Errorf("Verify(user_id %s) claims[user_id] = %#v, prints as %s, want all digits %s", id, claims["user_id"], got, id)
		}
	}
}

// verifyCase is one token against one configuration.
type verifyCase struct {
	name string
	// spec returns the configuration, and nil means defaultSpec.
	spec  func(t testing.TB, k *testKeys) session.Spec
	token func(t testing.TB, k *testKeys) string
	// want is the rejection reason, and empty means the token verifies.
	want session.Reason
}

// withSpec returns a spec function that applies edit to defaultSpec.
func withSpec(edit func(t testing.TB, k *testKeys, spec *session.Spec)) func(testing.TB, *testKeys) session.Spec {
	return func(t testing.TB, k *testKeys) session.Spec {
		t.Helper()
		spec := defaultSpec(t, k)
		edit(t, k, &spec)
		return spec
	}
}

// rs256With returns a token function that signs claimsWith(edits) with the
// default RSA key.
func rs256With(edits jwt.MapClaims) func(testing.TB, *testKeys) string {
	return func(t testing.TB, k *testKeys) string {
		t.Helper()
		return signRS256(t, k, claimsWith(edits))
	}
}

// validPayload is the JSON of claimsWith(nil), for hand-built tokens.
func validPayload(t testing.TB) string {
	t.Helper()
	b, err := json.Marshal(claimsWith(nil))
	if err != nil {
		t.Fatalf("json.Marshal(claims) error = %v", err)
	}
	return string(b)
}

// verifyCases covers every outcome of Verify. TestVerify checks the reasons
// and TestVerifyErrorsNeverQuoteToken checks the error text of the same
// rejections.
func verifyCases() []verifyCase {
	minutesAgo := func(m int) int64 { return fixedNow.Add(-time.Duration(m) * time.Minute).Unix() }
	secondsFromNow := func(s int) int64 { return fixedNow.Add(time.Duration(s) * time.Second).Unix() }
	withMaxAge := withSpec(func(t testing.TB, k *testKeys, spec *session.Spec) { spec.MaxAge = time.Hour })
	withRequireExpiry := withSpec(func(t testing.TB, k *testKeys, spec *session.Spec) { spec.RequireExpiry = true })
	onlyRSA := func(t testing.TB, k *testKeys) session.Spec {
		t.Helper()
		return session.Spec{Issuers: []session.IssuerSpec{{
			Name:   "a",
			Issuer: issuerA,
			Keys:   []session.KeySpec{{Algorithms: []string{"RS256"}, PublicKey: publicKeyPEM(t, &k.rsa.PublicKey)}},
		}}}
	}
	// hs256WithRSAPEM is the key confusion attack: an HS256 token whose
	// HMAC key is the RSA public key PEM that the verifier holds.
	hs256WithRSAPEM := func(t testing.TB, k *testKeys) string {
		t.Helper()
		return signToken(t, jwt.SigningMethodHS256, []byte(publicKeyPEM(t, &k.rsa.PublicKey)), "", claimsWith(nil))
	}

	return []verifyCase{
		{
			name:  "fresh RS256 token verifies",
			token: rs256With(nil),
		},
		{
			name: "fresh HS256 token verifies",
			token: func(t testing.TB, k *testKeys) string {
				return signToken(t, jwt.SigningMethodHS256, []byte(k.hmacSecret), "hmac", claimsWith(nil))
			},
		},

		// Time claims.
		{
			name:  "expired two minutes ago gets token_expired",
			token: rs256With(jwt.MapClaims{"iat": minutesAgo(12), "exp": minutesAgo(2)}),
			want:  session.ReasonTokenExpired,
		},
		{
			name:  "expired ten seconds ago within 30s leeway verifies",
			token: rs256With(jwt.MapClaims{"iat": minutesAgo(10), "exp": secondsFromNow(-10)}),
		},
		{
			name:  "expired ten seconds ago with zero leeway gets token_expired",
			spec:  withSpec(func(t testing.TB, k *testKeys, spec *session.Spec) { spec.Leeway = 0 }),
			token: rs256With(jwt.MapClaims{"iat": minutesAgo(10), "exp": secondsFromNow(-10)}),
			want:  session.ReasonTokenExpired,
		},
		{
			name:  "nbf a minute ahead gets token_not_yet_valid",
			token: rs256With(jwt.MapClaims{"nbf": secondsFromNow(60)}),
			want:  session.ReasonTokenNotYetValid,
		},
		{
			name:  "nbf twenty seconds ahead within leeway verifies",
			token: rs256With(jwt.MapClaims{"nbf": secondsFromNow(20)}),
		},
		{
			name:  "iat a minute ahead with max_age gets token_not_yet_valid",
			spec:  withMaxAge,
			token: rs256With(jwt.MapClaims{"iat": secondsFromNow(60)}),
			want:  session.ReasonTokenNotYetValid,
		},
		{
			// Spec.Leeway documents that it applies to iat, so iat is
			// checked even when max_age is not set.
			name:  "iat a minute ahead without max_age gets token_not_yet_valid",
			token: rs256With(jwt.MapClaims{"iat": secondsFromNow(60)}),
			want:  session.ReasonTokenNotYetValid,
		},
		{
			name:  "iat twenty seconds ahead within leeway verifies",
			spec:  withMaxAge,
			token: rs256With(jwt.MapClaims{"iat": secondsFromNow(20)}),
		},
		{
			name:  "non-numeric exp gets invalid_token",
			token: rs256With(jwt.MapClaims{"exp": "tomorrow"}),
			want:  session.ReasonInvalidToken,
		},

		// Issuer and audience.
		{
			name:  "unconfigured iss gets unknown_issuer",
			token: rs256With(jwt.MapClaims{"iss": "https://evil.example"}),
			want:  session.ReasonUnknownIssuer,
		},
		{
			name:  "iss with trailing slash gets unknown_issuer",
			token: rs256With(jwt.MapClaims{"iss": issuerA + "/"}),
			want:  session.ReasonUnknownIssuer,
		},
		{
			name:  "missing iss without iss-less issuer gets unknown_issuer",
			token: rs256With(jwt.MapClaims{"iss": nil}),
			want:  session.ReasonUnknownIssuer,
		},
		{
			name: "missing iss verifies against the iss-less issuer",
			spec: withSpec(func(t testing.TB, k *testKeys, spec *session.Spec) {
				spec.Issuers = append(spec.Issuers, session.IssuerSpec{
					Name: "internal",
					Keys: []session.KeySpec{{Algorithms: []string{"ES256"}, PublicKey: publicKeyPEM(t, &k.p256.PublicKey)}},
				})
			}),
			token: func(t testing.TB, k *testKeys) string {
				return signToken(t, jwt.SigningMethodES256, k.p256, "", claimsWith(jwt.MapClaims{"iss": nil, "aud": nil}))
			},
		},
		{
			name:  "numeric iss gets invalid_token",
			token: rs256With(jwt.MapClaims{"iss": 7}),
			want:  session.ReasonInvalidToken,
		},
		{
			name:  "wrong audience gets invalid_audience",
			token: rs256With(jwt.MapClaims{"aud": "another-service"}),
			want:  session.ReasonInvalidAudience,
		},
		{
			name:  "audience list containing ours verifies",
			token: rs256With(jwt.MapClaims{"aud": []string{"another-service", testAudience}}),
		},
		{
			name:  "audience list without ours gets invalid_audience",
			token: rs256With(jwt.MapClaims{"aud": []string{"another-service", "third-service"}}),
			want:  session.ReasonInvalidAudience,
		},
		{
			name:  "missing aud with audience configured gets missing_claim",
			token: rs256With(jwt.MapClaims{"aud": nil}),
			want:  session.ReasonMissingClaim,
		},
		{
			name:  "missing aud verifies when no audience is configured",
			spec:  withSpec(func(t testing.TB, k *testKeys, spec *session.Spec) { spec.Issuers[0].Audience = nil }),
			token: rs256With(jwt.MapClaims{"aud": nil}),
		},

		// Algorithms.
		{
			name: "alg none with empty signature gets algorithm_not_allowed",
			token: func(t testing.TB, k *testKeys) string {
				return joinToken(`{"alg":"none","typ":"JWT"}`, validPayload(t), "")
			},
			want: session.ReasonAlgorithmNotAllowed,
		},
		{
			name: "alg none with copied RS256 signature gets algorithm_not_allowed",
			token: func(t testing.TB, k *testKeys) string {
				signed := signRS256(t, k, claimsWith(nil))
				return joinToken(`{"alg":"none","typ":"JWT"}`, validPayload(t), signed[strings.LastIndex(signed, ".")+1:])
			},
			want: session.ReasonAlgorithmNotAllowed,
		},
		{
			name: "alg NONE in upper case gets algorithm_not_allowed",
			token: func(t testing.TB, k *testKeys) string {
				return joinToken(`{"alg":"NONE","typ":"JWT"}`, validPayload(t), "")
			},
			want: session.ReasonAlgorithmNotAllowed,
		},
		{
			name:  "HS256 keyed with RSA PEM gets algorithm_not_allowed",
			spec:  onlyRSA,
			token: hs256WithRSAPEM,
			want:  session.ReasonAlgorithmNotAllowed,
		},
		{
			name: "HS256 keyed with RSA PEM gets algorithm_not_allowed when B allows HS256",
			spec: func(t testing.TB, k *testKeys) session.Spec {
				t.Helper()
				spec := onlyRSA(t, k)
				spec.Issuers = append(spec.Issuers, session.IssuerSpec{
					Name:   "b",
					Issuer: issuerB,
					Keys:   []session.KeySpec{{Algorithms: []string{"HS256"}, Secret: k.hmacSecret}},
				})
				return spec
			},
			token: hs256WithRSAPEM,
			want:  session.ReasonAlgorithmNotAllowed,
		},
		{
			name: "RS512 token for a key allowing only RS256 gets algorithm_not_allowed",
			token: func(t testing.TB, k *testKeys) string {
				return signToken(t, jwt.SigningMethodRS512, k.rsa, "rsa", claimsWith(nil))
			},
			want: session.ReasonAlgorithmNotAllowed,
		},
		{
			name: "PS256 token for a key allowing only RS256 gets algorithm_not_allowed",
			token: func(t testing.TB, k *testKeys) string {
				return signToken(t, jwt.SigningMethodPS256, k.rsa, "rsa", claimsWith(nil))
			},
			want: session.ReasonAlgorithmNotAllowed,
		},
		{
			name: "RS512 allowed only by issuer B gets algorithm_not_allowed",
			spec: withSpec(func(t testing.TB, k *testKeys, spec *session.Spec) {
				spec.Issuers = append(spec.Issuers, session.IssuerSpec{
					Name:   "b",
					Issuer: issuerB,
					Keys:   []session.KeySpec{{Algorithms: []string{"RS512"}, PublicKey: publicKeyPEM(t, &k.rsa.PublicKey)}},
				})
			}),
			token: func(t testing.TB, k *testKeys) string {
				return signToken(t, jwt.SigningMethodRS512, k.rsa, "", claimsWith(nil))
			},
			want: session.ReasonAlgorithmNotAllowed,
		},
		{
			name: "RS512 token naming the RS256-only key gets unknown_key",
			spec: withSpec(func(t testing.TB, k *testKeys, spec *session.Spec) {
				spec.Issuers[0].Keys = append(spec.Issuers[0].Keys, session.KeySpec{
					ID: "rsa-512", Algorithms: []string{"RS512"}, PublicKey: publicKeyPEM(t, &k.otherRSA.PublicKey),
				})
			}),
			token: func(t testing.TB, k *testKeys) string {
				return signToken(t, jwt.SigningMethodRS512, k.rsa, "rsa", claimsWith(nil))
			},
			want: session.ReasonUnknownKey,
		},
		{
			name: "unknown alg HS257 gets algorithm_not_allowed",
			token: func(t testing.TB, k *testKeys) string {
				return joinToken(`{"alg":"HS257","typ":"JWT"}`, validPayload(t), encodeSegment("not a real signature at all"))
			},
			want: session.ReasonAlgorithmNotAllowed,
		},
		{
			name: "missing alg header gets algorithm_not_allowed",
			token: func(t testing.TB, k *testKeys) string {
				return joinToken(`{"typ":"JWT"}`, validPayload(t), encodeSegment("not a real signature at all"))
			},
			want: session.ReasonAlgorithmNotAllowed,
		},

		// Malformed tokens.
		{
			name:  "garbage gets malformed_token",
			token: func(t testing.TB, k *testKeys) string { return "this is not a token" },
			want:  session.ReasonMalformedToken,
		},
		{
			name:  "empty string gets malformed_token",
			token: func(t testing.TB, k *testKeys) string { return "" },
			want:  session.ReasonMalformedToken,
		},
		{
			name: "two parts gets malformed_token",
			token: func(t testing.TB, k *testKeys) string {
				signed := signRS256(t, k, claimsWith(nil))
				return signed[:strings.LastIndex(signed, ".")]
			},
			want: session.ReasonMalformedToken,
		},
		{
			name: "four parts gets malformed_token",
			token: func(t testing.TB, k *testKeys) string {
				return signRS256(t, k, claimsWith(nil)) + ".extra"
			},
			want: session.ReasonMalformedToken,
		},
		{
			name: "header with bad base64 gets malformed_token",
			token: func(t testing.TB, k *testKeys) string {
				signed := signRS256(t, k, claimsWith(nil))
				return "!!" + signed[2:]
			},
			want: session.ReasonMalformedToken,
		},
		{
			name: "payload with bad base64 gets malformed_token",
			token: func(t testing.TB, k *testKeys) string {
				parts := strings.Split(signRS256(t, k, claimsWith(nil)), ".")
				return parts[0] + ".%%%" + parts[1] + "." + parts[2]
			},
			want: session.ReasonMalformedToken,
		},
		{
			name: "signature with bad base64 gets malformed_token",
			token: func(t testing.TB, k *testKeys) string {
				return signRS256(t, k, claimsWith(nil)) + "*"
			},
			want: session.ReasonMalformedToken,
		},
		{
			name: "header that is not JSON gets malformed_token",
			token: func(t testing.TB, k *testKeys) string {
				return joinToken(`alg=RS256`, validPayload(t), encodeSegment("not a real signature at all"))
			},
			want: session.ReasonMalformedToken,
		},
		{
			name: "payload that is not JSON gets malformed_token",
			token: func(t testing.TB, k *testKeys) string {
				return joinToken(`{"alg":"RS256","typ":"JWT"}`, `sub=user-42`, encodeSegment("not a real signature at all"))
			},
			want: session.ReasonMalformedToken,
		},
		{
			name: "payload that is a JSON array gets malformed_token",
			token: func(t testing.TB, k *testKeys) string {
				return joinToken(`{"alg":"RS256","typ":"JWT"}`, `["user-42"]`, encodeSegment("not a real signature at all"))
			},
			want: session.ReasonMalformedToken,
		},

		// Signatures and keys.
		{
			name: "flipped signature byte gets invalid_signature",
			token: func(t testing.TB, k *testKeys) string {
				t.Helper()
				signed := signRS256(t, k, claimsWith(nil))
				cut := strings.LastIndex(signed, ".") + 1
				sig, err := base64.RawURLEncoding.DecodeString(signed[cut:])
				if err != nil {
					t.Fatalf("decode signature of %s: %v", describeToken(signed), err)
				}
				sig[10] ^= 0x01
				return signed[:cut] + base64.RawURLEncoding.EncodeToString(sig)
			},
			want: session.ReasonInvalidSignature,
		},
		{
			name: "payload changed after signing gets invalid_signature",
			token: func(t testing.TB, k *testKeys) string {
				t.Helper()
				parts := strings.Split(signRS256(t, k, claimsWith(nil)), ".")
				forged, err := json.Marshal(claimsWith(jwt.MapClaims{"sub": "admin"}))
				if err != nil {
					t.Fatalf("json.Marshal(forged claims) error = %v", err)
				}
				return parts[0] + "." + encodeSegment(string(forged)) + "." + parts[2]
			},
			want: session.ReasonInvalidSignature,
		},
		{
			name: "RS256 signed by another RSA key gets invalid_signature",
			token: func(t testing.TB, k *testKeys) string {
				return signToken(t, jwt.SigningMethodRS256, k.otherRSA, "rsa", claimsWith(nil))
			},
			want: session.ReasonInvalidSignature,
		},
		{
			name: "HS256 signed with another secret gets invalid_signature",
			token: func(t testing.TB, k *testKeys) string {
				return signToken(t, jwt.SigningMethodHS256, []byte(k.otherHMACSecret), "hmac", claimsWith(nil))
			},
			want: session.ReasonInvalidSignature,
		},
		{
			name: "kid naming no configured key gets unknown_key",
			token: func(t testing.TB, k *testKeys) string {
				return signToken(t, jwt.SigningMethodRS256, k.rsa, "rotated-away", claimsWith(nil))
			},
			want: session.ReasonUnknownKey,
		},
		{
			name: "kid of the HMAC key on an RS256 token gets unknown_key",
			token: func(t testing.TB, k *testKeys) string {
				return signToken(t, jwt.SigningMethodRS256, k.rsa, "hmac", claimsWith(nil))
			},
			want: session.ReasonUnknownKey,
		},

		// Required claims and max_age.
		{
			name:  "missing exp with require_expiry gets missing_claim",
			spec:  withRequireExpiry,
			token: rs256With(jwt.MapClaims{"exp": nil}),
			want:  session.ReasonMissingClaim,
		},
		{
			name:  "missing exp without require_expiry verifies",
			token: rs256With(jwt.MapClaims{"exp": nil}),
		},
		{
			name:  "iat two hours old with one hour max_age gets token_too_old",
			spec:  withMaxAge,
			token: rs256With(jwt.MapClaims{"iat": minutesAgo(120)}),
			want:  session.ReasonTokenTooOld,
		},
		{
			name:  "iat one hour and 20s old with one hour max_age verifies within leeway",
			spec:  withMaxAge,
			token: rs256With(jwt.MapClaims{"iat": fixedNow.Add(-time.Hour - 20*time.Second).Unix()}),
		},
		{
			name:  "iat one hour and 40s old with one hour max_age gets token_too_old",
			spec:  withMaxAge,
			token: rs256With(jwt.MapClaims{"iat": fixedNow.Add(-time.Hour - 40*time.Second).Unix()}),
			want:  session.ReasonTokenTooOld,
		},
		{
			name:  "missing iat with max_age gets missing_claim",
			spec:  withMaxAge,
			token: rs256With(jwt.MapClaims{"iat": nil}),
			want:  session.ReasonMissingClaim,
		},
	}
}

func TestVerify(t *testing.T) {
	k := keys(t)
	for _, tc := range verifyCases() {
		t.Run(tc.name, func(t *testing.T) {
			spec := defaultSpec(t, k)
			if tc.spec != nil {
				spec = tc.spec(t, k)
			}
			v := newVerifier(t, spec)
			raw := tc.token(t, k)
			call := fmt.Sprintf("Verify(%s)", describeToken(raw))

			claims, err := v.Verify(t.Context(), raw)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("%s error = %v, want nil", call, err)
				}
				if got := claims["sub"]; got != testSubject {
					t.Errorf("%s claims[sub] = %#v, want %q", call, got, testSubject)
				}
				return
			}

			sessErr := requireRejection(t, call, err, tc.want)
			if claims != nil {
				t.Errorf("%s claims = %#v, want nil with an error", call, claims)
			}
			if !sessErr.TokenSent {
				t.Errorf("%s TokenSent = false, want true", call)
			}
			if sessErr.Unavailable {
				t.Errorf("%s Unavailable = true, want false", call)
			}
		})
	}
}

func TestVerifyErrorsNeverQuoteToken(t *testing.T) {
	k := keys(t)
	for _, tc := range verifyCases() {
		if tc.want == "" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			spec := defaultSpec(t, k)
			if tc.spec != nil {
				spec = tc.spec(t, k)
			}
			v := newVerifier(t, spec)
			raw := tc.token(t, k)

			_, err := v.Verify(t.Context(), raw)
			if err == nil {
				t.Skipf("Verify(%s) accepted the token; TestVerify reports the missing rejection", describeToken(raw))
			}
			text := err.Error()
			if raw != "" && strings.Contains(text, raw) {
				t.Errorf("Verify(%s) error text %q contains the raw token", describeToken(raw), text)
			}
			// Segments shorter than 8 characters could match ordinary words
			// in the message by chance.
			parts := strings.Split(raw, ".")
			if signature := parts[len(parts)-1]; len(signature) >= 8 && strings.Contains(text, signature) {
				t.Errorf("Verify(%s) error text %q contains the token's signature", describeToken(raw), text)
			}
		})
	}
}

func TestVerifySelectsKeyByKid(t *testing.T) {
	k := keys(t)
	v := newVerifier(t, session.Spec{Issuers: []session.IssuerSpec{{
		Name:   "a",
		Issuer: issuerA,
		Keys: []session.KeySpec{
			{ID: "one", Algorithms: []string{"RS256"}, PublicKey: publicKeyPEM(t, &k.rsa.PublicKey)},
			{ID: "two", Algorithms: []string{"RS256"}, PublicKey: publicKeyPEM(t, &k.otherRSA.PublicKey)},
		},
	}}})

	tests := []struct {
		name    string
		signKey any
		kid     string
		want    session.Reason
	}{
		{name: "first key under kid one verifies", signKey: k.rsa, kid: "one"},
		{name: "second key under kid two verifies", signKey: k.otherRSA, kid: "two"},
		{name: "second key under kid one gets invalid_signature", signKey: k.otherRSA, kid: "one", want: session.ReasonInvalidSignature},
		{name: "first key under kid two gets invalid_signature", signKey: k.rsa, kid: "two", want: session.ReasonInvalidSignature},
		{name: "kid three gets unknown_key", signKey: k.rsa, kid: "three", want: session.ReasonUnknownKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := signToken(t, jwt.SigningMethodRS256, tc.signKey, tc.kid, claimsWith(nil))
			call := fmt.Sprintf("Verify(%s)", describeToken(raw))

			_, err := v.Verify(t.Context(), raw)
			if tc.want == "" {
				if err != nil {
					t.Errorf("%s error = %v, want nil", call, err)
				}
				return
			}
			requireRejection(t, call, err, tc.want)
		})
	}
}

func TestVerifyTwoIssuersSharingKid(t *testing.T) {
	k := keys(t)
	v := newVerifier(t, session.Spec{Issuers: []session.IssuerSpec{
		{
			Name:   "a",
			Issuer: issuerA,
			Keys:   []session.KeySpec{{ID: "shared", Algorithms: []string{"RS256"}, PublicKey: publicKeyPEM(t, &k.rsa.PublicKey)}},
		},
		{
			Name:   "b",
			Issuer: issuerB,
			Keys:   []session.KeySpec{{ID: "shared", Algorithms: []string{"RS256"}, PublicKey: publicKeyPEM(t, &k.otherRSA.PublicKey)}},
		},
	}})

	tests := []struct {
		name    string
		iss     string
		signKey any
		want    session.Reason
	}{
		{name: "issuer A token signed with A's key verifies", iss: issuerA, signKey: k.rsa},
		{name: "issuer B token signed with B's key verifies", iss: issuerB, signKey: k.otherRSA},
		{name: "token claiming B signed with A's key gets invalid_signature", iss: issuerB, signKey: k.rsa, want: session.ReasonInvalidSignature},
		{name: "token claiming A signed with B's key gets invalid_signature", iss: issuerA, signKey: k.otherRSA, want: session.ReasonInvalidSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := signToken(t, jwt.SigningMethodRS256, tc.signKey, "shared", claimsWith(jwt.MapClaims{"iss": tc.iss, "aud": nil}))
			call := fmt.Sprintf("Verify(%s)", describeToken(raw))

			claims, err := v.Verify(t.Context(), raw)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("%s error = %v, want nil", call, err)
				}
				if got := claims["iss"]; got != tc.iss {
					t.Errorf("%s claims[iss] = %#v, want %q", call, got, tc.iss)
				}
				return
			}
			requireRejection(t, call, err, tc.want)
		})
	}
}

func TestVerifierAlgorithms(t *testing.T) {
	k := keys(t)
	v := newVerifier(t, session.Spec{Issuers: []session.IssuerSpec{
		{
			Name:   "a",
			Issuer: issuerA,
			Keys: []session.KeySpec{
				{Algorithms: []string{"RS512", "PS256"}, PublicKey: publicKeyPEM(t, &k.rsa.PublicKey)},
				{Algorithms: []string{"HS256"}, Secret: k.hmacSecret},
			},
		},
		{
			Name:   "b",
			Issuer: issuerB,
			Keys: []session.KeySpec{
				{Algorithms: []string{"EdDSA"}, PublicKey: publicKeyPEM(t, k.ed25519.Public())},
				{Algorithms: []string{"RS512"}, PublicKey: publicKeyPEM(t, &k.otherRSA.PublicKey)},
			},
		},
	}})

	got := v.Algorithms()
	want := []string{"EdDSA", "HS256", "PS256", "RS512"}
	if !slices.Equal(got, want) {
		t.Errorf("Algorithms() = %v, want %v", got, want)
	}
}

// TestVerifyConcurrent exists for the race detector: Verify documents that it
// is safe for concurrent use.
func TestVerifyConcurrent(t *testing.T) {
	k := keys(t)
	v := newVerifier(t, defaultSpec(t, k))
	good := signRS256(t, k, claimsWith(nil))
	expired := signRS256(t, k, claimsWith(jwt.MapClaims{"exp": fixedNow.Add(-time.Hour).Unix()}))

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 8 {
		wg.Go(func() {
			for range 20 {
				if _, err := v.Verify(t.Context(), good); err != nil {
					errs <- fmt.Errorf("goroutine %d: Verify(good token) error = %v, want nil", i, err)
					return
				}
				if _, err := v.Verify(t.Context(), expired); err == nil {
					errs <- fmt.Errorf("goroutine %d: Verify(expired token) error = nil, want token_expired", i)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// benchmarkVerify measures Verify on one valid token signed with method.
// The verified-token cache is off unless cache sets MaxEntries, so each
// iteration checks the signature.
func benchmarkVerify(b *testing.B, method jwt.SigningMethod, signKey any, key session.KeySpec, cache session.CacheSpec) {
	b.Helper()
	key.Algorithms = []string{method.Alg()}
	v := newVerifier(b, session.Spec{
		Issuers: []session.IssuerSpec{{Name: "a", Issuer: issuerA, Audience: []string{testAudience}, Keys: []session.KeySpec{key}}},
		Leeway:  testLeeway,
		Cache:   cache,
	})
	raw := signToken(b, method, signKey, "", claimsWith(nil))
	if _, err := v.Verify(b.Context(), raw); err != nil {
		b.Fatalf("Verify(%s) error = %v, want nil", describeToken(raw), err)
	}

	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(b.Context(), raw); err != nil {
			b.Fatalf("Verify(%s) error = %v, want nil", describeToken(raw), err)
		}
	}
}

func BenchmarkVerifyHS256(b *testing.B) {
	k := keys(b)
	benchmarkVerify(b, jwt.SigningMethodHS256, []byte(k.hmacSecret), session.KeySpec{Secret: k.hmacSecret}, session.CacheSpec{})
}

func BenchmarkVerifyRS256(b *testing.B) {
	k := keys(b)
	benchmarkVerify(b, jwt.SigningMethodRS256, k.rsa, session.KeySpec{PublicKey: publicKeyPEM(b, &k.rsa.PublicKey)}, session.CacheSpec{})
}

func BenchmarkVerifyES256(b *testing.B) {
	k := keys(b)
	benchmarkVerify(b, jwt.SigningMethodES256, k.p256, session.KeySpec{PublicKey: publicKeyPEM(b, &k.p256.PublicKey)}, session.CacheSpec{})
}

func BenchmarkVerifyEdDSA(b *testing.B) {
	k := keys(b)
	benchmarkVerify(b, jwt.SigningMethodEdDSA, k.ed25519, session.KeySpec{PublicKey: publicKeyPEM(b, k.ed25519.Public())}, session.CacheSpec{})
}

// BenchmarkVerifyRS256Cached measures a repeated RS256 token served from the
// verified-token cache, which skips the signature check.
func BenchmarkVerifyRS256Cached(b *testing.B) {
	k := keys(b)
	cache := session.CacheSpec{MaxEntries: session.DefaultCacheMaxEntries}
	benchmarkVerify(b, jwt.SigningMethodRS256, k.rsa, session.KeySpec{PublicKey: publicKeyPEM(b, &k.rsa.PublicKey)}, cache)
}
