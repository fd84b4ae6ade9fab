package handlers

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pusher-authd/pusher-authd/metrics"
	"github.com/pusher-authd/pusher-authd/policy"
)

// decisionRecord collects what one request decided, for its log line.
type decisionRecord struct {
	endpoint string
	app      string
	channel  string
	kind     string
	socketID string
	userID   string
	rule     string
	decision string
	reason   string
	status   int
	detail   string
}

func (r *decisionRecord) fromDecision(d policy.Decision) {
	r.rule = d.Rule
	r.reason = string(d.Reason)
	r.detail = d.Detail
	if d.Allow {
		r.decision = "allow"
	} else {
		r.decision = "deny"
	}
}

// finish sends the reply or the error, writes the request's one decision
// log line and records its metrics. Info covers grants, denials and client
// errors; Error means the server failed.
func finish(c echo.Context, log *slog.Logger, m *metrics.Metrics, rec *decisionRecord, started time.Time, reply []byte, err error) error {
	var apiErr *apiError
	if err != nil {
		apiErr = toAPIError(err)
		rec.status = apiErr.Status
		if rec.reason == "" {
			rec.reason = apiErr.Reason
		}
		if rec.detail == "" {
			rec.detail = apiErr.Detail
		}
	} else {
		rec.status = http.StatusOK
	}
	elapsed := time.Since(started)

	level := slog.LevelInfo
	if rec.status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("endpoint", rec.endpoint),
		slog.String("app", rec.app),
		slog.String("decision", rec.decision),
		slog.String("reason", rec.reason),
		slog.Int("status", rec.status),
		slog.Float64("latency_ms", float64(elapsed.Microseconds())/1000),
	}
	for _, kv := range [][2]string{
		{"channel", rec.channel}, {"channel_kind", rec.kind}, {"socket_id", rec.socketID},
		{"user_id", rec.userID}, {"rule", rec.rule}, {"detail", rec.detail},
	} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	requestLog(c, log).LogAttrs(c.Request().Context(), level, "auth decision", attrs...)
	c.Set(contextKeyDecided, true)

	m.ObserveRequest(rec.endpoint, rec.app, rec.status, elapsed)
	if rec.decision != "error" {
		m.ObserveDecision(rec.endpoint, rec.app, rec.kind, rec.decision, rec.rule, rec.reason)
	}

	if apiErr != nil {
		return writeError(c, apiErr)
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, reply)
}

// limitSubject applies the per-subject rate limit, keyed by issuer and
// subject so equal subjects at two issuers stay apart.
func limitSubject(limiter RateLimiter, m *metrics.Metrics, claims map[string]any) error {
	if limiter == nil {
		return nil
	}
	sub := subject(claims)
	if sub == "" {
		// Tokens without a subject would all share one bucket.
		return nil
	}
	iss, _ := claims["iss"].(string)
	if ok, retry := limiter.Allow(iss + "\x00" + sub); !ok {
		m.ObserveRateLimited("subject")
		return tooManyRequests(retry)
	}
	return nil
}

// subject returns the sub claim as text; a numeric sub, which some
// providers send, becomes its decimal form.
func subject(claims map[string]any) string {
	switch sub := claims["sub"].(type) {
	case string:
		return sub
	case int64:
		return strconv.FormatInt(sub, 10)
	case uint64:
		return strconv.FormatUint(sub, 10)
	case float64:
		return strconv.FormatFloat(sub, 'f', -1, 64)
	default:
		return ""
	}
}
