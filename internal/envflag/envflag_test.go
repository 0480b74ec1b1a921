package envflag_test

import (
	"bytes"
	"errors"
	"flag"
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

// A bound flag's default is its variable's value when set, a flag given on
// the command line wins over both, a bad value is reported, and the usage
// names the variable.
func TestFlagSet(t *testing.T) {
	t.Parallel()
	env := map[string]string{"T_S": "env", "T_I": "5", "T_F": "0.5", "T_D": "1m", "T_B": "true", "T_BAD": "lots"}
	src := envflag.New(func(k string) string { return env[k] })
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var help bytes.Buffer
	fs.SetOutput(&help)
	f := envflag.NewFlagSet(fs, src)
	str, i, fl, d, b, bad, unset := "def", 1, 1.0, time.Second, false, 3, "keep"
	f.String(&str, "s", "T_S", "a `word`")
	f.Int(&i, "i", "T_I", "a number")
	f.Float(&fl, "f", "T_F", "a share")
	f.Duration(&d, "d", "T_D", "a wait")
	f.Bool(&b, "b", "T_B", "a switch")
	f.Int(&bad, "bad", "T_BAD", "a bad number")
	f.String(&unset, "unset", "T_UNSET", "left alone")
	if err := fs.Parse([]string{"-i", "9"}); err != nil {
		t.Fatal(err)
	}
	if str != "env" || i != 9 || fl != 0.5 || d != time.Minute || !b || bad != 3 || unset != "keep" {
		t.Fatalf("got %q %d %v %v %v %d %q; want env 9 0.5 1m0s true 3 keep", str, i, fl, d, b, bad, unset)
	}
	if err := src.Err(); err == nil || !strings.Contains(err.Error(), `T_BAD="lots"`) {
		t.Fatalf("problems %v; want T_BAD named", err)
	}
	fs.PrintDefaults()
	for _, want := range []string{"a word (T_S) (default \"env\")", "a wait (T_D) (default 1m0s)", "left alone (T_UNSET) (default \"keep\")"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, help.String())
		}
	}
}

// A bound func is called with its variable's value when set, and with the
// flag's when given; a value it refuses is a problem naming the variable.
func TestFlagSet_Func(t *testing.T) {
	t.Parallel()
	env := map[string]string{"T_LIST": "a, b", "T_BAD": "x"}
	src := envflag.New(func(k string) string { return env[k] })
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	f := envflag.NewFlagSet(fs, src)
	var list, other []string
	f.Func("list", "T_LIST", "a list", func(s string) error { list = envflag.List(s); return nil })
	f.Func("other", "T_OTHER", "another list", func(s string) error { other = envflag.List(s); return nil })
	f.Func("bad", "T_BAD", "refuses all", func(s string) error { return errors.New("no " + s) })
	if len(list) != 2 || list[1] != "b" || other != nil {
		t.Fatalf("from the environment: %q, %q; want [a b] and nil", list, other)
	}
	if err := src.Err(); err == nil || err.Error() != "T_BAD: no x" {
		t.Fatalf("problems %v; want T_BAD: no x", err)
	}
	if err := fs.Parse([]string{"-other", "c,,d"}); err != nil {
		t.Fatal(err)
	}
	if len(other) != 2 || other[1] != "d" {
		t.Fatalf("from the flag: %q; want [c d]", other)
	}
}
