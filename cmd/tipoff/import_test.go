package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestImport_Synthetic(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "tipoff.db")
	args := []string{"import", "--db", db, "--synthetic", "--seed", "3", "--from", "2025-10-21", "--to", "2025-12-15"}
	out, err := runMain(t, args...)
	if err != nil || !strings.Contains(out, "imported data set sha256:") {
		t.Fatalf("first import: %q, %v", out, err)
	}
	out, err = runMain(t, args...)
	if err != nil || !strings.Contains(out, "nothing to do") {
		t.Fatalf("second import of the same data: %q, %v; want nothing to do", out, err)
	}
	args[5] = "4" // another seed replaces the data
	out, err = runMain(t, args...)
	if err != nil || !strings.Contains(out, "imported data set") {
		t.Fatalf("import of another seed: %q, %v", out, err)
	}
}

func TestImport_Errors(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "tipoff.db")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"nothing to import", []string{"import", "--db", db}, "want one data directory or --synthetic"},
		{"both", []string{"import", "--db", db, "--synthetic", t.TempDir()}, "not both"},
		{"empty directory", []string{"import", "--db", db, t.TempDir()}, "schedule.csv"},
		{"bad date", []string{"import", "--db", db, "--synthetic", "--from", "2025-13-01"}, "--from"},
		{"dates without synthetic", []string{"import", "--db", db, "--from", "2025-10-01", t.TempDir()}, "only apply with --synthetic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runMain(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}
