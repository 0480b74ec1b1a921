package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tipoff/batch"
	"tipoff/httpapi"
	"tipoff/predict"
	"tipoff/sqlite"
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

// The deploy script's environment names are understood.
func TestCloudConfig_DeployEnv(t *testing.T) {
	_, b := newFlagSet(&Main{Stderr: &bytes.Buffer{}, Getenv: func(k string) string {
		return map[string]string{"PORT": "9090", "GOOGLE_CLOUD_PROJECT": "from-metadata", "TIPOFF_PROJECT": "tipoff-prod",
			"TIPOFF_PUBSUB_MODE": "pull", "TIPOFF_AUTH_AUDIENCE": "https://coordinator.example",
			"TIPOFF_AUTH_EMAILS": "push@p.iam.gserviceaccount.com, scheduler@p.iam.gserviceaccount.com"}[k]
	}}, "coordinator", "")
	cc := b.cloud()
	if _, err := b.parse(nil); err != nil {
		t.Fatal(err)
	}
	if cc.Addr != ":9090" || cc.Project != "tipoff-prod" || !cc.Pull || len(cc.AuthAudiences) != 1 || len(cc.AuthEmails) != 2 ||
		cc.AuthEmails[1] != "scheduler@p.iam.gserviceaccount.com" {
		t.Fatalf("cloud config from the deploy environment: %+v", cc)
	}
	if err := cc.validate(); err != nil {
		t.Fatal(err)
	}
}

func TestCoordinator_Help(t *testing.T) {
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

// JSON logs carry Cloud Logging's trace field when a record belongs to a
// trace: by the request's context, its own trace_id attribute, or one bound
// with With.
func TestCloudLogger_Trace(t *testing.T) {
	var buf bytes.Buffer
	cfg := DefaultConfig()
	cfg.LogFormat = "json"
	log := cloudLogger(cfg, &Main{Stderr: &buf}, "tipoff-prod")
	trace := "4bf92f3577b34da6a3ce929d0e0e4736"
	want := "projects/tipoff-prod/traces/" + trace
	log.InfoContext(httpapi.WithTraceID(context.Background(), trace), "from context")
	log.Warn("from attribute", "batch_id", "b1", "trace_id", trace)
	log.With("trace_id", trace).Info("bound")
	log.Info("no trace")
	log.With("trace_id", "").Info("empty trace")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d log lines, want 5:\n%s", len(lines), buf.String())
	}
	for i, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		got, _ := rec[traceKey].(string)
		if (i < 3 && got != want) || (i >= 3 && got != "") {
			t.Errorf("line %d (%s): trace field %q", i, rec["message"], got)
		}
		if rec["severity"] == nil || rec["message"] == nil {
			t.Errorf("line %d lacks severity or message: %s", i, l)
		}
	}
	// Text logs are left alone.
	cfg.LogFormat = "text"
	if _, ok := cloudLogger(cfg, &Main{Stderr: &buf}, "tipoff-prod").Handler().(traceHandler); ok {
		t.Error("text logger got the trace field")
	}
}

// The coordinator reads its data from a CSV directory or a SQLite file,
// afresh each time, and says what it found.
func TestDataSource(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "data.db")
	if _, err := runMain(t, "import", "--db", dbPath, "--synthetic", "--seed", "3"); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	d := &dataSource{path: dbPath, log: log}
	if got := d.info(); got.Path != dbPath || got.Version != "" {
		t.Fatalf("info before a load: %+v", got)
	}
	ds, err := d.load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := d.info(); got.Version != ds.Version() || got.Problem != "" || got.LoadedAt.IsZero() || len(ds.Games()) == 0 {
		t.Fatalf("info after loading the SQLite file: %+v (%d games)", got, len(ds.Games()))
	}
	after, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("loading the SQLite data file changed it")
	}

	bad := &dataSource{path: filepath.Join(t.TempDir(), "missing"), log: log}
	if _, err := bad.load(t.Context()); err == nil || !strings.Contains(bad.info().Problem, "missing") {
		t.Fatalf("load of a missing path: %v, problem %q", err, bad.info().Problem)
	}
}

// A start for a date without games is refused as not found, naming the
// date and the data.
func TestCloudCoordinator_Start(t *testing.T) {
	data := realData(t)
	log := slog.New(slog.DiscardHandler)
	co := &cloudCoordinator{cfg: DefaultConfig(), pc: predictConfig{MinGames: 3, MinMinutes: 12, Books: predict.DefaultBooks},
		data: &dataSource{path: data, log: log}, log: log}
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	co.store = sqlite.NewStore(db)
	_, _, err = co.start(t.Context(), httpapi.StartRequest{Date: "2025-07-04", Run: "daily"})
	if !errors.Is(err, batch.ErrNotFound) || !strings.Contains(err.Error(), "2025-07-04") || !strings.Contains(err.Error(), data) {
		t.Fatalf("start on a day without games: %v; want not found naming the date and data", err)
	}
}
