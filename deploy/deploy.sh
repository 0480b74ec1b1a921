#!/usr/bin/env bash
# Creates or updates tipoff's cloud shape in one Google Cloud project: the
# image (built for linux/amd64 from ./Dockerfile and pushed, unless that
# tag is already pushed), service accounts and their permissions, the data
# and export buckets, the Firestore database (delete protection and
# point-in-time recovery on) and its indexes (waited for until READY), the
# Pub/Sub topics, dead-letter topics, push subscriptions and the pull
# subscription of batch events for downstream consumers, the two Cloud Run
# services (coordinator and worker, from an explicit image reference, never
# a source deploy), and the Cloud Scheduler job that calls the
# coordinator's POST /start every morning. Every step can be run again:
# what exists is updated or left as it is. See deploy/README.md.
#
# Usage: PROJECT=p IMAGE=REGION-docker.pkg.dev/p/tipoff/tipoff:TAG deploy/deploy.sh [STEP...]
#   STEP: all (default) | apis | image | accounts | storage | firestore |
#         topics | services | subscriptions | scheduler | monitoring | env
#   DRY_RUN=1 prints the commands that change something instead of running
#   them. Lookups still run when gcloud can read the project; when it
#   cannot (no credentials, no network), the dry run assumes nothing exists.
set -euo pipefail
cd "$(dirname "$0")/.."

# ---- Settings (environment overrides) --------------------------------------

: "${PROJECT:?set PROJECT to the Google Cloud project ID}"
REGION=${REGION:-us-central1}
# IMAGE: the image to run, built from ./Dockerfile and pushed to Artifact
# Registry. A tag is resolved to its digest, so the services run exactly
# the image that was pushed, even if the tag moves later.
IMAGE=${IMAGE:-}
FIRESTORE_DB=${FIRESTORE_DB:-tipoff}
DATA_BUCKET=${DATA_BUCKET:-$PROJECT-tipoff-data}
EXPORT_BUCKET=${EXPORT_BUCKET:-$PROJECT-tipoff-exports}
# The daily run: 09:00 league time, after the data refresh (README.md).
SCHEDULE=${SCHEDULE:-0 9 * * *}
TIME_ZONE=${TIME_ZONE:-America/New_York}
RUN_LABEL=${RUN_LABEL:-daily}
# Subscription policies: delivery attempts before a message is
# dead-lettered (Pub/Sub allows 5-100), the redelivery backoff after a
# failed push, and the push deadline (a push not answered by then counts as
# failed; the worker's item timeout must fit inside it).
MAX_DELIVERIES=${MAX_DELIVERIES:-5}
MIN_RETRY=${MIN_RETRY:-10s}
MAX_RETRY=${MAX_RETRY:-600s}
ACK_DEADLINE=${ACK_DEADLINE:-60}
# Batch policy handed to the coordinator (TIPOFF_* of cmd/tipoff).
ITEM_TIMEOUT=${ITEM_TIMEOUT:-5m}
MAX_ATTEMPTS=${MAX_ATTEMPTS:-3}
DEADLINE=${DEADLINE:-45m}
MIN_SUCCESS=${MIN_SUCCESS:-0.9}
# The coordinator's finalize lease (longer than a finalize takes: a
# finalizer stalled past it is taken over and its writes refused) and how
# long it works on one push before answering 503 (under ACK_DEADLINE, so a
# wedged instance hands the message back for redelivery elsewhere).
FINALIZE_LEASE=${FINALIZE_LEASE:-2m}
PUSH_TIMEOUT=${PUSH_TIMEOUT:-20s}
# The subcommand each service runs (the image's entrypoint is tipoff).
COORDINATOR_ARGS=${COORDINATOR_ARGS:-coordinator}
WORKER_ARGS=${WORKER_ARGS:-worker}
WORKER_MAX_INSTANCES=${WORKER_MAX_INSTANCES:-20}
# Metrics: each service instance runs Google Cloud Managed Service for
# Prometheus's collector as a sidecar (deploy/service.yaml), which scrapes
# tipoff's token-free loopback metrics listener on METRICS_PORT
# (TIPOFF_METRICS_ADDR) as deploy/run-monitoring.yaml, kept in the Secret
# Manager secret MONITORING_SECRET, says. SIDECAR_CPU and SIDECAR_MEMORY are
# the collector's share of each instance (with the app's 1 vCPU the total
# must stay a whole number of vCPUs). SERVICES_OUT is where the filled-in
# service definitions are written for gcloud.
METRICS_PORT=${METRICS_PORT:-9464}
SIDECAR_IMAGE=${SIDECAR_IMAGE:-us-docker.pkg.dev/cloud-ops-agents-artifacts/cloud-run-gmp-sidecar/cloud-run-gmp-sidecar:1.2.0}
SIDECAR_CPU=${SIDECAR_CPU:-1}
SIDECAR_MEMORY=${SIDECAR_MEMORY:-256Mi}
MONITORING_SECRET=${MONITORING_SECRET:-tipoff-run-monitoring}
SERVICES_OUT=${SERVICES_OUT:-${TMPDIR:-/tmp}/tipoff-services.$$}
# Who may act as tipoff-operator, the identity of the coordinator's
# operator routes (status pages, /api, /metrics, sweep, cancel):
# comma-separated IAM members, e.g. user:ana@example.com,group:oncall@example.com.
# Each gets roles/iam.serviceAccountTokenCreator on that account only.
OPERATOR_MEMBERS=${OPERATOR_MEMBERS:-}
# How long the pull subscription of batch events keeps a message nobody has
# acked (and, since it retains acked messages, how far back a consumer can
# seek to replay): a week covers a consumer that is down over a weekend.
# Pub/Sub allows 10m-7d.
EVENTS_RETENTION=${EVENTS_RETENTION:-7d}
# How long the firestore step waits for the composite indexes to be READY
# (an empty database builds them in minutes; one with data takes longer),
# and how often it looks, in seconds.
INDEX_TIMEOUT=${INDEX_TIMEOUT:-1200}
INDEX_POLL=${INDEX_POLL:-15}
# IAM bindings to an account IAM does not see yet (a new service account or
# service agent) are retried this many times, waiting BIND_BACKOFF seconds
# and doubling: 2+4+...+128 s covers IAM's usual propagation delay.
BIND_TRIES=${BIND_TRIES:-8}
BIND_BACKOFF=${BIND_BACKOFF:-2}
# Alerts (deploy/alerts/*.json) notify this address; unset, they are created
# without a notification channel. ALERTS_OUT is where the filled-in policy
# files are written for gcloud.
NOTIFY_EMAIL=${NOTIFY_EMAIL:-}
ALERTS_OUT=${ALERTS_OUT:-${TMPDIR:-/tmp}/tipoff-alerts.$$}
DRY_RUN=${DRY_RUN:-}

