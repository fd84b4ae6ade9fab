// Package session finds the caller's session JWT in a request and verifies it
// against the configured issuers and keys.
package session

import (
	"errors"
	"fmt"
	"time"
)

// Reason is the short machine-readable cause of a rejected session. It is
// sent to the client and used in logs and metrics, so it never carries token
// content.
type Reason string

// Rejection reasons.
const (
	ReasonMissingToken           Reason = "missing_token"
	ReasonMalformedAuthorization Reason = "malformed_authorization"
	ReasonMalformedToken         Reason = "malformed_token"
	ReasonTokenExpired           Reason = "token_expired"
	ReasonTokenNotYetValid       Reason = "token_not_yet_valid"
	ReasonTokenTooOld            Reason = "token_too_old"
	ReasonMissingClaim           Reason = "missing_claim"
	ReasonUnknownIssuer          Reason = "unknown_issuer"
	ReasonInvalidAudience        Reason = "invalid_audience"
	ReasonAlgorithmNotAllowed    Reason = "algorithm_not_allowed"
	ReasonUnknownKey             Reason = "unknown_key"
	ReasonInvalidSignature       Reason = "invalid_signature"
	ReasonInvalidToken           Reason = "invalid_token"
	ReasonKeysUnavailable        Reason = "jwks_unavailable"
)

// ErrSessionInvalid is the category of every session rejection.
var ErrSessionInvalid = errors.New("session invalid")

// Error is a rejected session: a Reason for the client and a Detail for the
// log. Detail describes the problem without quoting the token.
type Error struct {
	Reason Reason
	Detail string
	// TokenSent reports whether the request carried a token at all, which
	// decides the WWW-Authenticate error attribute.
	TokenSent bool
	// Unavailable marks a failure on our side (keys could not be fetched),
	// which gets 503, not 401.
	Unavailable bool
	// RetryAfter, with Unavailable, is when a retry may succeed.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("session invalid: %s", e.Reason)
	}
	return fmt.Sprintf("session invalid: %s: %s", e.Reason, e.Detail)
}

// Unwrap makes errors.Is(err, ErrSessionInvalid) hold for every *Error.
func (e *Error) Unwrap() error { return ErrSessionInvalid }

func reject(reason Reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Detail: fmt.Sprintf(format, args...), TokenSent: true}
}
