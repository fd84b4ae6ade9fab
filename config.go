package main

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/viper"

	"github.com/pusher-authd/pusher-authd/handlers"
	"github.com/pusher-authd/pusher-authd/limits"
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
	Server    ServerConfig      `mapstructure:"server"`
	Log       LogConfig         `mapstructure:"log"`
	CORS      CORSConfig        `mapstructure:"cors"`
	RateLimit RateLimitConfig   `mapstructure:"rate_limit"`
	Reload    ReloadConfig      `mapstructure:"reload"`
	Pusher    PusherConfig      `mapstructure:"pusher"`
	Session   SessionConfig     `mapstructure:"session"`
	Policies  []policy.RuleSpec `mapstructure:"policies"`
	SignIn    policy.SignInSpec `mapstructure:"signin"`
	Apps      []AppConfig       `mapstructure:"apps"`
}

// ServerConfig sets where and how the HTTP servers listen.
type ServerConfig struct {
	Listen string `mapstructure:"listen"`
	// MetricsListen, when set, serves /metrics, /healthz and /readyz on a
	// second address that the gateway does not expose.
	MetricsListen     string        `mapstructure:"metrics_listen"`
	ChannelAuthPath   string        `mapstructure:"channel_auth_path"`
	UserAuthPath      string        `mapstructure:"user_auth_path"`
	MaxBodyBytes      int64         `mapstructure:"max_body_bytes"`
	MaxHeaderBytes    int           `mapstructure:"max_header_bytes"`
	ReadHeaderTimeout time.Duration `mapstructure:"read_header_timeout"`
	ReadTimeout       time.Duration `mapstructure:"read_timeout"`
	WriteTimeout      time.Duration `mapstructure:"write_timeout"`
	IdleTimeout       time.Duration `mapstructure:"idle_timeout"`
	// ShutdownDelay is how long /readyz responds with 503 before the
	// listener closes, so the gateway stops sending first.
	ShutdownDelay time.Duration `mapstructure:"shutdown_delay"`
	// DrainTimeout bounds how long in-flight requests may take to finish.
	DrainTimeout time.Duration `mapstructure:"drain_timeout"`
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []string `mapstructure:"trusted_proxies"`
}

// CORSConfig sets which browser origins may call the auth endpoints.
type CORSConfig struct {
	AllowedOrigins   []string      `mapstructure:"allowed_origins"`
	AllowedHeaders   []string      `mapstructure:"allowed_headers"`
	AllowCredentials bool          `mapstructure:"allow_credentials"`
	MaxAge           time.Duration `mapstructure:"max_age"`
}

// RateLimitConfig sets the per-client-IP and per-subject request rates.
type RateLimitConfig struct {
	PerClientIP LimitConfig `mapstructure:"per_client_ip"`
	PerSubject  LimitConfig `mapstructure:"per_subject"`
	// MaxKeys bounds how many clients or subjects each limiter tracks.
	MaxKeys int `mapstructure:"max_keys"`
}

// LimitConfig is one token-bucket rate; a rate of 0 disables it.
type LimitConfig struct {
	Rate  float64 `mapstructure:"rate"`
	Burst int     `mapstructure:"burst"`
}

// ReloadConfig sets how config changes are picked up.
type ReloadConfig struct {
	// Watch reloads when the config file changes; SIGHUP always reloads.
	Watch bool `mapstructure:"watch"`
}

