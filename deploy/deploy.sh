#!/usr/bin/env bash
# Creates or updates tipoff's cloud shape in one Google Cloud project:
# service accounts and their permissions, the data and export buckets, the
# Firestore database and its indexes, the Pub/Sub topics, dead-letter
# topics and push subscriptions, the two Cloud Run services (coordinator
# and worker, from an explicit image reference, never a source deploy), and
# the Cloud Scheduler job that calls the coordinator's POST /start every
# morning. Every step can be run again: what exists is updated or left as
# it is. See deploy/README.md.
#
# Usage: PROJECT=p IMAGE=REGION-docker.pkg.dev/p/tipoff/tipoff:TAG deploy/deploy.sh [STEP...]
#   STEP: all (default) | apis | accounts | storage | firestore | topics |
#         services | subscriptions | scheduler | env
#   DRY_RUN=1 prints the commands that change something instead of running
#   them (lookups still run when gcloud can reach the project).
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
# The subcommand each service runs (the image's entrypoint is tipoff).
COORDINATOR_ARGS=${COORDINATOR_ARGS:-coordinator}
WORKER_ARGS=${WORKER_ARGS:-worker}
WORKER_MAX_INSTANCES=${WORKER_MAX_INSTANCES:-20}
DRY_RUN=${DRY_RUN:-}

COORDINATOR=tipoff-coordinator
WORKER=tipoff-worker
REQUESTS=prediction-requests
OUTCOMES=prediction-outcomes
EVENTS=batch-events
DL=-dead-letter # batch.DeadLetterTopic: topic + "-dead-letter"

sa() { echo "$1@$PROJECT.iam.gserviceaccount.com"; }
SA_COORDINATOR=$(sa tipoff-coordinator) # runs the coordinator
SA_WORKER=$(sa tipoff-worker)           # runs the workers
SA_PUSH=$(sa tipoff-push)               # signs Pub/Sub's push requests
SA_SCHEDULER=$(sa tipoff-scheduler)     # signs Cloud Scheduler's /start

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
# exists runs a read-only lookup quietly; under DRY_RUN a failed lookup
# (no project, no credentials) counts as "does not exist".
exists() { "$@" --project="$PROJECT" >/dev/null 2>&1; }
g() { run gcloud "$@" --project="$PROJECT" --quiet; }
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
		PROJECT_NUMBER=PROJECT_NUMBER
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
	local digest
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
		cloudscheduler.googleapis.com artifactregistry.googleapis.com iam.googleapis.com storage.googleapis.com
}

step_accounts() {
	log "service accounts"
	local name
	for name in tipoff-coordinator tipoff-worker tipoff-push tipoff-scheduler; do
		exists gcloud iam service-accounts describe "$(sa "$name")" ||
			g iam service-accounts create "$name" --display-name="tipoff ${name#tipoff-}"
	done
	# Pub/Sub mints the push requests' OIDC tokens as tipoff-push.
	g iam service-accounts add-iam-policy-binding "$SA_PUSH" \
		--member="serviceAccount:$(pubsub_agent)" --role=roles/iam.serviceAccountTokenCreator --format=none
}

step_storage() {
	log "buckets: data gs://$DATA_BUCKET (read-only to the coordinator), exports gs://$EXPORT_BUCKET"
	local b
	for b in "$DATA_BUCKET" "$EXPORT_BUCKET"; do
		exists gcloud storage buckets describe "gs://$b" ||
			g storage buckets create "gs://$b" --location="$REGION" --uniform-bucket-level-access
	done
	g storage buckets add-iam-policy-binding "gs://$DATA_BUCKET" \
		--member="serviceAccount:$SA_COORDINATOR" --role=roles/storage.objectViewer --format=none
	g storage buckets add-iam-policy-binding "gs://$EXPORT_BUCKET" \
		--member="serviceAccount:$SA_COORDINATOR" --role=roles/storage.objectUser --format=none
}

step_firestore() {
	log "Firestore database $FIRESTORE_DB and the indexes of gcpfirestore/firestore.indexes.json"
	exists gcloud firestore databases describe --database="$FIRESTORE_DB" ||
		g firestore databases create --database="$FIRESTORE_DB" --location="$REGION" --type=firestore-native
	g projects add-iam-policy-binding "$PROJECT" \
		--member="serviceAccount:$SA_COORDINATOR" --role=roles/datastore.user --condition=None --format=none
	# One gcloud command per index and per field exemption, read from the
	# file the store's code is written against, so the two cannot drift.
	local line
	while IFS= read -r line; do
		eval "set -- $line"
		g_new firestore indexes "$@" --database="$FIRESTORE_DB" --async
	done < <(python3 - gcpfirestore/firestore.indexes.json <<'PY'
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
	)
}

step_topics() {
	log "topics, dead-letter topics and their pull subscriptions"
	local t
	for t in "$REQUESTS" "$OUTCOMES" "$EVENTS"; do
		exists gcloud pubsub topics describe "$t" || g pubsub topics create "$t"
		exists gcloud pubsub topics describe "$t$DL" || g pubsub topics create "$t$DL"
		# Pub/Sub moves dead letters as its service agent.
		g pubsub topics add-iam-policy-binding "$t$DL" \
			--member="serviceAccount:$(pubsub_agent)" --role=roles/pubsub.publisher --format=none
		# A message published to a topic without subscriptions is lost:
		# every dead-letter topic keeps what lands there for 7 days.
		exists gcloud pubsub subscriptions describe "$t$DL-pull" ||
			g pubsub subscriptions create "$t$DL-pull" --topic="$t$DL" \
				--message-retention-duration=7d --expiration-period=never --ack-deadline="$ACK_DEADLINE"
	done
	# Who publishes what: the coordinator dispatches requests and relays
	# batch events; workers report outcomes.
	g pubsub topics add-iam-policy-binding "$REQUESTS" --member="serviceAccount:$SA_COORDINATOR" --role=roles/pubsub.publisher --format=none
	g pubsub topics add-iam-policy-binding "$EVENTS" --member="serviceAccount:$SA_COORDINATOR" --role=roles/pubsub.publisher --format=none
	g pubsub topics add-iam-policy-binding "$OUTCOMES" --member="serviceAccount:$SA_WORKER" --role=roles/pubsub.publisher --format=none
}

