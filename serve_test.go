package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const testSessionSecret = "serve-test-session-secret-0123456789"

// serveConfig is a config for server tests; %s is replaced by the policies.
const serveConfig = `
server:
  listen: "127.0.0.1:0"
  shutdown_delay: 0s
  drain_timeout: 5s
log:
  level: debug
pusher:
  key: "default-key"
  secret: "default-secret"
session:
  issuers:
    - name: test
      keys:
        - algorithms: [HS256]
          secret: "` + testSessionSecret + `"
policies:
%s
apps:
  - name: tenant-b
    pusher:
      key: "key-b"
      secret: "secret-b"
    policies:
      - name: all-private
        channel: "private-*"
`

func allowRule(channel string) string {
	return fmt.Sprintf("  - name: allow-%s\n    channel: %q\n", channel, channel)
}

type testServer struct {
	srv    *server
	config string
	logs   *syncBuffer
	done   chan error
	cancel context.CancelFunc
}

// syncBuffer is a log sink that the server and the test may use together.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startServer(t *testing.T, configText string) *testServer {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(configText), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	logs := &syncBuffer{}
	srv, err := newServer(path, "", logs)
	if err != nil {
		t.Fatalf("newServer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{srv: srv, config: path, logs: logs, done: make(chan error, 1), cancel: cancel}
	go func() { ts.done <- srv.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ts.done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop within 10s")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return ts
}

func (ts *testServer) url(path string) string { return "http://" + ts.srv.addr() + path }

func (ts *testServer) writeConfig(t *testing.T, text string) {
	t.Helper()
	tmp := ts.config + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	if err := os.Rename(tmp, ts.config); err != nil {
		t.Fatalf("replace config: %v", err)
	}
}

func sessionToken(t *testing.T, sub string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString([]byte(testSessionSecret))
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return tok
}

func postAuth(t *testing.T, client *http.Client, url, channel, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader("socket_id=1.1&channel_name="+channel))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Errorf("POST %s: %v", url, err)
		return 0, ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestReloadAppliesValidEditFromFileWatch(t *testing.T) {
	ts := startServer(t, fmt.Sprintf(serveConfig, allowRule("private-a")))
	token := sessionToken(t, "u1")
	if code, _ := postAuth(t, http.DefaultClient, ts.url("/pusher/auth"), "private-b", token); code != 403 {
		t.Fatalf("private-b before the edit: status %d, want 403", code)
	}

	ts.writeConfig(t, fmt.Sprintf(serveConfig, allowRule("private-a")+allowRule("private-b")))
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _ := postAuth(t, http.DefaultClient, ts.url("/pusher/auth"), "private-b", token)
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("private-b 5s after the edit: status %d, want 200 once the watcher reloads", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := testutil.ToFloat64(ts.srv.metrics.Reloads.WithLabelValues("ok")); got < 1 {
		t.Errorf("config_reloads_total{result=ok} = %v, want at least 1", got)
	}
}

func TestReloadRejectsInvalidEdit(t *testing.T) {
	ts := startServer(t, fmt.Sprintf(serveConfig, allowRule("private-a")))
	token := sessionToken(t, "u1")

	bad := fmt.Sprintf(serveConfig, allowRule("private-a")+"  - name: broken\n    channel: \"private-c\"\n    when: \"claims.sub ==\"\n")
	if err := os.WriteFile(ts.config, []byte(bad), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	if err := ts.srv.runtime.reload(); err == nil {
		t.Fatal("reload of an invalid config succeeded")
	}
	if code, _ := postAuth(t, http.DefaultClient, ts.url("/pusher/auth"), "private-a", token); code != 200 {
		t.Errorf("private-a after a rejected reload: status %d, want 200 from the old policy", code)
	}
	if got := testutil.ToFloat64(ts.srv.metrics.ReloadSuccess); got != 0 {
		t.Errorf("config_last_reload_successful = %v, want 0", got)
	}
	if got := testutil.ToFloat64(ts.srv.metrics.Reloads.WithLabelValues("error")); got < 1 {
		t.Errorf("config_reloads_total{result=error} = %v, want at least 1", got)
	}
	if !strings.Contains(ts.logs.String(), "policies[1].when") {
		t.Errorf("log does not name the bad key policies[1].when:\n%s", ts.logs.String())
	}
}

func TestReloadUnderConcurrentRequests(t *testing.T) {
	configA := fmt.Sprintf(serveConfig, allowRule("private-a"))
	configB := fmt.Sprintf(serveConfig, allowRule("private-z")+allowRule("private-a"))
	ts := startServer(t, configA)
	token := sessionToken(t, "u1")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}

	var failures, requests atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, body := postAuth(t, client, ts.url("/pusher/auth"), "private-a", token)
				requests.Add(1)
				if code != 200 {
					failures.Add(1)
					t.Errorf("request during reloads: status %d body %s", code, body)
				}
			}
		}()
	}
	for i := range 20 {
		text := configA
		if i%2 == 0 {
			text = configB
		}
		if err := os.WriteFile(ts.config, []byte(text), 0o600); err != nil {
			t.Fatalf("write config: %v", err)
		}
		if err := ts.srv.runtime.reload(); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if requests.Load() < 20 {
		t.Errorf("only %d requests ran during the reloads; the test proves little", requests.Load())
	}
	if failures.Load() > 0 {
		t.Errorf("%d of %d requests failed during reloads", failures.Load(), requests.Load())
	}
}

// TestShutdownFinishesInFlightRequest sends half a request, starts the
// shutdown, then sends the rest: the reply must still arrive and run must
// return nil.
func TestShutdownFinishesInFlightRequest(t *testing.T) {
	ts := startServer(t, fmt.Sprintf(serveConfig, allowRule("private-a")))
	if code := halfSentRequest(t, ts.srv.addr(), ts.cancel); code != 200 {
		t.Errorf("in-flight request: status %d, want 200", code)
	}
	select {
	case err := <-ts.done:
		if err != nil {
			t.Errorf("run after drain: %v, want nil", err)
		}
		ts.done <- err
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after the drain")
	}
}

func TestReadinessTurnsFalseBeforeDrain(t *testing.T) {
	cfg := strings.Replace(fmt.Sprintf(serveConfig, allowRule("private-a")), "shutdown_delay: 0s", "shutdown_delay: 1s", 1)
	ts := startServer(t, cfg)
	get := func() int {
		resp, err := http.Get(ts.url("/readyz"))
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(); code != 200 {
		t.Fatalf("/readyz before shutdown: %d, want 200", code)
	}
	ts.cancel()
	time.Sleep(200 * time.Millisecond)
	if code := get(); code != 503 {
		t.Errorf("/readyz during shutdown_delay: %d, want 503", code)
	}
}

func TestSeveralApps(t *testing.T) {
	ts := startServer(t, fmt.Sprintf(serveConfig, allowRule("private-a")))
	token := sessionToken(t, "u1")
	sign := func(secret string) string {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte("1.1:private-a"))
		return hex.EncodeToString(mac.Sum(nil))
	}
	for _, tc := range []struct {
		path     string
		wantAuth string
	}{
		{"/pusher/auth", "default-key:" + sign("default-secret")},
		{"/apps/tenant-b/pusher/auth", "key-b:" + sign("secret-b")},
	} {
		code, body := postAuth(t, http.DefaultClient, ts.url(tc.path), "private-a", token)
		var reply struct{ Auth string }
		_ = json.Unmarshal([]byte(body), &reply)
		if code != 200 || reply.Auth != tc.wantAuth {
			t.Errorf("POST %s: status %d auth %q, want 200 %q", tc.path, code, reply.Auth, tc.wantAuth)
		}
	}
	for _, path := range []string{"/apps/nope/pusher/auth", "/apps//pusher/auth"} {
		code, body := postAuth(t, http.DefaultClient, ts.url(path), "private-a", token)
		if code != 404 || !strings.Contains(body, "unknown_app") {
			t.Errorf("POST %s: status %d body %s, want 404 unknown_app", path, code, body)
		}
	}
}

func TestSeparateMetricsListener(t *testing.T) {
	cfg := strings.Replace(fmt.Sprintf(serveConfig, allowRule("private-a")), `listen: "127.0.0.1:0"`,
		"listen: \"127.0.0.1:0\"\n  metrics_listen: \"127.0.0.1:0\"", 1)
	ts := startServer(t, cfg)
	for _, tc := range []struct {
		url  string
		want int
	}{
		{"http://" + ts.srv.opsAddr() + "/metrics", 200},
		{"http://" + ts.srv.opsAddr() + "/healthz", 200},
		{"http://" + ts.srv.opsAddr() + "/readyz", 200},
		{ts.url("/metrics"), 404},
		{ts.url("/healthz"), 404},
	} {
		resp, err := http.Get(tc.url)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s: status %d, want %d", tc.url, resp.StatusCode, tc.want)
		}
	}
}

