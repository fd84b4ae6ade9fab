package handlers

import (
	"log/slog"

	"github.com/labstack/echo/v4"

	"github.com/pusher-authd/pusher-authd/metrics"
)

// Endpoint holds the dependencies both auth handlers share.
type Endpoint struct {
	Apps         AppResolver
	Log          *slog.Logger
	MaxBodyBytes int64
	// Metrics and SubjectLimit are optional.
	Metrics      *metrics.Metrics
	SubjectLimit RateLimiter
}

// readRequest resolves the app and reads, parses and checks the body up to
// the socket id, which both endpoints require.
func (h *Endpoint) readRequest(c echo.Context, rec *decisionRecord) (*App, *authRequest, error) {
	app, err := h.Apps(c)
	if err != nil {
		return nil, nil, err
	}
	rec.app = app.Name

	body, err := readBody(c, h.MaxBodyBytes)
	if err != nil {
		return nil, nil, err
	}
	req, err := parseBody(body)
	if err != nil {
		return nil, nil, err
	}
	if err := req.validateSocketID(); err != nil {
		return nil, nil, err
	}
	rec.socketID = req.SocketID
	return app, req, nil
}

// session verifies the session token and applies the per-subject limit.
func (h *Endpoint) session(c echo.Context, app *App, req *authRequest, rec *decisionRecord) (map[string]any, error) {
	claims, err := authenticate(c, app, req)
	if err != nil {
		return nil, err
	}
	rec.userID = subject(claims)
	if err := limitSubject(h.SubjectLimit, h.Metrics, claims); err != nil {
		return nil, err
	}
	return claims, nil
}
