package session_test

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pusher-authd/pusher-authd/session"
)

// issuerWithKey returns a one-issuer spec around key.
func issuerWithKey(key session.KeySpec) session.Spec {
	return session.Spec{Issuers: []session.IssuerSpec{{Name: "a", Issuer: issuerA, Keys: []session.KeySpec{key}}}}
}

// requireProblems checks that err is a *session.ProblemsError and returns
// its problems.
func requireProblems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		t.Fatal("session.New() error = nil, want *session.ProblemsError")
	}
	var problemsErr *session.ProblemsError
	if !errors.As(err, &problemsErr) {
		t.Fatalf("session.New() error = %T %q, want *session.ProblemsError", err, err)
	}
	return problemsErr.Problems
}

// hasProblem reports whether some problem starts with path and contains text.
func hasProblem(problems []string, path, text string) bool {
	for _, p := range problems {
		if strings.HasPrefix(p, path) && strings.Contains(p, text) {
			return true
		}
	}
	return false
}

func TestNewRejectsConfig(t *testing.T) {
	k := keys(t)
	rsaPEM := publicKeyPEM(t, &k.rsa.PublicKey)
	ecPrivateDER, err := x509.MarshalECPrivateKey(k.p256)
	if err != nil {
		t.Fatalf("x509.MarshalECPrivateKey() error = %v", err)
	}

	tests := []struct {
		name string
		spec session.Spec
		// path is the key path a problem must start with, and want is text
		// the same problem must contain.
		path string
		want string
	}{
		{
			name: "HMAC secret of 31 bytes is rejected",
			spec: issuerWithKey(session.KeySpec{Algorithms: []string{"HS256"}, Secret: strings.Repeat("s", 31)}),
			path: "session.issuers[0].keys[0].secret",
			want: "31 bytes is too short for HMAC, want at least 32",
		},
		{
			name: "none in algorithms is rejected",
			spec: issuerWithKey(session.KeySpec{Algorithms: []string{"RS256", "none"}, PublicKey: rsaPEM}),
			path: "session.issuers[0].keys[0].algorithms[1]",
			want: `"none" is never accepted`,
		},
		{
			name: "None in mixed case in algorithms is rejected",
			spec: issuerWithKey(session.KeySpec{Algorithms: []string{"None"}, Secret: k.hmacSecret}),
			path: "session.issuers[0].keys[0].algorithms[0]",
			want: `"none" is never accepted`,
		},
		{
			name: "unknown algorithm HS257 is rejected",
			spec: issuerWithKey(session.KeySpec{Algorithms: []string{"HS257"}, Secret: k.hmacSecret}),
			path: "session.issuers[0].keys[0].algorithms[0]",
			want: `unknown algorithm "HS257", want one of ` + session.SupportedAlgorithms,
		},
		{
			name: "lower-case rs256 is an unknown algorithm",
			spec: issuerWithKey(session.KeySpec{Algorithms: []string{"rs256"}, PublicKey: rsaPEM}),
			path: "session.issuers[0].keys[0].algorithms[0]",
			want: `unknown algorithm "rs256"`,
		},
		{
			name: "RS256 on an HMAC key is rejected",
			spec: issuerWithKey(session.KeySpec{Algorithms: []string{"RS256"}, Secret: k.hmacSecret}),
			path: "session.issuers[0].keys[0].algorithms[0]",
			want: "RS256 needs a RSA key, but this key is HMAC",
		},
		{
			name: "HS256 on an RSA key is rejected",
			spec: issuerWithKey(session.KeySpec{Algorithms: []string{"HS256"}, PublicKey: rsaPEM}),
			path: "session.issuers[0].keys[0].algorithms[0]",
			want: "HS256 needs a HMAC key, but this key is RSA",
		},
		{
			name: "EdDSA on a P-256 key is rejected",
			spec: issuerWithKey(session.KeySpec{Algorithms: []string{"EdDSA"}, PublicKey: publicKeyPEM(t, &k.p256.PublicKey)}),
			path: "session.issuers[0].keys[0].algorithms[0]",
			want: "EdDSA needs a Ed25519 key, but this key is ECDSA",
		},
		{
			name: "ES384 on a P-256 key is rejected",
			spec: issuerWithKey(session.KeySpec{Algorithms: []string{"ES384"}, PublicKey: publicKeyPEM(t, &k.p256.PublicKey)}),
			path: "session.issuers[0].keys[0].algorithms[0]",
			want: "ES384 needs curve P-384, but this key is on P-256",
		},
		{
			name: "ES256 on a P-521 key is rejected",
			spec: issuerWithKey(session.KeySpec{Algorithms: []string{"ES256"}, PublicKey: publicKeyPEM(t, &k.p521.PublicKey)}),
			path: "session.issuers[0].keys[0].algorithms[0]",
			want: "ES256 needs curve P-256, but this key is on P-521",
		},
		{
			name: "empty algorithm list is rejected",
			spec: issuerWithKey(session.KeySpec{PublicKey: rsaPEM}),
			path: "session.issuers[0].keys[0].algorithms",
			want: "empty; list the algorithms this RSA key may verify",
		},
		{
			name: "PKCS#8 private key given as public_key is rejected",
			spec: issuerWithKey(session.KeySpec{Algorithms: []string{"RS256"}, PublicKey: privateKeyPEM(t, k.rsa)}),
			path: "session.issuers[0].keys[0]",
			want: `PEM block is "PRIVATE KEY", want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE (never a private key)`,
		},
		{
			name: "PKCS#1 RSA private key given as public_key is rejected",
			spec: issuerWithKey(session.KeySpec{
				Algorithms: []string{"RS256"},
				PublicKey:  string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.rsa)})),
			}),
			path: "session.issuers[0].keys[0]",
			want: `PEM block is "RSA PRIVATE KEY"`,
		},
		{
			name: "SEC 1 EC private key given as public_key is rejected",
			spec: issuerWithKey(session.KeySpec{
				Algorithms: []string{"ES256"},
				PublicKey:  string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecPrivateDER})),
			}),
			path: "session.issuers[0].keys[0]",
			want: `PEM block is "EC PRIVATE KEY"`,
		},
		{
			name: "public_key without a PEM block is rejected",
			spec: issuerWithKey(session.KeySpec{Algorithms: []string{"RS256"}, PublicKey: "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"}),
			path: "session.issuers[0].keys[0]",
			want: "no PEM block found",
		},
		{
			name: "PUBLIC KEY block with corrupt DER is rejected",
			spec: issuerWithKey(session.KeySpec{
				Algorithms: []string{"RS256"},
				PublicKey:  string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("not DER")})),
			}),
			path: "session.issuers[0].keys[0].public_key",
			want: "invalid DER data",
		},
		{
			name: "missing public_key_file is rejected",
			spec: issuerWithKey(session.KeySpec{Algorithms: []string{"RS256"}, PublicKeyFile: filepath.Join(t.TempDir(), "absent.pem")}),
			path: "session.issuers[0].keys[0].public_key_file",
			want: "open ",
		},
		{
			name: "secret and public_key together are rejected",
			spec: issuerWithKey(session.KeySpec{Algorithms: []string{"HS256"}, Secret: k.hmacSecret, PublicKey: rsaPEM}),
			path: "session.issuers[0].keys[0]",
			want: "set exactly one of secret, public_key and public_key_file",
		},
		{
			name: "key with no material is rejected",
			spec: issuerWithKey(session.KeySpec{Algorithms: []string{"HS256"}}),
			path: "session.issuers[0].keys[0]",
			want: "set exactly one of secret, public_key and public_key_file",
		},
		{
			name: "issuer without keys is rejected",
			spec: session.Spec{Issuers: []session.IssuerSpec{{Name: "a", Issuer: issuerA}}},
			path: "session.issuers[0].keys",
			want: "empty; add static keys",
		},
		{
			name: "issuer-level algorithms on a static issuer are rejected",
			spec: session.Spec{Issuers: []session.IssuerSpec{{
				Name:       "a",
				Issuer:     issuerA,
				Algorithms: []string{"RS256"},
				Keys:       []session.KeySpec{{Algorithms: []string{"RS256"}, PublicKey: rsaPEM}},
			}}},
			path: "session.issuers[0].algorithms",
			want: "only for jwks_url or discovery issuers",
		},
		{
			name: "no issuers is rejected",
			spec: session.Spec{},
			path: "session.issuers",
			want: "empty; configure at least one issuer with keys",
		},
		{
			name: "issuer without name is rejected",
			spec: session.Spec{Issuers: []session.IssuerSpec{{Issuer: issuerA, Keys: []session.KeySpec{{Algorithms: []string{"HS256"}, Secret: k.hmacSecret}}}}},
			path: "session.issuers[0].name",
			want: "missing",
		},
		{
			name: "two issuers with one name are rejected",
			spec: session.Spec{Issuers: []session.IssuerSpec{
				{Name: "a", Issuer: issuerA, Keys: []session.KeySpec{{Algorithms: []string{"HS256"}, Secret: k.hmacSecret}}},
				{Name: "a", Issuer: issuerB, Keys: []session.KeySpec{{Algorithms: []string{"HS256"}, Secret: k.hmacSecret}}},
			}},
			path: "session.issuers[1].name",
			want: `"a" is used by another issuer`,
		},
		{
			name: "duplicate issuer is rejected",
			spec: session.Spec{Issuers: []session.IssuerSpec{
				{Name: "a", Issuer: issuerA, Keys: []session.KeySpec{{Algorithms: []string{"HS256"}, Secret: k.hmacSecret}}},
				{Name: "a2", Issuer: issuerA, Keys: []session.KeySpec{{Algorithms: []string{"RS256"}, PublicKey: rsaPEM}}},
			}},
			path: "session.issuers[1].issuer",
			want: `"https://a.example" is already configured by issuer "a"`,
		},
		{
			name: "two issuers accepting iss-less tokens are rejected",
			spec: session.Spec{Issuers: []session.IssuerSpec{
				{Name: "first", Keys: []session.KeySpec{{Algorithms: []string{"HS256"}, Secret: k.hmacSecret}}},
				{Name: "second", Keys: []session.KeySpec{{Algorithms: []string{"RS256"}, PublicKey: rsaPEM}}},
			}},
			path: "session.issuers[1].issuer",
			want: `empty, but issuer "first" already accepts tokens without iss; only one issuer may`,
		},
		{
			name: "leeway of six minutes is rejected",
			spec: func() session.Spec {
				spec := issuerWithKey(session.KeySpec{Algorithms: []string{"HS256"}, Secret: k.hmacSecret})
				spec.Leeway = 6 * time.Minute
				return spec
			}(),
			path: "session.leeway",
			want: "6m0s is outside 0s..5m0s",
		},
		{
			name: "negative leeway is rejected",
			spec: func() session.Spec {
				spec := issuerWithKey(session.KeySpec{Algorithms: []string{"HS256"}, Secret: k.hmacSecret})
				spec.Leeway = -time.Second
				return spec
			}(),
			path: "session.leeway",
			want: "-1s is outside 0s..5m0s",
		},
		{
			name: "negative max_age is rejected",
			spec: func() session.Spec {
				spec := issuerWithKey(session.KeySpec{Algorithms: []string{"HS256"}, Secret: k.hmacSecret})
				spec.MaxAge = -time.Minute
				return spec
			}(),
			path: "session.max_age",
			want: "-1m0s is negative",
		},
		{
			name: "leeway equal to max_age is rejected",
			spec: func() session.Spec {
				spec := issuerWithKey(session.KeySpec{Algorithms: []string{"HS256"}, Secret: k.hmacSecret})
				spec.Leeway = time.Minute
				spec.MaxAge = time.Minute
				return spec
			}(),
			path: "session.leeway",
			want: "(1m0s) must be less than session.max_age (1m0s)",
		},
		{
			name: "unknown source type is rejected",
			spec: func() session.Spec {
				spec := issuerWithKey(session.KeySpec{Algorithms: []string{"HS256"}, Secret: k.hmacSecret})
				spec.Sources = []session.SourceSpec{{Type: "query", Name: "token"}}
				return spec
			}(),
			path: "session.sources[0].type",
			want: `unknown source "query", want header, cookie or param`,
		},
		{
			name: "source without name is rejected",
			spec: func() session.Spec {
				spec := issuerWithKey(session.KeySpec{Algorithms: []string{"HS256"}, Secret: k.hmacSecret})
				spec.Sources = []session.SourceSpec{{Type: "cookie"}}
				return spec
			}(),
			path: "session.sources[0].name",
			want: "missing",
		},
		{
			name: "scheme on a cookie source is rejected",
			spec: func() session.Spec {
				spec := issuerWithKey(session.KeySpec{Algorithms: []string{"HS256"}, Secret: k.hmacSecret})
				spec.Sources = []session.SourceSpec{{Type: "cookie", Name: "session", Scheme: "Bearer"}}
				return spec
			}(),
			path: "session.sources[0].scheme",
			want: "only a header source has a scheme",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := session.New(tc.spec)
			if v != nil {
				t.Errorf("session.New() Verifier = %v, want nil with an error", v)
			}
			problems := requireProblems(t, err)
			if !hasProblem(problems, tc.path, tc.want) {
				t.Errorf("session.New() problems = %q, want one starting %q and containing %q", problems, tc.path, tc.want)
			}
		})
	}
}

