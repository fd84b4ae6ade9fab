package main

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/viper"

	"github.com/pusher-authd/pusher-authd/handlers"
	"github.com/pusher-authd/pusher-authd/policy"
	"github.com/pusher-authd/pusher-authd/session"
	"github.com/pusher-authd/pusher-authd/signer"
)

// defaultConfig is the development configuration used when no file is given.
//
//go:embed config.yaml
var defaultConfig []byte

// envPrefix starts every environment variable that overrides a config key:
// pusher.secret is PUSHER_AUTHD_PUSHER_SECRET.
const envPrefix = "PUSHER_AUTHD"

// Demo credentials of the embedded config. Startup warns when they are in use.
const (
	demoPusherSecret  = "7ad3773142a6692b25b8"
	demoSessionSecret = "pusher-authd-development-secret-do-not-use"
)

// Config is the whole service configuration, as config.yaml spells it.
type Config struct {
	Server   ServerConfig      `mapstructure:"server"`
	Log      LogConfig         `mapstructure:"log"`
	Pusher   PusherConfig      `mapstructure:"pusher"`
	Session  SessionConfig     `mapstructure:"session"`
	Policies []policy.RuleSpec `mapstructure:"policies"`
	SignIn   policy.SignInSpec `mapstructure:"signin"`
}

// ServerConfig sets where and how the HTTP server listens.
type ServerConfig struct {
	Listen          string `mapstructure:"listen"`
	ChannelAuthPath string `mapstructure:"channel_auth_path"`
	UserAuthPath    string `mapstructure:"user_auth_path"`
	MaxBodyBytes    int64  `mapstructure:"max_body_bytes"`
}

// LogConfig sets the log level and format.
type LogConfig struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// PusherConfig holds the credentials of the Pusher app whose replies are signed.
type PusherConfig struct {
	AppID  string `mapstructure:"app_id"`
	Key    string `mapstructure:"key"`
	Secret string `mapstructure:"secret"`
	// EncryptionMasterKey is base64 of 32 bytes; empty disables
	// private-encrypted- channels.
	EncryptionMasterKey string `mapstructure:"encryption_master_key"`
}

// SessionConfig sets how session tokens are found and verified.
type SessionConfig struct {
	Sources    []session.SourceSpec `mapstructure:"sources"`
	Leeway     time.Duration        `mapstructure:"leeway"`
	RequireExp bool                 `mapstructure:"require_exp"`
	MaxAge     time.Duration        `mapstructure:"max_age"`
	JWKS       JWKSConfig           `mapstructure:"jwks"`
	Cache      CacheConfig          `mapstructure:"cache"`
	Issuers    []session.IssuerSpec `mapstructure:"issuers"`
}

// JWKSConfig tunes how remote key sets are fetched.
type JWKSConfig struct {
	RefreshInterval    time.Duration `mapstructure:"refresh_interval"`
	UnknownKIDInterval time.Duration `mapstructure:"unknown_kid_interval"`
	Timeout            time.Duration `mapstructure:"timeout"`
	MaxBytes           int64         `mapstructure:"max_bytes"`
}

// CacheConfig bounds the verified-token cache.
type CacheConfig struct {
	MaxEntries int   `mapstructure:"max_entries"`
	MaxBytes   int64 `mapstructure:"max_bytes"`
}

// Source names where a configuration came from, for logs and messages.
type Source struct {
	Path     string
	Embedded bool
}

func (s Source) String() string {
	if s.Embedded {
		return "embedded config.yaml"
	}
	return s.Path
}

// ConfigError lists every problem found while loading a configuration.
type ConfigError struct {
	Source   Source
	Problems []string
}

func (e *ConfigError) Error() string {
	noun := "problems"
	if len(e.Problems) == 1 {
		noun = "problem"
	}
	return fmt.Sprintf("%s: %d %s:\n  %s", e.Source, len(e.Problems), noun, strings.Join(e.Problems, "\n  "))
}

// Loaded is a validated configuration and the app built from it.
type Loaded struct {
	Config Config
	Source Source
	App    *handlers.App
}

func setDefaults(v *viper.Viper) {
	v.SetDefault("server.listen", ":8080")
	v.SetDefault("server.channel_auth_path", "/pusher/auth")
	v.SetDefault("server.user_auth_path", "/pusher/user-auth")
	v.SetDefault("server.max_body_bytes", handlers.DefaultMaxBodyBytes)
	v.SetDefault("log.level", "info")
	v.SetDefault("log.format", "json")
	v.SetDefault("pusher.app_id", "")
	v.SetDefault("pusher.key", "")
	v.SetDefault("pusher.secret", "")
	v.SetDefault("pusher.encryption_master_key", "")
	v.SetDefault("session.leeway", session.DefaultLeeway)
	v.SetDefault("session.require_exp", true)
	v.SetDefault("session.max_age", 0)
	v.SetDefault("session.jwks.refresh_interval", session.DefaultJWKSRefreshInterval)
	v.SetDefault("session.jwks.unknown_kid_interval", session.DefaultJWKSUnknownKIDInterval)
	v.SetDefault("session.jwks.timeout", session.DefaultJWKSTimeout)
	v.SetDefault("session.jwks.max_bytes", session.DefaultJWKSMaxBytes)
	v.SetDefault("session.cache.max_entries", session.DefaultCacheMaxEntries)
	v.SetDefault("session.cache.max_bytes", session.DefaultCacheMaxBytes)
}

