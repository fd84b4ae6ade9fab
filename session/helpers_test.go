package session_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pusher-authd/pusher-authd/session"
)

// fixedNow is the time every test verifier reads, so exp, nbf and iat cases
// do not depend on when the tests run.
var fixedNow = time.Date(2025, time.June, 1, 12, 0, 0, 0, time.UTC)

const (
	issuerA      = "https://a.example"
	issuerB      = "https://b.example"
	testAudience = "pusher-authd"
	testSubject  = "user-42"
	testLeeway   = 30 * time.Second
)

// testKeys contains one private key per algorithm family. The keys are
// generated once per test binary because RSA generation is slow under -race.
type testKeys struct {
	hmacSecret      string
	otherHMACSecret string
	rsa             *rsa.PrivateKey
	otherRSA        *rsa.PrivateKey
	p256            *ecdsa.PrivateKey
	p384            *ecdsa.PrivateKey
	p521            *ecdsa.PrivateKey
	ed25519         ed25519.PrivateKey
}

var generateKeys = sync.OnceValues(func() (*testKeys, error) {
	var k testKeys
	var err error

	k.hmacSecret, err = randomSecret(32)
	if err != nil {
		return nil, err
	}
	k.otherHMACSecret, err = randomSecret(32)
	if err != nil {
		return nil, err
	}

	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, fmt.Errorf("generate RSA key: %v", err)
	}
	if k.otherRSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, fmt.Errorf("generate second RSA key: %v", err)
	}

	if k.p256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, fmt.Errorf("generate P-256 key: %v", err)
	}
	if k.p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		return nil, fmt.Errorf("generate P-384 key: %v", err)
	}
	if k.p521, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader); err != nil {
		return nil, fmt.Errorf("generate P-521 key: %v", err)
	}

	if _, k.ed25519, err = ed25519.GenerateKey(rand.Reader); err != nil {
		return nil, fmt.Errorf("generate Ed25519 key: %v", err)
	}
	return &k, nil
})

// randomSecret returns n random bytes in hex, so the HMAC secret is 2n
// printable bytes long.
func randomSecret(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random secret: %v", err)
	}
	return hex.EncodeToString(b), nil
}

func keys(t testing.TB) *testKeys {
	t.Helper()
	k, err := generateKeys()
	if err != nil {
		t.Fatalf("generate test keys: %v", err)
	}
	return k
}

// publicKeyPEM encodes pub as a PKIX "PUBLIC KEY" block.
func publicKeyPEM(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatalf("x509.MarshalPKIXPublicKey(%T) error = %v", pub, err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// rsaPublicKeyPEM encodes pub as a PKCS#1 "RSA PUBLIC KEY" block.
func rsaPublicKeyPEM(t testing.TB, pub *rsa.PublicKey) string {
	t.Helper()
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(pub)}))
}

// certificatePEM returns a self-signed "CERTIFICATE" block for priv.
func certificatePEM(t testing.TB, priv crypto.Signer) string {
	t.Helper()
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "session test signer"},
		NotBefore:    fixedNow.Add(-time.Hour),
		NotAfter:     fixedNow.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, priv.Public(), priv)
	if err != nil {
		t.Fatalf("x509.CreateCertificate(%T) error = %v", priv, err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// privateKeyPEM encodes priv as a PKCS#8 "PRIVATE KEY" block.
func privateKeyPEM(t testing.TB, priv any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatalf("x509.MarshalPKCS8PrivateKey(%T) error = %v", priv, err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// newVerifier builds a Verifier whose clock is fixed at fixedNow.
func newVerifier(t testing.TB, spec session.Spec) *session.Verifier {
	t.Helper()
	v, err := session.New(spec, session.WithClock(func() time.Time { return fixedNow }))
	if err != nil {
		t.Fatalf("session.New() error = %v", err)
	}
	return v
}

// signToken signs claims with key, setting the kid header when kid is not
// empty.
func signToken(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	token := jwt.NewWithClaims(method, claims)
	if kid != "" {
		token.Header["kid"] = kid
	}
	raw, err := token.SignedString(key)
	if err != nil {
		t.Fatalf("SignedString(%s, %T) error = %v", method.Alg(), key, err)
	}
	return raw
}

// claimsWith returns claims that the default test issuer accepts: issued now
// by issuerA for testAudience, expiring in ten minutes. Each edit replaces a
// claim, and an edit whose value is nil removes the claim.
func claimsWith(edits jwt.MapClaims) jwt.MapClaims {
	claims := jwt.MapClaims{
		"iss": issuerA,
		"aud": testAudience,
		"sub": testSubject,
		"iat": fixedNow.Unix(),
		"exp": fixedNow.Add(10 * time.Minute).Unix(),
	}
	for name, value := range edits {
		if value == nil {
			delete(claims, name)
			continue
		}
		claims[name] = value
	}
	return claims
}

// encodeSegment base64url-encodes s without padding, as a JWT segment.
func encodeSegment(s string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

// joinToken builds a compact JWS by hand from a JSON header, a JSON payload
// and an already encoded signature, for tokens no signing library would make.
func joinToken(header, payload, signature string) string {
	return encodeSegment(header) + "." + encodeSegment(payload) + "." + signature
}

// describeToken renders a token for failure messages: its decoded header and
// payload when they decode, the quoted raw string otherwise.
func describeToken(raw string) string {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return fmt.Sprintf("%q", raw)
	}
	header, errHeader := base64.RawURLEncoding.DecodeString(parts[0])
	payload, errPayload := base64.RawURLEncoding.DecodeString(parts[1])
	if errHeader != nil || errPayload != nil {
		return fmt.Sprintf("%q", raw)
	}
	return fmt.Sprintf("%s.%s.<%d-char signature>", header, payload, len(parts[2]))
}

// requireRejection checks that err is a *session.Error in the
// ErrSessionInvalid category with the wanted reason, and returns it.
func requireRejection(t testing.TB, call string, err error, want session.Reason) *session.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("%s error = nil, want reason %s", call, want)
	}
	var sessErr *session.Error
	if !errors.As(err, &sessErr) {
		t.Fatalf("%s error = %T %q, want *session.Error with reason %s", call, err, err, want)
	}
	if !errors.Is(err, session.ErrSessionInvalid) {
		t.Errorf("errors.Is(%s error, ErrSessionInvalid) = false, want true", call)
	}
	if sessErr.Reason != want {
		t.Errorf("%s reason = %s, want %s (detail %q)", call, sessErr.Reason, want, sessErr.Detail)
	}
	return sessErr
}