func TestNewReportsEveryProblemAtOnce(t *testing.T) {
	k := keys(t)
	shortSecret := "short-secret-of-25-bytes!"
	spec := session.Spec{
		Issuers: []session.IssuerSpec{
			{
				Name:   "a",
				Issuer: issuerA,
				Keys: []session.KeySpec{
					{Algorithms: []string{"HS256"}, Secret: shortSecret},
					{Algorithms: []string{"RS256", "none", "HS257"}, PublicKey: publicKeyPEM(t, &k.rsa.PublicKey)},
					{Algorithms: []string{"RS256"}, Secret: k.hmacSecret},
					{Algorithms: []string{"ES384"}, PublicKey: publicKeyPEM(t, &k.p256.PublicKey)},
					{Algorithms: []string{"RS256"}, PublicKey: privateKeyPEM(t, k.rsa)},
				},
			},
			{Name: "b", Issuer: issuerB},
			{Name: "a-again", Issuer: issuerA, Keys: []session.KeySpec{{Algorithms: []string{"HS256"}, Secret: k.hmacSecret}}},
			{Name: "internal", Keys: []session.KeySpec{{Algorithms: []string{"HS256"}, Secret: k.hmacSecret}}},
			{Name: "internal-again", Keys: []session.KeySpec{{Algorithms: []string{"HS256"}, Secret: k.hmacSecret}}},
		},
		Sources: []session.SourceSpec{{Type: "query", Name: "token"}},
		Leeway:  10 * time.Minute,
	}
	// Each wanted problem starts with path and contains text.
	want := []struct{ path, text string }{
		{"session.leeway", "10m0s is outside 0s..5m0s"},
		{"session.issuers[0].keys[0].secret", "25 bytes is too short for HMAC, want at least 32"},
		{"session.issuers[0].keys[1].algorithms[1]", `"none" is never accepted`},
		{"session.issuers[0].keys[1].algorithms[2]", `unknown algorithm "HS257"`},
		{"session.issuers[0].keys[2].algorithms[0]", "RS256 needs a RSA key, but this key is HMAC"},
		{"session.issuers[0].keys[3].algorithms[0]", "ES384 needs curve P-384, but this key is on P-256"},
		{"session.issuers[0].keys[4]", `PEM block is "PRIVATE KEY"`},
		{"session.issuers[1].keys", "empty; add static keys"},
		{"session.issuers[2].issuer", `"https://a.example" is already configured by issuer "a"`},
		{"session.issuers[4].issuer", `empty, but issuer "internal" already accepts tokens without iss`},
		{"session.sources[0].type", `unknown source "query"`},
	}

	v, err := session.New(spec)
	if v != nil {
		t.Errorf("session.New() Verifier = %v, want nil with an error", v)
	}
	problems := requireProblems(t, err)

	for _, w := range want {
		if !hasProblem(problems, w.path, w.text) {
			t.Errorf("session.New() problems lack one starting %q and containing %q", w.path, w.text)
		}
	}
	if len(problems) != len(want) {
		t.Errorf("session.New() returned %d problems, want %d:\n%s", len(problems), len(want), strings.Join(problems, "\n"))
	}
	if text := err.Error(); strings.Contains(text, shortSecret) || strings.Contains(text, k.hmacSecret) {
		t.Errorf("session.New() error text %q quotes an HMAC secret", text)
	}
	if got, want := err.Error(), strings.Join(problems, "\n"); got != want {
		t.Errorf("ProblemsError.Error() = %q, want the problems joined by newlines %q", got, want)
	}
}

// New documents that it returns every problem at once, so the key problems of
// an issuer whose iss repeats another's must be reported with the repeat.
func TestNewReportsKeyProblemsOfDuplicateIssuer(t *testing.T) {
	k := keys(t)
	spec := session.Spec{Issuers: []session.IssuerSpec{
		{Name: "a", Issuer: issuerA, Keys: []session.KeySpec{{Algorithms: []string{"HS256"}, Secret: k.hmacSecret}}},
		{Name: "a-again", Issuer: issuerA, Keys: []session.KeySpec{{Algorithms: []string{"HS256"}, Secret: "too-short"}}},
	}}

	_, err := session.New(spec)
	problems := requireProblems(t, err)

	want := []struct{ path, text string }{
		{"session.issuers[1].issuer", `"https://a.example" is already configured by issuer "a"`},
		{"session.issuers[1].keys[0].secret", "9 bytes is too short for HMAC"},
	}
	for _, w := range want {
		if !hasProblem(problems, w.path, w.text) {
			t.Errorf("session.New() problems = %q, want one starting %q and containing %q", problems, w.path, w.text)
		}
	}
}
