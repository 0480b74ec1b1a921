package deploy_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

const (
	project       = "demo-project"
	projectNumber = "123456789"
	image         = "us-central1-docker.pkg.dev/demo-project/tipoff/tipoff:test"
)

// fakeGcloud stands in for gcloud: it appends each call's arguments to
// $STUB_LOG and answers as the STUB_* variables say. Lookups (describe)
// answer NOT_FOUND unless told otherwise; everything else succeeds.
const fakeGcloud = `#!/bin/sh
printf '%s\n' "$*" >>"$STUB_LOG"
case "$*" in
"projects describe"*)
	if [ -n "$STUB_NO_PROJECT" ]; then
		echo "ERROR: (gcloud.projects.describe) You do not currently have an active account selected." >&2
		exit 1
	fi
	echo "$STUB_PROJECT_NUMBER"
	exit 0 ;;
"firestore indexes composite list"*)
	if [ -n "$STUB_INDEXES_LATER" ] && [ -e "$STUB_INDEXES.listed" ]; then
		cat "$STUB_INDEXES_LATER"
	else
		: >"$STUB_INDEXES.listed"
		cat "$STUB_INDEXES"
	fi
	exit 0 ;;
"pubsub subscriptions pull"*)
	if [ -n "$STUB_PULL" ] && { [ -n "$STUB_PULL_REPEAT" ] || [ ! -e "$STUB_PULL.pulled" ]; }; then
		: >"$STUB_PULL.pulled"
		cat "$STUB_PULL"
	else
		echo "[]"
	fi
	exit 0 ;;
"pubsub topics publish"*)
	if [ -n "$STUB_PUBLISH_FAIL" ]; then
		echo "ERROR: (gcloud.pubsub.topics.publish) UNAVAILABLE: The service is currently unavailable." >&2
		exit 1
	fi
	echo "messageIds:"
	echo "- '1'"
	exit 0 ;;
"firestore databases describe"*)
	if [ -n "$STUB_DB_STATE" ]; then
		printf '%s\n' "$STUB_DB_STATE"
		exit 0
	fi ;;
*add-iam-policy-binding*)
	n=$(cat "$STUB_BIND_FAILS" 2>/dev/null || echo 0)
	if [ "$n" -gt 0 ]; then
		echo $((n - 1)) >"$STUB_BIND_FAILS"
		echo "ERROR: (gcloud) $STUB_BIND_ERROR" >&2
		exit 1
	fi
	exit 0 ;;
esac
case "$*" in
*" describe "*)
	if [ -n "$STUB_DENY" ]; then
		echo "ERROR: (gcloud) PERMISSION_DENIED: Permission denied on resource (or it may not exist)." >&2
		exit 1
	fi
	echo "ERROR: (gcloud) NOT_FOUND: Resource not found" >&2
	exit 1 ;;
esac
exit 0
`

// deployEnv runs deploy.sh with a fake gcloud first on PATH.
type deployEnv struct {
	dir string
	env map[string]string
}

// python3 is the interpreter python3 on PATH runs. deploy.sh starts
// python3 several times a run; going through a version manager's shim
// each time costs seconds.
var python3 = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
})

func newDeployEnv(t *testing.T) *deployEnv {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatalf("deploy.sh needs bash: %v", err)
	}
	py, err := python3()
	if err != nil {
		t.Fatalf("deploy.sh needs python3: %v", err)
	}
	// Read here, the script and the file it reads count as inputs of the
	// test: go test's cache does not see what a child process opens.
	alerts, _ := filepath.Glob("alerts/*.json")
	for _, f := range append([]string{"deploy.sh", "replay-dead-letters.py", "../gcpfirestore/firestore.indexes.json",
		"service.yaml", "run-monitoring.yaml"}, alerts...) {
		if _, err := os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "gcloud"), []byte(fakeGcloud), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(py, filepath.Join(bin, "python3")); err != nil {
		t.Fatal(err)
	}
	return &deployEnv{dir: dir, env: map[string]string{
		"PATH":                bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME":                dir,
		"PROJECT":             project,
		"IMAGE":               image,
		"STUB_LOG":            filepath.Join(dir, "calls"),
		"ALERTS_OUT":          filepath.Join(dir, "alerts"),
		"SERVICES_OUT":        filepath.Join(dir, "services"),
		"STUB_PROJECT_NUMBER": projectNumber,
		"STUB_BIND_FAILS":     filepath.Join(dir, "bind-fails"),
	}}
}

