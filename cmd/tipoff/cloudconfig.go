package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"

	"tipoff/gcpfirestore"
	"tipoff/gcppubsub"
	"tipoff/httpapi"
)

// cloudConfig is what the cloud shape's services (coordinator and worker)
// add to Config: where Firestore and Pub/Sub are, how callers are
// authenticated, and where to listen.
type cloudConfig struct {
	Project string // Google Cloud project of Firestore and Pub/Sub
	Addr    string // listen address; ":$PORT" on Cloud Run
	Pull    bool   // pull subscriptions instead of push endpoints
	// MetricsAddr, when set, serves GET /metrics without a token there,
	// loopback only unless MetricsAnyHost: for the collector sidecar.
	MetricsAddr    string
	MetricsAnyHost bool

	FirestoreDatabase string
	FirestorePrefix   string
	// PubsubSetup creates missing topics and subscriptions (emulator and
	// tests; production's come from deploy/).
	PubsubSetup bool

	AuthAudiences []string
	// AuthEmails may call every route group that names no accounts of its
	// own: StartInvokers (the scheduler's /start), PushInvokers (Pub/Sub's
	// pushes) and Operators (reads and operator verbs).
	AuthEmails                             []string
	StartInvokers, PushInvokers, Operators []string
	role                                   string // "coordinator" or "worker"
	// AuthKeysURL replaces Google's ID-token signing keys endpoint, for
	// tests with an issuer of their own.
	AuthKeysURL string
	// NoAuth turns the OIDC check off; it must be asked for by name.
	NoAuth bool
}

