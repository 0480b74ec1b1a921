package buildinfo_test

import (
	"testing"

	"tipoff/internal/buildinfo"
)

// What the build stamped wins; without a stamp the toolchain's record (or
// the placeholders) fills in, never an empty string.
func TestVersion(t *testing.T) {
	t.Parallel()
	if v, c := buildinfo.Version("v1.2.3", "abc123"); v != "v1.2.3" || c != "abc123" {
		t.Errorf("Version(stamped) = %q, %q; want v1.2.3, abc123", v, c)
	}
	v, c := buildinfo.Version("", "")
	if v == "" || c == "" {
		t.Errorf("Version(unstamped) = %q, %q; want both set", v, c)
	}
	if v2, c2 := buildinfo.Version("", "abc123"); v2 != v || c2 != "abc123" {
		t.Errorf("Version(commit only) = %q, %q; want %q, abc123", v2, c2, v)
	}
}
