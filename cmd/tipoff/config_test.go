package main

import (
	"strings"
	"testing"
	"time"
)

// The finalize lease and the push timeout are validated, each problem
// naming the setting and the value.
func TestConfig_ValidateLeases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string // "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"finalize lease 5m", func(c *Config) { c.Finalize = 5 * time.Minute }, ""},
		{"finalize lease too short", func(c *Config) { c.Finalize = 50 * time.Millisecond }, "finalize-lease 50ms: want 100ms to 1h"},
		{"finalize lease too long", func(c *Config) { c.Finalize = 2 * time.Hour }, "finalize-lease 2h0m0s: want 100ms to 1h"},
		{"push timeout zero", func(c *Config) { c.PushWait = 0 }, "push-timeout 0s: want 1s to 10m"},
		{"push timeout too long", func(c *Config) { c.PushWait = time.Hour }, "push-timeout 1h0m0s: want 1s to 10m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := DefaultConfig()
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// --finalize-lease and TIPOFF_FINALIZE_LEASE set the engine's lease.
func TestFlags_FinalizeLease(t *testing.T) {
	t.Parallel()
	m := NewMain()
	m.Getenv = func(k string) string {
		if k == "TIPOFF_FINALIZE_LEASE" {
			return "90s"
		}
		return ""
	}
	_, b := newFlagSet(m, "run", "usage")
	b.policy()
	cfg, err := b.parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Finalize != 90*time.Second {
		t.Fatalf("finalize lease from the environment = %v, want 1m30s", cfg.Finalize)
	}
	_, b = newFlagSet(m, "run", "usage")
	b.policy()
	if cfg, err = b.parse([]string{"--finalize-lease", "2m"}); err != nil {
		t.Fatal(err)
	}
	if cfg.Finalize != 2*time.Minute {
		t.Fatalf("finalize lease from the flag = %v, want 2m", cfg.Finalize)
	}
}