// file writes content to a file of the environment's directory and
// returns its path.
func (d *deployEnv) file(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(d.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type result struct {
	stdout, stderr string
	calls          []string // the fake gcloud's arguments, one call each
	err            error
}

func (d *deployEnv) run(t *testing.T, steps ...string) result {
	t.Helper()
	return d.command(t, "bash", append([]string{"deploy.sh"}, steps...)...)
}

// replay runs replay-dead-letters.py.
func (d *deployEnv) replay(t *testing.T, args ...string) result {
	t.Helper()
	py, err := python3()
	if err != nil {
		t.Fatal(err)
	}
	return d.command(t, py, append([]string{"replay-dead-letters.py"}, args...)...)
}

func (d *deployEnv) command(t *testing.T, name string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	for k, v := range d.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var r result
	r.stdout, r.stderr, r.err = stdout.String(), stderr.String(), err
	if b, err := os.ReadFile(d.env["STUB_LOG"]); err == nil {
		r.calls = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
	t.Logf("%s %s: %v\nstderr:\n%s", name, strings.Join(args, " "), err, r.stderr)
	return r
}

func (d *deployEnv) mustRun(t *testing.T, steps ...string) result {
	t.Helper()
	r := d.run(t, steps...)
	if r.err != nil {
		t.Fatalf("deploy.sh %s: %v\nstderr:\n%s", strings.Join(steps, " "), r.err, r.stderr)
	}
	return r
}

// commands returns the commands a dry run prints ("+ " lines), split into
// words as the shell would.
func commands(t *testing.T, stdout string) [][]string {
	t.Helper()
	var cmds [][]string
	for line := range strings.Lines(stdout) {
		if rest, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "+ "); ok {
			cmds = append(cmds, shellWords(t, rest))
		}
	}
	if len(cmds) == 0 {
		t.Fatalf("no commands in the output:\n%s", stdout)
	}
	return cmds
}

// shellWords splits a line printed with printf %q: words are separated by
// unescaped spaces; a backslash escapes the next character, and single
// quotes quote literally.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inWord, quoted, escaped := false, false, false
	for _, r := range line {
		switch {
		case escaped:
			w.WriteRune(r)
			escaped = false
		case quoted:
			if r == '\'' {
				quoted = false
			} else {
				w.WriteRune(r)
			}
		case r == '\\':
			escaped, inWord = true, true
		case r == '\'':
			quoted, inWord = true, true
		case r == ' ':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quoted || escaped {
		t.Fatalf("unterminated quoting in %q", line)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// flag returns the value of --name=VALUE in cmd ("" for a bare --name) and
// whether it is there.
func flag(cmd []string, name string) (string, bool) {
	for _, w := range cmd {
		if w == "--"+name {
			return "", true
		}
		if v, ok := strings.CutPrefix(w, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// find returns the index of the first command that starts with prefix, or
// -1.
func find(cmds [][]string, prefix ...string) int {
	return slices.IndexFunc(cmds, func(c []string) bool {
		return len(c) >= len(prefix) && slices.Equal(c[:len(prefix)], prefix)
	})
}

func sa(name string) string {
	return "serviceAccount:" + name + "@" + project + ".iam.gserviceaccount.com"
}

// knService is what the tests read of a Cloud Run service definition.
type knService struct {
	Metadata struct{ Name string }
	Spec     struct {
		Template struct {
			Metadata struct{ Annotations map[string]string }
			Spec     struct {
				ServiceAccountName string `yaml:"serviceAccountName"`
				Containers         []knContainer
				Volumes            []knVolume
			}
		}
	}
}

type knContainer struct {
	Name, Image string
	Args        []string
	Ports       []struct {
		ContainerPort int `yaml:"containerPort"`
	}
	Env          []struct{ Name, Value string }
	VolumeMounts []struct {
		Name      string
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type knVolume struct {
	Name   string
	Secret *struct {
		SecretName string `yaml:"secretName"`
		Items      []knKeyPath
	}
}

type knKeyPath struct{ Key, Path string }

// container returns the service's container called name.
func (s *knService) container(t *testing.T, name string) knContainer {
	t.Helper()
	cs := s.Spec.Template.Spec.Containers
	i := slices.IndexFunc(cs, func(c knContainer) bool { return c.Name == name })
	if i < 0 {
		t.Fatalf("service %s has no container %q: %+v", s.Metadata.Name, name, cs)
	}
	return cs[i]
}

// env returns the container's environment.
func (c knContainer) env() map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

// services reads the service definitions the dry run replaces the
// services with, by name.
func services(t *testing.T, cmds [][]string) map[string]*knService {
	t.Helper()
	out := map[string]*knService{}
	for _, c := range cmds {
		if find([][]string{c}, "gcloud", "run", "services", "replace") != 0 {
			continue
		}
		b, err := os.ReadFile(c[4])
		if err != nil {
			t.Fatal(err)
		}
		var s knService
		if err := yaml.Unmarshal(b, &s); err != nil {
			t.Fatalf("%s: %v\n%s", c[4], err, b)
		}
		out[s.Metadata.Name] = &s
	}
	return out
}

func TestDryRun(t *testing.T) {
	t.Parallel()
	d := newDeployEnv(t)
	d.env["DRY_RUN"] = "1"
	d.env["OPERATOR_MEMBERS"] = "user:ana@example.com,group:oncall@example.com"
	r := d.mustRun(t)
	cmds := commands(t, r.stdout)

	t.Run("Roles", func(t *testing.T) {
		// Exactly these bindings, and no more: the services get what they
		// call (Firestore, publish on their topics, the buckets), nothing
		// that reads topic metadata or pulls.
		agent := "serviceAccount:service-" + projectNumber + "@gcp-sa-pubsub.iam.gserviceaccount.com"
		coordinator, worker, push, scheduler, operator := sa("tipoff-coordinator"), sa("tipoff-worker"), sa("tipoff-push"), sa("tipoff-scheduler"), sa("tipoff-operator")
		want := []string{
			coordinator + " roles/datastore.user projects " + project,
			coordinator + " roles/storage.objectViewer storage buckets gs://" + project + "-tipoff-data",
			coordinator + " roles/storage.objectUser storage buckets gs://" + project + "-tipoff-exports",
			coordinator + " roles/pubsub.publisher pubsub topics prediction-requests",
			coordinator + " roles/pubsub.publisher pubsub topics batch-events",
			worker + " roles/pubsub.publisher pubsub topics prediction-outcomes",
			push + " roles/run.invoker run services tipoff-coordinator",
			push + " roles/run.invoker run services tipoff-worker",
			scheduler + " roles/run.invoker run services tipoff-coordinator",
			operator + " roles/run.invoker run services tipoff-coordinator",
			"user:ana@example.com roles/iam.serviceAccountTokenCreator iam service-accounts " + strings.TrimPrefix(operator, "serviceAccount:"),
			"group:oncall@example.com roles/iam.serviceAccountTokenCreator iam service-accounts " + strings.TrimPrefix(operator, "serviceAccount:"),
			agent + " roles/iam.serviceAccountTokenCreator iam service-accounts " + strings.TrimPrefix(push, "serviceAccount:"),
			agent + " roles/pubsub.publisher pubsub topics prediction-requests-dead-letter",
			agent + " roles/pubsub.publisher pubsub topics prediction-outcomes-dead-letter",
			agent + " roles/pubsub.publisher pubsub topics batch-events-dead-letter",
			agent + " roles/pubsub.subscriber pubsub subscriptions prediction-requests-push",
			agent + " roles/pubsub.subscriber pubsub subscriptions prediction-outcomes-push",
			agent + " roles/pubsub.subscriber pubsub subscriptions batch-events-pull",
			"serviceAccount:service-" + projectNumber + "@gcp-sa-monitoring-notification.iam.gserviceaccount.com roles/run.invoker run services tipoff-coordinator",
			// The collector sidecars read their configuration and write
			// metrics as the service's account.
			coordinator + " roles/secretmanager.secretAccessor secrets tipoff-run-monitoring",
			worker + " roles/secretmanager.secretAccessor secrets tipoff-run-monitoring",
			coordinator + " roles/monitoring.metricWriter projects " + project,
			worker + " roles/monitoring.metricWriter projects " + project,
		}
		var got []string
		for _, c := range cmds {
			i := slices.Index(c, "add-iam-policy-binding")
			if i < 0 {
				continue
			}
			member, _ := flag(c, "member")
			role, _ := flag(c, "role")
			got = append(got, member+" "+role+" "+strings.Join(c[1:i], " ")+" "+c[i+1])
		}
		sort.Strings(got)
		sort.Strings(want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("IAM bindings (-want +got):\n%s", diff)
		}
	})

	t.Run("EventsSubscription", func(t *testing.T) {
		i := find(cmds, "gcloud", "pubsub", "subscriptions", "create", "batch-events-pull")
		if i < 0 {
			t.Fatalf("no subscription batch-events-pull created:\n%s", r.stdout)
		}
		c := cmds[i]
		for name, want := range map[string]string{
			"topic":                      "batch-events",
			"message-retention-duration": "7d",
			"expiration-period":          "never",
			"dead-letter-topic":          "batch-events-dead-letter",
			"max-delivery-attempts":      "5",
			"retain-acked-messages":      "",
		} {
			if got, ok := flag(c, name); !ok || got != want {
				t.Errorf("batch-events-pull --%s = %q (set %v), want %q", name, got, ok, want)
			}
		}
		if v, ok := flag(c, "push-endpoint"); ok {
			t.Errorf("batch-events-pull is a push subscription to %s, want pull", v)
		}
		if find(cmds, "gcloud", "pubsub", "subscriptions", "create", "batch-events-dead-letter-pull") < 0 {
			t.Errorf("the events' dead-letter topic has no subscription:\n%s", r.stdout)
		}
	})

	t.Run("DeadLetterPushes", func(t *testing.T) {
		// The coordinator takes both kinds of dead letter by push, as
		// tipoff-push: requests (a failed attempt) and outcomes (recorded).
		for sub, path := range map[string]string{
			"prediction-requests-dead-letter-push": "/push/dead-letters",
			"prediction-outcomes-dead-letter-push": "/push/outcome-dead-letters",
		} {
			i := find(cmds, "gcloud", "pubsub", "subscriptions", "create", sub)
			if i < 0 {
				t.Errorf("no subscription %s created:\n%s", sub, r.stdout)
				continue
			}
			c := cmds[i]
			topic, _ := flag(c, "topic")
			endpoint, _ := flag(c, "push-endpoint")
			account, _ := flag(c, "push-auth-service-account")
			if topic != strings.TrimSuffix(sub, "-push") || !strings.HasPrefix(endpoint, "https://tipoff-coordinator-") || !strings.HasSuffix(endpoint, path) ||
				account != strings.TrimPrefix(sa("tipoff-push"), "serviceAccount:") {
				t.Errorf("%s: topic %q, endpoint %q, account %q; want the dead-letter topic pushed to the coordinator's %s as tipoff-push", sub, topic, endpoint, account, path)
			}
		}
	})

	t.Run("Alerts", func(t *testing.T) {
		// Every policy file is created, filled in: no placeholder left,
		// the services' and subscriptions' names in its filters.
		files, err := filepath.Glob("alerts/*.json")
		if err != nil || len(files) < 5 {
			t.Fatalf("alert policy files: %v, %v; want at least 5", files, err)
		}
		var created []string
		for _, c := range cmds {
			if find([][]string{c}, "gcloud", "alpha", "monitoring", "policies", "create") == 0 {
				f, _ := flag(c, "policy-from-file")
				created = append(created, f)
			}
		}
		if len(created) != len(files) {
			t.Fatalf("%d policies created, want %d (one per file in deploy/alerts): %q", len(created), len(files), created)
		}
		names := map[string]bool{}
		for _, f := range created {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var p struct {
				DisplayName string `json:"displayName"`
				Conditions  []struct {
					Threshold *struct{ Filter string } `json:"conditionThreshold"`
					Log       *struct{ Filter string } `json:"conditionMatchedLog"`
				} `json:"conditions"`
			}
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if strings.Contains(string(b), "${") || p.DisplayName == "" || len(p.Conditions) == 0 {
				t.Errorf("%s: a placeholder left, or no name or condition:\n%s", f, b)
			}
			names[p.DisplayName] = true
		}
		for _, want := range []string{"tipoff: daily scheduler job failed", "tipoff: batch not finalized by its deadline",
			"tipoff: dead letters waiting", "tipoff: 5xx responses", "tipoff: coordinator /health failing"} {
			if !names[want] {
				t.Errorf("no alert policy %q among %v", want, names)
			}
		}
		all := ""
		for _, f := range created {
			b, _ := os.ReadFile(f)
			all += string(b)
		}
		for _, want := range []string{`job_id=\"tipoff-daily\"`, `\"prediction-requests-dead-letter-push\"`, `\"tipoff-coordinator\",\"tipoff-worker\"`,
			"tipoff_batches_past_deadline", "check_id=\\\"UPTIME_CHECK_ID\\\""} {
			if !strings.Contains(all, want) {
				t.Errorf("no alert filter holds %s", want)
			}
		}
		// The deadline gauge comes from every coordinator instance's
		// collector, one series per instance: the condition must take the
		// maximum across them, not look at one instance's series.
		for _, f := range created {
			b, _ := os.ReadFile(f)
			if !strings.Contains(string(b), "tipoff_batches_past_deadline") {
				continue
			}
			var p struct {
				Conditions []struct {
					Threshold struct {
						Filter       string
						Aggregations []struct {
							CrossSeriesReducer string
							GroupByFields      []string
						}
					} `json:"conditionThreshold"`
				}
			}
			if err := json.Unmarshal(b, &p); err != nil || len(p.Conditions) != 1 || len(p.Conditions[0].Threshold.Aggregations) != 1 {
				t.Fatalf("%s: %v, want one condition with one aggregation", f, err)
			}
			c := p.Conditions[0].Threshold
			if a := c.Aggregations[0]; a.CrossSeriesReducer != "REDUCE_MAX" || slices.ContainsFunc(a.GroupByFields, func(g string) bool { return strings.Contains(g, "instance") }) {
				t.Errorf("%s: aggregation %+v, want the maximum across instances", f, a)
			}
			if !strings.Contains(c.Filter, `resource.labels.namespace="tipoff-coordinator"`) {
				t.Errorf("%s: filter %s does not pick the coordinator's series", f, c.Filter)
			}
		}
		i := find(cmds, "gcloud", "monitoring", "uptime", "create", "tipoff-coordinator-health")
		if i < 0 {
			t.Fatalf("no uptime check of the coordinator:\n%s", r.stdout)
		}
		for name, want := range map[string]string{"path": "/health", "protocol": "https", "service-agent-auth": "oidc-token", "resource-type": "cloud-run-revision"} {
			if got, _ := flag(cmds[i], name); got != want {
				t.Errorf("uptime check --%s = %q, want %q", name, got, want)
			}
		}
	})

	t.Run("Database", func(t *testing.T) {
		i := find(cmds, "gcloud", "firestore", "databases", "create")
		if i < 0 {
			t.Fatalf("no database created:\n%s", r.stdout)
		}
		for _, name := range []string{"delete-protection", "enable-pitr"} {
			if _, ok := flag(cmds[i], name); !ok {
				t.Errorf("database created without --%s: %q", name, cmds[i])
			}
		}
	})

	t.Run("WaitsForIndexes", func(t *testing.T) {
		wait := slices.IndexFunc(cmds, func(c []string) bool {
			line := strings.Join(c, " ")
			return c[0] == "wait" && strings.Contains(line, " READY ") &&
				strings.Contains(line, "gcloud firestore indexes composite list --database=tipoff")
		})
		if wait < 0 {
			t.Fatalf("no wait for the indexes:\n%s", r.stdout)
		}
		lastCreate := -1
		for i, c := range cmds {
			if find([][]string{c}, "gcloud", "firestore", "indexes", "composite", "create") == 0 {
				lastCreate = i
			}
		}
		if lastCreate < 0 || wait < lastCreate {
			t.Errorf("the wait (command %d) does not follow the index creations (last %d)", wait, lastCreate)
		}
		if deploy := find(cmds, "gcloud", "run", "services", "replace"); deploy < wait {
			t.Errorf("services deployed (command %d) before the indexes are waited for (%d)", deploy, wait)
		}
	})

	t.Run("ServiceIdentity", func(t *testing.T) {
		i := find(cmds, "gcloud", "beta", "services", "identity", "create", "--service=pubsub.googleapis.com")
		if i < 0 {
			t.Fatalf("the Pub/Sub service agent is not created:\n%s", r.stdout)
		}
		agent := slices.IndexFunc(cmds, func(c []string) bool {
			m, _ := flag(c, "member")
			return strings.Contains(m, "@gcp-sa-pubsub.")
		})
		if agent < i {
			t.Errorf("a role is bound to the service agent (command %d) before it is created (%d)", agent, i)
		}
	})

	t.Run("ImagePlatform", func(t *testing.T) {
		i := find(cmds, "docker", "build")
		if i < 0 {
			t.Fatalf("no docker build:\n%s", r.stdout)
		}
		if j := slices.Index(cmds[i], "--platform"); j < 0 || j+1 >= len(cmds[i]) || cmds[i][j+1] != "linux/amd64" {
			t.Errorf("docker build without --platform linux/amd64: %q", cmds[i])
		}
		if push := find(cmds, "docker", "push", image); push < i {
			t.Errorf("image pushed at command %d, built at %d", push, i)
		}
		if repo := find(cmds, "gcloud", "artifacts", "repositories", "create", "tipoff"); repo < 0 || repo > i {
			t.Errorf("repository tipoff created at command %d, image built at %d", repo, i)
		}
	})

	svcs := services(t, cmds)
	if len(svcs) != 2 || svcs["tipoff-coordinator"] == nil || svcs["tipoff-worker"] == nil {
		t.Fatalf("services replaced: %v; want tipoff-coordinator and tipoff-worker", slices.Sorted(maps.Keys(svcs)))
	}

	t.Run("ServiceEnvironment", func(t *testing.T) {
		for name, svc := range svcs {
			app := svc.container(t, "app")
			env := app.env()
			if env["TIPOFF_PROJECT"] != project {
				t.Errorf("%s: environment %v, want the TIPOFF_* settings", name, env)
			}
			// Cloud Run sets PORT; TIPOFF_ADDR would override it.
			for _, bad := range []string{"TIPOFF_ADDR", "PORT"} {
				if v, ok := env[bad]; ok {
					t.Errorf("%s: environment sets %s=%s", name, bad, v)
				}
			}
			// Data and exports go through the Cloud Storage API, not mounts.
			if len(app.VolumeMounts) > 0 {
				t.Errorf("%s: the app mounts volumes: %+v", name, app.VolumeMounts)
			}
			if name == "tipoff-coordinator" {
				for k, want := range map[string]string{"TIPOFF_DATA": "gs://" + project + "-tipoff-data/nba", "TIPOFF_EXPORT_DIR": "gs://" + project + "-tipoff-exports"} {
					if env[k] != want {
						t.Errorf("coordinator %s=%q, want %q", k, env[k], want)
					}
				}
			}
		}
	})

	t.Run("Sidecar", func(t *testing.T) {
		// Every instance runs the Managed Prometheus collector beside the
		// app; the app alone takes requests (on $PORT, which Cloud Run
		// sets) and serves its token-free metrics on loopback, where the
		// collector's configuration points.
		var cfgFile string
		if i := find(cmds, "gcloud", "secrets", "create", "tipoff-run-monitoring"); i < 0 {
			t.Fatalf("no secret for the collector's configuration:\n%s", r.stdout)
		} else {
			cfgFile, _ = flag(cmds[i], "data-file")
		}
		b, err := os.ReadFile(cfgFile)
		if err != nil {
			t.Fatal(err)
		}
		var rm struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string
			Spec       struct {
				Endpoints []struct {
					Port     int
					Path     string
					Interval string
				}
			}
		}
		if err := yaml.Unmarshal(b, &rm); err != nil {
			t.Fatalf("%s: %v\n%s", cfgFile, err, b)
		}
		if rm.APIVersion != "monitoring.googleapis.com/v1beta" || rm.Kind != "RunMonitoring" || len(rm.Spec.Endpoints) != 1 ||
			rm.Spec.Endpoints[0].Path != "/metrics" {
			t.Fatalf("collector configuration %+v, want a RunMonitoring scraping one /metrics", rm)
		}
		scrape := rm.Spec.Endpoints[0].Port
		for name, svc := range svcs {
			tmpl := svc.Spec.Template
			if len(tmpl.Spec.Containers) != 2 {
				t.Fatalf("%s: %d containers, want the app and the collector", name, len(tmpl.Spec.Containers))
			}
			app, col := svc.container(t, "app"), svc.container(t, "collector")
			if !strings.HasPrefix(app.Image, "us-central1-docker.pkg.dev/"+project+"/tipoff/tipoff") {
				t.Errorf("%s: app image %q", name, app.Image)
			}
			if len(app.Ports) != 1 || app.Ports[0].ContainerPort != 8080 || len(col.Ports) != 0 {
				t.Errorf("%s: ports app %+v, collector %+v; want the app alone as ingress, on 8080", name, app.Ports, col.Ports)
			}
			if col.Image != "us-docker.pkg.dev/cloud-ops-agents-artifacts/cloud-run-gmp-sidecar/cloud-run-gmp-sidecar:1.2.0" {
				t.Errorf("%s: collector image %q", name, col.Image)
			}
			if got := tmpl.Metadata.Annotations["run.googleapis.com/container-dependencies"]; got != `{"collector":["app"]}` {
				t.Errorf("%s: container dependencies %q, want the collector to start after the app", name, got)
			}
			addr := app.env()["TIPOFF_METRICS_ADDR"]
			if want := fmt.Sprintf("127.0.0.1:%d", scrape); addr != want {
				t.Errorf("%s: TIPOFF_METRICS_ADDR=%q, want %s, the loopback port the collector scrapes", name, addr, want)
			}
			if len(col.VolumeMounts) != 1 || col.VolumeMounts[0].MountPath != "/etc/rungmp/" {
				t.Fatalf("%s: collector mounts %+v, want its configuration at /etc/rungmp/", name, col.VolumeMounts)
			}
			vol := slices.IndexFunc(tmpl.Spec.Volumes, func(v knVolume) bool { return v.Name == col.VolumeMounts[0].Name })
			if vol < 0 || tmpl.Spec.Volumes[vol].Secret == nil || tmpl.Spec.Volumes[vol].Secret.SecretName != "tipoff-run-monitoring" ||
				!slices.Equal(tmpl.Spec.Volumes[vol].Secret.Items, []knKeyPath{{Key: "latest", Path: "config.yaml"}}) {
				t.Errorf("%s: volumes %+v, want the secret's latest version as config.yaml", name, tmpl.Spec.Volumes)
			}
			if want := sa(name); "serviceAccount:"+tmpl.Spec.ServiceAccountName != want {
				t.Errorf("%s: runs as %q, want %s", name, tmpl.Spec.ServiceAccountName, want)
			}
		}
		if got := svcs["tipoff-coordinator"].Spec.Template.Metadata.Annotations["run.googleapis.com/cpu-throttling"]; got != "false" {
			t.Errorf("coordinator cpu-throttling %q, want false: its sweeper and the collector run between requests", got)
		}
	})

	t.Run("RouteGroups", func(t *testing.T) {
		// Each route group of a service has its own allow-list, holding
		// only the account of its callers.
		email := func(name string) string { return strings.TrimPrefix(sa(name), "serviceAccount:") }
		want := map[string]map[string]string{
			"tipoff-coordinator": {"TIPOFF_START_INVOKERS": email("tipoff-scheduler"), "TIPOFF_PUSH_INVOKERS": email("tipoff-push"),
				"TIPOFF_OPERATORS": email("tipoff-operator")},
			"tipoff-worker": {"TIPOFF_PUSH_INVOKERS": email("tipoff-push")},
		}
		for name, svc := range svcs {
			got := map[string]string{}
			for k, v := range svc.container(t, "app").env() {
				if strings.HasSuffix(k, "_INVOKERS") || k == "TIPOFF_OPERATORS" || k == "TIPOFF_AUTH_EMAILS" {
					got[k] = v
				}
			}
			if diff := cmp.Diff(want[name], got); diff != "" {
				t.Errorf("%s: allow-lists (-want +got):\n%s", name, diff)
			}
		}
		if i := find(cmds, "gcloud", "iam", "service-accounts", "create", "tipoff-operator"); i < 0 {
			t.Errorf("no service account tipoff-operator created:\n%s", r.stdout)
		}
	})
}

func TestDryRun_Offline(t *testing.T) {
	t.Parallel()
	d := newDeployEnv(t)
	d.env["DRY_RUN"] = "1"
	d.env["STUB_NO_PROJECT"] = "1"
	r := d.mustRun(t, "topics")
	if find(commands(t, r.stdout), "gcloud", "pubsub", "topics", "create", "prediction-requests") < 0 {
		t.Errorf("an offline dry run does not show the topics it would create:\n%s", r.stdout)
	}
	// Nothing is looked up once the project cannot be read.
	if want := []string{"projects describe " + project + " --format=value(projectNumber)"}; !cmp.Equal(r.calls, want) {
		t.Errorf("gcloud calls %q, want %q", r.calls, want)
	}
}

func TestLookup_OtherErrorsStop(t *testing.T) {
	t.Parallel()
	for _, dry := range []string{"1", ""} {
		t.Run("DRY_RUN="+dry, func(t *testing.T) {
			t.Parallel()
			d := newDeployEnv(t)
			d.env["DRY_RUN"] = dry
			d.env["STUB_DENY"] = "1"
			r := d.run(t, "topics")
			if r.err == nil {
				t.Fatalf("deploy.sh topics succeeded although a lookup was denied; stdout:\n%s", r.stdout)
			}
			if !strings.Contains(r.stderr, "PERMISSION_DENIED") {
				t.Errorf("stderr does not say why:\n%s", r.stderr)
			}
			if strings.Contains(r.stdout, "topics create") || slices.ContainsFunc(r.calls, func(c string) bool {
				return strings.HasPrefix(c, "pubsub topics create")
			}) {
				t.Errorf("a topic was created after a denied lookup; stdout:\n%s\ncalls: %q", r.stdout, r.calls)
			}
		})
	}
}

func TestFirestore_ExistingDatabase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		state      string
		wantUpdate bool
	}{
		{"Unprotected", "DELETE_PROTECTION_DISABLED\tPOINT_IN_TIME_RECOVERY_DISABLED", true},
		{"NoPITR", "DELETE_PROTECTION_ENABLED\tPOINT_IN_TIME_RECOVERY_DISABLED", true},
		{"Protected", "DELETE_PROTECTION_ENABLED\tPOINT_IN_TIME_RECOVERY_ENABLED", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDeployEnv(t)
			d.env["DRY_RUN"] = "1"
			d.env["STUB_DB_STATE"] = tt.state
			cmds := commands(t, d.mustRun(t, "firestore").stdout)
			if i := find(cmds, "gcloud", "firestore", "databases", "create"); i >= 0 {
				t.Errorf("an existing database is created again: %q", cmds[i])
			}
			i := find(cmds, "gcloud", "firestore", "databases", "update")
			if got := i >= 0; got != tt.wantUpdate {
				t.Fatalf("database updated: %v, want %v", got, tt.wantUpdate)
			}
			if i >= 0 {
				for _, name := range []string{"delete-protection", "enable-pitr"} {
					if _, ok := flag(cmds[i], name); !ok {
						t.Errorf("database updated without --%s: %q", name, cmds[i])
					}
				}
			}
		})
	}
}

// indexList renders gcpfirestore/firestore.indexes.json's composite
// indexes as `gcloud firestore indexes composite list --format=json` does,
// each in the state states gives it (READY if it gives none), leaving out
// those whose state is "".
func indexList(t *testing.T, states ...string) string {
	t.Helper()
	b, err := os.ReadFile("../gcpfirestore/firestore.indexes.json")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Indexes []struct {
			CollectionGroup string `json:"collectionGroup"`
			QueryScope      string `json:"queryScope"`
			Fields          []map[string]string
		}
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	if len(spec.Indexes) == 0 {
		t.Fatal("firestore.indexes.json has no composite indexes")
	}
	out := []map[string]any{}
	for i, ix := range spec.Indexes {
		state := "READY"
		if i < len(states) {
			state = states[i]
		}
		if state == "" {
			continue
		}
		fields := append(slices.Clone(ix.Fields), map[string]string{"fieldPath": "__name__", "order": "DESCENDING"})
		out = append(out, map[string]any{
			"name":       "projects/" + project + "/databases/tipoff/collectionGroups/" + ix.CollectionGroup + "/indexes/CICAgI" + string(rune('A'+i)),
			"queryScope": ix.QueryScope,
			"state":      state,
			"fields":     fields,
		})
	}
	j, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(j)
}

func TestFirestore_WaitsForIndexes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		first   string // the first listing
		later   string // the listings after it; "" repeats the first
		wantErr string // in stderr; "" for success
		lists   int    // listings made, 0 for any
	}{
		{name: "Ready", first: indexList(t), lists: 1},
		{name: "ReadyAfterBuilding", first: indexList(t, "CREATING", "CREATING"), later: indexList(t), lists: 2},
		{name: "StillBuilding", first: indexList(t, "READY", "CREATING"), wantErr: "not READY after 0s"},
		{name: "Missing", first: indexList(t, ""), wantErr: "MISSING tipoff_batches state ASCENDING,created_at DESCENDING"},
		{name: "NeedsRepair", first: indexList(t, "READY", "NEEDS_REPAIR"), wantErr: "could not build"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDeployEnv(t)
			d.env["INDEX_TIMEOUT"] = "0"
			d.env["INDEX_POLL"] = "0"
			if tt.lists > 1 {
				d.env["INDEX_TIMEOUT"] = "60"
			}
			d.env["STUB_INDEXES"] = d.file(t, "indexes.json", tt.first)
			if tt.later != "" {
				d.env["STUB_INDEXES_LATER"] = d.file(t, "indexes-later.json", tt.later)
			}
			r := d.run(t, "firestore")
			lists, lastCreate, firstList := 0, -1, -1
			for i, c := range r.calls {
				switch {
				case strings.HasPrefix(c, "firestore indexes composite create"):
					lastCreate = i
				case strings.HasPrefix(c, "firestore indexes composite list"):
					lists++
					if firstList < 0 {
						firstList = i
					}
				}
			}
			if firstList < lastCreate {
				t.Errorf("indexes listed (call %d) before the last is created (call %d)", firstList, lastCreate)
			}
			if tt.lists > 0 && lists != tt.lists {
				t.Errorf("indexes listed %d times, want %d", lists, tt.lists)
			}
			if tt.wantErr == "" {
				if r.err != nil {
					t.Fatalf("deploy.sh firestore: %v", r.err)
				}
				return
			}
			var exit *exec.ExitError
			if !errors.As(r.err, &exit) {
				t.Fatalf("deploy.sh firestore: %v, want it to fail", r.err)
			}
			if !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("stderr does not say %q:\n%s", tt.wantErr, r.stderr)
			}
		})
	}
}

func TestBind_RetriesUntilIAMSeesTheAccount(t *testing.T) {
	t.Parallel()
	const notYet = "INVALID_ARGUMENT: Service account tipoff-push@demo-project.iam.gserviceaccount.com does not exist."
	tests := []struct {
		name      string
		fails     string // failed bindings before one succeeds
		err       string
		tries     string
		wantCalls int
		wantErr   string
	}{
		{"Propagates", "2", notYet, "8", 3, ""},
		{"NeverPropagates", "5", notYet, "3", 3, "still does not see"},
		{"OtherError", "1", "PERMISSION_DENIED: Policy update access denied.", "8", 1, "PERMISSION_DENIED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDeployEnv(t)
			d.env["BIND_BACKOFF"] = "0"
			d.env["BIND_TRIES"] = tt.tries
			d.env["STUB_BIND_ERROR"] = tt.err
			d.file(t, "bind-fails", tt.fails)
			r := d.run(t, "accounts")
			calls := 0
			for _, c := range r.calls {
				if strings.Contains(c, "add-iam-policy-binding") {
					calls++
				}
			}
			if calls != tt.wantCalls {
				t.Errorf("%d binding calls, want %d: %q", calls, tt.wantCalls, r.calls)
			}
			if tt.wantErr == "" {
				if r.err != nil {
					t.Fatalf("deploy.sh accounts: %v", r.err)
				}
				return
			}
			if r.err == nil || !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("deploy.sh accounts: %v, stderr:\n%s\nwant a failure saying %q", r.err, r.stderr, tt.wantErr)
			}
		})
	}
}