// loadOptions change what loading a config starts.
type loadOptions struct {
	log     *slog.Logger
	observe session.FetchObserver
	// offline builds remote key sets without fetching them, for check.
	offline bool
}

type loadOption func(*loadOptions)

func withLogger(log *slog.Logger) loadOption { return func(o *loadOptions) { o.log = log } }

func withFetchObserver(f session.FetchObserver) loadOption {
	return func(o *loadOptions) { o.observe = f }
}

func offline() loadOption { return func(o *loadOptions) { o.offline = true } }

// loadConfig reads path, or the embedded config when path is empty, applies
// environment overrides and ${VAR} references, and validates everything.
// Every problem is reported at once in a *ConfigError.
func loadConfig(path string, options ...loadOption) (*Loaded, error) {
	var opts loadOptions
	for _, o := range options {
		o(&opts)
	}
	src := Source{Path: path, Embedded: path == ""}
	data := defaultConfig
	if !src.Embedded {
		var err error
		data, err = os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
	}

	v := viper.New()
	v.SetConfigType("yaml")
	setDefaults(v)
	v.SetEnvPrefix(envPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, &ConfigError{Source: src, Problems: []string{fmt.Sprintf("invalid YAML: %v", err)}}
	}

	var problems []string
	settings := expandEnv(v.AllSettings(), "", &problems)
	expanded := viper.New()
	if err := expanded.MergeConfigMap(settings); err != nil {
		return nil, &ConfigError{Source: src, Problems: []string{err.Error()}}
	}
	var cfg Config
	if err := expanded.UnmarshalExact(&cfg); err != nil {
		// Report unknown keys and type errors, then keep validating what
		// did decode, so one run lists every problem.
		problems = append(problems, decodeProblems(err)...)
		cfg = Config{}
		if err := expanded.Unmarshal(&cfg); err != nil {
			return nil, &ConfigError{Source: src, Problems: problems}
		}
	}

	app, buildProblems := buildApp(&cfg, opts)
	problems = append(problems, buildProblems...)
	if len(problems) > 0 {
		return nil, &ConfigError{Source: src, Problems: problems}
	}
	return &Loaded{Config: cfg, Source: src, App: app}, nil
}

var envReference = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${NAME} in every string value with the environment
// variable NAME. An unset variable is a problem named by its key, so a
// missing secret never starts the service with an empty value.
func expandEnv(value any, path string, problems *[]string) map[string]any {
	out, _ := expandValue(value, path, problems).(map[string]any)
	return out
}

func expandValue(value any, path string, problems *[]string) any {
	switch v := value.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			p := k
			if path != "" {
				p = path + "." + k
			}
			out[k] = expandValue(e, p, problems)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = expandValue(e, fmt.Sprintf("%s[%d]", path, i), problems)
		}
		return out
	case string:
		return envReference.ReplaceAllStringFunc(v, func(ref string) string {
			name := ref[2 : len(ref)-1]
			val, ok := os.LookupEnv(name)
			if !ok {
				*problems = append(*problems, fmt.Sprintf("%s: environment variable %s is not set", path, name))
			}
			return val
		})
	default:
		return value
	}
}

// decodeProblems turns mapstructure's error list into one line per problem,
// so unknown keys read like `unknown key "pusher.secert"`.
func decodeProblems(err error) []string {
	var lines []string
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*"))
		if line == "" || strings.HasPrefix(line, "decoding failed due to") || strings.HasSuffix(line, "error(s) decoding:") {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "'' has invalid keys: "); ok {
			for _, k := range strings.Split(rest, ", ") {
				lines = append(lines, fmt.Sprintf("unknown key %q", k))
			}
			continue
		}
		if i := strings.Index(line, "' has invalid keys: "); strings.HasPrefix(line, "'") && i > 0 {
			parent := line[1:i]
			for _, k := range strings.Split(line[i+len("' has invalid keys: "):], ", ") {
				lines = append(lines, fmt.Sprintf("unknown key %q", parent+"."+k))
			}
			continue
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		lines = []string{err.Error()}
	}
	return lines
}

