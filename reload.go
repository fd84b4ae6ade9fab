package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/labstack/echo/v4"

	"github.com/pusher-authd/pusher-authd/handlers"
	"github.com/pusher-authd/pusher-authd/metrics"
)

// reloadDebounce groups the several file events one save or one Kubernetes
// ConfigMap update produces into one reload.
const reloadDebounce = 250 * time.Millisecond

// runtime holds the current config and swaps it on reload. Each request
// reads the pointer once, so it finishes on the config it started with.
type runtime struct {
	path         string
	log          *slog.Logger
	loadLog      *slog.Logger
	metrics      *metrics.Metrics
	loaded       atomic.Pointer[Loaded]
	shuttingDown atomic.Bool
	// wasReady is set the first time every key set has been fetched.
	wasReady atomic.Bool
	mu       sync.Mutex // serializes reloads
}

func newRuntime(path string, loaded *Loaded, log, loadLog *slog.Logger, m *metrics.Metrics) *runtime {
	r := &runtime{path: path, log: log, loadLog: loadLog, metrics: m}
	r.loaded.Store(loaded)
	return r
}

func (r *runtime) current() *Loaded { return r.loaded.Load() }

// reload loads and validates the file and, only if it is valid, swaps it in.
// An invalid file leaves the running config in place. Settings that need a
// restart (server.* except trusted_proxies, log.*, cors.*) are applied only
// at the next start; a change to them is logged.
func (r *runtime) reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	next, err := loadConfig(r.path, withLogger(r.loadLog), withFetchObserver(r.metrics.ObserveKeyFetch),
		reusingKeysOf(r.current()))
	r.metrics.ObserveReload(err, time.Now())
	if err != nil {
		var cfgErr *ConfigError
		if errors.As(err, &cfgErr) {
			r.log.Error("config reload rejected; the running config stays", "config", cfgErr.Source.String(),
				"problems", cfgErr.Problems)
		} else {
			r.log.Error("config reload failed; the running config stays", "err", err)
		}
		return err
	}

	prev := r.current()
	if reflect.DeepEqual(prev.Config.RateLimit, next.Config.RateLimit) {
		// Keep the buckets, so a reload does not hand every client a
		// fresh burst.
		next.IPLimit, next.SubjectLimit = prev.IPLimit, prev.SubjectLimit
	}
	r.loaded.Store(next)
	prevServer, nextServer := prev.Config.Server, next.Config.Server
	prevServer.TrustedProxies, nextServer.TrustedProxies = nil, nil
	for key, changed := range map[string]bool{
		"server": !reflect.DeepEqual(prevServer, nextServer),
		"log":    prev.Config.Log != next.Config.Log,
		"cors":   !reflect.DeepEqual(prev.Config.CORS, next.Config.CORS),
	} {
		if changed {
			r.log.Warn("config section changed but applies only after a restart", "section", key)
		}
	}
	r.log.Info("config reloaded", "config", next.Source.String(), "rules", next.RuleCount(),
		"apps", len(next.Apps), "default_app", next.App != nil)
	// Requests that already hold prev keep working. Closing stops only
	// the key set refreshes that next did not take over.
	prev.Close()
	return nil
}

// startWatch registers for SIGHUP and, with reload.watch, for changes in
// the config file's directory, then handles them in the background until
// ctx ends. Registration happens before it returns, so no edit made after
// startup is missed. An edit made between loading and registering is caught
// by comparing the file with what was loaded. It watches the directory,
// because editors and Kubernetes ConfigMap updates replace the file instead
// of writing it.
func (r *runtime) startWatch(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)

	var watcher *fsnotify.Watcher
	if r.path != "" && r.current().Config.Reload.Watch {
		w, err := fsnotify.NewWatcher()
		if err == nil {
			err = w.Add(filepath.Dir(r.path))
		}
		if err != nil {
			r.log.Error("config file watch failed; reload with SIGHUP", "err", err)
			if w != nil {
				w.Close()
			}
		} else {
			watcher = w
			r.log.Info("watching config file", "config", r.path)
		}
	}
	changed := false
	if watcher != nil {
		if data, err := os.ReadFile(r.path); err == nil && sha256.Sum256(data) != r.current().Digest {
			changed = true
		}
	}
	go r.watch(ctx, hup, watcher, changed)
}

func (r *runtime) watch(ctx context.Context, hup chan os.Signal, w *fsnotify.Watcher, changed bool) {
	// Stopping the watch must not restore SIGHUP's default action, which
	// would end the process in the middle of the drain.
	defer signal.Ignore(syscall.SIGHUP)
	defer signal.Stop(hup)

	var events <-chan fsnotify.Event
	var watchErrs <-chan error
	if w != nil {
		defer w.Close()
		events, watchErrs = w.Events, w.Errors
	}

	var debounce <-chan time.Time
	if changed {
		debounce = time.After(0)
	}
	target := filepath.Clean(r.path)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.log.Info("SIGHUP received: reloading config")
			_ = r.reload()
		case ev := <-events:
			// An editor replaces the file by renaming a temporary one over
			// it, and a ConfigMap update swaps the ..data symlink. Other
			// files in the directory are ignored.
			if filepath.Clean(ev.Name) == target || filepath.Base(ev.Name) == "..data" {
				debounce = time.After(reloadDebounce)
			}
		case <-debounce:
			debounce = nil
			if r.path != "" {
				if _, err := os.Stat(r.path); err == nil {
					r.log.Info("config file changed: reloading", "config", r.path)
					_ = r.reload()
				}
			}
		case err := <-watchErrs:
			r.log.Warn("config file watch error", "err", err)
		}
	}
}

// resolve returns the app of a request: the default app on the plain paths,
// the named app under /apps/<name>/.
func (r *runtime) resolve(c echo.Context) (*handlers.App, error) {
	loaded := r.current()
	name := c.Param("app")
	if name == "" && !strings.HasPrefix(c.Path(), "/apps/") {
		if loaded.App == nil {
			return nil, handlers.NotFound("no_default_app", "this deployment serves only /apps/<name>/ paths")
		}
		return loaded.App, nil
	}
	app, ok := loaded.Apps[name]
	if !ok {
		return nil, handlers.NotFound("unknown_app", "no app with this name is configured")
	}
	return app, nil
}

// ready reports readiness for /readyz: not shutting down, and every remote
// key set fetched once since startup. After that, a reload that adds an
// issuer whose keys cannot be fetched keeps the replica ready, because the
// same file reaches every replica at once. That issuer's tokens get 503
// until its keys arrive.
func (r *runtime) ready() (bool, string) {
	ok, reason := true, ""
	switch {
	case r.shuttingDown.Load():
		ok, reason = false, "shutting_down"
	case r.wasReady.Load():
	case !r.current().Sessions.Ready():
		ok, reason = false, "jwks_not_fetched"
	default:
		r.wasReady.Store(true)
	}
	return ok, reason
}

func (r *runtime) clientIP(req *http.Request) netip.Addr {
	return r.current().ClientIP.From(req)
}

// runtimeLimiter applies the current config's limiter, so a reload can
// change rate limits.
type runtimeLimiter struct {
	r       *runtime
	subject bool
}

func (l runtimeLimiter) Allow(key string) (bool, time.Duration) {
	loaded := l.r.current()
	if l.subject {
		return loaded.SubjectLimit.Allow(key)
	}
	return loaded.IPLimit.Allow(key)
}
