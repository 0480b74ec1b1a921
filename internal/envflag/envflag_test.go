package envflag_test

import (
	"strings"
	"testing"
	"time"

	"tipoff/internal/envflag"
)

// Set variables replace defaults, unset ones leave them, and every bad
// value is reported, naming the variable and its value.
func TestSource(t *testing.T) {
	t.Parallel()
	env := map[string]string{"S": "x", "I": "7", "F": "2.5", "D": "90s", "B": "YES",
		"BAD_I": "seven", "BAD_F": "1,5", "BAD_D": "soon", "BAD_B": "maybe"}
	s := envflag.New(func(k string) string { return env[k] })
	str, i, f, d, b := "def", 1, 1.0, time.Second, false
	s.String("S", &str)
	s.Int("I", &i)
	s.Float("F", &f)
	s.Duration("D", &d)
	s.Bool("B", &b)
	unset := "keep"
	s.String("UNSET", &unset)
	if str != "x" || i != 7 || f != 2.5 || d != 90*time.Second || !b || unset != "keep" {
		t.Fatalf("got %q %d %v %v %v %q", str, i, f, d, b, unset)
	}
	if s.Err() != nil {
		t.Fatalf("good values reported: %v", s.Err())
	}
	s.Int("BAD_I", &i)
	s.Float("BAD_F", &f)
	s.Duration("BAD_D", &d)
	s.Bool("BAD_B", &b)
	if i != 7 || f != 2.5 || d != 90*time.Second || !b {
		t.Errorf("bad values changed the settings: %d %v %v %v", i, f, d, b)
	}
	if n := len(s.Errs()); n != 4 {
		t.Fatalf("%d problems, want 4: %v", n, s.Err())
	}
	for _, want := range []string{`BAD_I="seven"`, `BAD_F="1,5"`, `BAD_D="soon"`, `BAD_B="maybe"`} {
		if !strings.Contains(s.Err().Error(), want) {
			t.Errorf("problems %q lack %s", s.Err(), want)
		}
	}
}
