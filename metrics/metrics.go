// Package metrics defines the service's Prometheus metrics. Every label
// takes values from a small fixed set or from names in the config (app,
// rule, issuer), so a channel name, user id or token never becomes a label.
package metrics

import (
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

const namespace = "pusher_authd"

// Metrics holds the collectors, registered on one registry.
type Metrics struct {
	Requests        *prometheus.CounterVec
	RequestDuration *prometheus.HistogramVec
	Decisions       *prometheus.CounterVec
	KeyFetches      *prometheus.CounterVec
	Reloads         *prometheus.CounterVec
	ReloadSuccess   prometheus.Gauge
	ReloadTime      prometheus.Gauge
	RateLimited     *prometheus.CounterVec
	// readiness backs the ready gauge; see SetReadiness.
	readiness atomic.Pointer[func() bool]
}

// New creates the metrics and registers them, with build info and the Go
// and process collectors, on reg.
func New(reg prometheus.Registerer, version string) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_total",
			Help: "HTTP requests by endpoint, app and status code.",
		}, []string{"endpoint", "app", "status"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help:    "Time from request to reply by endpoint.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"endpoint"}),
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "decisions_total",
			Help: "Authorization decisions by endpoint, app, channel kind, decision, rule name and reason.",
		}, []string{"endpoint", "app", "channel_kind", "decision", "rule", "reason"}),
		KeyFetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "jwks_fetches_total",
			Help: "JWKS and OIDC discovery fetches by issuer, kind (jwks, discovery) and result (ok, error).",
		}, []string{"issuer", "kind", "result"}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "config_reloads_total",
			Help: "Config reload attempts by result (ok, error).",
		}, []string{"result"}),
		ReloadSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "config_last_reload_successful",
			Help: "1 when the last config load or reload succeeded, 0 when it was rejected.",
		}),
		ReloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful config load or reload.",
		}),
		RateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "rate_limited_total",
			Help: "Requests answered 429 by limit scope (client_ip, subject).",
		}, []string{"scope"}),
	}
	ready := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "ready",
		Help: "1 while /readyz would answer 200, read at each scrape.",
	}, func() float64 {
		if f := m.readiness.Load(); f != nil && (*f)() {
			return 1
		}
		return 0
	})
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help: "Build information; the value is always 1.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)

	reg.MustRegister(m.Requests, m.RequestDuration, m.Decisions, m.KeyFetches, m.Reloads,
		m.ReloadSuccess, m.ReloadTime, m.RateLimited, ready, buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// SetReadiness makes the ready gauge report f at each scrape.
func (m *Metrics) SetReadiness(f func() bool) {
	if m != nil {
		m.readiness.Store(&f)
	}
}

// ObserveRequest counts one completed request and its duration.
func (m *Metrics) ObserveRequest(endpoint, app string, status int, elapsed time.Duration) {
	if m == nil {
		return
	}
	m.Requests.WithLabelValues(endpoint, app, strconv.Itoa(status)).Inc()
	m.RequestDuration.WithLabelValues(endpoint).Observe(elapsed.Seconds())
}

// ObserveDecision counts one decision.
func (m *Metrics) ObserveDecision(endpoint, app, kind, decision, rule, reason string) {
	if m == nil {
		return
	}
	m.Decisions.WithLabelValues(endpoint, app, kind, decision, rule, reason).Inc()
}

// ObserveKeyFetch counts one JWKS or discovery fetch.
func (m *Metrics) ObserveKeyFetch(issuer, kind string, err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.KeyFetches.WithLabelValues(issuer, kind, result).Inc()
}

// ObserveStartupLoad records the config loaded at startup, which is not a
// reload and so is not counted in config_reloads_total.
func (m *Metrics) ObserveStartupLoad(at time.Time) {
	if m == nil {
		return
	}
	m.ReloadSuccess.Set(1)
	m.ReloadTime.Set(float64(at.Unix()))
}

// ObserveReload records a config reload.
func (m *Metrics) ObserveReload(err error, at time.Time) {
	if m == nil {
		return
	}
	if err != nil {
		m.Reloads.WithLabelValues("error").Inc()
		m.ReloadSuccess.Set(0)
		return
	}
	m.Reloads.WithLabelValues("ok").Inc()
	m.ReloadSuccess.Set(1)
	m.ReloadTime.Set(float64(at.Unix()))
}

// ObserveRateLimited counts one 429.
func (m *Metrics) ObserveRateLimited(scope string) {
	if m == nil {
		return
	}
	m.RateLimited.WithLabelValues(scope).Inc()
}
