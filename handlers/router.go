package handlers

import (
	"log/slog"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// Routes sets the endpoint paths and the body limit.
type Routes struct {
	ChannelAuthPath string
	UserAuthPath    string
	MaxBodyBytes    int64
}

// NewEcho returns the router: the two auth endpoints, JSON errors for every
// other path and method, and panic recovery.
func NewEcho(routes Routes, apps AppResolver, log *slog.Logger) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = ErrorHandler(log)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, DisablePrintStack: true}))

	channelAuth := &ChannelAuth{Apps: apps, Log: log, MaxBodyBytes: routes.MaxBodyBytes}
	userAuth := &UserAuth{Apps: apps, Log: log, MaxBodyBytes: routes.MaxBodyBytes}
	e.POST(routes.ChannelAuthPath, channelAuth.Handle)
	e.POST(routes.UserAuthPath, userAuth.Handle)
	return e
}