// AppConfig is one more Pusher app, served under /apps/<name>/.
type AppConfig struct {
	Name     string            `mapstructure:"name"`
	Pusher   PusherConfig      `mapstructure:"pusher"`
	Policies []policy.RuleSpec `mapstructure:"policies"`
	SignIn   policy.SignInSpec `mapstructure:"signin"`
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

// Loaded is a validated configuration and the apps built from it. It is
// never changed after loading; a reload builds a new one.
type Loaded struct {
	Config Config
	Source Source
	// App serves the plain paths. It is nil when only named apps are configured.
	App *handlers.App
	// Apps serve /apps/<name>/...
	Apps map[string]*handlers.App
	// Sessions is shared by every app.
	Sessions *session.Verifier
	// Digest is the SHA-256 of the file as read, to notice later edits.
	Digest [32]byte
	// ClientIP and the limiters come from server.trusted_proxies and
	// rate_limit.
	ClientIP     *limits.ClientIP
	IPLimit      *limits.Limiter
	SubjectLimit *limits.Limiter
}

// Close stops what the loaded config started (JWKS refreshes).
func (l *Loaded) Close() { l.Sessions.Close() }

// RuleCount returns the number of channel rules over all apps.
func (l *Loaded) RuleCount() int {
	n := 0
	if l.App != nil {
		n += l.App.Policy.RuleCount()
	}
	for _, a := range l.Apps {
		n += a.Policy.RuleCount()
	}
	return n
}

func setDefaults(v *viper.Viper) {
	v.SetDefault("server.listen", ":8080")
	v.SetDefault("server.channel_auth_path", "/pusher/auth")
	v.SetDefault("server.user_auth_path", "/pusher/user-auth")
	v.SetDefault("server.max_body_bytes", handlers.DefaultMaxBodyBytes)
	v.SetDefault("server.metrics_listen", "")
	v.SetDefault("server.max_header_bytes", 16<<10)
	v.SetDefault("server.read_header_timeout", 5*time.Second)
	v.SetDefault("server.read_timeout", 10*time.Second)
	v.SetDefault("server.write_timeout", 10*time.Second)
	v.SetDefault("server.idle_timeout", 120*time.Second)
	v.SetDefault("server.shutdown_delay", 5*time.Second)
	v.SetDefault("server.drain_timeout", 20*time.Second)
	v.SetDefault("server.trusted_proxies", []string{})

	v.SetDefault("cors.allowed_origins", []string{})
	v.SetDefault("cors.allowed_headers", []string{})
	v.SetDefault("cors.allow_credentials", false)
	v.SetDefault("cors.max_age", 10*time.Minute)

	v.SetDefault("rate_limit.per_client_ip.rate", 0)
	v.SetDefault("rate_limit.per_client_ip.burst", 0)
	v.SetDefault("rate_limit.per_subject.rate", 0)
	v.SetDefault("rate_limit.per_subject.burst", 0)
	v.SetDefault("rate_limit.max_keys", 100_000)
	v.SetDefault("reload.watch", true)

	v.SetDefault("log.level", "info")
	v.SetDefault("log.format", "json")
	v.SetDefault("pusher.app_id", "")
	v.SetDefault("pusher.key", "")
	v.SetDefault("pusher.secret", "")
	v.SetDefault("pusher.encryption_master_key", "")

	v.SetDefault("signin.when", "")
	v.SetDefault("signin.user_id", "")
	v.SetDefault("signin.user_info", "")
	v.SetDefault("signin.watchlist", "")

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
	// previous lends its fetched key sets to the new config on reload.
	previous *session.Verifier
}

type loadOption func(*loadOptions)

func withLogger(log *slog.Logger) loadOption { return func(o *loadOptions) { o.log = log } }

func withFetchObserver(f session.FetchObserver) loadOption {
	return func(o *loadOptions) { o.observe = f }
}

func offline() loadOption { return func(o *loadOptions) { o.offline = true } }

func reusingKeysOf(prev *Loaded) loadOption {
	return func(o *loadOptions) { o.previous = prev.Sessions }
}

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

	v, err := readViper(data)
	if err != nil {
		return nil, &ConfigError{Source: src, Problems: []string{err.Error()}}
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
		// mapstructure fills every field it can before reporting the
		// rest, so validation continues on what did decode.
		_ = expanded.Unmarshal(&cfg)
	}

	if len(problems) > 0 {
		// Do not start key fetches for a config that is already rejected.
		opts.offline = true
	}
	loaded, buildProblems := build(&cfg, opts)
	problems = append(problems, withoutUndecoded(buildProblems, problems)...)
	if len(problems) > 0 {
		if loaded != nil {
			loaded.Close()
		}
		return nil, &ConfigError{Source: src, Problems: problems}
	}
	loaded.Source = src
	loaded.Digest = sha256.Sum256(data)
	return loaded, nil
}

// readViper parses YAML data with the defaults and PUSHER_AUTHD_ environment
// overrides applied.
func readViper(data []byte) (*viper.Viper, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	setDefaults(v)
	v.SetEnvPrefix(envPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, errors.New("invalid YAML: " + yamlProblem(err))
	}
	return v, nil
}

// quoted matches the quoted file text a YAML parser puts in its messages,
// such as an anchor name or a value with a wrong !!tag, which may be an
// unquoted secret.
var quoted = regexp.MustCompile("'[^']*'|\"[^\"]*\"|`[^`]*`")

