package handlers

import (
	"github.com/labstack/echo/v4"
)

// authenticate finds and verifies the session token and returns its claims.
// Token params are removed from req.Params first, so no policy can read them.
func authenticate(c echo.Context, app *App, req *authRequest) (map[string]any, error) {
	raw, err := app.Sessions.Extract(c.Request(), req.Params)
	req.dropParams(app.Sessions.TokenParams())
	if err != nil {
		return nil, err
	}
	return app.Sessions.Verify(c.Request().Context(), raw)
}
