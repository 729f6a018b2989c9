// Command schemagen writes the JSON schemas kubeconform validates the
// Kubernetes manifests against (deploy/kubernetes/schemas), offline: from
// the OpenAPI document of a pinned Kubernetes release and the CRDs of a
// pinned Prometheus Operator release, both read from the Go module cache.
// deploy/kubernetes/schemas/generate.sh downloads them and runs it.
//
// Each schema is standalone (references inlined) and strict (objects
// refuse unknown fields, as `kubectl apply --validate=strict` would), the
// layout kubeconform's -schema-location template
// {{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json reads.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

func main() {
	swagger := flag.String("swagger", "", "Kubernetes api/openapi-spec/swagger.json")
	out := flag.String("out", "", "output directory")
	kinds := flag.String("kinds", "", "comma-separated OpenAPI definitions to write (io.k8s.api.apps.v1.Deployment,...)")
	flag.Parse()
	if err := run(*swagger, *out, strings.Split(*kinds, ","), flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "schemagen:", err)
		os.Exit(1)
	}
}

func run(swaggerPath, out string, kinds, crdPaths []string) error {
	raw, err := os.ReadFile(swaggerPath)
	if err != nil {
		return err
	}
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%s: %w", swaggerPath, err)
	}
	for _, name := range kinds {
		def, ok := doc.Definitions[name]
		if !ok {
			return fmt.Errorf("no definition %s", name)
		}
		gvks, _ := def["x-kubernetes-group-version-kind"].([]any)
		if len(gvks) != 1 {
			return fmt.Errorf("%s: want one group-version-kind, got %v", name, gvks)
		}
		gvk := gvks[0].(map[string]any)
		schema := inline(def, doc.Definitions, map[string]bool{})
		if err := write(out, gvk["group"].(string), gvk["kind"].(string), gvk["version"].(string), strict(schema)); err != nil {
			return err
		}
	}
	for _, p := range crdPaths {
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var crd struct {
			Spec struct {
				Group string `json:"group"`
				Names struct {
					Kind string `json:"kind"`
				} `json:"names"`
				Versions []struct {
					Name   string `json:"name"`
					Schema struct {
						OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
					} `json:"schema"`
				} `json:"versions"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(raw, &crd); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		for _, v := range crd.Spec.Versions {
			if err := write(out, crd.Spec.Group, crd.Spec.Names.Kind, v.Name, strict(v.Schema.OpenAPIV3Schema)); err != nil {
				return err
			}
		}
	}
	return nil
}

func write(out, group, kind, version string, schema any) error {
	dir := filepath.Join(out, group)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(schema, "", " ")
	if err != nil {
		return err
	}
	name := filepath.Join(dir, strings.ToLower(kind)+"_"+version+".json")
	fmt.Println(name)
	return os.WriteFile(name, append(b, '\n'), 0o644)
}

// inline replaces every $ref with the definition it names; the kinds
// written here have no recursive types (seen guards against one anyway).
// Quantities and int-or-string values take a number or a string, as the
// API server accepts.
func inline(v any, defs map[string]map[string]any, seen map[string]bool) any {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			name := strings.TrimPrefix(ref, "#/definitions/")
			switch name {
			case "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
				return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
			case "io.k8s.apimachinery.pkg.api.resource.Quantity":
				return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
			}
			if seen[name] {
				return map[string]any{}
			}
			seen[name] = true
			defer delete(seen, name)
			return inline(defs[name], defs, seen)
		}
		m := map[string]any{}
		for k, e := range v {
			if strings.HasPrefix(k, "x-kubernetes-") && k != "x-kubernetes-preserve-unknown-fields" && k != "x-kubernetes-int-or-string" {
				continue
			}
			m[k] = inline(e, defs, seen)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, e := range v {
			s[i] = inline(e, defs, seen)
		}
		return s
	}
	return v
}

// strict makes every object with declared properties refuse others, turns
// x-kubernetes-int-or-string into its two types, and lets a value be null
// where the API server accepts null (an omitted field).
func strict(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, e := range v {
			m[k] = strict(e)
		}
		if m["x-kubernetes-int-or-string"] == true {
			delete(m, "x-kubernetes-int-or-string")
			delete(m, "type")
			m["oneOf"] = []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}
		}
		if _, ok := m["properties"]; ok && m["x-kubernetes-preserve-unknown-fields"] != true {
			if _, set := m["additionalProperties"]; !set {
				m["additionalProperties"] = false
			}
		}
		if t, ok := m["type"].(string); ok && t != "null" {
			m["type"] = []any{t, "null"}
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, e := range v {
			s[i] = strict(e)
		}
		return s
	}
	return v
}
