package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"sigs.k8s.io/yaml"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	return path
}

const minimalConfig = `
pusher:
  key: "app-key"
  secret: "${TEST_PUSHER_SECRET}"
session:
  issuers:
    - name: dev
      keys:
        - algorithms: [HS256]
          secret: "0123456789abcdef0123456789abcdef"
policies:
  - name: all-private
    channel: "private-*"
`

func TestLoadEmbeddedConfig(t *testing.T) {
	loaded, err := loadConfig("")
	if err != nil {
		t.Fatalf("loadConfig(embedded): %v", err)
	}
	if !loaded.Source.Embedded {
		t.Errorf("Source.Embedded = false, want true")
	}
	if got := loaded.App.Policy.RuleCount(); got == 0 {
		t.Errorf("RuleCount = 0, want the example rules")
	}
	if loaded.Config.Server.ChannelAuthPath != "/pusher/auth" || loaded.Config.Server.UserAuthPath != "/pusher/user-auth" {
		t.Errorf("paths = %q, %q, want pusher-js defaults", loaded.Config.Server.ChannelAuthPath, loaded.Config.Server.UserAuthPath)
	}
}

func TestLoadExpandsEnvAndOverrides(t *testing.T) {
	t.Setenv("TEST_PUSHER_SECRET", "secret-from-env")
	t.Setenv("PUSHER_AUTHD_PUSHER_KEY", "key-from-env")
	t.Setenv("PUSHER_AUTHD_SESSION_LEEWAY", "10s")
	loaded, err := loadConfig(writeConfig(t, minimalConfig))
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if got := loaded.Config.Pusher.Secret; got != "secret-from-env" {
		t.Errorf("pusher.secret = %q, want the ${TEST_PUSHER_SECRET} value", got)
	}
	if got := loaded.Config.Pusher.Key; got != "key-from-env" {
		t.Errorf("pusher.key = %q, want the PUSHER_AUTHD_PUSHER_KEY value", got)
	}
	if got := loaded.Config.Session.Leeway; got != 10*time.Second {
		t.Errorf("session.leeway = %s, want 10s", got)
	}
	if !loaded.Config.Session.RequireExp {
		t.Errorf("session.require_exp = false, want the default true")
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	path := writeConfig(t, `
pusher:
  key: ""
  secret: ""
  encryption_master_key: "dG9vIHNob3J0"
  secert: "typo"
session:
  issuers:
    - name: dev
      keys:
        - algorithms: [HS256]
          secret: "short"
policies:
  - name: bad-cel
    channel: "private-x"
    when: "claims.sub =="
  - name: wrong-type
    channel: "private-y"
    when: "'yes'"
`)
	_, err := loadConfig(path)
	var cfgErr *ConfigError
	if !errors.As(err, &cfgErr) {
		t.Fatalf("loadConfig: err = %v, want *ConfigError", err)
	}
	text := err.Error()
	if !strings.Contains(text, `unknown key "pusher.secert"`) {
		t.Errorf("loadConfig error is missing the unknown key; got:\n%s", text)
	}
	for _, want := range []string{
		"pusher.key: empty",
		"pusher.secret: empty; set it with PUSHER_AUTHD_PUSHER_SECRET",
		"pusher.encryption_master_key: decodes to 9 bytes, want 32",
		"session.issuers[0].keys[0].secret: 5 bytes is too short for HMAC",
		"policies[0].when:",
		"policies[1].when: expression returns string, want bool",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("loadConfig error is missing %q; got:\n%s", want, text)
		}
	}
	if !strings.Contains(text, "7 problems") {
		t.Errorf("loadConfig error should count 7 problems; got:\n%s", text)
	}
}

func TestLoadRejectsEncryptedRuleWithoutMasterKey(t *testing.T) {
	t.Setenv("TEST_PUSHER_SECRET", "s")
	path := writeConfig(t, minimalConfig+`  - name: e2e
    channel: "private-encrypted-{x}"
`)
	_, err := loadConfig(path)
	if err == nil || !strings.Contains(err.Error(), "policies[1].channel: allows private-encrypted- channels but pusher.encryption_master_key is empty") {
		t.Errorf("loadConfig: err = %v, want the encrypted-rule problem", err)
	}
}

func TestLoadUnsetEnvReference(t *testing.T) {
	os.Unsetenv("TEST_PUSHER_SECRET")
	_, err := loadConfig(writeConfig(t, minimalConfig))
	if err == nil || !strings.Contains(err.Error(), "pusher.secret: environment variable TEST_PUSHER_SECRET is not set") {
		t.Errorf("loadConfig: err = %v, want the unset variable named with its key", err)
	}
}

