package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
)

// printEnv writes the Deployment container's environment as lines of
// NAME, a kind and a value, tab-separated, for .ci/deploy.sh to start the
// server with: "value" and the literal, "secret" and NAME/KEY of the
// Secret, "field" or "resource" and the reference.
func printEnv(w io.Writer, renderedPath string) error {
	raw, err := os.ReadFile(renderedPath)
	if err != nil {
		return err
	}
	objs, err := parseObjects(raw)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if o.Kind != "Deployment" {
			continue
		}
		var d deploymentSpec
		if err := json.Unmarshal(o.Spec, &d); err != nil {
			return err
		}
		var lines []string
		for _, e := range d.Template.Spec.Containers[0].Env {
			kind, value := "value", e.Value
			if vf, ok := e.ValueFrom.(map[string]any); ok {
				switch {
				case vf["secretKeyRef"] != nil:
					ref := vf["secretKeyRef"].(map[string]any)
					kind, value = "secret", fmt.Sprintf("%v/%v", ref["name"], ref["key"])
				case vf["fieldRef"] != nil:
					kind, value = "field", fmt.Sprint(vf["fieldRef"].(map[string]any)["fieldPath"])
				case vf["resourceFieldRef"] != nil:
					kind, value = "resource", fmt.Sprint(vf["resourceFieldRef"].(map[string]any)["resource"])
				default:
					return fmt.Errorf("env %s: unsupported valueFrom %v", e.Name, vf)
				}
			}
			lines = append(lines, e.Name+"\t"+kind+"\t"+value)
		}
		sort.Strings(lines)
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
		return nil
	}
	return fmt.Errorf("%s: no Deployment", renderedPath)
}