// cloud binds the cloud services' flags, with defaults from TIPOFF_* (and
// GOOGLE_CLOUD_PROJECT, and PORT as Cloud Run sets it).
func (b *flagBinder) cloud() *cloudConfig {
	cc := &cloudConfig{Addr: "127.0.0.1:8080", FirestorePrefix: "tipoff", role: b.fs.Name()}
	b.env.String("TIPOFF_ADDR", &cc.Addr)
	// Cloud Run tells a container where to listen by PORT: it wins over
	// TIPOFF_ADDR, which could otherwise leave the service deaf.
	if p := b.env.Get("PORT"); p != "" {
		cc.Addr = ":" + p
	}
	b.env.String("GOOGLE_CLOUD_PROJECT", &cc.Project)
	b.env.String("TIPOFF_PROJECT", &cc.Project)
	switch mode := b.env.Get("TIPOFF_PUBSUB_MODE"); mode {
	case "", "push":
	case "pull":
		cc.Pull = true
	default:
		b.env.Fail(fmt.Errorf("TIPOFF_PUBSUB_MODE=%q: want push or pull", mode))
	}
	b.env.Bool("TIPOFF_PULL", &cc.Pull)
	for name, want := range map[string]string{"TIPOFF_STORE": "firestore", "TIPOFF_QUEUE": "pubsub"} {
		if v := b.env.Get(name); v != "" && v != want && b.fs.Name() == "coordinator" {
			b.env.Fail(fmt.Errorf("%s=%q: the coordinator runs on %s only", name, v, want))
		}
	}
	b.env.String("TIPOFF_FIRESTORE_DATABASE", &cc.FirestoreDatabase)
	b.env.String("TIPOFF_FIRESTORE_PREFIX", &cc.FirestorePrefix)
	b.env.Bool("TIPOFF_PUBSUB_SETUP", &cc.PubsubSetup)
	audiences, emails := "", ""
	b.env.String("TIPOFF_AUTH_AUDIENCE", &audiences)
	b.env.String("TIPOFF_AUTH_AUDIENCES", &audiences)
	b.env.String("TIPOFF_AUTH_EMAILS", &emails)
	cc.AuthAudiences, cc.AuthEmails = splitList(audiences), splitList(emails)
	groups := map[string]*[]string{"start-invokers": &cc.StartInvokers, "push-invokers": &cc.PushInvokers, "operators": &cc.Operators}
	for name, list := range groups {
		env := "TIPOFF_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		*list = splitList(b.env.Get(env))
		b.fs.Func(name, "comma-separated service `accounts` allowed to call the "+name+" route group; default --auth-emails ("+env+")",
			func(s string) error { *list = splitList(s); return nil })
	}
	b.env.String("TIPOFF_AUTH_KEYS_URL", &cc.AuthKeysURL)
	b.env.String("TIPOFF_METRICS_ADDR", &cc.MetricsAddr)
	b.env.Bool("TIPOFF_INSECURE_METRICS_LISTEN_ANY", &cc.MetricsAnyHost)
	b.env.Bool("TIPOFF_INSECURE_NO_AUTH", &cc.NoAuth)

	fs := b.fs
	fs.StringVar(&cc.Project, "project", cc.Project, "Google Cloud `project` of Firestore and Pub/Sub (TIPOFF_PROJECT, else GOOGLE_CLOUD_PROJECT)")
	fs.StringVar(&cc.Addr, "addr", cc.Addr, "listen `address`; :$PORT when Cloud Run sets PORT, which wins over TIPOFF_ADDR (TIPOFF_ADDR)")
	fs.BoolVar(&cc.Pull, "pull", cc.Pull, "receive through pull subscriptions instead of Pub/Sub pushes to the HTTP endpoints (TIPOFF_PULL, or TIPOFF_PUBSUB_MODE=pull)")
	fs.StringVar(&cc.FirestoreDatabase, "firestore-database", cc.FirestoreDatabase, "Firestore `database`; default (default) (TIPOFF_FIRESTORE_DATABASE)")
	fs.StringVar(&cc.FirestorePrefix, "firestore-prefix", cc.FirestorePrefix, "`prefix` of the Firestore collections (TIPOFF_FIRESTORE_PREFIX)")
	fs.BoolVar(&cc.PubsubSetup, "pubsub-setup", cc.PubsubSetup, "create missing topics and subscriptions, for the emulator (TIPOFF_PUBSUB_SETUP)")
	fs.Func("auth-audiences", "comma-separated `audiences` an OIDC token may be for: the service URL, or those set on the push subscriptions and scheduler job (TIPOFF_AUTH_AUDIENCES or TIPOFF_AUTH_AUDIENCE)",
		func(s string) error { cc.AuthAudiences = splitList(s); return nil })
	fs.Func("auth-emails", "comma-separated service `accounts` allowed to call every route group not given its own (TIPOFF_AUTH_EMAILS)",
		func(s string) error { cc.AuthEmails = splitList(s); return nil })
	fs.StringVar(&cc.AuthKeysURL, "auth-keys-url", cc.AuthKeysURL, "fetch the ID-token signing keys (JWKS) from `url` instead of Google's, for tests with their own issuer (TIPOFF_AUTH_KEYS_URL)")
	fs.StringVar(&cc.MetricsAddr, "metrics-addr", cc.MetricsAddr, "also serve GET /metrics without a token on this loopback `address` (e.g. 127.0.0.1:9464), for a collector sidecar; default none (TIPOFF_METRICS_ADDR)")
	fs.BoolVar(&cc.MetricsAnyHost, "insecure-metrics-listen-any", cc.MetricsAnyHost, "let --metrics-addr be an address other than loopback: anyone who reaches it reads the metrics (TIPOFF_INSECURE_METRICS_LISTEN_ANY)")
	fs.BoolVar(&cc.NoAuth, "insecure-no-auth", cc.NoAuth, "accept pushes and starts without an OIDC token: only for loopback development (TIPOFF_INSECURE_NO_AUTH)")
	return cc
}

