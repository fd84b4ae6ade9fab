package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-viper/mapstructure/v2"
	"go.yaml.in/yaml/v3"

	"github.com/pusher-authd/pusher-authd/channel"
)

var update = flag.Bool("update", false, "rewrite the .golden files under testdata/errors from the current output")

// policyFile is a policy.yaml under testdata: the policies and signin keys
// as config.yaml spells them, plus the Spec settings that come from other
// parts of the service configuration.
type policyFile struct {
	Policies          []RuleSpec `mapstructure:"policies"`
	SignIn            SignInSpec `mapstructure:"signin"`
	EncryptionEnabled bool       `mapstructure:"encryption_enabled"`
	CostLimit         uint64     `mapstructure:"cost_limit"`
}

// loadPolicySpec reads a policy.yaml the way the service decodes its
// configuration: YAML into a map, then mapstructure into the specs. An
// unknown key fails the test, so a typo in a fixture never goes unnoticed.
func loadPolicySpec(t *testing.T, path string) Spec {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read policy: %v", err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		t.Fatalf("%s: invalid YAML: %v", path, err)
	}

	var file policyFile
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{ErrorUnused: true, Result: &file})
	if err != nil {
		t.Fatalf("mapstructure.NewDecoder: %v", err)
	}
	if err := dec.Decode(raw); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return Spec{
		Rules:             file.Policies,
		SignIn:            file.SignIn,
		EncryptionEnabled: file.EncryptionEnabled,
		CostLimit:         file.CostLimit,
	}
}

// policyCase is one entry of a cases.yaml: an input and the expected decision.
type policyCase struct {
	Name string `yaml:"name"`
	// SignIn selects Engine.SignIn in place of Engine.Decide, which leaves
	// Channel unused.
	SignIn   bool              `yaml:"signin"`
	Channel  string            `yaml:"channel"`
	SocketID string            `yaml:"socket_id"` // "1234.5678" when empty
	Claims   map[string]any    `yaml:"claims"`
	Params   map[string]string `yaml:"params"`
	Want     caseWant          `yaml:"want"`
}

type caseWant struct {
	Allow  bool   `yaml:"allow"`
	Rule   string `yaml:"rule"`
	Reason Reason `yaml:"reason"`
	// DetailContains, when set, must be a substring of Decision.Detail.
	DetailContains string        `yaml:"detail_contains"`
	Member         *caseMember   `yaml:"member"`
	UserData       *caseUserData `yaml:"user_data"`
}

type caseMember struct {
	UserID   string         `yaml:"user_id"`
	UserInfo map[string]any `yaml:"user_info"`
}

type caseUserData struct {
	ID        string         `yaml:"id"`
	UserInfo  map[string]any `yaml:"user_info"`
	Watchlist []string       `yaml:"watchlist"`
}

func loadCases(t *testing.T, path string) []policyCase {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read cases: %v", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var cases []policyCase
	if err := dec.Decode(&cases); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(cases) == 0 {
		t.Fatalf("%s: no cases", path)
	}
	return cases
}

// asJWTClaims passes claims through encoding/json, so that numbers are
// float64 and nested maps are map[string]any, as in a verified session token.
func asJWTClaims(t *testing.T, claims map[string]any) map[string]any {
	t.Helper()
	if claims == nil {
		return nil
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(jsonText(t, claims)), &out); err != nil {
		t.Fatalf("json.Unmarshal claims: %v", err)
	}
	return out
}

// TestPolicyCases runs every testdata/cases/<dir>/cases.yaml against the
// policy.yaml beside it.
func TestPolicyCases(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "cases", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no folders under testdata/cases")
	}

	for _, dir := range dirs {
		name := filepath.Base(dir)
		e, err := Compile(loadPolicySpec(t, filepath.Join(dir, "policy.yaml")))
		if err != nil {
			t.Errorf("%s/policy.yaml: Compile error:\n%v", name, err)
			continue
		}
		for _, tc := range loadCases(t, filepath.Join(dir, "cases.yaml")) {
			t.Run(name+"/"+tc.Name, func(t *testing.T) {
				runCase(t, e, tc)
			})
		}
	}
}

