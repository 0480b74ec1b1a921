package main

import (
	"bytes"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tipoff/predict"
)

// runWithEnv runs Main with the environment env and returns stdout,
// stderr and the error.
func runWithEnv(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return env[k] }}
	err := m.Run(t.Context(), args)
	return out.String(), errOut.String(), err
}

// Bad settings of the cloud services are refused before anything is
// opened, each problem named.
func TestCloudConfig_Invalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"coordinator with nothing", nil, []string{"coordinator"},
			[]string{"project: empty", "data: empty", "auth-audiences: empty", "auth-emails: empty"}},
		{"worker with nothing", nil, []string{"worker", "--cloud"}, []string{"project: empty", "auth-audiences: empty"}},
		{"worker chosen by TIPOFF_QUEUE", map[string]string{"TIPOFF_QUEUE": "pubsub"}, []string{"worker"}, []string{"project: empty"}},
		{"bad addr", nil, []string{"coordinator", "--project", "p-123456", "--data", "d", "--insecure-no-auth", "--addr", "8080"},
			[]string{`addr "8080"`}},
		{"bad pubsub mode", map[string]string{"TIPOFF_PUBSUB_MODE": "sideways"}, []string{"worker", "--cloud"},
			[]string{`TIPOFF_PUBSUB_MODE="sideways"`}},
		{"bad bool", map[string]string{"TIPOFF_INSECURE_NO_AUTH": "maybe"}, []string{"coordinator"}, []string{`TIPOFF_INSECURE_NO_AUTH="maybe"`}},
		{"coordinator on sqlite", map[string]string{"TIPOFF_STORE": "sqlite"}, []string{"coordinator"}, []string{`TIPOFF_STORE="sqlite"`}},
		{"bad keys url", nil, []string{"coordinator", "--project", "p-123456", "--data", "d", "--auth-audiences", "a",
			"--auth-emails", "e", "--auth-keys-url", "ftp://x"}, []string{`auth-keys-url "ftp://x"`}},
		{"metrics listener on every interface", nil, []string{"coordinator", "--project", "p-123456", "--data", "d", "--insecure-no-auth",
			"--metrics-addr", ":9464"}, []string{"metrics-addr :9464 is not loopback"}},
		{"worker metrics listener by env", map[string]string{"TIPOFF_METRICS_ADDR": "0.0.0.0:9464"}, []string{"worker", "--cloud",
			"--project", "p-123456", "--insecure-no-auth"}, []string{"metrics-addr 0.0.0.0:9464 is not loopback"}},
		{"pull without workers", nil, []string{"worker", "--cloud", "--pull", "--workers", "0", "--project", "p-123456", "--insecure-no-auth"},
			[]string{"workers 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runWithEnv(t, tt.env, tt.args...)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// The deploy script's environment names are understood (the metrics
// listener's loopback address included), and Cloud Run's PORT wins over a
// TIPOFF_ADDR left in the environment.
func TestCloudConfig_DeployEnv(t *testing.T) {
	t.Parallel()
	_, b := newFlagSet(&Main{Stderr: &bytes.Buffer{}, Getenv: func(k string) string {
		return map[string]string{"PORT": "9090", "TIPOFF_ADDR": ":8080", "GOOGLE_CLOUD_PROJECT": "from-metadata", "TIPOFF_PROJECT": "tipoff-prod",
			"TIPOFF_PUBSUB_MODE": "pull", "TIPOFF_AUTH_AUDIENCE": "https://coordinator.example",
			"TIPOFF_AUTH_EMAILS": "push@p.iam.gserviceaccount.com, scheduler@p.iam.gserviceaccount.com", "TIPOFF_METRICS_ADDR": "127.0.0.1:9464"}[k]
	}}, "coordinator", "")
	cc := b.cloud()
	if _, err := b.parse(nil); err != nil {
		t.Fatal(err)
	}
	if cc.Addr != ":9090" || cc.Project != "tipoff-prod" || !cc.Pull || len(cc.Audiences) != 1 || len(cc.Emails) != 2 ||
		cc.Emails[1] != "scheduler@p.iam.gserviceaccount.com" || cc.MetricsAddr != "127.0.0.1:9464" {
		t.Fatalf("cloud config from the deploy environment: %+v", cc)
	}
	if err := cc.validate(); err != nil {
		t.Fatal(err)
	}
}

// Each route group takes its accounts from its own variable, and a group
// given none falls back to TIPOFF_AUTH_EMAILS; with neither it is refused.
func TestCloudConfig_RouteGroups(t *testing.T) {
	t.Parallel()
	parse := func(role string, env map[string]string) (*cloudConfig, error) {
		env["TIPOFF_PROJECT"], env["TIPOFF_AUTH_AUDIENCE"] = "p", "https://coordinator.example"
		_, b := newFlagSet(&Main{Stderr: &bytes.Buffer{}, Getenv: func(k string) string { return env[k] }}, role, "")
		cc := b.cloud()
		if _, err := b.parse(nil); err != nil {
			t.Fatal(err)
		}
		return cc, cc.validate()
	}
	cc, err := parse("coordinator", map[string]string{"TIPOFF_START_INVOKERS": "sched@p", "TIPOFF_PUSH_INVOKERS": "push@p",
		"TIPOFF_OPERATORS": "a@p, b@p"})
	want := map[string][]string{"start-invokers": {"sched@p"}, "push-invokers": {"push@p"}, "operators": {"a@p", "b@p"}}
	if err != nil || !cmp.Equal(cc.Groups(), want) {
		t.Errorf("groups from their variables: %v, %v; want %v", cc.Groups(), err, want)
	}
	cc, err = parse("coordinator", map[string]string{"TIPOFF_AUTH_EMAILS": "old@p", "TIPOFF_OPERATORS": "ops@p"})
	want = map[string][]string{"start-invokers": {"old@p"}, "push-invokers": {"old@p"}, "operators": {"ops@p"}}
	if err != nil || !cmp.Equal(cc.Groups(), want) {
		t.Errorf("groups falling back to TIPOFF_AUTH_EMAILS: %v, %v; want %v", cc.Groups(), err, want)
	}
	if _, err = parse("coordinator", map[string]string{"TIPOFF_PUSH_INVOKERS": "push@p"}); err == nil ||
		!strings.Contains(err.Error(), "start-invokers and auth-emails: empty") || !strings.Contains(err.Error(), "operators and auth-emails: empty") {
		t.Errorf("coordinator without start invokers or operators: %v; want both named", err)
	}
	// The worker serves pushes only.
	if cc, err = parse("worker", map[string]string{"TIPOFF_PUSH_INVOKERS": "push@p"}); err != nil || len(cc.Groups()) != 1 {
		t.Errorf("worker with push invokers: %v, %v", cc.Groups(), err)
	}
}

func TestCoordinator_Help(t *testing.T) {
	t.Parallel()
	_, stderr, err := runWithEnv(t, nil, "coordinator", "-help")
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("coordinator -help: %v", err)
	}
	for _, w := range []string{"POST /start", "X-CloudScheduler-ScheduleTime", "-auth-emails", "TIPOFF_DATA"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("coordinator help does not mention %q", w)
		}
	}
}

