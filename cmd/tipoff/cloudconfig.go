package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"tipoff/gcpfirestore"
	"tipoff/gcppubsub"
	"tipoff/httpapi"
	"tipoff/internal/envflag"
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

	httpapi.GuardConfig // who may call each route group
}

// cloud binds the cloud services' flags, with defaults from TIPOFF_* (and
// GOOGLE_CLOUD_PROJECT, and PORT as Cloud Run sets it).
func (b *flagBinder) cloud() *cloudConfig {
	cc := &cloudConfig{Addr: "127.0.0.1:8080", FirestorePrefix: "tipoff"}
	cc.PushOnly = b.fs.Name() == "worker"
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
	audiences := ""
	b.env.String("TIPOFF_AUTH_AUDIENCE", &audiences)
	b.env.String("TIPOFF_AUTH_AUDIENCES", &audiences)
	cc.Audiences = envflag.List(audiences)
	groups := map[string]*[]string{"auth-emails": &cc.Emails, "start-invokers": &cc.StartInvokers, "push-invokers": &cc.PushInvokers, "operators": &cc.Operators}
	for name, list := range groups {
		usage := "comma-separated service `accounts` allowed to call the " + name + " route group; default --auth-emails"
		if name == "auth-emails" {
			usage = "comma-separated service `accounts` allowed to call every route group not given its own"
		}
		b.Func(name, "TIPOFF_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_")), usage, func(s string) error { *list = envflag.List(s); return nil })
	}

	fs := b.fs
	fs.StringVar(&cc.Project, "project", cc.Project, "Google Cloud `project` of Firestore and Pub/Sub (TIPOFF_PROJECT, else GOOGLE_CLOUD_PROJECT)")
	fs.StringVar(&cc.Addr, "addr", cc.Addr, "listen `address`; :$PORT when Cloud Run sets PORT, which wins over TIPOFF_ADDR (TIPOFF_ADDR)")
	fs.BoolVar(&cc.Pull, "pull", cc.Pull, "receive through pull subscriptions instead of Pub/Sub pushes to the HTTP endpoints (TIPOFF_PULL, or TIPOFF_PUBSUB_MODE=pull)")
	b.String(&cc.FirestoreDatabase, "firestore-database", "TIPOFF_FIRESTORE_DATABASE", "Firestore `database`; default (default)")
	b.String(&cc.FirestorePrefix, "firestore-prefix", "TIPOFF_FIRESTORE_PREFIX", "`prefix` of the Firestore collections")
	b.Bool(&cc.PubsubSetup, "pubsub-setup", "TIPOFF_PUBSUB_SETUP", "create missing topics and subscriptions, for the emulator")
	fs.Func("auth-audiences", "comma-separated `audiences` an OIDC token may be for: the service URL, or those set on the push subscriptions and scheduler job (TIPOFF_AUTH_AUDIENCES or TIPOFF_AUTH_AUDIENCE)",
		func(s string) error { cc.Audiences = envflag.List(s); return nil })
	b.String(&cc.KeysURL, "auth-keys-url", "TIPOFF_AUTH_KEYS_URL", "fetch the ID-token signing keys (JWKS) from `url` instead of Google's, for tests with their own issuer")
	b.String(&cc.MetricsAddr, "metrics-addr", "TIPOFF_METRICS_ADDR", "also serve GET /metrics without a token on this loopback `address` (e.g. 127.0.0.1:9464), for a collector sidecar; default none")
	b.Bool(&cc.MetricsAnyHost, "insecure-metrics-listen-any", "TIPOFF_INSECURE_METRICS_LISTEN_ANY", "let --metrics-addr be an address other than loopback: anyone who reaches it reads the metrics")
	b.Bool(&cc.NoAuth, "insecure-no-auth", "TIPOFF_INSECURE_NO_AUTH", "accept pushes and starts without an OIDC token: only for loopback development")
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
	return errors.Join(append(errs, cc.GuardConfig.Validate())...)
}

// openQueue connects to Pub/Sub (the emulator when PUBSUB_EMULATOR_HOST is
// set) and, with --pubsub-setup, creates the topics the role uses.
func (cc *cloudConfig) openQueue(ctx context.Context, cfg Config, topics ...string) (*gcppubsub.Queue, error) {
	if !cc.PubsubSetup {
		topics = nil
	}
	return gcppubsub.Open(ctx, gcppubsub.Config{Project: cc.Project, Lease: cfg.Lease, AutoSetup: cc.PubsubSetup, SetupTopics: topics})
}

// openStore connects to Firestore (the emulator when
// FIRESTORE_EMULATOR_HOST is set).
func (cc *cloudConfig) openStore(ctx context.Context, log *slog.Logger) (*gcpfirestore.Store, error) {
	return gcpfirestore.Open(ctx, gcpfirestore.Config{ProjectID: cc.Project, DatabaseID: cc.FirestoreDatabase,
		CollectionPrefix: cc.FirestorePrefix, Logger: log})
}
