package handlers

import (
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/pusher-authd/pusher-authd/metrics"
)

// Paths of the operational endpoints.
const (
	HealthPath  = "/healthz"
	ReadyPath   = "/readyz"
	MetricsPath = "/metrics"
)

// AppPathPrefix starts the paths of a named app: /apps/{name}/pusher/auth.
const AppPathPrefix = "/apps/:app"

// Routes sets the endpoint paths and the body limit.
type Routes struct {
	ChannelAuthPath string
	UserAuthPath    string
	MaxBodyBytes    int64
}

// CORS sets which browser origins may call the auth endpoints.
type CORS struct {
	// AllowedOrigins are matched exactly; empty disables CORS headers.
	AllowedOrigins []string
	// ExtraHeaders are allowed besides Authorization and Content-Type.
	ExtraHeaders     []string
	AllowCredentials bool
	MaxAge           time.Duration
}

// Options is everything NewEcho wires.
type Options struct {
	Routes Routes
	// Apps resolves the app of a request; the /apps/{name}/ paths pass the
	// name as the "app" path parameter.
	Apps    AppResolver
	Log     *slog.Logger
	Metrics *metrics.Metrics
	CORS    CORS
	// ClientIP returns the address rate limits apply to.
	ClientIP func(*http.Request) netip.Addr
	// IPLimit and SubjectLimit are optional rate limits.
	IPLimit      RateLimiter
	SubjectLimit RateLimiter
	// Health, when set, is served on this router too.
	Health *Health
	// MetricsHandler, when set, is served at MetricsPath on this router.
	MetricsHandler http.Handler
}

// NewEcho returns the router: the auth endpoints for the default app and
// for named apps, optional health and metrics endpoints, JSON errors for
// every other path and method, request ids, CORS and rate limits.
func NewEcho(opts Options) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = ErrorHandler(opts.Log)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, DisablePrintStack: true}))
	e.Use(RequestID(opts.Log))
	e.Use(AccessLog(opts.Log, opts.Metrics))
	if len(opts.CORS.AllowedOrigins) > 0 {
		e.Use(corsMiddleware(opts.CORS))
	}

	var authMiddleware []echo.MiddlewareFunc
	if opts.IPLimit != nil && opts.ClientIP != nil {
		authMiddleware = append(authMiddleware, ClientIPLimit(opts.IPLimit, opts.ClientIP, opts.Metrics))
	}
	shared := Endpoint{Apps: opts.Apps, Log: opts.Log, MaxBodyBytes: opts.Routes.MaxBodyBytes,
		Metrics: opts.Metrics, SubjectLimit: opts.SubjectLimit}
	channelAuth := &ChannelAuth{Endpoint: shared}
	userAuth := &UserAuth{Endpoint: shared}
	for _, prefix := range []string{"", AppPathPrefix} {
		e.POST(prefix+opts.Routes.ChannelAuthPath, channelAuth.Handle, authMiddleware...)
		e.POST(prefix+opts.Routes.UserAuthPath, userAuth.Handle, authMiddleware...)
	}

	if opts.Health != nil {
		RegisterHealth(e, opts.Health)
	}
	if opts.MetricsHandler != nil {
		e.GET(MetricsPath, echo.WrapHandler(opts.MetricsHandler))
	}
	return e
}

// RegisterHealth adds /healthz and /readyz to e.
func RegisterHealth(e *echo.Echo, h *Health) {
	e.GET(HealthPath, h.Live)
	e.HEAD(HealthPath, h.Live)
	e.GET(ReadyPath, h.Readiness)
	e.HEAD(ReadyPath, h.Readiness)
}

// corsMiddleware responds to preflights for the exact origins listed. An origin
// that is not listed gets no CORS headers, and an OPTIONS preflight never
// reaches the session check.
func corsMiddleware(cfg CORS) echo.MiddlewareFunc {
	allowed := make(map[string]bool, len(cfg.AllowedOrigins))
	for _, o := range cfg.AllowedOrigins {
		allowed[o] = true
	}
	headers := append([]string{"Authorization", "Content-Type", RequestIDHeader}, cfg.ExtraHeaders...)
	return middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOriginFunc:  func(origin string) (bool, error) { return allowed[origin], nil },
		AllowMethods:     []string{http.MethodPost, http.MethodOptions},
		AllowHeaders:     []string{strings.Join(headers, ", ")},
		AllowCredentials: cfg.AllowCredentials,
		ExposeHeaders:    []string{RequestIDHeader, "Retry-After"},
		MaxAge:           int(cfg.MaxAge / time.Second),
	})
}