func TestErrorsNeverEchoSecrets(t *testing.T) {
	t.Setenv("TEST_PUSHER_SECRET", "very-secret-value")
	path := writeConfig(t, strings.Replace(minimalConfig, `"0123456789abcdef0123456789abcdef"`, `"short-hmac-secret"`, 1))
	_, err := loadConfig(path)
	if err == nil {
		t.Fatal("loadConfig accepted a short HMAC secret")
	}
	for _, s := range []string{"very-secret-value", "short-hmac-secret"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains secret %q", err, s)
		}
	}
}

func TestMintTokenVerifies(t *testing.T) {
	loaded, err := loadConfig("")
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	tok, err := mintToken(loaded.Config, "user-9", time.Minute, []string{"name=Nine", `rooms=["a","b"]`}, time.Now())
	if err != nil {
		t.Fatalf("mintToken: %v", err)
	}
	claims, err := loaded.App.Sessions.Verify(t.Context(), tok)
	if err != nil {
		t.Fatalf("Verify(minted token): %v", err)
	}
	if claims["sub"] != "user-9" || claims["name"] != "Nine" {
		t.Errorf("claims = %v, want sub user-9 and name Nine", claims)
	}
	if rooms, ok := claims["rooms"].([]any); !ok || len(rooms) != 2 {
		t.Errorf("claims[rooms] = %#v, want a JSON list", claims["rooms"])
	}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{}); err != nil {
		t.Errorf("minted token does not parse: %v", err)
	}
}

// TestKubernetesConfigMapLoads loads the config in the example ConfigMap
// with the secrets the Deployment takes from its Secret, without network.
func TestKubernetesConfigMapLoads(t *testing.T) {
	raw, err := os.ReadFile("deploy/kubernetes/configmap.yaml")
	if err != nil {
		t.Fatalf("read ConfigMap: %v", err)
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(raw, &cm); err != nil {
		t.Fatalf("parse ConfigMap: %v", err)
	}
	t.Setenv("PUSHER_AUTHD_PUSHER_SECRET", "secret-from-the-kubernetes-secret")
	t.Setenv("PUSHER_AUTHD_PUSHER_ENCRYPTION_MASTER_KEY", "zyrm8pvV2C9fJcBfhyXzvxbJVN/H7QLmbe0xJi1GhPU=")
	loaded, err := loadConfig(writeConfig(t, cm.Data["config.yaml"]), offline())
	if err != nil {
		t.Fatalf("ConfigMap config does not load: %v", err)
	}
	loaded.Close()
	if loaded.Config.Server.MetricsListen == "" {
		t.Error("server.metrics_listen is empty; the probes expect a separate metrics port")
	}
}

func TestLoadKeepsClaimAliasCase(t *testing.T) {
	t.Setenv("TEST_PUSHER_SECRET", "s")
	text := strings.Replace(minimalConfig, "    - name: dev\n", "    - name: dev\n      claims:\n        - name: tenantID\n          path: app_metadata.tenantID\n", 1)
	loaded, err := loadConfig(writeConfig(t, text), offline())
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	defer loaded.Close()
	got := loaded.Config.Session.Issuers[0].Claims
	if len(got) != 1 || got[0].Name != "tenantID" || got[0].Path != "app_metadata.tenantID" {
		t.Errorf("claims = %+v, want name tenantID and path app_metadata.tenantID with case kept", got)
	}
}

func TestLoadRejectsRoutePatterns(t *testing.T) {
	t.Setenv("TEST_PUSHER_SECRET", "s")
	for _, path := range []string{"/*", "/u/:x", "pusher/auth", "/healthz", "/apps/x"} {
		text := "server:\n  channel_auth_path: \"" + path + "\"\n" + minimalConfig
		_, err := loadConfig(writeConfig(t, text), offline())
		if err == nil || !strings.Contains(err.Error(), "server.channel_auth_path") {
			t.Errorf("channel_auth_path %q: err = %v, want a server.channel_auth_path problem", path, err)
		}
	}
}

func TestYAMLErrorsQuoteNoFileText(t *testing.T) {
	for _, text := range []string{
		"pusher:\n  secret: *Xk29Secret9fJ\n",
		"pusher:\n  secret: !!int Xk29Secret9fJ\n",
	} {
		_, err := loadConfig(writeConfig(t, text), offline())
		if err == nil {
			t.Fatalf("loadConfig(%q) succeeded", text)
		}
		if strings.Contains(err.Error(), "Xk29Secret9fJ") {
			t.Errorf("loadConfig(%q) error quotes the value: %v", text, err)
		}
	}
}
