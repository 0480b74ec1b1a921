#!/usr/bin/env python3
"""Replays dead letters: moves the messages of TOPIC-dead-letter-pull back to TOPIC.

Usage: PROJECT=p deploy/replay-dead-letters.py TOPIC [--max N]

Each message is pulled from the dead-letter topic's pull subscription,
published again to TOPIC with its data and attributes (less the
CloudPubSubDeadLetter* ones Pub/Sub added when it moved it), and acked only
once that publish has succeeded: a replay that stops half way loses
nothing, and at worst publishes a message twice, which tipoff's receivers
treat as a duplicate. Replay only after fixing what made the deliveries
fail (README.md, "Dead letters"), or the messages come straight back.

DRY_RUN=1 pulls and prints what would be published, and acks nothing: the
messages are delivered again after the ack deadline.
"""

import base64
import json
import os
import subprocess
import sys

DEAD_LETTER_ATTR = "CloudPubSubDeadLetter"
BATCH = 50  # messages per pull


def gcloud(project, *args):
    """Runs gcloud and returns its stdout; a failure ends the replay."""
    cmd = ["gcloud", *args, "--project=" + project, "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("replay-dead-letters: %s:\n%s" % (" ".join(args[:4]), r.stderr.strip()))
    return r.stdout


def publish_args(topic, msg):
    """Returns the gcloud arguments that publish msg (a pulled PubsubMessage) to topic."""
    try:
        data = base64.b64decode(msg.get("data", "")).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError("message %s: data is not UTF-8 text: %s" % (msg.get("messageId"), e))
    args = ["pubsub", "topics", "publish", topic, "--message=" + data]
    attrs = {k: v for k, v in (msg.get("attributes") or {}).items() if not k.startswith(DEAD_LETTER_ATTR)}
    if attrs:
        # gcloud's alternate delimiter syntax (gcloud topic escaping): values
        # may hold commas.
        if any("|" in k or "|" in v for k, v in attrs.items()):
            raise ValueError("message %s: an attribute holds '|'" % msg.get("messageId"))
        args.append("--attribute=^|^" + "|".join("%s=%s" % kv for kv in sorted(attrs.items())))
    return args


def main(argv):
    project = os.environ.get("PROJECT", "")
    dry = bool(os.environ.get("DRY_RUN"))
    args = argv[1:]
    limit = None
    if len(args) == 3 and args[1] == "--max" and args[2].isdigit():
        limit = int(args[2])
        args = args[:1]
    if not project or len(args) != 1 or args[0].endswith("-dead-letter"):
        sys.exit(__doc__.split("\n\n")[1])
    topic = args[0]
    if topic == "prediction-requests":
        sys.exit("replay-dead-letters: a dead-lettered request is one failed attempt that the coordinator took "
                 "(prediction-requests-dead-letter-push): it re-drove the player, or failed it after its last attempt, "
                 "so replaying it changes nothing; to redo failed players, start the date again under a new run label: "
                 "POST /start {\"date\": \"YYYY-MM-DD\", \"run\": \"LABEL\"}")
    sub = topic + "-dead-letter-pull"
    replayed = 0
    seen = set()
    while limit is None or replayed < limit:
        n = BATCH if limit is None else min(BATCH, limit - replayed)
        received = json.loads(gcloud(project, "pubsub", "subscriptions", "pull", sub, "--limit=%d" % n, "--format=json") or "[]")
        if not received:
            break
        for rm in received:
            msg = rm["message"]
            if dry and msg["messageId"] in seen:
                # Unacked, it came back: everything there is has been shown.
                print("replay-dead-letters: dry run: %d message(s) would be replayed to %s" % (replayed, topic))
                return 0
            seen.add(msg["messageId"])
            try:
                pub = publish_args(topic, msg)
            except ValueError as e:
                sys.exit("replay-dead-letters: %s; left in %s (replayed %d)" % (e, sub, replayed))
            if dry:
                print("+ gcloud " + " ".join(pub))
            else:
                gcloud(project, *pub)
                gcloud(project, "pubsub", "subscriptions", "ack", sub, "--ack-ids=" + rm["ackId"])
            replayed += 1
    verb = "would be replayed" if dry else "replayed"
    print("replay-dead-letters: %d message(s) %s from %s to %s" % (replayed, verb, sub, topic))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
