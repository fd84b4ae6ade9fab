package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pusher-authd/pusher-authd/limits"
	"github.com/pusher-authd/pusher-authd/metrics"
)

// RequestIDHeader carries the request id from the gateway and back.
const RequestIDHeader = "X-Request-ID"

// maxRequestIDLength bounds an accepted X-Request-ID; a longer or odd one is
// replaced, so a client cannot write arbitrary text into every log line.
const maxRequestIDLength = 128

const (
	contextKeyLog       = "pusher_authd.log"
	contextKeyRequestID = "pusher_authd.request_id"
	// contextKeyDecided marks requests whose handler wrote the decision
	// line and counted the request, so AccessLog does neither again.
	contextKeyDecided = "pusher_authd.decided"
)

// RequestID takes X-Request-ID from the gateway or makes one, returns it in
// the response, and stores a logger carrying request_id for the handlers.
func RequestID(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			id := c.Request().Header.Get(RequestIDHeader)
			if !validRequestID(id) {
				id = newRequestID()
			}
			c.Response().Header().Set(RequestIDHeader, id)
			c.Set(contextKeyRequestID, id)
			c.Set(contextKeyLog, log.With("request_id", id))
			return next(c)
		}
	}
}

func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if b <= ' ' || b > '~' || b == '"' || b == '\\' {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// requestLog returns the request's logger, or fallback outside RequestID.
func requestLog(c echo.Context, fallback *slog.Logger) *slog.Logger {
	if log, ok := c.Get(contextKeyLog).(*slog.Logger); ok {
		return log
	}
	return fallback
}

// RateLimiter allows or rejects one request for a key and returns how long
// to wait before a retry after a rejection.
type RateLimiter interface {
	Allow(key string) (ok bool, retryAfter time.Duration)
}

// ClientIPLimit responds with 429 and Retry-After when the client address has
// used up its rate. clientIP decides the address, so X-Forwarded-For counts
// only from trusted proxies; IPv6 clients are keyed by their /64, so one
// host cannot escape the limit by rotating addresses.
func ClientIPLimit(limiter RateLimiter, clientIP func(*http.Request) netip.Addr, m *metrics.Metrics) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ok, retry := limiter.Allow(limits.AddrKey(clientIP(c.Request())))
			if !ok {
				m.ObserveRateLimited("client_ip")
				return writeError(c, tooManyRequests(retry))
			}
			return next(c)
		}
	}
}

func tooManyRequests(retry time.Duration) *apiError {
	return &apiError{Status: http.StatusTooManyRequests, Reason: "rate_limited",
		Message: "too many auth requests; retry after the Retry-After seconds", RetryAfter: max(retry, time.Second)}
}

// AccessLog writes one "http request" line, with request_id, and counts the
// request in http_requests_total for every request that no auth handler
// completed: health and metrics probes, CORS preflights, rate-limited
// requests, unknown paths and wrong methods. Auth requests get their
// decision line instead. The endpoint label is the route pattern, or
// "unmatched" for unknown paths, so a client cannot create label values.
func AccessLog(log *slog.Logger, m *metrics.Metrics) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			started := time.Now()
			err := next(c)
			if decided, _ := c.Get(contextKeyDecided).(bool); decided {
				return err
			}
			if err != nil {
				// Let the error handler write the response now, so the
				// status below is the one sent.
				c.Error(err)
				err = nil
			}
			status := c.Response().Status
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			// Probes and scrapes arrive every few seconds, so successful
			// ones are logged at debug level.
			level := slog.LevelInfo
			switch {
			case status >= 500:
				level = slog.LevelError
			case status < 400:
				level = slog.LevelDebug
			}
			elapsed := time.Since(started)
			requestLog(c, log).LogAttrs(c.Request().Context(), level, "http request",
				slog.String("method", c.Request().Method), slog.String("route", route),
				slog.Int("status", status), slog.Float64("latency_ms", float64(elapsed.Microseconds())/1000))
			m.ObserveRequest(route, "", status, elapsed)
			return err
		}
	}
}
