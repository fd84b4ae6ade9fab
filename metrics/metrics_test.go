package metrics

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestSeriesAndLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "v1.2.3")
	m.ObserveKeyFetch("auth0", "jwks", nil)
	m.ObserveKeyFetch("auth0", "jwks", errors.New("status 503"))
	m.ObserveKeyFetch("auth0", "discovery", nil)
	m.ObserveRateLimited("client_ip")
	m.ObserveRateLimited("subject")
	m.ObserveRateLimited("subject")
	m.ObserveReload(errors.New("bad"), time.Now())
	m.ObserveStartupLoad(time.Unix(1700000000, 0))

	for _, tc := range []struct {
		name string
		got  float64
		want float64
	}{
		{"jwks ok", testutil.ToFloat64(m.KeyFetches.WithLabelValues("auth0", "jwks", "ok")), 1},
		{"jwks error", testutil.ToFloat64(m.KeyFetches.WithLabelValues("auth0", "jwks", "error")), 1},
		{"discovery ok", testutil.ToFloat64(m.KeyFetches.WithLabelValues("auth0", "discovery", "ok")), 1},
		{"rate limited by ip", testutil.ToFloat64(m.RateLimited.WithLabelValues("client_ip")), 1},
		{"rate limited by subject", testutil.ToFloat64(m.RateLimited.WithLabelValues("subject")), 2},
		{"failed reloads", testutil.ToFloat64(m.Reloads.WithLabelValues("error")), 1},
		{"startup load is not a reload", testutil.ToFloat64(m.Reloads.WithLabelValues("ok")), 0},
		{"last load successful", testutil.ToFloat64(m.ReloadSuccess), 1},
		{"last success time", testutil.ToFloat64(m.ReloadTime), 1700000000},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}

	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var found bool
	for _, f := range families {
		if f.GetName() != "pusher_authd_build_info" {
			continue
		}
		found = true
		labels := map[string]string{}
		for _, l := range f.GetMetric()[0].GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["version"] != "v1.2.3" || labels["goversion"] != runtime.Version() {
			t.Errorf("build_info labels = %v, want version v1.2.3 and goversion %s", labels, runtime.Version())
		}
	}
	if !found {
		t.Error("pusher_authd_build_info is not registered")
	}
}

func TestNilMetricsAreNoOps(t *testing.T) {
	var m *Metrics
	m.ObserveRequest("x", "", 200, time.Millisecond)
	m.ObserveDecision("x", "", "private", "allow", "r", "allowed")
	m.ObserveKeyFetch("i", "jwks", nil)
	m.ObserveReload(nil, time.Now())
	m.ObserveStartupLoad(time.Now())
	m.ObserveRateLimited("subject")
}

func TestReadyGaugeFollowsReadiness(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "test")
	value := func() float64 {
		t.Helper()
		families, err := reg.Gather()
		if err != nil {
			t.Fatalf("Gather: %v", err)
		}
		for _, f := range families {
			if f.GetName() == "pusher_authd_ready" {
				return f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("pusher_authd_ready is not registered")
		return 0
	}
	if got := value(); got != 0 {
		t.Errorf("ready before SetReadiness = %v, want 0", got)
	}
	ready := true
	m.SetReadiness(func() bool { return ready })
	if got := value(); got != 1 {
		t.Errorf("ready while ready = %v, want 1", got)
	}
	ready = false
	if got := value(); got != 0 {
		t.Errorf("ready after readiness turned false = %v, want 0", got)
	}
}
