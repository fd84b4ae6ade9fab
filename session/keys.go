package session

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// MinHMACKeyBytes is the shortest HMAC secret accepted, because RFC 7518
// section 3.2 requires a key at least as long as the hash output of HS256.
const MinHMACKeyBytes = 32

// family groups the algorithms that one kind of key verifies.
type family string

const (
	familyHMAC    family = "HMAC"
	familyRSA     family = "RSA"
	familyECDSA   family = "ECDSA"
	familyEd25519 family = "Ed25519"
)

// algorithms maps every supported JWS algorithm to the key family that
// verifies it. "none" is absent on purpose.
var algorithms = map[string]family{
	"HS256": familyHMAC, "HS384": familyHMAC, "HS512": familyHMAC,
	"RS256": familyRSA, "RS384": familyRSA, "RS512": familyRSA,
	"PS256": familyRSA, "PS384": familyRSA, "PS512": familyRSA,
	"ES256": familyECDSA, "ES384": familyECDSA, "ES512": familyECDSA,
	"EdDSA": familyEd25519,
}

// curveOf is the curve each ECDSA algorithm is defined on (RFC 7518 3.4).
var curveOf = map[string]elliptic.Curve{
	"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521(),
}

// SupportedAlgorithms lists the accepted algorithm names for messages.
const SupportedAlgorithms = "HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA"

// KeySpec is one static verification key as written in configuration.
// Exactly one of Secret, PublicKey and PublicKeyFile is set.
type KeySpec struct {
	// ID, when set, must equal the kid header of tokens that carry one. A
	// token without kid is tried against every key that allows its alg.
	ID string `mapstructure:"kid"`
	// Algorithms is the explicit allow-list for this key.
	Algorithms []string `mapstructure:"algorithms"`
	// Secret is an HMAC secret; it is never logged.
	Secret string `mapstructure:"secret"`
	// PublicKey is a PEM public key (PKIX, PKCS#1 RSA, or a certificate).
	PublicKey     string `mapstructure:"public_key"`
	PublicKeyFile string `mapstructure:"public_key_file"`
}

// key is a parsed verification key with its allowed algorithms.
type key struct {
	id         string
	family     family
	algorithms map[string]bool
	material   any
}

func (k *key) allows(alg string) bool { return k.algorithms[alg] }

// parseKey checks a KeySpec and returns the key, or one message per problem.
func parseKey(spec KeySpec) (*key, []string) {
	var problems []string
	sources := 0
	for _, s := range []string{spec.Secret, spec.PublicKey, spec.PublicKeyFile} {
		if s != "" {
			sources++
		}
	}
	if sources != 1 {
		return nil, []string{": set exactly one of secret, public_key and public_key_file"}
	}

	k := &key{id: spec.ID, algorithms: map[string]bool{}}
	switch {
	case spec.Secret != "":
		k.family = familyHMAC
		if len(spec.Secret) < MinHMACKeyBytes {
			problems = append(problems, fmt.Sprintf(".secret: %d bytes is too short for HMAC, want at least %d", len(spec.Secret), MinHMACKeyBytes))
		}
		k.material = []byte(spec.Secret)
	default:
		pemText, field := spec.PublicKey, ".public_key: "
		if spec.PublicKeyFile != "" {
			field = ".public_key_file: " + spec.PublicKeyFile + ": "
			data, err := os.ReadFile(spec.PublicKeyFile)
			if err != nil {
				return nil, []string{".public_key_file: " + err.Error()}
			}
			pemText = string(data)
		}
		pub, err := parsePublicKeyPEM(pemText)
		if err != nil {
			return nil, []string{field + err.Error()}
		}
		k.material = pub
		switch pub.(type) {
		case *rsa.PublicKey:
			k.family = familyRSA
		case *ecdsa.PublicKey:
			k.family = familyECDSA
		case ed25519.PublicKey:
			k.family = familyEd25519
		default:
			return nil, []string{fmt.Sprintf(".public_key: key type %T is not supported", pub)}
		}
	}

	if len(spec.Algorithms) == 0 {
		problems = append(problems, fmt.Sprintf(".algorithms: empty; list the algorithms this %s key may verify", k.family))
	}
	for i, alg := range spec.Algorithms {
		fam, known := algorithms[alg]
		switch {
		case strings.EqualFold(alg, "none"):
			problems = append(problems, fmt.Sprintf(".algorithms[%d]: \"none\" is never accepted", i))
		case !known:
			problems = append(problems, fmt.Sprintf(".algorithms[%d]: unknown algorithm %q, want one of %s", i, alg, SupportedAlgorithms))
		case fam != k.family:
			problems = append(problems, fmt.Sprintf(".algorithms[%d]: %s needs a %s key, but this key is %s", i, alg, fam, k.family))
		case fam == familyECDSA && k.material.(*ecdsa.PublicKey).Curve != curveOf[alg]:
			problems = append(problems, fmt.Sprintf(".algorithms[%d]: %s needs curve %s, but this key is on %s",
				i, alg, curveOf[alg].Params().Name, k.material.(*ecdsa.PublicKey).Curve.Params().Name))
		default:
			k.algorithms[alg] = true
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return k, nil
}

// errMalformedDER replaces x509's parse errors, which quote whole ASN.1
// structures, in config messages.
var errMalformedDER = errors.New("invalid DER data in the PEM block")

func parsePublicKeyPEM(text string) (any, error) {
	block, _ := pem.Decode([]byte(strings.TrimSpace(text)))
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	switch block.Type {
	case "PUBLIC KEY":
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, errMalformedDER
		}
		return pub, nil
	case "RSA PUBLIC KEY":
		pub, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, errMalformedDER
		}
		return pub, nil
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, errMalformedDER
		}
		return cert.PublicKey, nil
	default:
		return nil, fmt.Errorf("PEM block is %q, want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE (never a private key)", block.Type)
	}
}

// verificationKeys returns the keys in set that may verify a token with the
// given alg and kid, as golang-jwt expects them from a Keyfunc.
func verificationKeys(set []*key, alg, kid string) []jwt.VerificationKey {
	var out []jwt.VerificationKey
	for _, k := range set {
		if !k.allows(alg) {
			continue
		}
		if kid != "" && k.id != "" && kid != k.id {
			continue
		}
		out = append(out, k.material)
	}
	return out
}

// checkKeyFits returns an error unless key is of the family alg needs, on
// the right curve for ECDSA. It guards JWKS keys, whose type the service
// does not choose.
func checkKeyFits(key any, alg string) error {
	want := algorithms[alg]
	var got family
	switch k := key.(type) {
	case []byte:
		got = familyHMAC
	case *rsa.PublicKey:
		got = familyRSA
	case *ecdsa.PublicKey:
		got = familyECDSA
		if want == familyECDSA && k.Curve != curveOf[alg] {
			return fmt.Errorf("%s needs curve %s, but the key is on %s", alg, curveOf[alg].Params().Name, k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		got = familyEd25519
	default:
		return fmt.Errorf("key type %T is not supported", key)
	}
	if got != want {
		return fmt.Errorf("%s needs a %s key, but the key is %s", alg, want, got)
	}
	return nil
}