COORDINATOR=tipoff-coordinator
WORKER=tipoff-worker
REQUESTS=prediction-requests
OUTCOMES=prediction-outcomes
EVENTS=batch-events
DL=-dead-letter # batch.DeadLetterTopic: topic + "-dead-letter"
# Downstream consumers of batch events ("finalized", ...) pull from here.
EVENTS_SUB=$EVENTS-pull

sa() { echo "$1@$PROJECT.iam.gserviceaccount.com"; }
SA_COORDINATOR=$(sa tipoff-coordinator) # runs the coordinator
SA_WORKER=$(sa tipoff-worker)           # runs the workers
SA_PUSH=$(sa tipoff-push)               # signs Pub/Sub's push requests
SA_SCHEDULER=$(sa tipoff-scheduler)     # signs Cloud Scheduler's /start
SA_OPERATOR=$(sa tipoff-operator)       # operators' reads and verbs, by impersonation

# ---- Helpers ----------------------------------------------------------------

log() { printf '==> %s\n' "$*" >&2; }
# run runs a command that changes something, or prints it under DRY_RUN.
run() {
	if [ -n "$DRY_RUN" ]; then
		printf '+'; printf ' %q' "$@"; printf '\n'
	else
		"$@"
	fi
}
# exists runs a read-only lookup: it succeeds if the thing exists and fails
# if gcloud says it is not found. Any other error (no permission, no
# credentials, an unreachable API) stops the deploy: taking it for "absent"
# would try to create what may well exist. A dry run that cannot read the
# project (OFFLINE) does not look and takes everything as absent.
exists() {
	[ -z "${OFFLINE:-}" ] || return 1
	local out
	out=$("$@" --project="$PROJECT" 2>&1 >/dev/null) && return 0
	case "$out" in
	*PERMISSION_DENIED* | *UNAUTHENTICATED* | *"403"* | *denied*) ;;
	*NOT_FOUND* | *"not found"* | *"Not found"* | *"does not exist"*) return 1 ;;
	esac
	printf 'deploy: looking up %s:\n%s\n' "$*" "$out" >&2
	exit 1
}
g() { run gcloud "$@" --project="$PROJECT" --quiet; }
# bind runs an add-iam-policy-binding. IAM may not see a service account
# (or service agent) created moments ago and answers that it does not
# exist; bind retries that with a doubling backoff and fails on any other
# error at once.
bind() {
	if [ -n "$DRY_RUN" ]; then
		g "$@"
		return
	fi
	local out try delay=$BIND_BACKOFF
	for ((try = 1; ; try++)); do
		out=$(gcloud "$@" --project="$PROJECT" --quiet 2>&1) && return 0
		case "$out" in
		*"does not exist"*) ;;
		*) echo "$out" >&2; return 1 ;;
		esac
		if [ "$try" -ge "$BIND_TRIES" ]; then
			printf 'deploy: IAM still does not see the member after %d tries: %s\n%s\n' "$try" "$*" "$out" >&2
			return 1
		fi
		log "IAM does not see the member yet; binding again in ${delay}s"
		sleep "$delay"
		delay=$((delay * 2))
	done
}
# g_new is g for a create that may find the thing already there.
g_new() {
	if [ -n "$DRY_RUN" ]; then
		g "$@"
		return
	fi
	local out
	if ! out=$(gcloud "$@" --project="$PROJECT" --quiet 2>&1); then
		case "$out" in
		*ALREADY_EXISTS* | *"already exists"*) ;;
		*) echo "$out" >&2; return 1 ;;
		esac
	fi
}

