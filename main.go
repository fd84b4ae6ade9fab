// Command pusher-authd answers pusher-js channel authorization and user
// authentication requests from a YAML policy over verified session JWTs.
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
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/pusher-authd/pusher-authd/handlers"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	var configPath string
	root := &cobra.Command{
		Use:           "pusher-authd",
		Short:         "Auth endpoint for Pusher Channels: session JWT in, signed pusher-js reply out",
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), configPath, "", cmd.ErrOrStderr())
		},
	}
	root.PersistentFlags().StringVar(&configPath, "config", os.Getenv(envPrefix+"_CONFIG"),
		"config file path; empty runs on the embedded development config (env "+envPrefix+"_CONFIG)")
	root.AddCommand(newServeCmd(&configPath), newCheckCmd(&configPath), newTokenCmd(&configPath), newVersionCmd())
	return root
}

func newServeCmd(configPath *string) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP service (the default command)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), *configPath, listen, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "listen address, overriding server.listen (for example 127.0.0.1:8080)")
	return cmd
}

func newCheckCmd(configPath *string) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Load and validate the config and policy the way serve does, then exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			loaded, err := loadConfig(*configPath, offline())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK, %d rules, %d issuers\n",
				loaded.Source, loaded.App.Policy.RuleCount(), len(loaded.Config.Session.Issuers))
			return nil
		},
	}
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "pusher-authd", buildVersion())
		},
	}
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return version
}

func newLogger(cfg LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func serve(ctx context.Context, configPath, listen string, logOut io.Writer) error {
	// Remote key sets log while the config loads, before log.level and
	// log.format are known, so they get a JSON logger at info level.
	bootLog := newLogger(LogConfig{Level: "info", Format: "json"}, logOut)
	loaded, err := loadConfig(configPath, withLogger(bootLog))
	if err != nil {
		return err
	}
	defer loaded.App.Sessions.Close()
	cfg := loaded.Config
	if listen != "" {
		cfg.Server.Listen = listen
	}
	log := newLogger(cfg.Log, logOut)
	logStartup(log, loaded)

	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Server.Listen, err)
	}
	e := handlers.NewEcho(handlers.Routes{
		ChannelAuthPath: cfg.Server.ChannelAuthPath,
		UserAuthPath:    cfg.Server.UserAuthPath,
		MaxBodyBytes:    cfg.Server.MaxBodyBytes,
	}, handlers.StaticApp(loaded.App), log)
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("listening", "addr", ln.Addr().String(),
		"channel_auth_path", cfg.Server.ChannelAuthPath, "user_auth_path", cfg.Server.UserAuthPath)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// logStartup logs the settings that matter and warns about insecure ones.
// It never logs a secret.
func logStartup(log *slog.Logger, loaded *Loaded) {
	cfg := loaded.Config
	log.Info("starting pusher-authd", "version", buildVersion(), "config", loaded.Source.String(),
		"rules", loaded.App.Policy.RuleCount(), "issuers", len(cfg.Session.Issuers),
		"algorithms", loaded.App.Sessions.Algorithms(), "app_key", cfg.Pusher.Key,
		"encryption", cfg.Pusher.EncryptionMasterKey != "", "leeway", cfg.Session.Leeway.String())
	if loaded.Source.Embedded {
		log.Warn("running on the embedded development config: demo Pusher credentials and a public session secret; " +
			"pass --config for real use. Mint a development token with: pusher-authd token --sub user-1")
	}
	if cfg.Pusher.Secret == demoPusherSecret {
		log.Warn("pusher.secret is the public demo secret from Pusher's docs; replies will not verify on a real app")
	}
	for i, is := range cfg.Session.Issuers {
		for j, k := range is.Keys {
			if k.Secret == demoSessionSecret {
				log.Warn("session key is the public development secret; anyone can mint sessions",
					"key", fmt.Sprintf("session.issuers[%d].keys[%d].secret", i, j))
			} else if k.Secret != "" {
				log.Info("session issuer uses an HMAC key; anyone holding it can mint sessions",
					"key", fmt.Sprintf("session.issuers[%d].keys[%d].secret", i, j))
			}
		}
	}
	if !cfg.Session.RequireExp {
		log.Warn("session.require_exp is false: tokens without exp never expire")
	}
}