// buildApp validates cfg and builds the signer, verifier and policy engine,
// collecting the problems of all three.
func buildApp(cfg *Config, opts loadOptions) (*handlers.App, []string) {
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if cfg.Server.Listen == "" {
		report("server.listen: empty; set an address such as :8080")
	}
	for key, p := range map[string]string{"server.channel_auth_path": cfg.Server.ChannelAuthPath, "server.user_auth_path": cfg.Server.UserAuthPath} {
		if !strings.HasPrefix(p, "/") {
			report("%s: %q must start with /", key, p)
		}
	}
	if cfg.Server.ChannelAuthPath == cfg.Server.UserAuthPath {
		report("server.channel_auth_path and server.user_auth_path are both %q", cfg.Server.ChannelAuthPath)
	}
	if cfg.Server.MaxBodyBytes < 256 || cfg.Server.MaxBodyBytes > 1<<20 {
		report("server.max_body_bytes: %d is outside 256..1048576", cfg.Server.MaxBodyBytes)
	}
	switch cfg.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		report("log.level: unknown level %q, want debug, info, warn or error", cfg.Log.Level)
	}
	switch cfg.Log.Format {
	case "json", "text":
	default:
		report("log.format: unknown format %q, want json or text", cfg.Log.Format)
	}

	if cfg.Pusher.Key == "" {
		report("pusher.key: empty; set it in the file or with %s_PUSHER_KEY", envPrefix)
	}
	if cfg.Pusher.Secret == "" {
		report("pusher.secret: empty; set it with %s_PUSHER_SECRET or a ${VAR} reference", envPrefix)
	}
	if k := cfg.Pusher.EncryptionMasterKey; k != "" {
		if err := signer.ValidateMasterKey(k); err != nil {
			report("pusher.encryption_master_key: %v; want base64 of 32 random bytes (openssl rand -base64 32)", err)
		}
	}
	var sign *signer.Signer
	if len(problems) == 0 {
		var err error
		sign, err = signer.New(signer.App{ID: cfg.Pusher.AppID, Key: cfg.Pusher.Key, Secret: cfg.Pusher.Secret,
			MasterKeyBase64: cfg.Pusher.EncryptionMasterKey})
		if err != nil {
			report("pusher: %v", err)
		}
	}

	j := cfg.Session.JWKS
	if j.Timeout <= 0 || j.Timeout > time.Minute {
		report("session.jwks.timeout: %s is outside 1ns..1m", j.Timeout)
	}
	if j.RefreshInterval < time.Second {
		report("session.jwks.refresh_interval: %s is shorter than 1s", j.RefreshInterval)
	}
	if j.UnknownKIDInterval < time.Second {
		report("session.jwks.unknown_kid_interval: %s is shorter than 1s; it bounds fetches caused by unknown kids", j.UnknownKIDInterval)
	}
	if j.MaxBytes < 1024 || j.MaxBytes > 16<<20 {
		report("session.jwks.max_bytes: %d is outside 1024..16777216", j.MaxBytes)
	}
	if cfg.Session.Cache.MaxEntries < 0 || cfg.Session.Cache.MaxBytes < 0 {
		report("session.cache: max_entries and max_bytes must not be negative")
	}
	if len(problems) > 0 {
		// Remote key sets start fetching when the verifier is built, so a
		// config that already failed never reaches the network.
		opts.offline = true
	}
	verifier, err := session.New(session.Spec{
		Issuers:       cfg.Session.Issuers,
		Sources:       cfg.Session.Sources,
		Leeway:        cfg.Session.Leeway,
		RequireExpiry: cfg.Session.RequireExp,
		MaxAge:        cfg.Session.MaxAge,
		JWKS: session.JWKSSpec{
			RefreshInterval:    j.RefreshInterval,
			UnknownKIDInterval: j.UnknownKIDInterval,
			Timeout:            j.Timeout,
			MaxBytes:           j.MaxBytes,
		},
		Cache:   session.CacheSpec{MaxEntries: cfg.Session.Cache.MaxEntries, MaxBytes: cfg.Session.Cache.MaxBytes},
		Log:     opts.log,
		Observe: opts.observe,
		Offline: opts.offline,
	})
	var sessProblems *session.ProblemsError
	if errors.As(err, &sessProblems) {
		problems = append(problems, sessProblems.Problems...)
	} else if err != nil {
		report("session: %v", err)
	}

	engine, err := policy.Compile(policy.Spec{
		Rules:             cfg.Policies,
		SignIn:            cfg.SignIn,
		EncryptionEnabled: cfg.Pusher.EncryptionMasterKey != "",
	})
	var policyProblems *policy.ProblemsError
	if errors.As(err, &policyProblems) {
		for _, p := range policyProblems.Problems {
			report("%s: %s", p.Path, p.Message)
		}
	} else if err != nil {
		report("policies: %v", err)
	}

	if len(problems) > 0 {
		if verifier != nil {
			verifier.Close()
		}
		return nil, problems
	}
	return &handlers.App{Name: "default", Signer: sign, Policy: engine, Sessions: verifier}, nil
}
