package handlers

import (
	"context"
	"log/slog"
	"time"

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

// logDecision writes the one line per request: Info for grants, denials and
// client errors, Error when the server failed.
func logDecision(ctx context.Context, log *slog.Logger, r *decisionRecord, started time.Time) {
	level := slog.LevelInfo
	if r.status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("endpoint", r.endpoint),
		slog.String("app", r.app),
		slog.String("decision", r.decision),
		slog.String("reason", r.reason),
		slog.Int("status", r.status),
		slog.Float64("latency_ms", float64(time.Since(started).Microseconds())/1000),
	}
	for _, kv := range [][2]string{
		{"channel", r.channel}, {"channel_kind", r.kind}, {"socket_id", r.socketID},
		{"user_id", r.userID}, {"rule", r.rule}, {"detail", r.detail},
	} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	log.LogAttrs(ctx, level, "auth decision", attrs...)
}
