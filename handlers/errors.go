// Package handlers serves the pusher-js channel authorization and user
// authentication endpoints over echo.
package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pusher-authd/pusher-authd/session"
)

// apiError is an error with its status and the small, stable response
// body. Message is meant for the developer reading the response;
// it never holds a token, secret or claim value.
type apiError struct {
	Status  int
	Reason  string
	Message string
	// Detail goes to the log only.
	Detail string
	// Challenge is the WWW-Authenticate value of a 401.
	Challenge string
	// RetryAfter, when set, is sent as Retry-After in whole seconds.
	RetryAfter time.Duration
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Reason, e.Message)
}

func badRequest(reason, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message,omitempty"`
}

// writeError sends err as JSON. A session error gets 401 (or 503 when keys
// could not be fetched) with a WWW-Authenticate header as RFC 6750 requires.
func writeError(c echo.Context, err error) error {
	apiErr := toAPIError(err)
	if apiErr.Challenge != "" {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, apiErr.Challenge)
	}
	if apiErr.RetryAfter > 0 {
		seconds := int64((apiErr.RetryAfter + time.Second - 1) / time.Second)
		c.Response().Header().Set(echo.HeaderRetryAfter, strconv.FormatInt(seconds, 10))
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(errorBody{Error: apiErr.Reason, Message: apiErr.Message})
	return c.Blob(apiErr.Status, echo.MIMEApplicationJSON, bytes.TrimSuffix(body.Bytes(), []byte("\n")))
}

func toAPIError(err error) *apiError {
	var apiErr *apiError
	if errors.As(err, &apiErr) {
		return apiErr
	}
	var sessErr *session.Error
	if errors.As(err, &sessErr) {
		if sessErr.Unavailable {
			return &apiError{Status: http.StatusServiceUnavailable, Reason: string(sessErr.Reason),
				Message: "the session keys could not be fetched; retry later", Detail: sessErr.Detail,
				RetryAfter: sessErr.RetryAfter}
		}
		return &apiError{Status: http.StatusUnauthorized, Reason: string(sessErr.Reason),
			Message: sessionMessages[sessErr.Reason], Detail: sessErr.Detail, Challenge: challenge(sessErr)}
	}
	return &apiError{Status: http.StatusInternalServerError, Reason: "internal_error",
		Message: "internal server error; see the service log", Detail: err.Error()}
}

// sessionMessages explain each session reason to the developer.
var sessionMessages = map[session.Reason]string{
	session.ReasonMissingToken:           "no session token was found in the configured sources (by default Authorization: Bearer <token>)",
	session.ReasonMalformedAuthorization: "the token header must hold exactly one token",
	session.ReasonMalformedToken:         "the session token is not a well-formed JWT",
	session.ReasonTokenExpired:           "the session token has expired; refresh it and subscribe again",
	session.ReasonTokenNotYetValid:       "the session token is not valid yet",
	session.ReasonTokenTooOld:            "the session token was issued too long ago; refresh it",
	session.ReasonMissingClaim:           "the session token lacks a required claim",
	session.ReasonUnknownIssuer:          "the session token's issuer is not accepted",
	session.ReasonInvalidAudience:        "the session token is not meant for this audience",
	session.ReasonAlgorithmNotAllowed:    "the session token's signing algorithm is not allowed",
	session.ReasonUnknownKey:             "no configured key matches the session token",
	session.ReasonInvalidSignature:       "the session token's signature is invalid",
	session.ReasonInvalidToken:           "the session token is invalid",
}

// challenge returns the WWW-Authenticate value for a rejected session, with
// the RFC 6750 error attribute when a token or header was sent.
func challenge(sessErr *session.Error) string {
	if !sessErr.TokenSent {
		return `Bearer realm="pusher-authd"`
	}
	if sessErr.Reason == session.ReasonMalformedAuthorization {
		return `Bearer realm="pusher-authd", error="invalid_request"`
	}
	return fmt.Sprintf(`Bearer realm="pusher-authd", error="invalid_token", error_description=%q`, string(sessErr.Reason))
}

// ErrorHandler responds to errors raised outside the handlers (unknown path,
// wrong method, panics caught by the recover middleware) with the same JSON
// shape, never HTML or a redirect.
func ErrorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		var he *echo.HTTPError
		status := http.StatusInternalServerError
		if errors.As(err, &he) {
			status = he.Code
		}
		var apiErr *apiError
		switch status {
		case http.StatusNotFound:
			apiErr = &apiError{Status: status, Reason: "not_found", Message: "no endpoint at this path"}
		case http.StatusMethodNotAllowed:
			apiErr = &apiError{Status: status, Reason: "method_not_allowed", Message: "this path does not accept this method; auth endpoints accept POST"}
		case http.StatusRequestEntityTooLarge:
			apiErr = &apiError{Status: status, Reason: "body_too_large", Message: "the request body is larger than the limit"}
		default:
			if status >= 500 {
				requestLog(c, log).ErrorContext(c.Request().Context(), "request failed", "err", err, "route", c.Path())
				apiErr = &apiError{Status: http.StatusInternalServerError, Reason: "internal_error", Message: "internal server error; see the service log"}
			} else {
				apiErr = &apiError{Status: status, Reason: snakeStatus(status), Message: http.StatusText(status)}
			}
		}
		if werr := writeError(c, apiErr); werr != nil {
			log.ErrorContext(c.Request().Context(), "write error response", "err", werr)
		}
	}
}

func snakeStatus(status int) string {
	text := []byte(http.StatusText(status))
	for i, b := range text {
		switch {
		case b == ' ' || b == '-':
			text[i] = '_'
		case 'A' <= b && b <= 'Z':
			text[i] = b + 'a' - 'A'
		}
	}
	if len(text) == 0 {
		return "error"
	}
	return string(text)
}

// NotFound returns a 404 error with reason and message, for resolvers.
func NotFound(reason, message string) error {
	return &apiError{Status: http.StatusNotFound, Reason: reason, Message: message}
}