// validate returns every problem with cc.
func (cc *cloudConfig) validate() error {
	var errs []error
	if cc.Project == "" {
		errs = append(errs, errors.New("project: empty: set --project, TIPOFF_PROJECT or GOOGLE_CLOUD_PROJECT"))
	}
	if _, _, err := net.SplitHostPort(cc.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr %q: want HOST:PORT or :PORT", cc.Addr))
	}
	if cc.MetricsAddr != "" {
		if err := httpapi.CheckMetricsAddr(cc.MetricsAddr, cc.MetricsAnyHost); err != nil {
			errs = append(errs, err)
		}
	}
	if !cc.NoAuth {
		if len(cc.AuthAudiences) == 0 {
			errs = append(errs, errors.New("auth-audiences: empty: name the audiences callers' tokens are for (or --insecure-no-auth for loopback development)"))
		}
		groups := cc.groups()
		for _, name := range slices.Sorted(maps.Keys(groups)) {
			if len(groups[name]) == 0 {
				errs = append(errs, fmt.Errorf("%s and auth-emails: empty: name the service accounts allowed to call (or --insecure-no-auth for loopback development)", name))
			}
		}
	}
	if cc.AuthKeysURL != "" {
		if u, err := url.Parse(cc.AuthKeysURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("auth-keys-url %q: want an http or https URL", cc.AuthKeysURL))
		}
	}
	return errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// groups returns the accounts allowed to call each route group the
// service serves: its own list, or else AuthEmails.
func (cc *cloudConfig) groups() map[string][]string {
	or := func(l []string) []string {
		if len(l) > 0 {
			return l
		}
		return cc.AuthEmails
	}
	if cc.role == "worker" {
		return map[string][]string{"push-invokers": or(cc.PushInvokers)}
	}
	return map[string][]string{"start-invokers": or(cc.StartInvokers), "push-invokers": or(cc.PushInvokers), "operators": or(cc.Operators)}
}

// guards returns the OIDC check of each route group, each accepting only
// its own accounts, or none (with a warning) when auth is turned off.
func (cc *cloudConfig) guards(ctx context.Context, limit int64, log *slog.Logger) (httpapi.Guards, error) {
	if cc.NoAuth {
		log.Warn("OIDC authentication is off (--insecure-no-auth): anyone who reaches this service can start runs, push messages and read state")
		return httpapi.Guards{}, nil
	}
	m := map[string]httpapi.Middleware{}
	for name, emails := range cc.groups() {
		a, err := httpapi.NewAuth(ctx, httpapi.AuthConfig{Audiences: cc.AuthAudiences, Emails: emails,
			KeysURL: cc.AuthKeysURL, MaxBodyBytes: limit}, log.With("group", name))
		if err != nil {
			return httpapi.Guards{}, fmt.Errorf("%s: %w", name, err)
		}
		m[name] = a.Wrap
	}
	return httpapi.Guards{Start: m["start-invokers"], Push: m["push-invokers"], Operator: m["operators"]}, nil
}

// openQueue connects to Pub/Sub (the emulator when PUBSUB_EMULATOR_HOST is
// set) and, with --pubsub-setup, creates the topics the role uses.
func (cc *cloudConfig) openQueue(ctx context.Context, cfg Config, topics ...string) (*gcppubsub.Queue, error) {
	q, err := gcppubsub.Open(ctx, gcppubsub.Config{Project: cc.Project, Lease: cfg.Lease, AutoSetup: cc.PubsubSetup})
	if err != nil {
		return nil, err
	}
	if cc.PubsubSetup {
		if err := q.Setup(ctx, topics...); err != nil {
			q.Close()
			return nil, err
		}
	}
	return q, nil
}

// openStore connects to Firestore (the emulator when
// FIRESTORE_EMULATOR_HOST is set).
func (cc *cloudConfig) openStore(ctx context.Context, log *slog.Logger) (*gcpfirestore.Store, error) {
	return gcpfirestore.Open(ctx, gcpfirestore.Config{ProjectID: cc.Project, DatabaseID: cc.FirestoreDatabase,
		CollectionPrefix: cc.FirestorePrefix, Logger: log})
}