// yamlProblem returns the parser's message without quoted file text.
func yamlProblem(err error) string {
	return quoted.ReplaceAllString(err.Error(), "'…'")
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

// withoutUndecoded drops validation problems about keys that already failed
// to decode, since their zero value would be reported as a second problem.
func withoutUndecoded(problems, decodeProblems []string) []string {
	var failed []string
	for _, p := range decodeProblems {
		if key, _, ok := strings.Cut(p, ": "); ok && !strings.Contains(key, " ") {
			failed = append(failed, key+":")
		}
	}
	var out []string
next:
	for _, p := range problems {
		for _, prefix := range failed {
			if strings.HasPrefix(p, prefix) {
				continue next
			}
		}
		out = append(out, p)
	}
	return out
}

// typeProblem matches mapstructure's "'key' cannot parse ..." lines.
var typeProblem = regexp.MustCompile(`^'([^']+)' (.+)$`)

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
		if m := typeProblem.FindStringSubmatch(line); m != nil {
			line = m[1] + ": " + m[2]
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		lines = []string{err.Error()}
	}
	return lines
}

// build validates cfg and builds the verifier, the apps and the limits,
// collecting every problem. The returned Loaded is non-nil whenever the
// verifier was built, so the caller can Close it.
func build(cfg *Config, opts loadOptions) (*Loaded, []string) {
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	problems = append(problems, validateServer(cfg)...)

	clientIP, err := limits.NewClientIP(cfg.Server.TrustedProxies)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			report("server.%s", line)
		}
	}
	rl := cfg.RateLimit
	ipLimit, err := limits.New(rl.PerClientIP.Rate, rl.PerClientIP.Burst, rl.MaxKeys)
	if err != nil {
		report("rate_limit.per_client_ip: %v", err)
	}
	subjectLimit, err := limits.New(rl.PerSubject.Rate, rl.PerSubject.Burst, rl.MaxKeys)
	if err != nil {
		report("rate_limit.per_subject: %v", err)
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

	// Apps come before the verifier, so that a config with problems never
	// starts remote key fetches.
	var defaultApp *handlers.App
	hasDefault := cfg.Pusher.Key != "" || cfg.Pusher.Secret != "" || len(cfg.Policies) > 0 || len(cfg.Apps) == 0
	if hasDefault {
		defaultApp = buildApp("default", "", cfg.Pusher, cfg.Policies, cfg.SignIn, report)
	}
	named := map[string]*handlers.App{}
	for i, ac := range cfg.Apps {
		path := fmt.Sprintf("apps[%d]", i)
		switch {
		case !appName.MatchString(ac.Name):
			report("%s.name: %q must be 1-63 lower-case letters, digits or -", path, ac.Name)
		case named[ac.Name] != nil || (ac.Name == "default" && hasDefault):
			report("%s.name: %q is used twice", path, ac.Name)
		}
		if app := buildApp(ac.Name, path+".", ac.Pusher, ac.Policies, ac.SignIn, report); app != nil {
			named[ac.Name] = app
		}
	}

	if len(problems) > 0 {
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
		Cache:    session.CacheSpec{MaxEntries: cfg.Session.Cache.MaxEntries, MaxBytes: cfg.Session.Cache.MaxBytes},
		Log:      opts.log,
		Observe:  opts.observe,
		Offline:  opts.offline,
		Previous: opts.previous,
	})
	var sessProblems *session.ProblemsError
	if errors.As(err, &sessProblems) {
		problems = append(problems, sessProblems.Problems...)
	} else if err != nil {
		report("session: %v", err)
	}
	if verifier == nil {
		return nil, problems
	}

	if defaultApp != nil {
		defaultApp.Sessions = verifier
	}
	for _, app := range named {
		app.Sessions = verifier
	}
	return &Loaded{Config: *cfg, App: defaultApp, Apps: named, Sessions: verifier,
		ClientIP: clientIP, IPLimit: ipLimit, SubjectLimit: subjectLimit}, problems
}

// routePath keeps auth paths literal: echo would treat * and : as route
// wildcards and parameters.
var routePath = regexp.MustCompile(`^/[A-Za-z0-9/_.-]*$`)

