// Package envflag reads environment variables into flag defaults, so a
// command's -help shows the values in effect, and collects every bad value
// instead of stopping at the first, so a command can report them all at
// once. It imports nothing of ours.
package envflag

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Source reads variables through a getenv function and remembers what
// could not be parsed.
type Source struct {
	getenv func(string) string
	errs   []error
}

// New returns a source reading through getenv (os.Getenv, or a test's map).
func New(getenv func(string) string) *Source { return &Source{getenv: getenv} }

// Get returns the variable's value, "" when it is unset.
func (s *Source) Get(name string) string { return s.getenv(name) }

// Fail records a problem found in the environment.
func (s *Source) Fail(err error) { s.errs = append(s.errs, err) }

// Errs returns every problem recorded so far.
func (s *Source) Errs() []error { return s.errs }

// Err returns every problem joined, or nil.
func (s *Source) Err() error { return errors.Join(s.errs...) }

// String sets *dst to the variable's value when it is set.
func (s *Source) String(name string, dst *string) {
	if v := s.getenv(name); v != "" {
		*dst = v
	}
}

// Int sets *dst to the variable's whole number when it is set.
func (s *Source) Int(name string, dst *int) {
	if v := s.getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.Fail(fmt.Errorf("%s=%q: not a whole number", name, v))
			return
		}
		*dst = n
	}
}

// Float sets *dst to the variable's number when it is set.
func (s *Source) Float(name string, dst *float64) {
	if v := s.getenv(name); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			s.Fail(fmt.Errorf("%s=%q: not a number", name, v))
			return
		}
		*dst = f
	}
}

// Duration sets *dst to the variable's Go duration when it is set.
func (s *Source) Duration(name string, dst *time.Duration) {
	if v := s.getenv(name); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			s.Fail(fmt.Errorf("%s=%q: not a duration like 30s or 2m", name, v))
			return
		}
		*dst = d
	}
}

// Bool sets *dst from 1/true/yes or 0/false/no (any case) when the
// variable is set.
func (s *Source) Bool(name string, dst *bool) {
	switch v := strings.ToLower(s.getenv(name)); v {
	case "":
	case "1", "true", "yes":
		*dst = true
	case "0", "false", "no":
		*dst = false
	default:
		s.Fail(fmt.Errorf("%s=%q: want true or false", name, s.getenv(name)))
	}
}

// FlagSet binds flags whose defaults are read from environment variables:
// each flag's default is its variable's value when set (else what the
// destination holds), and its usage ends naming the variable, so -help
// shows the values in effect and where they can be set.
type FlagSet struct {
	fs  *flag.FlagSet
	src *Source
}

// NewFlagSet returns a binder of flags on fs with defaults from src.
func NewFlagSet(fs *flag.FlagSet, src *Source) *FlagSet { return &FlagSet{fs: fs, src: src} }

// String binds the flag name and the variable env to *dst.
func (f *FlagSet) String(dst *string, name, env, usage string) {
	f.src.String(env, dst)
	f.fs.StringVar(dst, name, *dst, usage+" ("+env+")")
}

// Int binds the flag name and the variable env to *dst.
func (f *FlagSet) Int(dst *int, name, env, usage string) {
	f.src.Int(env, dst)
	f.fs.IntVar(dst, name, *dst, usage+" ("+env+")")
}

// Float binds the flag name and the variable env to *dst.
func (f *FlagSet) Float(dst *float64, name, env, usage string) {
	f.src.Float(env, dst)
	f.fs.Float64Var(dst, name, *dst, usage+" ("+env+")")
}

// Duration binds the flag name and the variable env to *dst.
func (f *FlagSet) Duration(dst *time.Duration, name, env, usage string) {
	f.src.Duration(env, dst)
	f.fs.DurationVar(dst, name, *dst, usage+" ("+env+")")
}

// Bool binds the flag name and the variable env to *dst.
func (f *FlagSet) Bool(dst *bool, name, env, usage string) {
	f.src.Bool(env, dst)
	f.fs.BoolVar(dst, name, *dst, usage+" ("+env+")")
}

// List splits a comma-separated list, dropping blanks around and between
// its entries: "a, b,,c" is [a b c] and "" is nil.
func List(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Func binds the flag name and the variable env to parse, which is called
// with the variable's value when it is set (a problem is recorded naming
// the variable) and with the flag's whenever it is given.
func (f *FlagSet) Func(name, env, usage string, parse func(string) error) {
	if v := f.src.Get(env); v != "" {
		if err := parse(v); err != nil {
			f.src.Fail(fmt.Errorf("%s: %w", env, err))
		}
	}
	f.fs.Func(name, usage+" ("+env+")", parse)
}
