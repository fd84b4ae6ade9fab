package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/pusher-authd/pusher-authd/policy"
	"github.com/pusher-authd/pusher-authd/session"
	"github.com/pusher-authd/pusher-authd/signer"
)

// App is everything needed to serve one Pusher app. An App is never
// changed after it is built, so a request keeps the one it started with.
type App struct {
	Name     string
	Signer   *signer.Signer
	Policy   *policy.Engine
	Sessions *session.Verifier
}

// AppResolver returns the App a request is for, or an error answered as is
// (for example 404 for an unknown app).
type AppResolver func(c echo.Context) (*App, error)

// StaticApp returns a resolver that always returns app.
func StaticApp(app *App) AppResolver {
	return func(echo.Context) (*App, error) { return app, nil }
}
