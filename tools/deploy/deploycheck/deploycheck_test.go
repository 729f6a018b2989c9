package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// root is the repository root, seen from this package's directory.
const root = "../../.."

func repoSettings(t *testing.T) settings {
	t.Helper()
	s, err := serverSettings(filepath.Join(root, "server/config.go"), filepath.Join(root, "amazonpay"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func renderExample(t *testing.T) string {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(root, "deploy/kubernetes/overlays/example"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestManifests(t *testing.T) {
	t.Parallel()
	rendered := renderExample(t)
	s := repoSettings(t)
	groups, err := loadRules(filepath.Join(root, "deploy/prometheus/rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, old, new, want string
	}{
		{"as committed", "", "", ""},
		{"one replica", "replicas: 2", "replicas: 1", "1 replica(s)"},
		{"grace too short", "terminationGracePeriodSeconds: 30", "terminationGracePeriodSeconds: 20", "not above"},
		{"liveness on readiness", "path: /livez\n            port: metrics\n          periodSeconds: 10", "path: /readyz\n            port: metrics\n          periodSeconds: 10", "livenessProbe GETs /readyz"},
		{"writable root", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem"},
		{"capabilities kept", "- ALL", "- NET_RAW", "capabilities"},
		{"unknown setting", "name: LOG_LEVEL", "name: LOG_LEVL", "LOG_LEVL"},
		{"metrics port moved", "value: :9090", "value: :9091", "METRICS_ADDR=:9091"},
		{"simulator allowed", "name: EMBEDDED_SIMULATOR\n          value: \"false\"", "name: EMBEDDED_SIMULATOR\n          value: \"true\"", "EMBEDDED_SIMULATOR"},
		{"quota shares", "name: AMAZON_PAY_RATE_REPLICAS\n          value: \"3\"", "name: AMAZON_PAY_RATE_REPLICAS\n          value: \"2\"", "AMAZON_PAY_RATE_REPLICAS"},
		{"rule drift", "for: 30m", "for: 31m", "PrometheusRule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := rendered
			if tt.old != "" {
				if !strings.Contains(doc, tt.old) {
					t.Fatalf("rendered manifests lack %q", tt.old)
				}
				doc = strings.Replace(doc, tt.old, tt.new, 1)
			}
			objs, err := parseObjects([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			problems := strings.Join(manifestProblems(objs, s, groups), "\n")
			if tt.want == "" && problems != "" {
				t.Fatalf("problems in the committed manifests:\n%s", problems)
			}
			if !strings.Contains(problems, tt.want) {
				t.Fatalf("problems %q do not mention %q", problems, tt.want)
			}
		})
	}
}

func TestAlerts(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join(root, "docs/operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := metricsTableAlerts(string(doc))
	if err != nil {
		t.Fatal(err)
	}
	groups, err := loadRules(filepath.Join(root, "deploy/prometheus/rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if p := compareAlerts(want, groups); len(p) > 0 {
		t.Fatalf("committed rules: %v", p)
	}
	if n := len(want["paymentcompletion_payments_unsettled_oldest_age_seconds"]); n != 3 {
		t.Errorf("docs/operations.md conditions on the oldest age: %d, want 3 (pending, unknown, completing)", n)
	}
	// Dropping any one rule must be noticed.
	for gi, g := range groups {
		for ri := range g.Rules {
			cut := make([]ruleGroup, len(groups))
			copy(cut, groups)
			cut[gi].Rules = append(append([]rule{}, g.Rules[:ri]...), g.Rules[ri+1:]...)
			name := g.Rules[ri].Alert
			if _, inDoc := want[g.Rules[ri].Annotations["metric"]]; !inDoc {
				continue
			}
			if p := compareAlerts(want, cut); len(p) == 0 {
				t.Errorf("rules without %s pass the check", name)
			}
		}
	}
}

func TestSystemd(t *testing.T) {
	t.Parallel()
	s := repoSettings(t)
	unit, err := readKeyValues(filepath.Join(root, "deploy/systemd/paymentcompletion.service"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := readKeyValues(filepath.Join(root, "deploy/systemd/paymentcompletion.env"))
	if err != nil {
		t.Fatal(err)
	}
	if p := systemdProblems(unit, env, s); len(p) > 0 {
		t.Fatalf("committed unit: %v", p)
	}
	for key, value := range map[string]string{"TimeoutStopSec": "20", "ProtectSystem": "full", "DynamicUser": "no", "StateDirectory": ""} {
		u := map[string]string{}
		for k, v := range unit {
			u[k] = v
		}
		u[key] = value
		if p := systemdProblems(u, env, s); len(p) == 0 {
			t.Errorf("%s=%s passes the check", key, value)
		}
	}
}

func TestDashboard(t *testing.T) {
	t.Parallel()
	dash := filepath.Join(root, "deploy/grafana/paymentcompletion.json")
	doc, rules := filepath.Join(root, "docs/operations.md"), filepath.Join(root, "deploy/prometheus/rules.yml")
	if p, err := checkDashboard(dash, doc, rules, ""); err != nil || len(p) > 0 {
		t.Fatalf("committed dashboard: %v %v", p, err)
	}
	raw, err := os.ReadFile(dash)
	if err != nil {
		t.Fatal(err)
	}
	typo := filepath.Join(t.TempDir(), "dash.json")
	if err := os.WriteFile(typo, []byte(strings.Replace(string(raw), "paymentcompletion_tracker_lag_seconds", "paymentcompletion_tracker_lag_secs", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err := checkDashboard(typo, doc, rules, ""); err != nil || !strings.Contains(strings.Join(p, " "), "paymentcompletion_tracker_lag_secs") {
		t.Fatalf("a misspelt metric passes: %v %v", p, err)
	}
}
