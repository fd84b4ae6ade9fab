package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pusher-authd/pusher-authd/handlers"
	"github.com/pusher-authd/pusher-authd/metrics"
)

// server is a running pusher-authd: the auth listener, the optional
// metrics listener and the hot-reloadable config.
type server struct {
	log      *slog.Logger
	metrics  *metrics.Metrics
	registry *prometheus.Registry
	runtime  *runtime
	main     *http.Server
	ops      *http.Server // nil unless server.metrics_listen is set
	mainLn   net.Listener
	opsLn    net.Listener
}

// runServe loads the config and runs the service until SIGINT or SIGTERM.
func runServe(ctx context.Context, configPath, listen string, logOut io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := newServer(configPath, listen, logOut)
	if err != nil {
		return err
	}
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		// A second signal during the drain stops the process at once.
		select {
		case <-ctx.Done():
		case <-finished:
			return
		}
		stop()
		again := make(chan os.Signal, 1)
		signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(again)
		select {
		case <-again:
			srv.log.Warn("second signal: exiting without waiting for in-flight requests")
			os.Exit(1)
		case <-finished:
		}
	}()
	return srv.run(ctx)
}

// newServer loads the config, builds the routers and opens the listeners.
func newServer(configPath, listen string, logOut io.Writer) (*server, error) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, buildVersion())

	// Remote key sets log while the config loads, before log.level and
	// log.format are known, so they get a JSON logger at info level.
	bootLog := newLogger(LogConfig{Level: "info", Format: "json"}, logOut)
	loaded, err := loadConfig(configPath, withLogger(bootLog), withFetchObserver(m.ObserveKeyFetch))
	if err != nil {
		return nil, err
	}
	m.ObserveStartupLoad(time.Now())
	cfg := loaded.Config
	if listen != "" {
		cfg.Server.Listen = listen
	}
	log := newLogger(cfg.Log, logOut)
	logStartup(log, loaded)

	s := &server{log: log, metrics: m, registry: reg}
	s.runtime = newRuntime(configPath, loaded, log, bootLog, m)

	health := &handlers.Health{Ready: s.runtime.ready}
	m.SetReadiness(func() bool { ready, _ := s.runtime.ready(); return ready })
	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	opts := handlers.Options{
		Routes: handlers.Routes{
			ChannelAuthPath: cfg.Server.ChannelAuthPath,
			UserAuthPath:    cfg.Server.UserAuthPath,
			MaxBodyBytes:    cfg.Server.MaxBodyBytes,
		},
		Apps:    s.runtime.resolve,
		Log:     log,
		Metrics: m,
		CORS: handlers.CORS{
			AllowedOrigins:   cfg.CORS.AllowedOrigins,
			ExtraHeaders:     cfg.CORS.AllowedHeaders,
			AllowCredentials: cfg.CORS.AllowCredentials,
			MaxAge:           cfg.CORS.MaxAge,
		},
		ClientIP:     s.runtime.clientIP,
		IPLimit:      runtimeLimiter{s.runtime, false},
		SubjectLimit: runtimeLimiter{s.runtime, true},
	}
	if cfg.Server.MetricsListen == "" {
		opts.Health = health
		opts.MetricsHandler = metricsHandler
	}
	e := handlers.NewEcho(opts)
	s.main = newHTTPServer(cfg.Server, e, log)

	if cfg.Server.MetricsListen != "" {
		ops := echo.New()
		ops.HideBanner, ops.HidePort = true, true
		ops.HTTPErrorHandler = handlers.ErrorHandler(log)
		handlers.RegisterHealth(ops, health)
		ops.GET(handlers.MetricsPath, echo.WrapHandler(metricsHandler))
		s.ops = newHTTPServer(cfg.Server, ops, log)
		if s.opsLn, err = net.Listen("tcp", cfg.Server.MetricsListen); err != nil {
			loaded.Close()
			return nil, fmt.Errorf("listen on server.metrics_listen %s: %w", cfg.Server.MetricsListen, err)
		}
	}
	if s.mainLn, err = net.Listen("tcp", cfg.Server.Listen); err != nil {
		loaded.Close()
		if s.opsLn != nil {
			s.opsLn.Close()
		}
		return nil, fmt.Errorf("listen on server.listen %s: %w", cfg.Server.Listen, err)
	}
	return s, nil
}

func newHTTPServer(cfg ServerConfig, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// run serves until ctx ends, then shuts down: readiness turns false, the
// service waits server.shutdown_delay so the gateway stops sending, then
// stops accepting and lets in-flight requests finish within
// server.drain_timeout.
func (s *server) run(ctx context.Context) error {
	cfg := s.runtime.current().Config.Server
	reloadCtx, stopReload := context.WithCancel(context.Background())
	defer stopReload()
	s.runtime.startWatch(reloadCtx)

	errs := make(chan error, 2)
	go func() { errs <- s.main.Serve(s.mainLn) }()
	if s.ops != nil {
		go func() { errs <- s.ops.Serve(s.opsLn) }()
		s.log.Info("listening for metrics and health", "addr", s.opsLn.Addr().String())
	}
	s.log.Info("listening", "addr", s.mainLn.Addr().String(),
		"channel_auth_path", cfg.ChannelAuthPath, "user_auth_path", cfg.UserAuthPath)

	select {
	case err := <-errs:
		s.runtime.current().Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	s.runtime.shuttingDown.Store(true)
	s.log.Info("shutting down: readiness is false", "shutdown_delay", cfg.ShutdownDelay.String(),
		"drain_timeout", cfg.DrainTimeout.String())
	time.Sleep(cfg.ShutdownDelay)
	stopReload()

	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	defer cancel()
	err := s.main.Shutdown(drainCtx)
	if s.ops != nil {
		err = errors.Join(err, s.ops.Shutdown(drainCtx))
	}
	s.runtime.current().Close()
	if err != nil {
		s.log.Error("in-flight requests did not finish within server.drain_timeout", "err", err)
		return fmt.Errorf("shutdown: %w", err)
	}
	s.log.Info("stopped")
	return nil
}

// addr returns the auth listener's address; tests use it.
func (s *server) addr() string { return s.mainLn.Addr().String() }

// opsAddr returns the metrics listener's address, or "" without one.
func (s *server) opsAddr() string {
	if s.opsLn == nil {
		return ""
	}
	return s.opsLn.Addr().String()
}
