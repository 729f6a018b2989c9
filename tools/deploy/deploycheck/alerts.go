package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"
)

type rule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

type ruleGroup struct {
	Name  string `json:"name"`
	Rules []rule `json:"rules"`
}

func loadRules(path string) ([]ruleGroup, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f struct {
		Groups []ruleGroup `json:"groups"`
	}
	if err := yaml.UnmarshalStrict(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f.Groups, nil
}

var backticked = regexp.MustCompile("`([^`]+)`")

// metricsTableAlerts returns, per metric, the alert conditions the
// metrics table names: the last column, split at semicolons outside
// parentheses; "none" names none. A row of wildcard names (`go_*`,
// `process_*`) gives each condition to the metric it names first.
func metricsTableAlerts(doc string) (map[string][]string, error) {
	_, section, ok := strings.Cut(doc, "\n## Metrics\n")
	if !ok {
		return nil, fmt.Errorf("docs/operations.md has no \"## Metrics\" section")
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	alerts := map[string][]string{}
	rows := 0
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) < 4 {
			return nil, fmt.Errorf("metrics table row with %d cells: %s", len(cells), line)
		}
		rows++
		names := backticked.FindAllStringSubmatch(cells[0], -1)
		metric := names[0][1]
		alertCell := strings.TrimSpace(cells[len(cells)-1])
		if alertCell == "none" {
			continue
		}
		for _, cond := range splitConditions(alertCell) {
			if strings.HasPrefix(cond, "ignore ") { // advice, not an alert
				continue
			}
			m := metric
			if strings.Contains(metric, "*") {
				m = ""
				for _, b := range backticked.FindAllStringSubmatch(cond, -1) {
					if strings.HasPrefix(b[1], strings.TrimSuffix(metric, "*")) || strings.HasPrefix(b[1], "process_") || strings.HasPrefix(b[1], "go_") {
						m = strings.Fields(b[1])[0]
						break
					}
				}
				if m == "" {
					return nil, fmt.Errorf("metrics table alert %q of %s names no metric", cond, metric)
				}
			}
			alerts[m] = append(alerts[m], cond)
		}
	}
	if rows < 10 {
		return nil, fmt.Errorf("metrics table: found only %d rows", rows)
	}
	return alerts, nil
}

func splitConditions(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ';':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

func checkAlerts(docPath, rulesPath string) ([]string, error) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		return nil, err
	}
	want, err := metricsTableAlerts(string(doc))
	if err != nil {
		return nil, err
	}
	groups, err := loadRules(rulesPath)
	if err != nil {
		return nil, err
	}
	return compareAlerts(want, groups), nil
}

func compareAlerts(want map[string][]string, groups []ruleGroup) []string {
	var problems []string
	if strings.Contains(strings.Join(flatten(want), " "), `\|`) {
		problems = append(problems, `the metrics table's alerts contain \| (PromQL that breaks when copied)`)
	}
	have := map[string]int{}
	names := map[string]bool{}
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if names[r.Alert] {
				problems = append(problems, fmt.Sprintf("alert %s defined twice", r.Alert))
			}
			names[r.Alert] = true
			if strings.TrimSpace(r.Annotations["runbook"]) == "" {
				problems = append(problems, fmt.Sprintf("alert %s has no runbook annotation", r.Alert))
			}
			m := r.Annotations["metric"]
			if m == "" || !strings.Contains(r.Expr, m) {
				problems = append(problems, fmt.Sprintf("alert %s: annotation metric %q is not in its expression", r.Alert, m))
			}
			if r.Labels["severity"] == "" {
				problems = append(problems, fmt.Sprintf("alert %s has no severity label", r.Alert))
			}
			have[m]++
		}
	}
	for m, conds := range want {
		if have[m] < len(conds) {
			problems = append(problems, fmt.Sprintf("docs/operations.md names %d alert(s) on %s, rules.yml has %d (annotation metric: %s): %s",
				len(conds), m, have[m], m, strings.Join(conds, " / ")))
		}
	}
	return problems
}

func flatten(m map[string][]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v...)
	}
	return out
}
