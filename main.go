// Command pusher-authd serves pusher-js channel authorization and user
// authentication requests from a YAML policy over verified session JWTs.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sort"
	"strings"
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
			return runServe(cmd.Context(), configPath, "", cmd.ErrOrStderr())
		},
	}
	root.PersistentFlags().StringVar(&configPath, "config", os.Getenv(envPrefix+"_CONFIG"),
		"config file path; empty runs on the embedded development config (env "+envPrefix+"_CONFIG)")
	root.AddCommand(newServeCmd(&configPath), newCheckCmd(&configPath), newTokenCmd(&configPath),
		newHealthcheckCmd(&configPath), newVersionCmd())
	return root
}

func newServeCmd(configPath *string) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP service (the default command)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), *configPath, listen, cmd.ErrOrStderr())
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
			defer loaded.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK, %d rules in %d apps, %d issuers\n",
				loaded.Source, loaded.RuleCount(), len(loaded.Apps)+btoi(loaded.App != nil), len(loaded.Config.Session.Issuers))
			return nil
		},
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// newHealthcheckCmd probes /healthz, for container platforms that run a
// command instead of an HTTP probe. The address comes from the config:
// server.metrics_listen when set, otherwise server.listen.
func newHealthcheckCmd(configPath *string) *cobra.Command {
	var target string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the running service answers /healthz with 200",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if target == "" {
				addr, err := probeAddr(*configPath)
				if err != nil {
					return err
				}
				target = "http://" + loopbackAddr(addr) + handlers.HealthPath
			}
			client := &http.Client{Timeout: timeout}
			resp, err := client.Get(target)
			if err != nil {
				return fmt.Errorf("healthcheck %s: %w", target, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("healthcheck %s: status %d", target, resp.StatusCode)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "url", "", "URL to probe (default: /healthz on the configured address)")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Second, "how long to wait for the answer")
	return cmd
}

// probeAddr reads only server.metrics_listen and server.listen, without
// validating the rest: a config edit that the running service rejected must
// not make a healthy container look unhealthy.
func probeAddr(configPath string) (string, error) {
	data := defaultConfig
	if configPath != "" {
		var err error
		if data, err = os.ReadFile(configPath); err != nil {
			return "", fmt.Errorf("read config: %w", err)
		}
	}
	v, err := readViper(data)
	if err != nil {
		return "", fmt.Errorf("read config: %w", err)
	}
	var problems []string
	addr := expandValue(v.GetString("server.metrics_listen"), "server.metrics_listen", &problems).(string)
	if addr == "" {
		addr = expandValue(v.GetString("server.listen"), "server.listen", &problems).(string)
	}
	if len(problems) > 0 {
		return "", fmt.Errorf("read config: %s", strings.Join(problems, "; "))
	}
	return addr, nil
}

// loopbackAddr turns a listen address such as ":8080" or "0.0.0.0:8080"
// into one a local client can dial.
func loopbackAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
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

// logStartup logs the settings that matter and warns about insecure ones.
// It never logs a secret.
func logStartup(log *slog.Logger, loaded *Loaded) {
	cfg := loaded.Config
	appNames := make([]string, 0, len(loaded.Apps))
	for name := range loaded.Apps {
		appNames = append(appNames, name)
	}
	sort.Strings(appNames)
	log.Info("config loaded", "version", buildVersion(), "config", loaded.Source.String(),
		"rules", loaded.RuleCount(), "default_app", loaded.App != nil, "apps", appNames,
		"issuers", len(cfg.Session.Issuers), "algorithms", loaded.Sessions.Algorithms(),
		"leeway", cfg.Session.Leeway.String(), "cors_origins", len(cfg.CORS.AllowedOrigins),
		"trusted_proxies", len(cfg.Server.TrustedProxies))
	if loaded.Source.Embedded {
		log.Warn("running on the embedded development config: demo Pusher credentials and a public session secret; " +
			"pass --config for real use. Mint a development token with: pusher-authd token --sub user-1")
	}
	if cfg.Pusher.Secret == demoPusherSecret && loaded.App != nil {
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