func TestHealthcheckCommand(t *testing.T) {
	ts := startServer(t, fmt.Sprintf(serveConfig, allowRule("private-a")))
	run := func(args ...string) error {
		cmd := newRootCmd()
		cmd.SetArgs(args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		return cmd.Execute()
	}
	if err := run("healthcheck", "--url", ts.url("/healthz")); err != nil {
		t.Errorf("healthcheck against a running server: %v, want success", err)
	}
	if err := run("healthcheck", "--url", ts.url("/nope"), "--timeout", "1s"); err == nil {
		t.Error("healthcheck against a 404 path succeeded, want an error")
	}
	for listen, want := range map[string]string{":8080": "127.0.0.1:8080", "0.0.0.0:9090": "127.0.0.1:9090", "[::]:1": "127.0.0.1:1", "10.0.0.5:80": "10.0.0.5:80"} {
		if got := loopbackAddr(listen); got != want {
			t.Errorf("loopbackAddr(%q) = %q, want %q", listen, got, want)
		}
	}
}

func TestProbeAddrExpandsEnv(t *testing.T) {
	t.Setenv("HC_LISTEN", "127.0.0.1:38090")
	path := filepath.Join(t.TempDir(), "hc.yaml")
	if err := os.WriteFile(path, []byte("server:\n  listen: \"${HC_LISTEN}\"\npolicies: [{name: broken, channel: \"private-x\", when: \"bad ===\"}]\n"), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	got, err := probeAddr(path)
	if err != nil || got != "127.0.0.1:38090" {
		t.Errorf("probeAddr with ${HC_LISTEN} and a broken policy = %q, %v; want 127.0.0.1:38090 and no error", got, err)
	}
}

func TestReadinessWaitsForJWKSAtStartup(t *testing.T) {
	var up atomic.Bool
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, `{"keys":[]}`)
	}))
	t.Cleanup(jwks.Close)
	cfg := strings.Replace(fmt.Sprintf(serveConfig, allowRule("private-a")), "    - name: test\n",
		"    - name: idp\n      issuer: \"https://idp.example\"\n      jwks_url: \""+jwks.URL+"\"\n      algorithms: [RS256]\n    - name: test\n", 1)
	ts := startServer(t, cfg)

	readyz := func() (int, string) {
		resp, err := http.Get(ts.url("/readyz"))
		if err != nil {
			t.Fatalf("GET /readyz: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := readyz(); code != 503 || !strings.Contains(body, "jwks_not_fetched") {
		t.Errorf("/readyz with the JWKS down = %d %s, want 503 jwks_not_fetched", code, body)
	}
	up.Store(true)
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := readyz()
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz 5s after the JWKS came up = %d %s, want 200", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRunServeDrainsOnSIGTERM sends a real SIGTERM to the test process
// while runServe holds a half-sent request: the request must complete and
// runServe must return nil.
func TestRunServeDrainsOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(serveConfig, allowRule("private-a"))), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- runServe(context.Background(), path, "", logs) }()

	var addr string
	deadline := time.Now().Add(5 * time.Second)
	for addr == "" {
		for _, line := range strings.Split(logs.String(), "\n") {
			var entry struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "listening" {
				addr = entry.Addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("runServe did not log its address within 5s:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	sigterm := func() {
		if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
			t.Fatalf("send SIGTERM: %v", err)
		}
	}
	if code := halfSentRequest(t, addr, sigterm); code != 200 {
		t.Errorf("in-flight request during SIGTERM: status %d, want 200", code)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("runServe after SIGTERM: %v, want nil (exit 0)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runServe did not return after SIGTERM")
	}
}

// halfSentRequest sends an auth request for private-a to addr with only the
// first bytes of its body, calls interrupt, sends the rest, and returns the
// status of the response.
func halfSentRequest(t *testing.T, addr string, interrupt func()) int {
	t.Helper()
	body := "socket_id=1.1&channel_name=private-a"
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /pusher/auth HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
		sessionToken(t, "u1"), len(body), body[:10])
	time.Sleep(100 * time.Millisecond)

	interrupt()
	time.Sleep(200 * time.Millisecond)
	if _, err := io.WriteString(conn, body[10:]); err != nil {
		t.Fatalf("write rest of body: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response of in-flight request: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
