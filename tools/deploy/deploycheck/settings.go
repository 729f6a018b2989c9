package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// settingRE matches an entry of server/config.go's settings table:
// {"flag-name", "ENV_NAME", ... or {"flag-name", amazonpay.EnvName, ...
var settingRE = regexp.MustCompile(`\{"([a-z0-9-]+)", (?:"([A-Z0-9_]+)"|amazonpay\.(\w+)),`)

// constRE matches a string constant of the amazonpay package: EnvName = "ENV_NAME".
var constRE = regexp.MustCompile(`(?m)^\s*(Env\w+)\s*=\s*"([A-Z0-9_]+)"`)

// runtimeEnv is read by the Go runtime or OpenTelemetry, not the settings.
func runtimeEnv(name string) bool {
	return name == "GOMEMLIMIT" || name == "GOMAXPROCS" || name == "GODEBUG" || strings.HasPrefix(name, "OTEL_")
}

type settings map[string]bool

func serverSettings(path, amazonpayDir string) (settings, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	consts := map[string]string{}
	files, _ := filepath.Glob(filepath.Join(amazonpayDir, "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, m := range constRE.FindAllStringSubmatch(string(b), -1) {
			consts[m[1]] = m[2]
		}
	}
	s := settings{}
	for _, m := range settingRE.FindAllStringSubmatch(string(src), -1) {
		switch {
		case m[2] != "":
			s[m[2]] = true
		case consts[m[3]] != "":
			s[consts[m[3]]] = true
		default:
			return nil, fmt.Errorf("%s: setting %s names amazonpay.%s, not found in %s", path, m[1], m[3], amazonpayDir)
		}
	}
	if len(s) < 20 {
		return nil, fmt.Errorf("%s: found only %d settings; has the settings table changed shape?", path, len(s))
	}
	return s, nil
}

// known reports whether the server reads name: a setting or the
// runtime's own.
func (s settings) known(name string) bool {
	return s[name] || runtimeEnv(name)
}

// port returns the port of a listen address such as ":9090" or
// "0.0.0.0:9090".
func port(addr string) string {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return ""
	}
	return addr[i+1:]
}

func duration(env map[string]string, name, def string) (time.Duration, error) {
	v := env[name]
	if v == "" {
		v = def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return d, nil
}