# read_project_number sets PROJECT_NUMBER, which service URLs and the
# Pub/Sub service agent's name hold.
read_project_number() {
	[ -z "${PROJECT_NUMBER:-}" ] || return 0
	PROJECT_NUMBER=$(gcloud projects describe "$PROJECT" --format='value(projectNumber)' 2>/dev/null || true)
	if [ -z "$PROJECT_NUMBER" ]; then
		[ -n "$DRY_RUN" ] || { echo "deploy: cannot read the number of project $PROJECT" >&2; exit 1; }
		log "dry run: cannot read project $PROJECT, so nothing is looked up and everything counts as absent"
		PROJECT_NUMBER=PROJECT_NUMBER
		OFFLINE=1
	fi
}
project_number() { echo "$PROJECT_NUMBER"; }
# The Pub/Sub service agent: it publishes dead letters and mints the OIDC
# tokens of push requests.
pubsub_agent() { echo "service-$(project_number)@gcp-sa-pubsub.iam.gserviceaccount.com"; }
# A service's deterministic URL; it is also the audience of the OIDC tokens
# sent to it, so it is known before the first deploy.
service_url() { echo "https://$1-$(project_number).$REGION.run.app"; }

# resolved_image prints IMAGE pinned to its digest.
resolved_image() {
	case "$IMAGE" in
	"") echo "deploy: set IMAGE to the pushed image (REGION-docker.pkg.dev/$PROJECT/REPO/tipoff:TAG)" >&2; exit 1 ;;
	*@sha256:*) echo "$IMAGE"; return ;;
	esac
	local digest=
	[ -n "${OFFLINE:-}" ] ||
		digest=$(gcloud artifacts docker images describe "$IMAGE" --format='value(image_summary.digest)' 2>/dev/null || true)
	if [ -z "$digest" ]; then
		[ -n "$DRY_RUN" ] || { echo "deploy: image $IMAGE not found in Artifact Registry" >&2; exit 1; }
		echo "$IMAGE"
		return
	fi
	echo "${IMAGE%:*}@$digest"
}

# ---- Steps ------------------------------------------------------------------

step_apis() {
	log "enabling APIs"
	g services enable run.googleapis.com pubsub.googleapis.com firestore.googleapis.com \
		cloudscheduler.googleapis.com artifactregistry.googleapis.com iam.googleapis.com storage.googleapis.com \
		monitoring.googleapis.com secretmanager.googleapis.com
	# The Pub/Sub service agent (service-NUMBER@gcp-sa-pubsub) mints the push
	# tokens and moves dead letters. On a fresh project it may not exist
	# until something asks for it, and binding roles to it fails until then.
	g beta services identity create --service=pubsub.googleapis.com
}

