// Package buildinfo says which version and commit a binary was built from.
// It imports nothing of ours.
package buildinfo

import "runtime/debug"

// Version returns the version and VCS revision the binary was built from:
// stampedVersion and stampedCommit when the build stamped them (non-empty;
// the Dockerfile passes them by -ldflags -X), else as the Go toolchain
// recorded them in the binary, else "(devel)" and "unknown".
func Version(stampedVersion, stampedCommit string) (version, commit string) {
	version, commit = "(devel)", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				commit = s.Value
			}
		}
	}
	if stampedVersion != "" {
		version = stampedVersion
	}
	if stampedCommit != "" {
		commit = stampedCommit
	}
	return version, commit
}