// deadLetters renders pulled dead letters as
// `gcloud pubsub subscriptions pull --format=json` does, and returns them
// with the data of each.
func deadLetters(t *testing.T, n int) (string, []string) {
	t.Helper()
	var out []map[string]any
	var data []string
	for i := range n {
		d := fmt.Sprintf(`{"batch_id":"2025-01-1%d/daily","item_id":"p%d","outcome":"succeeded, late"}`, i, i)
		data = append(data, d)
		out = append(out, map[string]any{
			"ackId":           fmt.Sprintf("ack-%d", i),
			"deliveryAttempt": 1,
			"message": map[string]any{
				"messageId": fmt.Sprintf("m%d", i),
				"data":      base64.StdEncoding.EncodeToString([]byte(d)),
				"attributes": map[string]string{
					"batch_id": fmt.Sprintf("2025-01-1%d/daily", i),
					"item_id":  fmt.Sprintf("p%d", i),
					"CloudPubSubDeadLetterSourceDeliveryCount": "5",
					"CloudPubSubDeadLetterSourceSubscription":  "prediction-outcomes-push",
				},
			},
		})
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), data
}

func TestReplayDeadLetters(t *testing.T) {
	t.Parallel()
	t.Run("Replays", func(t *testing.T) {
		t.Parallel()
		d := newDeployEnv(t)
		pulled, data := deadLetters(t, 2)
		d.env["STUB_PULL"] = d.file(t, "pull.json", pulled)
		r := d.replay(t, "prediction-outcomes")
		if r.err != nil {
			t.Fatalf("replay: %v", r.err)
		}
		// Each message is published back with its own attributes, then
		// acked; the next pull finds the subscription empty.
		var want []string
		for i, d := range data {
			want = append(want,
				"pubsub subscriptions pull prediction-outcomes-dead-letter-pull",
				fmt.Sprintf("pubsub topics publish prediction-outcomes --message=%s --attribute=^|^batch_id=2025-01-1%d/daily|item_id=p%d", d, i, i),
				fmt.Sprintf("pubsub subscriptions ack prediction-outcomes-dead-letter-pull --ack-ids=ack-%d", i))
		}
		want = append(want, "pubsub subscriptions pull prediction-outcomes-dead-letter-pull")
		var got []string
		for _, c := range r.calls {
			c, _, _ = strings.Cut(c, " --limit=")
			c, _, _ = strings.Cut(c, " --project=")
			got = append(got, c)
		}
		// Both messages come from the first pull.
		want = slices.Delete(want, 3, 4)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("gcloud calls (-want +got):\n%s", diff)
		}
	})

	t.Run("PublishFails", func(t *testing.T) {
		t.Parallel()
		d := newDeployEnv(t)
		pulled, _ := deadLetters(t, 2)
		d.env["STUB_PULL"] = d.file(t, "pull.json", pulled)
		d.env["STUB_PUBLISH_FAIL"] = "1"
		r := d.replay(t, "prediction-outcomes")
		if r.err == nil || !strings.Contains(r.stderr, "UNAVAILABLE") {
			t.Errorf("replay: %v, stderr:\n%s\nwant a failure that says why", r.err, r.stderr)
		}
		if slices.ContainsFunc(r.calls, func(c string) bool { return strings.Contains(c, " ack ") }) {
			t.Errorf("a message was acked although its publish failed: %q", r.calls)
		}
	})

	t.Run("DryRun", func(t *testing.T) {
		t.Parallel()
		d := newDeployEnv(t)
		pulled, data := deadLetters(t, 2)
		d.env["STUB_PULL"] = d.file(t, "pull.json", pulled)
		d.env["STUB_PULL_REPEAT"] = "1" // unacked messages come back
		d.env["DRY_RUN"] = "1"
		r := d.replay(t, "batch-events")
		if r.err != nil {
			t.Fatalf("replay: %v", r.err)
		}
		for _, c := range r.calls {
			if !strings.HasPrefix(c, "pubsub subscriptions pull batch-events-dead-letter-pull ") {
				t.Errorf("a dry run called gcloud %s", c)
			}
		}
		for _, d := range data {
			if !strings.Contains(r.stdout, "pubsub topics publish batch-events --message="+d) {
				t.Errorf("the dry run does not show the publish of %s:\n%s", d, r.stdout)
			}
		}
	})

	t.Run("RefusesRequests", func(t *testing.T) {
		t.Parallel()
		d := newDeployEnv(t)
		r := d.replay(t, "prediction-requests")
		if r.err == nil || !strings.Contains(r.stderr, "new run label") {
			t.Errorf("replay of requests: %v, stderr:\n%s\nwant a refusal that says what to do", r.err, r.stderr)
		}
		if len(r.calls) != 0 {
			t.Errorf("gcloud called: %q", r.calls)
		}
	})
}