# step_image builds IMAGE from ./Dockerfile for Cloud Run's platform
# (linux/amd64, whatever the build machine is) and pushes it. A tag already
# in Artifact Registry is not rebuilt: it names the image that was pushed,
# and rebuilding from this checkout could ship something else under it.
step_image() {
	case "$IMAGE" in
	"") echo "deploy: set IMAGE to the image to deploy (REGION-docker.pkg.dev/$PROJECT/REPO/tipoff:TAG)" >&2; exit 1 ;;
	*@sha256:*) log "image $IMAGE is pinned by digest: not built"; return ;;
	*-docker.pkg.dev/*/*/*:*) ;;
	*) echo "deploy: IMAGE=$IMAGE: want LOCATION-docker.pkg.dev/PROJECT/REPO/NAME:TAG" >&2; exit 1 ;;
	esac
	if exists gcloud artifacts docker images describe "$IMAGE"; then
		log "image $IMAGE is already pushed: not rebuilt"
		return
	fi
	local host=${IMAGE%%/*} rest=${IMAGE#*/}
	local repo_project=${rest%%/*} repo
	rest=${rest#*/}
	repo=${rest%%/*}
	log "building $IMAGE for linux/amd64"
	# The repository is created here when it belongs to this project; one
	# of another project is that project's to create.
	if [ "$repo_project" = "$PROJECT" ] &&
		! exists gcloud artifacts repositories describe "$repo" --location="${host%-docker.pkg.dev}"; then
		g artifacts repositories create "$repo" --location="${host%-docker.pkg.dev}" --repository-format=docker
	fi
	[ -n "$DRY_RUN" ] || command -v docker >/dev/null || { echo "deploy: needs docker to build $IMAGE" >&2; exit 1; }
	local version commit
	version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
	commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
	run gcloud auth configure-docker "$host" --quiet
	run docker build --platform linux/amd64 --build-arg VERSION="$version" --build-arg COMMIT="$commit" -t "$IMAGE" .
	run docker push "$IMAGE"
}

step_accounts() {
	log "service accounts"
	local name
	for name in tipoff-coordinator tipoff-worker tipoff-push tipoff-scheduler tipoff-operator; do
		exists gcloud iam service-accounts describe "$(sa "$name")" ||
			g iam service-accounts create "$name" --display-name="tipoff ${name#tipoff-}"
	done
	# Pub/Sub mints the push requests' OIDC tokens as tipoff-push.
	bind iam service-accounts add-iam-policy-binding "$SA_PUSH" \
		--member="serviceAccount:$(pubsub_agent)" --role=roles/iam.serviceAccountTokenCreator --format=none
	# Operators mint theirs as tipoff-operator.
	local m
	for m in ${OPERATOR_MEMBERS//,/ }; do
		bind iam service-accounts add-iam-policy-binding "$SA_OPERATOR" \
			--member="$m" --role=roles/iam.serviceAccountTokenCreator --format=none
	done
}

step_storage() {
	log "buckets: data gs://$DATA_BUCKET (read-only to the coordinator), exports gs://$EXPORT_BUCKET"
	local b
	for b in "$DATA_BUCKET" "$EXPORT_BUCKET"; do
		exists gcloud storage buckets describe "gs://$b" ||
			g storage buckets create "gs://$b" --location="$REGION" --uniform-bucket-level-access
	done
	bind storage buckets add-iam-policy-binding "gs://$DATA_BUCKET" \
		--member="serviceAccount:$SA_COORDINATOR" --role=roles/storage.objectViewer --format=none
	bind storage buckets add-iam-policy-binding "gs://$EXPORT_BUCKET" \
		--member="serviceAccount:$SA_COORDINATOR" --role=roles/storage.objectUser --format=none
}

# index_spec prints the gcloud arguments of each composite index
# ("composite create ...") and field exemption ("fields update ...") of
# gcpfirestore/firestore.indexes.json, one command a line.
index_spec() {
	python3 - gcpfirestore/firestore.indexes.json <<'PY'
import json, shlex, sys
spec = json.load(open(sys.argv[1]))
for ix in spec.get("indexes", []):
    args = ["composite", "create", "--collection-group=" + ix["collectionGroup"],
            "--query-scope=" + ix.get("queryScope", "COLLECTION").lower()]
    for f in ix["fields"]:
        args.append("--field-config=field-path=%s,order=%s" % (f["fieldPath"], f["order"].lower()))
    print(" ".join(shlex.quote(a) for a in args))
for fo in spec.get("fieldOverrides", []):
    if not fo.get("indexes"):
        print(" ".join(shlex.quote(a) for a in
              ["fields", "update", fo["fieldPath"], "--collection-group=" + fo["collectionGroup"], "--disable-indexes"]))
PY
}

# index_states reads `gcloud firestore indexes composite list --format=json`
# on stdin and prints one line per composite index of
# gcpfirestore/firestore.indexes.json: its state (READY, CREATING,
# NEEDS_REPAIR, or MISSING when the database does not have it) and what it
# is.
index_states() {
	python3 -c '
import json, sys
spec = json.load(open(sys.argv[1]))
have = {}
for ix in json.load(sys.stdin) or []:
    group = ix["name"].split("/collectionGroups/")[1].split("/")[0]
    # The API appends the implicit __name__ field to every index.
    fields = tuple((f["fieldPath"], f.get("order", "")) for f in ix.get("fields", []) if f["fieldPath"] != "__name__")
    have[(group, ix.get("queryScope", "COLLECTION"), fields)] = ix.get("state", "STATE_UNSPECIFIED")
for ix in spec.get("indexes", []):
    fields = tuple((f["fieldPath"], f["order"]) for f in ix["fields"])
    key = (ix["collectionGroup"], ix.get("queryScope", "COLLECTION"), fields)
    print(have.get(key, "MISSING"), ix["collectionGroup"], ",".join("%s %s" % f for f in fields))
' gcpfirestore/firestore.indexes.json
}

# wait_indexes waits until every composite index of the file is READY: a
# query the store runs on an index still building fails with
# FAILED_PRECONDITION, so the services must not take traffic before.
wait_indexes() {
	local list=(gcloud firestore indexes composite list --database="$FIRESTORE_DB" --project="$PROJECT" --format=json)
	if [ -n "$DRY_RUN" ]; then
		printf '+ wait at most %ss, polling every %ss, until every index of gcpfirestore/firestore.indexes.json is READY in:' "$INDEX_TIMEOUT" "$INDEX_POLL"
		printf ' %q' "${list[@]}"
		printf '\n'
		return
	fi
	local start=$SECONDS states pending
	while :; do
		states=$("${list[@]}" | index_states) || { echo "deploy: cannot list the indexes of database $FIRESTORE_DB" >&2; exit 1; }
		pending=$(grep -v '^READY ' <<<"$states" || true)
		[ -n "$pending" ] || break
		if grep -q '^NEEDS_REPAIR ' <<<"$pending"; then
			printf 'deploy: Firestore could not build these indexes of database %s; delete and run this step again:\n%s\n' "$FIRESTORE_DB" "$pending" >&2
			exit 1
		fi
		if ((SECONDS - start >= INDEX_TIMEOUT)); then
			printf 'deploy: indexes of database %s not READY after %ss (INDEX_TIMEOUT); they keep building: run "deploy.sh firestore" again to wait more, and deploy the services only after:\n%s\n' "$FIRESTORE_DB" "$INDEX_TIMEOUT" "$pending" >&2
			exit 1
		fi
		log "waiting for $(wc -l <<<"$pending") index(es) of database $FIRESTORE_DB to be READY ($((SECONDS - start))s of ${INDEX_TIMEOUT}s)"
		sleep "$INDEX_POLL"
	done
	log "all indexes of database $FIRESTORE_DB are READY"
}

step_firestore() {
	log "Firestore database $FIRESTORE_DB and the indexes of gcpfirestore/firestore.indexes.json"
	# Delete protection: the database holds every batch and publication, so
	# deleting it takes turning this off first. Point-in-time recovery: 7
	# days of versions to read or restore from after a bad write.
	if exists gcloud firestore databases describe --database="$FIRESTORE_DB"; then
		local state
		state=$(gcloud firestore databases describe --database="$FIRESTORE_DB" --project="$PROJECT" \
			--format='value(deleteProtectionState,pointInTimeRecoveryEnablement)')
		case "$state" in
		*DELETE_PROTECTION_ENABLED*POINT_IN_TIME_RECOVERY_ENABLED*) ;;
		*) g firestore databases update --database="$FIRESTORE_DB" --delete-protection --enable-pitr ;;
		esac
	else
		g firestore databases create --database="$FIRESTORE_DB" --location="$REGION" --type=firestore-native \
			--delete-protection --enable-pitr
	fi
	bind projects add-iam-policy-binding "$PROJECT" \
		--member="serviceAccount:$SA_COORDINATOR" --role=roles/datastore.user --condition=None --format=none
	# One gcloud command per index and per field exemption, read from the
	# file the store's code is written against, so the two cannot drift.
	# They are started together (--async) and then waited for.
	local line
	while IFS= read -r line; do
		eval "set -- $line"
		g_new firestore indexes "$@" --database="$FIRESTORE_DB" --async
	done < <(index_spec)
	wait_indexes
}

# pull_subscription NAME TOPIC RETENTION [FLAG...]: creates a pull
# subscription that never expires, or updates one that exists.
pull_subscription() {
	local name=$1 topic=$2 retention=$3
	shift 3
	local args=(--message-retention-duration="$retention" --ack-deadline="$ACK_DEADLINE" "$@")
	if exists gcloud pubsub subscriptions describe "$name"; then
		g pubsub subscriptions update "$name" "${args[@]}"
	else
		g pubsub subscriptions create "$name" --topic="$topic" --expiration-period=never "${args[@]}"
	fi
}

step_topics() {
	log "topics, dead-letter topics and their pull subscriptions, the events subscription"
	local t
	for t in "$REQUESTS" "$OUTCOMES" "$EVENTS"; do
		exists gcloud pubsub topics describe "$t" || g pubsub topics create "$t"
		exists gcloud pubsub topics describe "$t$DL" || g pubsub topics create "$t$DL"
		# Pub/Sub moves dead letters as its service agent.
		bind pubsub topics add-iam-policy-binding "$t$DL" \
			--member="serviceAccount:$(pubsub_agent)" --role=roles/pubsub.publisher --format=none
		# A message published to a topic without subscriptions is lost:
		# every dead-letter topic keeps what lands there for 7 days, acked
		# or not, so a replay can seek back over what was already pulled.
		pull_subscription "$t$DL-pull" "$t$DL" 7d --retain-acked-messages
	done
	# Downstream consumers pull batch events ("finalized" and the others)
	# from here; without a subscription Pub/Sub drops every one. Acked
	# events stay for EVENTS_RETENTION, so a consumer can seek back and
	# replay; one that fails MAX_DELIVERIES times goes to the events'
	# dead-letter topic, so a poison event does not block the others.
	pull_subscription "$EVENTS_SUB" "$EVENTS" "$EVENTS_RETENTION" --retain-acked-messages \
		--min-retry-delay="$MIN_RETRY" --max-retry-delay="$MAX_RETRY" \
		--dead-letter-topic="$EVENTS$DL" --max-delivery-attempts="$MAX_DELIVERIES"
	bind pubsub subscriptions add-iam-policy-binding "$EVENTS_SUB" \
		--member="serviceAccount:$(pubsub_agent)" --role=roles/pubsub.subscriber --format=none
	# Who may do what, exactly as the services call Pub/Sub: the
	# coordinator publishes requests and relays batch events; workers
	# publish outcomes. Pushes reach them over HTTP, so neither pulls,
	# acks or reads topic metadata (publisher allows publish only; the
	# health checks must not call GetTopic, see README.md).
	bind pubsub topics add-iam-policy-binding "$REQUESTS" --member="serviceAccount:$SA_COORDINATOR" --role=roles/pubsub.publisher --format=none
	bind pubsub topics add-iam-policy-binding "$EVENTS" --member="serviceAccount:$SA_COORDINATOR" --role=roles/pubsub.publisher --format=none
	bind pubsub topics add-iam-policy-binding "$OUTCOMES" --member="serviceAccount:$SA_WORKER" --role=roles/pubsub.publisher --format=none
}

# env_vars SERVICE prints the service's TIPOFF_* settings, ';'-separated
# (values hold commas), in gcloud's ^;^ list syntax.
env_vars() {
	local url common
	url=$(service_url "$1")
	common="TIPOFF_PROJECT=$PROJECT;TIPOFF_STORE=firestore;TIPOFF_FIRESTORE_DATABASE=$FIRESTORE_DB"
	common+=";TIPOFF_QUEUE=pubsub;TIPOFF_PUBSUB_MODE=push"
	common+=";TIPOFF_LOG_FORMAT=json;TIPOFF_LOG_LEVEL=info;TIPOFF_AUTH_AUDIENCE=$url"
	# The collector sidecar's scrape target: loopback, so only containers
	# of the same instance reach it (it needs no token).
	common+=";TIPOFF_METRICS_ADDR=127.0.0.1:$METRICS_PORT"
	case "$1" in
	"$COORDINATOR")
		# One allow-list per route group: each refuses the others' accounts.
		echo "^;^$common;TIPOFF_START_INVOKERS=$SA_SCHEDULER;TIPOFF_PUSH_INVOKERS=$SA_PUSH;TIPOFF_OPERATORS=$SA_OPERATOR;TIPOFF_DATA=gs://$DATA_BUCKET/nba;TIPOFF_EXPORT_DIR=gs://$EXPORT_BUCKET;TIPOFF_RUN=$RUN_LABEL;TIPOFF_ITEM_TIMEOUT=$ITEM_TIMEOUT;TIPOFF_MAX_ATTEMPTS=$MAX_ATTEMPTS;TIPOFF_DEADLINE=$DEADLINE;TIPOFF_MIN_SUCCESS=$MIN_SUCCESS;TIPOFF_SWEEP_EVERY=15s;TIPOFF_FINALIZE_LEASE=$FINALIZE_LEASE;TIPOFF_PUSH_TIMEOUT=$PUSH_TIMEOUT"
		;;
	"$WORKER")
		echo "^;^$common;TIPOFF_PUSH_INVOKERS=$SA_PUSH"
		;;
	esac
}

# render_yaml FILE: prints FILE with its ${NAME} placeholders filled with
# the JSON value (JSON is YAML) of the environment variable NAME: a number
# for CONCURRENCY, TIMEOUT and METRICS_PORT, a list for ARGS (split at
# commas, as gcloud's --args) and for ENV (env_vars' list, as name/value
# pairs), a string for everything else.
render_yaml() {
	python3 -c '
import json, os, re, sys
def value(name):
    v = os.environ[name]
    if name in ("CONCURRENCY", "TIMEOUT", "METRICS_PORT"):
        return int(v)
    if name == "ARGS":
        return [a for a in v.split(",") if a]
    if name == "ENV":
        pairs = (kv.partition("=") for kv in v.removeprefix("^;^").split(";") if kv)
        return [{"name": k, "value": x} for k, _, x in pairs]
    return v
text = open(sys.argv[1]).read()
print(re.sub(r"\$\{(\w+)\}", lambda m: json.dumps(value(m.group(1))), text), end="")' "$1"
}

# render_service SERVICE ARGS SA MIN MAX THROTTLE MEMORY CONCURRENCY TIMEOUT:
# prints deploy/service.yaml filled in for SERVICE.
render_service() {
	SERVICE=$1 ARGS=$2 SERVICE_ACCOUNT=$3 MIN_INSTANCES=$4 MAX_INSTANCES=$5 CPU_THROTTLING=$6 \
		CPU=1 MEMORY=$7 CONCURRENCY=$8 TIMEOUT=$9 ENV="$(env_vars "$1")" IMAGE="$(resolved_image)" \
		REGION="$REGION" SIDECAR_IMAGE="$SIDECAR_IMAGE" SIDECAR_CPU="$SIDECAR_CPU" SIDECAR_MEMORY="$SIDECAR_MEMORY" \
		MONITORING_SECRET="$MONITORING_SECRET" render_yaml deploy/service.yaml
}

# monitoring_secret keeps deploy/run-monitoring.yaml, filled in, as the
# latest version of MONITORING_SECRET, which the collector sidecars mount,
# and lets the services' accounts read it and write metrics.
monitoring_secret() {
	local f="$SERVICES_OUT/run-monitoring.yaml" current
	METRICS_PORT="$METRICS_PORT" render_yaml deploy/run-monitoring.yaml >"$f"
	if exists gcloud secrets describe "$MONITORING_SECRET"; then
		current=$(gcloud secrets versions access latest --secret="$MONITORING_SECRET" --project="$PROJECT" 2>/dev/null || true)
		[ "$current" = "$(cat "$f")" ] || g secrets versions add "$MONITORING_SECRET" --data-file="$f"
	else
		g secrets create "$MONITORING_SECRET" --replication-policy=automatic --data-file="$f"
	fi
	local who
	for who in "$SA_COORDINATOR" "$SA_WORKER"; do
		bind secrets add-iam-policy-binding "$MONITORING_SECRET" \
			--member="serviceAccount:$who" --role=roles/secretmanager.secretAccessor --format=none
		bind projects add-iam-policy-binding "$PROJECT" \
			--member="serviceAccount:$who" --role=roles/monitoring.metricWriter --condition=None --format=none
	done
}

step_services() {
	log "Cloud Run services from $(resolved_image), each with the Managed Prometheus collector sidecar"
	mkdir -p "$SERVICES_OUT"
	monitoring_secret
	# The coordinator: receives outcomes and dead letters by push and /start
	# from the scheduler; its sweeper runs between requests, so one instance
	# stays up with CPU always allocated (which also keeps the collector's
	# scrapes on time). It reads the data set that "tipoff data push"
	# uploads to the data bucket at each run, and writes the picks export to
	# the export bucket, both through the Cloud Storage API (no volume
	# mounts).
	render_service "$COORDINATOR" "$COORDINATOR_ARGS" "$SA_COORDINATOR" 1 3 false 1Gi 80 300 >"$SERVICES_OUT/$COORDINATOR.yaml"
	g run services replace "$SERVICES_OUT/$COORDINATOR.yaml" --region="$REGION"
	# Workers: one pushed request each, a pure function of it; they scale
	# with the backlog and to zero between runs. Their CPU is throttled
	# between requests, so a scrape may miss then; the collector scrapes once
	# more as an instance shuts down, so counts are not lost.
	render_service "$WORKER" "$WORKER_ARGS" "$SA_WORKER" 0 "$WORKER_MAX_INSTANCES" true 512Mi 4 "$ACK_DEADLINE" >"$SERVICES_OUT/$WORKER.yaml"
	g run services replace "$SERVICES_OUT/$WORKER.yaml" --region="$REGION"
	# Only Pub/Sub (as tipoff-push), the scheduler and operators (as
	# tipoff-operator) may call them; the coordinator then lets each in to
	# its own route group only.
	local who
	for who in "$SA_PUSH" "$SA_SCHEDULER" "$SA_OPERATOR"; do
		bind run services add-iam-policy-binding "$COORDINATOR" --region="$REGION" \
			--member="serviceAccount:$who" --role=roles/run.invoker --format=none
	done
	bind run services add-iam-policy-binding "$WORKER" --region="$REGION" \
		--member="serviceAccount:$SA_PUSH" --role=roles/run.invoker --format=none
}

# push_subscription NAME TOPIC SERVICE PATH [dead-letter]: creates or
# updates a push subscription with an OIDC token for the service.
push_subscription() {
	local name=$1 topic=$2 url
	url=$(service_url "$3")
	local args=(--push-endpoint="$url$4" --push-auth-service-account="$SA_PUSH" --push-auth-token-audience="$url"
		--ack-deadline="$ACK_DEADLINE" --min-retry-delay="$MIN_RETRY" --max-retry-delay="$MAX_RETRY")
	if [ "${5:-}" = dead-letter ]; then
		args+=(--dead-letter-topic="$topic$DL" --max-delivery-attempts="$MAX_DELIVERIES")
	fi
	if exists gcloud pubsub subscriptions describe "$name"; then
		g pubsub subscriptions update "$name" "${args[@]}"
	else
		g pubsub subscriptions create "$name" --topic="$topic" --expiration-period=never "${args[@]}"
	fi
	if [ "${5:-}" = dead-letter ]; then
		# Dead-lettering acks the message on the source subscription as the
		# service agent.
		bind pubsub subscriptions add-iam-policy-binding "$name" \
			--member="serviceAccount:$(pubsub_agent)" --role=roles/pubsub.subscriber --format=none
	fi
}

step_subscriptions() {
	log "push subscriptions"
	push_subscription "$REQUESTS-push" "$REQUESTS" "$WORKER" /push/requests dead-letter
	push_subscription "$OUTCOMES-push" "$OUTCOMES" "$COORDINATOR" /push/outcomes dead-letter
	# Requests that used their deliveries: each is one failed attempt; the
	# coordinator re-drives the player as a new attempt, and fails it on
	# the dead letter of its last (MAX_ATTEMPTS). Outcomes that used theirs
	# (the coordinator or Firestore was down longer): the coordinator
	# records them like any outcome. Both retried with backoff until it
	# answers 2xx.
	push_subscription "$REQUESTS$DL-push" "$REQUESTS$DL" "$COORDINATOR" /push/dead-letters
	push_subscription "$OUTCOMES$DL-push" "$OUTCOMES$DL" "$COORDINATOR" /push/outcome-dead-letters
}

step_scheduler() {
	local url
	url=$(service_url "$COORDINATOR")
	log "scheduler job tipoff-$RUN_LABEL: POST $url/start at '$SCHEDULE' $TIME_ZONE"
	# /start is idempotent per date and run label, so retries are safe.
	local args=(--location="$REGION" --schedule="$SCHEDULE" --time-zone="$TIME_ZONE"
		--uri="$url/start" --http-method=POST --message-body="{\"run\":\"$RUN_LABEL\"}"
		--oidc-service-account-email="$SA_SCHEDULER" --oidc-token-audience="$url"
		--attempt-deadline=300s --max-retry-attempts=5 --min-backoff=30s --max-backoff=300s)
	if exists gcloud scheduler jobs describe "tipoff-$RUN_LABEL" --location="$REGION"; then
		g scheduler jobs update http "tipoff-$RUN_LABEL" "${args[@]}" --update-headers=Content-Type=application/json
	else
		g scheduler jobs create http "tipoff-$RUN_LABEL" "${args[@]}" --headers=Content-Type=application/json
	fi
}

# list_value CMD...: prints what a read-only list command prints (empty when
# nothing matches); any error stops the deploy. A dry run that cannot read
# the project prints nothing.
list_value() {
	[ -z "${OFFLINE:-}" ] || return 0
	local out
	if ! out=$("$@" --project="$PROJECT" 2>&1); then
		printf 'deploy: looking up %s:\n%s\n' "$*" "$out" >&2
		exit 1
	fi
	printf '%s' "$out"
}

# render_alert FILE CHECK_ID: prints the alert policy FILE with its ${NAME}
# placeholders filled from the settings.
render_alert() {
	SCHEDULER_JOB="tipoff-$RUN_LABEL" UPTIME_CHECK_ID="$2" COORDINATOR="$COORDINATOR" WORKER="$WORKER" \
		REQUESTS="$REQUESTS" OUTCOMES="$OUTCOMES" EVENTS="$EVENTS" python3 -c '
import json, os, re, sys
text = re.sub(r"\$\{(\w+)\}", lambda m: os.environ[m.group(1)], open(sys.argv[1]).read())
json.loads(text)  # a file that no longer parses stops the deploy here
print(text)' "$1"
}

step_monitoring() {
	log "uptime check of the coordinator's /health, notification channel, alert policies (deploy/alerts)"
	local check=tipoff-coordinator-health id channel="" f name rendered
	id=$(list_value gcloud monitoring uptime list-configs --filter="displayName=$check" --format='value(name)')
	if [ -z "$id" ]; then
		# /health needs no token in the app, but the service admits only
		# invokers: the check signs in as the monitoring service agent.
		g monitoring uptime create "$check" --resource-type=cloud-run-revision \
			--resource-labels="project_id=$PROJECT,service_name=$COORDINATOR,location=$REGION" \
			--protocol=https --port=443 --path=/health --request-method=get --service-agent-auth=oidc-token \
			--status-classes=2xx --period=5 --timeout=30
		id=$(list_value gcloud monitoring uptime list-configs --filter="displayName=$check" --format='value(name)')
	fi
	id=${id##*/}
	[ -n "$id" ] || id=UPTIME_CHECK_ID # dry run: created above, so not known yet
	bind run services add-iam-policy-binding "$COORDINATOR" --region="$REGION" \
		--member="serviceAccount:service-$(project_number)@gcp-sa-monitoring-notification.iam.gserviceaccount.com" \
		--role=roles/run.invoker --format=none
	if [ -n "$NOTIFY_EMAIL" ]; then
		channel=$(list_value gcloud beta monitoring channels list --filter="displayName=\"tipoff on-call\"" --format='value(name)')
		if [ -z "$channel" ]; then
			g beta monitoring channels create --display-name="tipoff on-call" --type=email \
				--channel-labels="email_address=$NOTIFY_EMAIL"
			channel=$(list_value gcloud beta monitoring channels list --filter="displayName=\"tipoff on-call\"" --format='value(name)')
		fi
		[ -n "$channel" ] || channel="projects/$PROJECT/notificationChannels/CHANNEL_ID"
	else
		log "NOTIFY_EMAIL is not set: the alert policies notify no one until a channel is added (deploy/README.md)"
	fi
	mkdir -p "$ALERTS_OUT"
	for f in deploy/alerts/*.json; do
		rendered="$ALERTS_OUT/$(basename "$f")"
		render_alert "$f" "$id" >"$rendered"
		name=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["displayName"])' "$rendered")
		local existing args=(--policy-from-file="$rendered")
		[ -z "$channel" ] || args+=(--notification-channels="$channel")
		existing=$(list_value gcloud alpha monitoring policies list --filter="displayName=\"$name\"" --format='value(name)')
		if [ -n "$existing" ]; then
			g alpha monitoring policies update "$existing" "${args[@]}"
		else
			g alpha monitoring policies create "${args[@]}"
		fi
	done
}

step_env() {
	local s
	for s in "$COORDINATOR" "$WORKER"; do
		echo "$s ($(service_url "$s")):"
		env_vars "$s" | sed 's/^\^;\^//' | tr ';' '\n' | sed 's/^/  /'
	done
}

# ---- Main -------------------------------------------------------------------

command -v gcloud >/dev/null || { echo "deploy: needs the Google Cloud SDK (gcloud)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "deploy: needs python3 (to read firestore.indexes.json)" >&2; exit 1; }
[ $# -gt 0 ] || set -- all
read_project_number
for s in "$@"; do
	case "$s" in
	all)
		step_apis; step_image; step_accounts; step_storage; step_firestore; step_topics
		step_services; step_subscriptions; step_scheduler; step_monitoring
		;;
	apis | image | accounts | storage | firestore | topics | services | subscriptions | scheduler | monitoring | env) "step_$s" ;;
	*) echo "deploy: unknown step $s (all, apis, image, accounts, storage, firestore, topics, services, subscriptions, scheduler, monitoring, env)" >&2; exit 2 ;;
	esac
done