# env_vars SERVICE prints the service's TIPOFF_* settings, ';'-separated
# (values hold commas), in gcloud's ^;^ list syntax.
env_vars() {
	local url common
	url=$(service_url "$1")
	common="TIPOFF_PROJECT=$PROJECT;TIPOFF_STORE=firestore;TIPOFF_FIRESTORE_DATABASE=$FIRESTORE_DB"
	common+=";TIPOFF_QUEUE=pubsub;TIPOFF_PUBSUB_MODE=push;TIPOFF_ADDR=:8080"
	common+=";TIPOFF_LOG_FORMAT=json;TIPOFF_LOG_LEVEL=info;TIPOFF_AUTH_AUDIENCE=$url"
	case "$1" in
	"$COORDINATOR")
		echo "^;^$common;TIPOFF_AUTH_EMAILS=$SA_PUSH,$SA_SCHEDULER;TIPOFF_DATA_DIR=/data/nba;TIPOFF_EXPORT_DIR=/exports;TIPOFF_RUN=$RUN_LABEL;TIPOFF_ITEM_TIMEOUT=$ITEM_TIMEOUT;TIPOFF_MAX_ATTEMPTS=$MAX_ATTEMPTS;TIPOFF_DEADLINE=$DEADLINE;TIPOFF_MIN_SUCCESS=$MIN_SUCCESS;TIPOFF_SWEEP_EVERY=15s"
		;;
	"$WORKER")
		echo "^;^$common;TIPOFF_AUTH_EMAILS=$SA_PUSH"
		;;
	esac
}

step_services() {
	local image
	image=$(resolved_image)
	log "Cloud Run services from $image"
	# The coordinator: receives outcomes and dead letters by push and /start
	# from the scheduler; its sweeper runs between requests, so one instance
	# stays up with CPU always allocated. It reads the data directory from
	# the mounted data bucket at each run and writes the picks export to the
	# export bucket.
	g run deploy "$COORDINATOR" --region="$REGION" --image="$image" \
		--args="$COORDINATOR_ARGS" --service-account="$SA_COORDINATOR" \
		--no-allow-unauthenticated --ingress=all \
		--min-instances=1 --max-instances=3 --no-cpu-throttling \
		--cpu=1 --memory=1Gi --concurrency=80 --timeout=300 \
		--set-env-vars="$(env_vars "$COORDINATOR")" \
		--clear-volumes --clear-volume-mounts \
		--add-volume="name=data,type=cloud-storage,bucket=$DATA_BUCKET,readonly=true" \
		--add-volume-mount="volume=data,mount-path=/data" \
		--add-volume="name=exports,type=cloud-storage,bucket=$EXPORT_BUCKET" \
		--add-volume-mount="volume=exports,mount-path=/exports"
	# Workers: one pushed request each, a pure function of it; they scale
	# with the backlog and to zero between runs.
	g run deploy "$WORKER" --region="$REGION" --image="$image" \
		--args="$WORKER_ARGS" --service-account="$SA_WORKER" \
		--no-allow-unauthenticated --ingress=all \
		--min-instances=0 --max-instances="$WORKER_MAX_INSTANCES" \
		--cpu=1 --memory=512Mi --concurrency=4 --timeout="$ACK_DEADLINE" \
		--set-env-vars="$(env_vars "$WORKER")"
	# Only Pub/Sub (as tipoff-push) and the scheduler may call them.
	g run services add-iam-policy-binding "$COORDINATOR" --region="$REGION" \
		--member="serviceAccount:$SA_PUSH" --role=roles/run.invoker --format=none
	g run services add-iam-policy-binding "$COORDINATOR" --region="$REGION" \
		--member="serviceAccount:$SA_SCHEDULER" --role=roles/run.invoker --format=none
	g run services add-iam-policy-binding "$WORKER" --region="$REGION" \
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
		g pubsub subscriptions add-iam-policy-binding "$name" \
			--member="serviceAccount:$(pubsub_agent)" --role=roles/pubsub.subscriber --format=none
	fi
}

step_subscriptions() {
	log "push subscriptions"
	push_subscription "$REQUESTS-push" "$REQUESTS" "$WORKER" /push/requests dead-letter
	push_subscription "$OUTCOMES-push" "$OUTCOMES" "$COORDINATOR" /push/outcomes dead-letter
	# Requests that used their deliveries: the coordinator records the
	# item as failed. Retried with backoff until it answers 2xx.
	push_subscription "$REQUESTS$DL-push" "$REQUESTS$DL" "$COORDINATOR" /push/dead-letters
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
		step_apis; step_accounts; step_storage; step_firestore; step_topics
		step_services; step_subscriptions; step_scheduler
		;;
	apis | accounts | storage | firestore | topics | services | subscriptions | scheduler | env) "step_$s" ;;
	*) echo "deploy: unknown step $s (all, apis, accounts, storage, firestore, topics, services, subscriptions, scheduler, env)" >&2; exit 2 ;;
	esac
done
