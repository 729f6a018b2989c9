package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// dashboardExprs returns the PromQL of every panel target, with Grafana's
// variables replaced by what Prometheus can parse.
func dashboardExprs(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r := strings.NewReplacer("$__rate_interval", "5m", "$job", ".*")
	var exprs []string
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			exprs = append(exprs, r.Replace(t.Expr))
		}
	}
	return exprs, nil
}

var metricNameRE = regexp.MustCompile(`\b((?:paymentcompletion|grpc_server|process|go)_[a-z_]+?)(?:_bucket|_count|_sum)?\b[{\[ )]`)

// checkDashboard reports metrics the dashboard reads that neither the
// metrics table of docs/operations.md nor the rules know (a typo shows nothing, with no
// error anywhere), and writes the expressions as recording rules for
// `promtool check rules` to parse.
func checkDashboard(path, docPath, rulesPath, rulesOut string) ([]string, error) {
	exprs, err := dashboardExprs(path)
	if err != nil {
		return nil, err
	}
	doc, err := os.ReadFile(docPath)
	if err != nil {
		return nil, err
	}
	rules, err := os.ReadFile(rulesPath)
	if err != nil {
		return nil, err
	}
	known := string(doc) + string(rules)
	var problems []string
	missing := map[string]bool{}
	type recording struct {
		Record string `json:"record"`
		Expr   string `json:"expr"`
	}
	var recs []recording
	for i, e := range exprs {
		recs = append(recs, recording{Record: fmt.Sprintf("dashboard:expr%d", i), Expr: e})
		for _, m := range metricNameRE.FindAllStringSubmatch(e+" ", -1) {
			if !strings.Contains(known, m[1]) {
				missing[m[1]] = true
			}
		}
	}
	for m := range missing {
		problems = append(problems, fmt.Sprintf("dashboard reads %s, which neither docs/operations.md nor rules.yml names", m))
	}
	sort.Strings(problems)
	if len(exprs) < 20 {
		problems = append(problems, fmt.Sprintf("dashboard has only %d queries", len(exprs)))
	}
	if rulesOut != "" {
		b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": recs}}})
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(rulesOut, b, 0o644); err != nil {
			return nil, err
		}
	}
	return problems, nil
}
