package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// Health serves the liveness and readiness probes. Both are cheap and need
// no session token.
type Health struct {
	// Ready reports whether the service should get traffic, and why not.
	Ready func() (bool, string)
}

// Live serves /healthz: 200 while the process can serve HTTP.
func (h *Health) Live(c echo.Context) error {
	return c.JSONBlob(http.StatusOK, []byte(`{"status":"ok"}`))
}

// Readiness serves /readyz: 200 once the config is loaded and every remote
// key set was fetched, 503 before that and while shutting down.
func (h *Health) Readiness(c echo.Context) error {
	ready, reason := h.Ready()
	if !ready {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "not_ready", "reason": reason})
	}
	return c.JSONBlob(http.StatusOK, []byte(`{"status":"ready"}`))
}
