package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// The parts of the objects the checks read.
type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec json.RawMessage `json:"spec"`
}

type probe struct {
	HTTPGet *struct {
		Path string `json:"path"`
		Port any    `json:"port"`
	} `json:"httpGet"`
	GRPC      any `json:"grpc"`
	Exec      any `json:"exec"`
	TCPSocket any `json:"tcpSocket"`
}

type securityContext struct {
	RunAsNonRoot             *bool  `json:"runAsNonRoot"`
	RunAsUser                *int64 `json:"runAsUser"`
	ReadOnlyRootFilesystem   *bool  `json:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool  `json:"allowPrivilegeEscalation"`
	Privileged               *bool  `json:"privileged"`
	Capabilities             *struct {
		Drop []string `json:"drop"`
		Add  []string `json:"add"`
	} `json:"capabilities"`
	SeccompProfile *struct {
		Type string `json:"type"`
	} `json:"seccompProfile"`
}

type container struct {
	Name  string `json:"name"`
	Ports []struct {
		Name          string `json:"name"`
		ContainerPort int    `json:"containerPort"`
	} `json:"ports"`
	Env []struct {
		Name      string `json:"name"`
		Value     string `json:"value"`
		ValueFrom any    `json:"valueFrom"`
	} `json:"env"`
	EnvFrom        []any  `json:"envFrom"`
	StartupProbe   *probe `json:"startupProbe"`
	LivenessProbe  *probe `json:"livenessProbe"`
	ReadinessProbe *probe `json:"readinessProbe"`
	Lifecycle      *struct {
		PreStop *struct {
			Sleep *struct {
				Seconds int `json:"seconds"`
			} `json:"sleep"`
			Exec any `json:"exec"`
		} `json:"preStop"`
	} `json:"lifecycle"`
	SecurityContext *securityContext `json:"securityContext"`
	Resources       struct {
		Requests map[string]any `json:"requests"`
		Limits   map[string]any `json:"limits"`
	} `json:"resources"`
	VolumeMounts []struct {
		Name      string `json:"name"`
		MountPath string `json:"mountPath"`
		ReadOnly  bool   `json:"readOnly"`
	} `json:"volumeMounts"`
}

type deploymentSpec struct {
	Replicas *int `json:"replicas"`
	Strategy struct {
		RollingUpdate *struct {
			MaxSurge any `json:"maxSurge"`
		} `json:"rollingUpdate"`
	} `json:"strategy"`
	Template struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec struct {
			TerminationGracePeriodSeconds *int             `json:"terminationGracePeriodSeconds"`
			SecurityContext               *securityContext `json:"securityContext"`
			Containers                    []container      `json:"containers"`
			Volumes                       []struct {
				Name     string `json:"name"`
				EmptyDir any    `json:"emptyDir"`
			} `json:"volumes"`
		} `json:"spec"`
	} `json:"template"`
}

type serviceSpec struct {
	Selector map[string]string `json:"selector"`
	Ports    []struct {
		Name       string `json:"name"`
		Port       int    `json:"port"`
		TargetPort any    `json:"targetPort"`
	} `json:"ports"`
}

type selectorSpec struct {
	Selector struct {
		MatchLabels map[string]string `json:"matchLabels"`
	} `json:"selector"`
	PodSelector struct {
		MatchLabels map[string]string `json:"matchLabels"`
	} `json:"podSelector"`
	MinAvailable   any `json:"minAvailable"`
	MaxUnavailable any `json:"maxUnavailable"`
	Endpoints      []struct {
		Port string `json:"port"`
		Path string `json:"path"`
	} `json:"endpoints"`
	Groups []ruleGroup `json:"groups"`
}

func parseObjects(raw []byte) ([]object, error) {
	var objs []object
	for _, doc := range strings.Split("\n"+string(raw), "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	return objs, nil
}

func checkManifests(path string, s settings, rulesPath string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	objs, err := parseObjects(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	groups, err := loadRules(rulesPath)
	if err != nil {
		return nil, err
	}
	return manifestProblems(objs, s, groups), nil
}

func manifestProblems(objs []object, s settings, groups []ruleGroup) []string {
	var p []string
	bad := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	byKind := map[string][]object{}
	for _, o := range objs {
		byKind[o.Kind] = append(byKind[o.Kind], o)
	}
	if len(byKind["Deployment"]) != 1 {
		bad("want one Deployment, got %d", len(byKind["Deployment"]))
		return p
	}
	var d deploymentSpec
	if err := json.Unmarshal(byKind["Deployment"][0].Spec, &d); err != nil {
		bad("Deployment: %v", err)
		return p
	}
	podLabels := d.Template.Metadata.Labels
	replicas := 1
	if d.Replicas != nil {
		replicas = *d.Replicas
	}
	if replicas < 2 {
		bad("Deployment has %d replica(s), want 2 or more", replicas)
	}
	pod := d.Template.Spec
	if len(pod.Containers) != 1 {
		bad("want one container, got %d", len(pod.Containers))
		return p
	}
	c := pod.Containers[0]
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
		if !s.known(e.Name) {
			bad("container sets %s, which server/config.go does not have", e.Name)
		}
	}
	if len(c.EnvFrom) > 0 {
		bad("container uses envFrom: set settings one by one, so they can be checked")
	}
	ports := map[string]int{}
	for _, cp := range c.Ports {
		ports[cp.Name] = cp.ContainerPort
	}
	// Each listener's setting opens the container port of its name.
	for name, setting := range map[string]string{"grpc": "LISTEN_ADDR", "ipn": "IPN_ADDR", "metrics": "METRICS_ADDR"} {
		if env[setting] == "" {
			bad("%s is not set", setting)
			continue
		}
		if port(env[setting]) != strconv.Itoa(ports[name]) {
			bad("%s=%s but container port %q is %d", setting, env[setting], name, ports[name])
		}
	}
	if env["EMBEDDED_SIMULATOR"] != "false" {
		bad("EMBEDDED_SIMULATOR must be \"false\" in a production manifest, got %q", env["EMBEDDED_SIMULATOR"])
	}
	if !strings.HasPrefix(env["DATA_DIR"], "/") {
		bad("DATA_DIR must be an absolute path on a volume, got %q", env["DATA_DIR"])
	}
	// Probes: three, the liveness and readiness signals apart, plain HTTP
	// on the metrics port (the gRPC listener may require client certs).
	type named struct {
		name string
		p    *probe
		path string
	}
	for _, pr := range []named{{"startupProbe", c.StartupProbe, ""}, {"livenessProbe", c.LivenessProbe, "/livez"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}} {
		if pr.p == nil || pr.p.HTTPGet == nil {
			bad("%s missing or not an HTTP GET", pr.name)
			continue
		}
		if pr.path != "" && pr.p.HTTPGet.Path != pr.path {
			bad("%s GETs %s, want %s", pr.name, pr.p.HTTPGet.Path, pr.path)
		}
		if fmt.Sprint(pr.p.HTTPGet.Port) != "metrics" && fmt.Sprint(pr.p.HTTPGet.Port) != strconv.Itoa(ports["metrics"]) {
			bad("%s on port %v, want the metrics port (METRICS_ADDR)", pr.name, pr.p.HTTPGet.Port)
		}
	}
	// Shutdown: preStop sleep (if any), then the server's drain and grace,
	// all inside the grace period the kubelet allows before SIGKILL.
	drain, err := duration(env, "SHUTDOWN_DRAIN_DELAY", "")
	if err != nil || env["SHUTDOWN_DRAIN_DELAY"] == "" {
		bad("SHUTDOWN_DRAIN_DELAY must be set (endpoints take seconds to drop a terminating pod)")
	} else if drain < 3*time.Second {
		bad("SHUTDOWN_DRAIN_DELAY=%v is shorter than endpoint removal takes (3s at least)", drain)
	}
	grace, err := duration(env, "SHUTDOWN_GRACE", "15s")
	if err != nil {
		bad("%v", err)
	}
	var preStop time.Duration
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		if c.Lifecycle.PreStop.Sleep == nil {
			bad("preStop must be a sleep action: the image has no shell")
		} else {
			preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
		}
	}
	if pod.TerminationGracePeriodSeconds == nil {
		bad("terminationGracePeriodSeconds not set")
	} else if tg := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second; tg <= preStop+drain+grace {
		bad("terminationGracePeriodSeconds %v is not above preStop %v + SHUTDOWN_DRAIN_DELAY %v + SHUTDOWN_GRACE %v", tg, preStop, drain, grace)
	}
	// Security: the container's own context, with the pod's as fallback.
	sc := c.SecurityContext
	psc := pod.SecurityContext
	if sc == nil {
		sc = &securityContext{}
	}
	if psc == nil {
		psc = &securityContext{}
	}
	isTrue := func(b ...*bool) bool {
		for _, v := range b {
			if v != nil {
				return *v
			}
		}
		return false
	}
	if !isTrue(sc.RunAsNonRoot, psc.RunAsNonRoot) {
		bad("runAsNonRoot is not true")
	}
	if u := firstInt(sc.RunAsUser, psc.RunAsUser); u == nil || *u == 0 {
		bad("runAsUser must be a numeric non-root UID")
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		bad("readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		bad("allowPrivilegeEscalation is not false")
	}
	if isTrue(sc.Privileged) {
		bad("container is privileged")
	}
	if sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []string{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		bad("capabilities must drop ALL and add none")
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != "RuntimeDefault" {
		bad("seccompProfile is not RuntimeDefault")
	}
	// Writable places: DATA_DIR and /tmp on emptyDir volumes.
	emptyDirs := map[string]bool{}
	for _, v := range pod.Volumes {
		if v.EmptyDir != nil {
			emptyDirs[v.Name] = true
		}
	}
	writable := map[string]bool{}
	for _, m := range c.VolumeMounts {
		if emptyDirs[m.Name] && !m.ReadOnly {
			writable[m.MountPath] = true
		}
	}
	for _, dir := range []string{env["DATA_DIR"], "/tmp"} {
		if !writable[dir] {
			bad("%s is not a writable emptyDir mount (the root file system is read-only)", dir)
		}
	}
	if _, ok := c.Resources.Requests["cpu"]; !ok {
		bad("no CPU request")
	}
	if _, ok := c.Resources.Requests["memory"]; !ok {
		bad("no memory request")
	}
	if _, ok := c.Resources.Limits["memory"]; !ok {
		bad("no memory limit")
	}
	// Amazon's quotas are the merchant's: every replica of a rollout
	// (replicas + maxSurge) takes its share.
	surge := 0
	if ru := d.Strategy.RollingUpdate; ru != nil && ru.MaxSurge != nil {
		surge, _ = strconv.Atoi(fmt.Sprint(ru.MaxSurge))
	}
	if n, _ := strconv.Atoi(env["AMAZON_PAY_RATE_REPLICAS"]); n < replicas+surge {
		bad("AMAZON_PAY_RATE_REPLICAS=%q is below replicas + maxSurge = %d", env["AMAZON_PAY_RATE_REPLICAS"], replicas+surge)
	}

	// Services: one for gRPC, one of its own for IPN, each selecting the pods.
	servicePorts := map[string]string{} // container port name -> Service
	metricsService := map[string]string{}
	for _, o := range byKind["Service"] {
		var sv serviceSpec
		if err := json.Unmarshal(o.Spec, &sv); err != nil {
			bad("Service %s: %v", o.Metadata.Name, err)
			continue
		}
		if !selects(sv.Selector, podLabels) {
			bad("Service %s does not select the pods", o.Metadata.Name)
		}
		for _, sp := range sv.Ports {
			target := fmt.Sprint(sp.TargetPort)
			if _, ok := ports[target]; !ok {
				bad("Service %s port %s targets %q, not a named container port", o.Metadata.Name, sp.Name, target)
			}
			if target == "grpc" || target == "ipn" {
				if other, dup := servicePorts[target]; dup {
					bad("container port %s is on Services %s and %s", target, other, o.Metadata.Name)
				}
				servicePorts[target] = o.Metadata.Name
			}
			if target == "metrics" {
				metricsService[o.Metadata.Name] = sp.Name
			}
		}
	}
	if servicePorts["grpc"] == "" || servicePorts["ipn"] == "" || servicePorts["grpc"] == servicePorts["ipn"] {
		bad("want gRPC and IPN on two different Services, got gRPC on %q and IPN on %q", servicePorts["grpc"], servicePorts["ipn"])
	}
	for kind, want := range map[string]int{"PodDisruptionBudget": 1, "NetworkPolicy": 1, "ServiceMonitor": 1, "PrometheusRule": 1} {
		if len(byKind[kind]) != want {
			bad("want %d %s, got %d", want, kind, len(byKind[kind]))
		}
	}
	for _, o := range append(append(byKind["PodDisruptionBudget"], byKind["NetworkPolicy"]...), byKind["ServiceMonitor"]...) {
		var sp selectorSpec
		if err := json.Unmarshal(o.Spec, &sp); err != nil {
			bad("%s %s: %v", o.Kind, o.Metadata.Name, err)
			continue
		}
		switch o.Kind {
		case "PodDisruptionBudget":
			if !selects(sp.Selector.MatchLabels, podLabels) {
				bad("PodDisruptionBudget %s does not select the pods", o.Metadata.Name)
			}
			if sp.MinAvailable == nil && sp.MaxUnavailable == nil {
				bad("PodDisruptionBudget %s sets neither minAvailable nor maxUnavailable", o.Metadata.Name)
			}
		case "NetworkPolicy":
			if !selects(sp.PodSelector.MatchLabels, podLabels) {
				bad("NetworkPolicy %s does not select the pods", o.Metadata.Name)
			}
		case "ServiceMonitor":
			scraped := false
			for _, svc := range byKind["Service"] {
				if selects(sp.Selector.MatchLabels, svc.Metadata.Labels) {
					for _, ep := range sp.Endpoints {
						if metricsService[svc.Metadata.Name] == ep.Port && (ep.Path == "" || ep.Path == "/metrics") {
							scraped = true
						}
					}
				}
			}
			if !scraped {
				bad("ServiceMonitor %s scrapes no Service port that targets the metrics port at /metrics", o.Metadata.Name)
			}
		}
	}
	for _, o := range byKind["PrometheusRule"] {
		var sp selectorSpec
		if err := json.Unmarshal(o.Spec, &sp); err != nil {
			bad("PrometheusRule %s: %v", o.Metadata.Name, err)
			continue
		}
		if !reflect.DeepEqual(sp.Groups, groups) {
			bad("PrometheusRule %s differs from deploy/prometheus/rules.yml: regenerate it (docs/deploy.md)", o.Metadata.Name)
		}
	}
	return p
}

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

func firstInt(v ...*int64) *int64 {
	for _, x := range v {
		if x != nil {
			return x
		}
	}
	return nil
}