var appName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func validateServer(cfg *Config) []string {
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	srv := cfg.Server
	if srv.Listen == "" {
		report("server.listen: empty; set an address such as :8080")
	}
	if srv.MetricsListen != "" && srv.MetricsListen == srv.Listen && !strings.HasSuffix(srv.Listen, ":0") {
		report("server.metrics_listen and server.listen are both %q", srv.Listen)
	}
	for _, kv := range []struct{ key, path string }{
		{"server.channel_auth_path", srv.ChannelAuthPath}, {"server.user_auth_path", srv.UserAuthPath},
	} {
		switch {
		case !routePath.MatchString(kv.path):
			report("%s: %q must start with / and use only letters, digits and / _ . -", kv.key, kv.path)
		case strings.HasPrefix(kv.path, "/apps/"), kv.path == handlers.HealthPath, kv.path == handlers.ReadyPath, kv.path == handlers.MetricsPath:
			report("%s: %q is reserved", kv.key, kv.path)
		}
	}
	if srv.ChannelAuthPath == srv.UserAuthPath {
		report("server.channel_auth_path and server.user_auth_path are both %q", srv.ChannelAuthPath)
	}
	if srv.MaxBodyBytes < 256 || srv.MaxBodyBytes > 1<<20 {
		report("server.max_body_bytes: %d is outside 256..1048576", srv.MaxBodyBytes)
	}
	if srv.MaxHeaderBytes < 1024 || srv.MaxHeaderBytes > 1<<20 {
		report("server.max_header_bytes: %d is outside 1024..1048576", srv.MaxHeaderBytes)
	}
	for _, d := range []struct {
		key string
		val time.Duration
	}{
		{"server.read_header_timeout", srv.ReadHeaderTimeout}, {"server.read_timeout", srv.ReadTimeout},
		{"server.write_timeout", srv.WriteTimeout}, {"server.idle_timeout", srv.IdleTimeout},
	} {
		if d.val <= 0 || d.val > 10*time.Minute {
			report("%s: %s is outside 1ns..10m", d.key, d.val)
		}
	}
	if srv.ShutdownDelay < 0 || srv.ShutdownDelay > time.Minute {
		report("server.shutdown_delay: %s is outside 0s..1m", srv.ShutdownDelay)
	}
	if srv.DrainTimeout <= 0 || srv.DrainTimeout > 10*time.Minute {
		report("server.drain_timeout: %s is outside 1ns..10m", srv.DrainTimeout)
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

	for i, o := range cfg.CORS.AllowedOrigins {
		switch {
		case o == "*":
			report("cors.allowed_origins[%d]: \"*\" is not allowed; list each origin exactly", i)
		case !validOrigin(o):
			report("cors.allowed_origins[%d]: %q is not an origin such as https://app.example.com (scheme and host, no path)", i, o)
		}
	}
	for i, h := range cfg.CORS.AllowedHeaders {
		if h == "" || strings.ContainsAny(h, " ,:") {
			report("cors.allowed_headers[%d]: %q is not a header name", i, h)
		}
	}
	if cfg.CORS.MaxAge < 0 {
		report("cors.max_age: %s is negative", cfg.CORS.MaxAge)
	}
	return problems
}

func validOrigin(o string) bool {
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" &&
		u.Path == "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil
}

// buildApp checks one app's Pusher credentials and policy and builds its
// signer and engine. prefix is the app's key path, such as "apps[1].".
func buildApp(name, prefix string, p PusherConfig, rules []policy.RuleSpec, signIn policy.SignInSpec, report func(string, ...any)) *handlers.App {
	ok := true
	fail := func(format string, args ...any) {
		ok = false
		report(format, args...)
	}
	envHint := envPrefix + "_PUSHER_SECRET"
	if prefix != "" {
		envHint = "a ${VAR} reference"
	}
	if p.Key == "" {
		fail("%spusher.key: empty; set the app key", prefix)
	}
	if p.Secret == "" {
		fail("%spusher.secret: empty; set it with %s or a ${VAR} reference", prefix, envHint)
	}
	if k := p.EncryptionMasterKey; k != "" {
		if err := signer.ValidateMasterKey(k); err != nil {
			fail("%spusher.encryption_master_key: %v; want base64 of 32 random bytes (openssl rand -base64 32)", prefix, err)
		}
	}
	var sign *signer.Signer
	if ok {
		var err error
		sign, err = signer.New(signer.App{ID: p.AppID, Key: p.Key, Secret: p.Secret, MasterKeyBase64: p.EncryptionMasterKey})
		if err != nil {
			fail("%spusher: %v", prefix, err)
		}
	}

	engine, err := policy.Compile(policy.Spec{Rules: rules, SignIn: signIn, EncryptionEnabled: p.EncryptionMasterKey != ""})
	var policyProblems *policy.ProblemsError
	if errors.As(err, &policyProblems) {
		for _, pr := range policyProblems.Problems {
			fail("%s%s: %s", prefix, pr.Path, pr.Message)
		}
	} else if err != nil {
		fail("%spolicies: %v", prefix, err)
	}
	if !ok {
		return nil
	}
	return &handlers.App{Name: name, Signer: sign, Policy: engine}
}
