// Package kubernetes holds the manifests in this folder. Its tests check that
// they parse and refer to each other consistently.
package kubernetes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/pusher-authd/pusher-authd/handlers"
)

// healthPath and readyPath are the liveness and readiness endpoints that
// pusher-authd serves on its metrics listener.
const (
	healthPath = handlers.HealthPath
	readyPath  = handlers.ReadyPath
)

// Defaults of server.shutdown_delay and server.drain_timeout, set in
// config.go, for when the ConfigMap leaves them out. After SIGTERM the
// service serves for the delay and then drains for up to the timeout, so the
// pod's grace period must cover both.
const (
	defaultShutdownDelay = 5 * time.Second
	defaultDrainTimeout  = 20 * time.Second
)

// object is one YAML document. Its JSON form is kept for decoding into the
// kind's struct.
type object struct {
	File       string `json:"-"`
	Line       int    `json:"-"`
	JSON       []byte `json:"-"`
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name        string            `json:"name"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
}

func (o object) String() string {
	return fmt.Sprintf("%s:%d: %s %q", o.File, o.Line, o.Kind, o.Metadata.Name)
}

// The structs below declare only the fields the tests read. encoding/json
// matches field names without regard to case, so runAsNonRoot fills
// RunAsNonRoot without a tag.

type labelSelector struct {
	MatchLabels map[string]string
}

type deployment struct {
	Spec struct {
		Replicas int
		Selector labelSelector
		Template struct {
			Metadata struct {
				Labels map[string]string
			}
			Spec podSpec
		}
	}
}

type podSpec struct {
	EnableServiceLinks            *bool
	TerminationGracePeriodSeconds *int
	SecurityContext               securityContext
	TopologySpreadConstraints     []struct {
		TopologyKey   string
		LabelSelector labelSelector
	}
	Affinity struct {
		PodAntiAffinity json.RawMessage
	}
	Containers []container
	Volumes    []struct {
		Name      string
		ConfigMap *struct {
			Name string
		}
	}
}

type container struct {
	Name  string
	Image string
	Args  []string
	Ports []struct {
		Name          string
		ContainerPort int
	}
	Env []struct {
		Name      string
		Value     string
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string
				Key  string
			}
		}
	}
	StartupProbe   *probe
	LivenessProbe  *probe
	ReadinessProbe *probe
	Lifecycle      struct {
		PreStop *struct {
			Sleep *struct {
				Seconds int
			}
		}
	}
	Resources struct {
		Requests map[string]string
		Limits   map[string]string
	}
	SecurityContext securityContext
	VolumeMounts    []struct {
		Name      string
		MountPath string
		ReadOnly  bool
	}
}

type probe struct {
	HTTPGet *struct {
		Path string
		Port intOrString
	}
}

type securityContext struct {
	RunAsNonRoot             *bool
	RunAsUser                *int
	ReadOnlyRootFilesystem   *bool
	AllowPrivilegeEscalation *bool
	Capabilities             *struct {
		Drop []string
	}
	SeccompProfile *struct {
		Type string
	}
}

type service struct {
	Spec struct {
		Type      string
		ClusterIP string
		Selector  map[string]string
		Ports     []struct {
			Name       string
			Port       int
			TargetPort intOrString
		}
	}
}

type hpa struct {
	Spec struct {
		ScaleTargetRef struct {
			APIVersion string
			Kind       string
			Name       string
		}
		MinReplicas int
		MaxReplicas int
		Metrics     []struct {
			Type     string
			Resource *struct {
				Name   string
				Target struct {
					Type               string
					AverageUtilization int
				}
			}
		}
	}
}

type pdb struct {
	Spec struct {
		MinAvailable   *intOrString
		MaxUnavailable *intOrString
		Selector       labelSelector
	}
}

type secret struct {
	Data       map[string]string
	StringData map[string]string
}

type configMap struct {
	Data map[string]string
}

type kustomization struct {
	Resources []string
}

// intOrString is a Kubernetes IntOrString: a port number or a port name,
// a count or a percentage.
type intOrString struct {
	Int      int
	Str      string
	IsString bool
}

func (v *intOrString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		v.IsString = true
		return json.Unmarshal(b, &v.Str)
	}
	return json.Unmarshal(b, &v.Int)
}

func (v intOrString) String() string {
	if v.IsString {
		return strconv.Quote(v.Str)
	}
	return strconv.Itoa(v.Int)
}

// port returns the number of the container port that ref names or numbers.
func (c container) port(ref intOrString) (int, bool) {
	for _, p := range c.Ports {
		if (ref.IsString && p.Name == ref.Str) || (!ref.IsString && p.ContainerPort == ref.Int) {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

// namedPort returns the number of the container port called name.
func (c container) namedPort(t *testing.T, name string) int {
	t.Helper()
	n, ok := c.port(intOrString{Str: name, IsString: true})
	if !ok {
		t.Fatalf("container %q declares no port named %q", c.Name, name)
	}
	return n
}

// manifests are all YAML documents in this folder, read once.
type manifests struct {
	files   []string
	objects []object
}

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatalf("list manifests: %v", err)
	}
	if len(files) == 0 {
		t.Fatal("no *.yaml files next to the test")
	}

	m := &manifests{files: files}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("read %s: %v", file, err)
		}
		for _, doc := range splitDocuments(data) {
			// YAMLToJSONStrict also rejects duplicate keys, which
			// kubectl would silently resolve to the last value.
			js, err := yaml.YAMLToJSONStrict(doc.text)
			if err != nil {
				t.Fatalf("%s:%d: invalid YAML: %v", file, doc.line, err)
			}
			if string(js) == "null" {
				continue // a document of only comments
			}
			obj := object{File: file, Line: doc.line, JSON: js}
			if err := json.Unmarshal(js, &obj); err != nil {
				t.Fatalf("%s:%d: document is not an object: %v", file, doc.line, err)
			}
			m.objects = append(m.objects, obj)
		}
	}
	return m
}

type document struct {
	text []byte
	// line is the 1-based line where the document starts.
	line int
}

// splitDocuments splits a YAML stream at "---" lines. A marker inside a
// block scalar would be indented, so a marker at column 0 always starts a
// new document.
func splitDocuments(data []byte) []document {
	var docs []document
	current := document{line: 1}
	lineNo := 0
	for line := range bytes.Lines(data) {
		lineNo++
		marker := bytes.TrimRight(line, " \t\r\n")
		if bytes.Equal(marker, []byte("---")) || bytes.HasPrefix(marker, []byte("--- ")) {
			docs = append(docs, current)
			current = document{line: lineNo + 1}
			continue
		}
		current.text = append(current.text, line...)
	}
	return append(docs, current)
}

// one returns the only object of kind named name, decoded into out.
func (m *manifests) one(t *testing.T, kind, name string, out any) object {
	t.Helper()
	var found []object
	for _, o := range m.objects {
		if o.Kind == kind && o.Metadata.Name == name {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("found %d %s objects named %q, want 1: %v", len(found), kind, name, found)
	}
	if err := json.Unmarshal(found[0].JSON, out); err != nil {
		t.Fatalf("%s: decode: %v", found[0], err)
	}
	return found[0]
}

func (m *manifests) deployment(t *testing.T) (deployment, container) {
	t.Helper()
	var d deployment
	m.one(t, "Deployment", "pusher-authd", &d)
	if got := len(d.Spec.Template.Spec.Containers); got != 1 {
		t.Fatalf("Deployment has %d containers, want 1", got)
	}
	return d, d.Spec.Template.Spec.Containers[0]
}

// selects reports whether a non-empty selector matches labels. An empty
// selector would match every pod in the namespace, so it never counts.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestManifestObjects(t *testing.T) {
	m := loadManifests(t)

	for _, o := range m.objects {
		if o.APIVersion == "" {
			t.Errorf("%s: apiVersion is missing", o)
		}
		if o.Kind == "" {
			t.Errorf("%s: kind is missing", o)
		}
		// A Kustomization is read by kustomize, not the API server, and
		// needs no name.
		if o.Metadata.Name == "" && o.Kind != "Kustomization" {
			t.Errorf("%s: metadata.name is missing", o)
		}
	}

	want := []string{
		"configmap.yaml: v1 ConfigMap pusher-authd-config",
		"deployment.yaml: apps/v1 Deployment pusher-authd",
		"hpa.yaml: autoscaling/v2 HorizontalPodAutoscaler pusher-authd",
		"kustomization.yaml: kustomize.config.k8s.io/v1beta1 Kustomization ",
		"pdb.yaml: policy/v1 PodDisruptionBudget pusher-authd",
		"secret.example.yaml: v1 Secret pusher-authd-secrets",
		"service.yaml: v1 Service pusher-authd",
		"service.yaml: v1 Service pusher-authd-metrics",
	}
	var got []string
	for _, o := range m.objects {
		got = append(got, fmt.Sprintf("%s: %s %s %s", o.File, o.APIVersion, o.Kind, o.Metadata.Name))
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("objects:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestSplitDocuments(t *testing.T) {
	tests := []struct {
		name      string
		input     string
		wantLines []int
		wantTexts []string
	}{
		{name: "single document", input: "a: 1\n", wantLines: []int{1}, wantTexts: []string{"a: 1\n"}},
		{name: "two documents", input: "a: 1\n---\nb: 2\n", wantLines: []int{1, 3}, wantTexts: []string{"a: 1\n", "b: 2\n"}},
		{name: "leading marker gives an empty first document", input: "---\na: 1\n", wantLines: []int{1, 2}, wantTexts: []string{"", "a: 1\n"}},
		{name: "marker with a comment splits", input: "a: 1\n--- # next\nb: 2", wantLines: []int{1, 3}, wantTexts: []string{"a: 1\n", "b: 2"}},
		{name: "indented marker in a block scalar does not split", input: "a: |\n  ---\n  x\n", wantLines: []int{1}, wantTexts: []string{"a: |\n  ---\n  x\n"}},
		{name: "longer dash line does not split", input: "a: 1\n----\n", wantLines: []int{1}, wantTexts: []string{"a: 1\n----\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			docs := splitDocuments([]byte(tc.input))
			var lines []int
			var texts []string
			for _, d := range docs {
				lines = append(lines, d.line)
				texts = append(texts, string(d.text))
			}
			if !slices.Equal(lines, tc.wantLines) {
				t.Errorf("splitDocuments(%q) lines = %v, want %v", tc.input, lines, tc.wantLines)
			}
			if !slices.Equal(texts, tc.wantTexts) {
				t.Errorf("splitDocuments(%q) texts = %q, want %q", tc.input, texts, tc.wantTexts)
			}
		})
	}
}

func TestKustomizationResources(t *testing.T) {
	m := loadManifests(t)
	var k kustomization
	for _, o := range m.objects {
		if o.Kind == "Kustomization" {
			if err := json.Unmarshal(o.JSON, &k); err != nil {
				t.Fatalf("%s: decode: %v", o, err)
			}
		}
	}

	// Every manifest is listed except the example Secret, which holds
	// placeholders that must never reach a cluster.
	var want []string
	for _, f := range m.files {
		if f != "kustomization.yaml" && f != "secret.example.yaml" {
			want = append(want, f)
		}
	}
	got := slices.Sorted(slices.Values(k.Resources))
	if !slices.Equal(got, want) {
		t.Errorf("kustomization resources = %v, want %v", got, want)
	}
}

func TestDeploymentProbes(t *testing.T) {
	_, c := loadManifests(t).deployment(t)
	metricsPort := c.namedPort(t, "metrics")

	tests := []struct {
		name     string
		probe    *probe
		wantPath string
	}{
		{name: "startup probe", probe: c.StartupProbe, wantPath: healthPath},
		{name: "liveness probe", probe: c.LivenessProbe, wantPath: healthPath},
		{name: "readiness probe", probe: c.ReadinessProbe, wantPath: readyPath},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.probe == nil || tc.probe.HTTPGet == nil {
				t.Fatalf("%s: missing or not an httpGet probe", tc.name)
			}
			get := tc.probe.HTTPGet
			if get.Path != tc.wantPath {
				t.Errorf("%s path = %q, want %q", tc.name, get.Path, tc.wantPath)
			}
			port, ok := c.port(get.Port)
			if !ok {
				t.Fatalf("%s port %s is not declared by the container", tc.name, get.Port)
			}
			// Probes stay on the metrics listener, which the gateway
			// Service does not expose.
			if port != metricsPort {
				t.Errorf("%s port = %d, want the metrics port %d", tc.name, port, metricsPort)
			}
		})
	}
}

func TestDeploymentSecurityContext(t *testing.T) {
	d, c := loadManifests(t).deployment(t)
	pod := d.Spec.Template.Spec.SecurityContext
	sc := c.SecurityContext

	isTrue := func(b *bool) bool { return b != nil && *b }
	isFalse := func(b *bool) bool { return b != nil && !*b }

	if !isTrue(sc.RunAsNonRoot) && !isTrue(pod.RunAsNonRoot) {
		t.Error("runAsNonRoot is not true in the container or pod securityContext")
	}
	if user := sc.RunAsUser; user == nil || *user != 65532 {
		t.Errorf("container runAsUser = %v, want 65532 (nonroot in distroless)", deref(user))
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Errorf("readOnlyRootFilesystem = %v, want true", deref(sc.ReadOnlyRootFilesystem))
	}
	if !isFalse(sc.AllowPrivilegeEscalation) {
		t.Errorf("allowPrivilegeEscalation = %v, want false", deref(sc.AllowPrivilegeEscalation))
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("capabilities = %+v, want drop [ALL]", sc.Capabilities)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = pod.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != "RuntimeDefault" {
		t.Errorf("seccompProfile = %+v, want type RuntimeDefault", seccomp)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return "unset"
	}
	return *p
}

func TestDeploymentSpec(t *testing.T) {
	m := loadManifests(t)
	d, c := m.deployment(t)
	pod := d.Spec.Template.Spec

	if d.Spec.Replicas != 3 {
		t.Errorf("replicas = %d, want 3", d.Spec.Replicas)
	}
	if !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) {
		t.Errorf("selector %v does not match the pod labels %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
	}
	if want := []string{"serve", "--config", "/etc/pusher-authd/config.yaml"}; !slices.Equal(c.Args, want) {
		t.Errorf("args = %q, want %q", c.Args, want)
	}
	if got := c.namedPort(t, "http"); got != 8080 {
		t.Errorf("http port = %d, want 8080", got)
	}
	if got := c.namedPort(t, "metrics"); got != 9090 {
		t.Errorf("metrics port = %d, want 9090", got)
	}
	for _, list := range []string{"requests", "limits"} {
		values := map[string]map[string]string{"requests": c.Resources.Requests, "limits": c.Resources.Limits}[list]
		for _, res := range []string{"cpu", "memory"} {
			if values[res] == "" {
				t.Errorf("resources.%s.%s is missing", list, res)
			}
		}
	}
	// Service links would add PUSHER_AUTHD_* variables, which the service
	// reads as config overrides.
	if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		t.Errorf("enableServiceLinks = %v, want false", deref(pod.EnableServiceLinks))
	}

	spread := pod.Affinity.PodAntiAffinity != nil
	for _, tsc := range pod.TopologySpreadConstraints {
		if tsc.TopologyKey == "kubernetes.io/hostname" && selects(tsc.LabelSelector.MatchLabels, d.Spec.Template.Metadata.Labels) {
			spread = true
		}
	}
	if !spread {
		t.Error("no topology spread constraint over kubernetes.io/hostname selecting the pods, and no podAntiAffinity")
	}
}

func TestDeploymentGracePeriod(t *testing.T) {
	m := loadManifests(t)
	d, c := m.deployment(t)
	cfg := configMapConfig(t, m)
	grace := d.Spec.Template.Spec.TerminationGracePeriodSeconds
	if grace == nil {
		t.Fatal("terminationGracePeriodSeconds is not set")
	}
	if *grace != 30 {
		t.Errorf("terminationGracePeriodSeconds = %d, want 30", *grace)
	}

	// The kubelet counts a preStop hook against the grace period too.
	var preStop time.Duration
	if s := c.Lifecycle.PreStop; s != nil && s.Sleep != nil {
		preStop = time.Duration(s.Sleep.Seconds) * time.Second
	}
	delay := configDuration(t, cfg, "shutdown_delay", defaultShutdownDelay)
	drain := configDuration(t, cfg, "drain_timeout", defaultDrainTimeout)
	if need := preStop + delay + drain; time.Duration(*grace)*time.Second <= need {
		t.Errorf("terminationGracePeriodSeconds = %ds, want more than preStop %v + server.shutdown_delay %v + server.drain_timeout %v",
			*grace, preStop, delay, drain)
	}
}

// configDuration returns server.<key> from the ConfigMap's config, or def
// when the key is absent.
func configDuration(t *testing.T, cfg map[string]any, key string, def time.Duration) time.Duration {
	t.Helper()
	v := lookup(cfg, "server", key)
	if v == nil {
		return def
	}
	s, ok := v.(string)
	if !ok {
		t.Fatalf("server.%s = %v, want a duration such as 5s", key, v)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("server.%s: %v", key, err)
	}
	return d
}

func TestDeploymentConfigMount(t *testing.T) {
	m := loadManifests(t)
	d, c := m.deployment(t)
	var cm configMap
	m.one(t, "ConfigMap", "pusher-authd-config", &cm)

	var mountPath string
	for _, mount := range c.VolumeMounts {
		if mount.Name != "config" {
			continue
		}
		mountPath = mount.MountPath
		if !mount.ReadOnly {
			t.Error("config volume mount is not readOnly")
		}
	}
	if mountPath != "/etc/pusher-authd" {
		t.Errorf("config volume mountPath = %q, want /etc/pusher-authd", mountPath)
	}

	var source string
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "config" && v.ConfigMap != nil {
			source = v.ConfigMap.Name
		}
	}
	if source != "pusher-authd-config" {
		t.Errorf("config volume ConfigMap = %q, want pusher-authd-config", source)
	}

	// The --config argument must name a key of the mounted ConfigMap.
	configPath := c.Args[slices.Index(c.Args, "--config")+1]
	key, ok := strings.CutPrefix(configPath, mountPath+"/")
	if !ok {
		t.Fatalf("--config %q is not under the mount path %q", configPath, mountPath)
	}
	if _, ok := cm.Data[key]; !ok {
		t.Errorf("ConfigMap pusher-authd-config has no key %q for --config %s", key, configPath)
	}
}

func TestDeploymentSecretRefs(t *testing.T) {
	m := loadManifests(t)
	_, c := m.deployment(t)
	var s secret
	m.one(t, "Secret", "pusher-authd-secrets", &s)
	configKeys := keyPaths(t, readRepoConfig(t))

	wantEnv := []string{"PUSHER_AUTHD_PUSHER_SECRET", "PUSHER_AUTHD_PUSHER_ENCRYPTION_MASTER_KEY"}
	var gotEnv []string
	for _, env := range c.Env {
		if env.ValueFrom == nil || env.ValueFrom.SecretKeyRef == nil {
			continue
		}
		ref := env.ValueFrom.SecretKeyRef
		gotEnv = append(gotEnv, env.Name)
		if ref.Name != "pusher-authd-secrets" {
			t.Errorf("env %s reads Secret %q, want pusher-authd-secrets", env.Name, ref.Name)
		}
		_, inData := s.Data[ref.Key]
		_, inStringData := s.StringData[ref.Key]
		if !inData && !inStringData {
			t.Errorf("env %s reads key %q, which secret.example.yaml does not define", env.Name, ref.Key)
		}
		if key, ok := envConfigKey(env.Name, configKeys); !ok {
			t.Errorf("env %s overrides no key of config.yaml", env.Name)
		} else if key != "pusher.secret" && key != "pusher.encryption_master_key" {
			t.Errorf("env %s sets %s from a Secret, want only pusher.secret and pusher.encryption_master_key", env.Name, key)
		}
	}
	if !slices.Equal(gotEnv, wantEnv) {
		t.Errorf("env from Secret = %v, want %v", gotEnv, wantEnv)
	}
}

// envConfigKey returns the config key that the environment variable name
// overrides: PUSHER_AUTHD_PUSHER_SECRET overrides pusher.secret.
func envConfigKey(name string, keys map[string]bool) (string, bool) {
	rest, ok := strings.CutPrefix(name, "PUSHER_AUTHD_")
	if !ok {
		return "", false
	}
	for key := range keys {
		if !strings.Contains(key, "[]") && strings.ToUpper(strings.ReplaceAll(key, ".", "_")) == rest {
			return key, true
		}
	}
	return "", false
}

func TestServices(t *testing.T) {
	m := loadManifests(t)
	d, c := m.deployment(t)
	podLabels := d.Spec.Template.Metadata.Labels
	metricsPort := c.namedPort(t, "metrics")

	t.Run("gateway service sends port 80 to http", func(t *testing.T) {
		var s service
		m.one(t, "Service", "pusher-authd", &s)
		if s.Spec.Type != "ClusterIP" {
			t.Errorf("type = %q, want ClusterIP", s.Spec.Type)
		}
		if !selects(s.Spec.Selector, podLabels) {
			t.Errorf("selector %v does not match the pod labels %v", s.Spec.Selector, podLabels)
		}
		if len(s.Spec.Ports) != 1 {
			t.Fatalf("has %d ports, want only the http port", len(s.Spec.Ports))
		}
		p := s.Spec.Ports[0]
		if p.Port != 80 {
			t.Errorf("port = %d, want 80", p.Port)
		}
		target, ok := c.port(p.TargetPort)
		if !ok {
			t.Fatalf("targetPort %s is not declared by the container", p.TargetPort)
		}
		if want := c.namedPort(t, "http"); target != want {
			t.Errorf("targetPort %s is container port %d, want the http port %d", p.TargetPort, target, want)
		}
	})

	t.Run("metrics service is headless and annotated", func(t *testing.T) {
		var s service
		o := m.one(t, "Service", "pusher-authd-metrics", &s)
		if s.Spec.ClusterIP != "None" {
			t.Errorf("clusterIP = %q, want None (headless)", s.Spec.ClusterIP)
		}
		if !selects(s.Spec.Selector, podLabels) {
			t.Errorf("selector %v does not match the pod labels %v", s.Spec.Selector, podLabels)
		}
		if len(s.Spec.Ports) != 1 {
			t.Fatalf("has %d ports, want only the metrics port", len(s.Spec.Ports))
		}
		target, ok := c.port(s.Spec.Ports[0].TargetPort)
		if !ok {
			t.Fatalf("targetPort %s is not declared by the container", s.Spec.Ports[0].TargetPort)
		}
		if target != metricsPort {
			t.Errorf("targetPort is container port %d, want the metrics port %d", target, metricsPort)
		}

		wantAnnotations := map[string]string{
			"prometheus.io/scrape": "true",
			"prometheus.io/port":   strconv.Itoa(metricsPort),
			"prometheus.io/path":   "/metrics",
		}
		for k, want := range wantAnnotations {
			if got := o.Metadata.Annotations[k]; got != want {
				t.Errorf("annotation %s = %q, want %q", k, got, want)
			}
		}
	})
}

func TestHorizontalPodAutoscaler(t *testing.T) {
	m := loadManifests(t)
	var h hpa
	m.one(t, "HorizontalPodAutoscaler", "pusher-authd", &h)

	ref := h.Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != "pusher-authd" {
		t.Errorf("scaleTargetRef = %+v, want apps/v1 Deployment pusher-authd", ref)
	}
	if h.Spec.MinReplicas != 3 || h.Spec.MaxReplicas != 20 {
		t.Errorf("replicas = %d..%d, want 3..20", h.Spec.MinReplicas, h.Spec.MaxReplicas)
	}
	if len(h.Spec.Metrics) != 1 || h.Spec.Metrics[0].Resource == nil {
		t.Fatalf("metrics = %+v, want one CPU resource metric", h.Spec.Metrics)
	}
	res := h.Spec.Metrics[0].Resource
	if res.Name != "cpu" || res.Target.Type != "Utilization" || res.Target.AverageUtilization != 70 {
		t.Errorf("metric = %s %s %d, want cpu Utilization 70", res.Name, res.Target.Type, res.Target.AverageUtilization)
	}

	// Utilization is measured against the request, so one must be set.
	_, c := m.deployment(t)
	if c.Resources.Requests["cpu"] == "" {
		t.Error("the container sets no CPU request, so CPU utilization is undefined")
	}
}

func TestPodDisruptionBudget(t *testing.T) {
	m := loadManifests(t)
	d, _ := m.deployment(t)
	var p pdb
	m.one(t, "PodDisruptionBudget", "pusher-authd", &p)

	if !maps.Equal(p.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Errorf("selector = %v, want the Deployment's selector %v", p.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels)
	}

	switch {
	case p.Spec.MaxUnavailable != nil && p.Spec.MinAvailable == nil:
		if got := *p.Spec.MaxUnavailable; got.IsString || got.Int != 1 {
			t.Errorf("maxUnavailable = %s, want 1", got)
		}
	case p.Spec.MinAvailable != nil && p.Spec.MaxUnavailable == nil:
		if got := *p.Spec.MinAvailable; got.IsString || got.Int != 2 {
			t.Errorf("minAvailable = %s, want 2", got)
		}
	default:
		t.Error("want exactly one of minAvailable and maxUnavailable")
	}
}

// pendingConfigKeys are keys the ConfigMap uses that the repository's
// config.yaml shows only in a comment, because its development issuer has
// static keys. The main package's TestKubernetesConfigMapLoads loads the
// ConfigMap's config for real, so a removed key still fails there.
var pendingConfigKeys = map[string]bool{
	"session.issuers[].discovery":  true,
	"session.issuers[].jwks_url":   true,
	"session.issuers[].algorithms": true,
}

func TestConfigMapConfig(t *testing.T) {
	m := loadManifests(t)
	cfg := configMapConfig(t, m)
	_, c := m.deployment(t)

	t.Run("every key is documented in config.yaml", func(t *testing.T) {
		documented := keyPaths(t, readRepoConfig(t))
		for key := range keyPaths(t, cfg) {
			if !documented[key] && !pendingConfigKeys[key] {
				t.Errorf("key %s is not in the repository's config.yaml", key)
			}
		}
	})

	t.Run("listen addresses match the container ports", func(t *testing.T) {
		for key, portName := range map[string]string{"listen": "http", "metrics_listen": "metrics"} {
			addr, _ := lookup(cfg, "server", key).(string)
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				t.Errorf("server.%s = %q: %v", key, addr, err)
				continue
			}
			if want := strconv.Itoa(c.namedPort(t, portName)); port != want {
				t.Errorf("server.%s port = %s, want the %s container port %s", key, port, portName, want)
			}
		}
	})

	t.Run("secrets are left empty for the environment", func(t *testing.T) {
		for _, key := range []string{"secret", "encryption_master_key"} {
			if got := lookup(cfg, "pusher", key); got != "" {
				t.Errorf("pusher.%s = %v, want \"\" so the Secret supplies it", key, got)
			}
		}
	})

	t.Run("issuer uses discovery with RS256", func(t *testing.T) {
		issuers, _ := lookup(cfg, "session", "issuers").([]any)
		if len(issuers) == 0 {
			t.Fatal("session.issuers is empty")
		}
		is, _ := issuers[0].(map[string]any)
		if iss, _ := is["issuer"].(string); !strings.HasPrefix(iss, "https://") {
			t.Errorf("session.issuers[0].issuer = %q, want an https URL", iss)
		}
		if is["discovery"] != true {
			t.Errorf("session.issuers[0].discovery = %v, want true", is["discovery"])
		}
		if algs := fmt.Sprint(is["algorithms"]); algs != "[RS256]" {
			t.Errorf("session.issuers[0].algorithms = %s, want [RS256]", algs)
		}
		if aud, _ := is["audience"].([]any); len(aud) == 0 {
			t.Error("session.issuers[0].audience is empty, so aud would not be checked")
		}
	})

	t.Run("two example policies", func(t *testing.T) {
		policies, _ := cfg["policies"].([]any)
		if len(policies) != 2 {
			t.Errorf("policies has %d rules, want 2", len(policies))
		}
	})
}

// configMapConfig returns the config.yaml key of the ConfigMap, decoded.
func configMapConfig(t *testing.T, m *manifests) map[string]any {
	t.Helper()
	var cm configMap
	m.one(t, "ConfigMap", "pusher-authd-config", &cm)
	js, err := yaml.YAMLToJSONStrict([]byte(cm.Data["config.yaml"]))
	if err != nil {
		t.Fatalf("ConfigMap config.yaml: invalid YAML: %v", err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(js, &cfg); err != nil {
		t.Fatalf("ConfigMap config.yaml: not a mapping: %v", err)
	}
	return cfg
}

// readRepoConfig returns the repository's documented config.yaml.
func readRepoConfig(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config.yaml"))
	if err != nil {
		t.Fatalf("read the repository's config.yaml: %v", err)
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		t.Fatalf("repository config.yaml: invalid YAML: %v", err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(js, &cfg); err != nil {
		t.Fatalf("repository config.yaml: not a mapping: %v", err)
	}
	return cfg
}

// keyPaths returns every key path in v, writing list items as []:
// session.issuers[].audience.
func keyPaths(t *testing.T, v any) map[string]bool {
	t.Helper()
	paths := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, child := range v {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				paths[p] = true
				walk(p, child)
			}
		case []any:
			for _, item := range v {
				walk(prefix+"[]", item)
			}
		}
	}
	walk("", v)
	return paths
}

// lookup returns the value at path in a decoded mapping, or nil.
func lookup(m map[string]any, path ...string) any {
	var v any = m
	for _, key := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[key]
	}
	return v
}
