package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version and commit may be set at build time:
//
//	go build -ldflags "-X main.version=1.4.0 -X main.commit=$(git rev-parse HEAD)" ./server
//
// Unset, they come from the build information Go embeds: the module version
// ("(devel)" for a build from a work tree) and the VCS revision when the
// build recorded it.
var (
	version string
	commit  string
)

// buildInfo is what -version prints and the start line carries.
type buildInfo struct {
	Version, Commit, GoVersion string
}

func currentBuild() buildInfo {
	b := buildInfo{Version: version, Commit: commit, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" {
			b.Version = bi.Main.Version
		}
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && b.Commit != "" && b.Commit == revisionOf(bi) {
			b.Commit += "-modified"
		}
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

func revisionOf(bi *debug.BuildInfo) string {
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			return s.Value
		}
	}
	return ""
}

func (b buildInfo) print(w io.Writer) {
	fmt.Fprintf(w, "paymentcompletion server %s\ncommit %s\n%s\n", b.Version, b.Commit, b.GoVersion)
}

func (b buildInfo) logAttrs() []any {
	return []any{"version", b.Version, "commit", b.Commit, "go_version", b.GoVersion}
}