func runCase(t *testing.T, e *Engine, tc policyCase) {
	t.Helper()
	in := Input{
		Channel:  tc.Channel,
		SocketID: tc.SocketID,
		Claims:   asJWTClaims(t, tc.Claims),
		Params:   tc.Params,
	}
	if in.SocketID == "" {
		in.SocketID = "1234.5678"
	}

	var got Decision
	call := "SignIn"
	if tc.SignIn {
		got = e.SignIn(t.Context(), in)
	} else {
		kind, err := channel.ParseName(tc.Channel)
		if err != nil {
			t.Fatalf("ParseName(%q) error = %v; a case needs an authorizable channel", tc.Channel, err)
		}
		in.Kind = kind
		got = e.Decide(t.Context(), in)
		call = "Decide(" + tc.Channel + ")"
	}

	if got.Allow != tc.Want.Allow {
		t.Errorf("%s.Allow = %v, want %v", call, got.Allow, tc.Want.Allow)
	}
	if got.Rule != tc.Want.Rule {
		t.Errorf("%s.Rule = %q, want %q", call, got.Rule, tc.Want.Rule)
	}
	if got.Reason != tc.Want.Reason {
		t.Errorf("%s.Reason = %q, want %q (detail %q)", call, got.Reason, tc.Want.Reason, got.Detail)
	}
	if tc.Want.DetailContains != "" && !strings.Contains(got.Detail, tc.Want.DetailContains) {
		t.Errorf("%s.Detail = %q, want it to contain %q", call, got.Detail, tc.Want.DetailContains)
	}

	switch {
	case tc.Want.Member == nil && got.Member != nil:
		t.Errorf("%s.Member = %+v, want none", call, got.Member)
	case tc.Want.Member != nil && got.Member == nil:
		t.Errorf("%s.Member = nil, want user_id %q", call, tc.Want.Member.UserID)
	case tc.Want.Member != nil:
		if got.Member.UserID != tc.Want.Member.UserID {
			t.Errorf("%s.Member.UserID = %q, want %q", call, got.Member.UserID, tc.Want.Member.UserID)
		}
		gotInfo, wantInfo := jsonText(t, got.Member.UserInfo), jsonText(t, tc.Want.Member.UserInfo)
		if gotInfo != wantInfo {
			t.Errorf("%s.Member.UserInfo = %s, want %s", call, gotInfo, wantInfo)
		}
	}

	switch {
	case tc.Want.UserData == nil && got.UserData != nil:
		t.Errorf("%s.UserData = %+v, want none", call, got.UserData)
	case tc.Want.UserData != nil && got.UserData == nil:
		t.Errorf("%s.UserData = nil, want id %q", call, tc.Want.UserData.ID)
	case tc.Want.UserData != nil:
		if got.UserData.ID != tc.Want.UserData.ID {
			t.Errorf("%s.UserData.ID = %q, want %q", call, got.UserData.ID, tc.Want.UserData.ID)
		}
		gotInfo, wantInfo := jsonText(t, got.UserData.UserInfo), jsonText(t, tc.Want.UserData.UserInfo)
		if gotInfo != wantInfo {
			t.Errorf("%s.UserData.UserInfo = %s, want %s", call, gotInfo, wantInfo)
		}
		if !slices.Equal(got.UserData.Watchlist, tc.Want.UserData.Watchlist) {
			t.Errorf("%s.UserData.Watchlist = %q, want %q", call, got.UserData.Watchlist, tc.Want.UserData.Watchlist)
		}
	}
}

// TestCompileErrors compiles every testdata/errors/*.yaml and compares the
// ProblemsError text with the .golden file beside it. Refresh the golden
// files with: go test ./policy -run TestCompileErrors -update
func TestCompileErrors(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "errors", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no files under testdata/errors")
	}

	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".yaml"), func(t *testing.T) {
			_, err := Compile(loadPolicySpec(t, path))
			var problems *ProblemsError
			if !errors.As(err, &problems) {
				t.Fatalf("Compile(%s) error = %v, want *ProblemsError", path, err)
			}
			got := err.Error() + "\n"

			golden := strings.TrimSuffix(path, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatalf("write golden file: %v", err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden file (create it with -update): %v", err)
			}
			if got != string(want) {
				t.Errorf("Compile(%s) problems differ from %s\ngot:\n%s\nwant:\n%s", path, golden, got, want)
			}
		})
	}
}