// The coordinator reads its data from a SQLite file, through a copy of it,
// and says what it found; a new batch reads just its date's rows.
func TestDataSource(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "data.db")
	importSynthetic(t, dbPath, "--seed", "3", "--from", "2025-10-21", "--to", "2025-11-05")
	before, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	c := &cloud{log: log}
	if err := c.openFiles(t.Context(), dbPath); err != nil {
		t.Fatal(err)
	}
	defer c.file.Close()
	d := c.data
	if got := d.Info(); got.Path != dbPath || got.Version != "" {
		t.Fatalf("info before a load: %+v", got)
	}
	ds, err := d.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Info(); got.Version != ds.Version() || got.Problem != "" || got.LoadedAt.IsZero() || len(ds.Games()) == 0 {
		t.Fatalf("info after loading the SQLite file: %+v (%d games)", got, len(ds.Games()))
	}
	after, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("loading the SQLite data file changed it")
	}

	day, err := d.DayLoader(c.file.LoadDay)(t.Context(), predict.MustParseDate("2025-11-20"), predict.SelectOptions{}, predict.RequestOptions{})
	if err != nil || !day.Partial() || day.Version() != ds.Version() || len(day.Logs()) >= len(ds.Logs()) {
		t.Fatalf("day load: %v; want a partial data set of version %s", err, ds.Version())
	}
	if got := d.Info(); got.Version != ds.Version() || got.Problem != "" {
		t.Fatalf("info after a day load: %+v", got)
	}
	bad := &cloud{log: log}
	if err := bad.openFiles(t.Context(), filepath.Join(t.TempDir(), "missing")); err != nil {
		t.Fatal(err)
	}
	if _, err := bad.data.Load(t.Context()); err == nil || !strings.Contains(bad.data.Info().Problem, "missing") {
		t.Fatalf("load of a missing path: %v, problem %q", err, bad.data.Info().Problem)
	}
}

// Prediction flags are checked when parsed, before any file is opened: an
// empty or repeated line offset and out-of-range selection counts are
// refused, each named.
func TestPredictFlags_Invalid(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "never.db")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--lines", "1,,2"}, "an empty entry"},
		{[]string{"--lines", "0.5,0.5"}, "0.5 twice"},
		{[]string{"--lines", "-1"}, "above 0"},
		{[]string{"--min-games", "-3"}, "min-games -3"},
		{[]string{"--min-minutes", "60"}, "min-minutes 60"},
	}
	for _, tt := range tests {
		args := append([]string{"run", "--db", db, "--date", "2025-12-25"}, tt.args...)
		if _, err := runMain(t, args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("tipoff %s: %v; want an error naming %q", strings.Join(tt.args, " "), err, tt.want)
		}
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused runs left %s behind: %v", db, err)
	}
	if _, err := runMain(t, "run", "--db", db, "--lines", "", "--help"); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("an empty --lines is no offsets, not an error: %v", err)
	}
}
