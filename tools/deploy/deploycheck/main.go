// Command deploycheck checks that the deployment files agree with the
// server and the docs, where a schema cannot tell:
//
//   - every alert of the metrics table of docs/operations.md is a rule in
//     deploy/prometheus/rules.yml (one per condition, each with a runbook),
//     and the PrometheusRule of the manifests carries the same rules;
//   - the rendered Kubernetes manifests set only settings the server has
//     (server/config.go), probe separate signals on the metrics port, leave
//     the drain and the grace inside terminationGracePeriodSeconds, run
//     read-only, non-root, without capabilities, and have their Services,
//     PodDisruptionBudget, NetworkPolicy and ServiceMonitor point at the
//     ports the settings open;
//   - the systemd unit and its environment file do the same;
//   - the Grafana dashboard reads only metrics docs/operations.md or the rules
//     name (its queries are written out for promtool to parse).
//
// Run from the repository root (CI: .ci/deploy.sh):
//
//	go run -modfile=tools/deploy/go.mod ./tools/deploy/deploycheck -rendered manifests.yaml
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	rendered := flag.String("rendered", "", "the rendered Kubernetes manifests (kustomize build)")
	dashboardRules := flag.String("dashboard-rules", "", "write the dashboard's queries here as recording rules, for promtool check rules")
	printEnvOnly := flag.Bool("print-env", false, "print the Deployment's environment (NAME, kind, value; tab-separated) and exit")
	flag.Parse()
	if *printEnvOnly {
		if err := printEnv(os.Stdout, *rendered); err != nil {
			fmt.Fprintln(os.Stderr, "deploycheck:", err)
			os.Exit(1)
		}
		return
	}
	var problems []string
	report := func(name string, ps []string, err error) {
		if err != nil {
			ps = append(ps, err.Error())
		}
		for _, p := range ps {
			problems = append(problems, name+": "+p)
		}
		if len(ps) == 0 {
			fmt.Printf("deploycheck: %s: ok\n", name)
		}
	}
	settings, err := serverSettings("server/config.go", "amazonpay")
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploycheck:", err)
		os.Exit(1)
	}
	ps, err := checkAlerts("docs/operations.md", "deploy/prometheus/rules.yml")
	report("docs/operations.md alerts in deploy/prometheus/rules.yml", ps, err)
	if *rendered != "" {
		ps, err = checkManifests(*rendered, settings, "deploy/prometheus/rules.yml")
		report("Kubernetes manifests", ps, err)
	}
	ps, err = checkSystemd("deploy/systemd/paymentcompletion.service", "deploy/systemd/paymentcompletion.env", settings)
	report("systemd unit", ps, err)
	ps, err = checkDashboard("deploy/grafana/paymentcompletion.json", "docs/operations.md", "deploy/prometheus/rules.yml", *dashboardRules)
	report("Grafana dashboard", ps, err)
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, "deploycheck: FAIL:", p)
		}
		os.Exit(1)
	}
}
