// Package gcppubsub is tipoff's [batch.Queue] on Google Cloud Pub/Sub, the
// work transport of the cloud shape: the coordinator publishes prediction
// requests, workers publish outcomes, the event relay publishes batch
// events.
//
// It imports, of tipoff's packages, only batch; besides the standard
// library it uses the Pub/Sub client (cloud.google.com/go/pubsub/v2, its
// admin clients: unary Pull, Acknowledge, ModifyAckDeadline) and gRPC
// status codes.
//
// Two ways to consume a topic:
//
//   - Pull: [Queue.Receive], [Queue.Ack] and [Queue.Nack] on the topic's
//     pull subscription ([Config.Subscriptions]).
//   - Push: Pub/Sub POSTs each message to an HTTP endpoint (Cloud Run);
//     the handler decodes the body with [DecodePush] and answers 2xx to
//     ack, anything else to nack. httpapi verifies the OIDC token Pub/Sub
//     sends.
//
// Either way the subscription's dead-letter policy moves a message to
// [batch.DeadLetterTopic] after [Config.MaxDeliveries] deliveries, and its
// retry policy spaces out redeliveries. [Queue.Setup] creates topics and
// subscriptions for the emulator and tests; deploy/deploy.sh creates them
// in production.
//
// # Invariants
//
//   - A message's [batch.Message.ID], body and attributes come back as
//     published, whether pulled, pushed or dead-lettered: the ID travels
//     in [IDAttribute], and the attributes Pub/Sub adds when
//     dead-lettering are dropped (TestConformance Delivery/RoundTrip,
//     DeadLetter/AfterNacks; TestDecodePush).
//   - Publish checks every message against Pub/Sub's limits before sending
//     any, so bad input publishes nothing (TestQueue_PublishInvalid).
//   - Nothing is fetched that the caller did not ask for, so no message
//     spends its lease or a delivery attempt in a buffer.
//   - A stale Ack or Nack (lease ended, or already settled through this
//     queue) is refused with [batch.ErrConflict] and sends nothing; the
//     message is delivered again, never lost (TestConformance
//     Redelivery/StaleAck, TestQueue_LeaseShorterThanAckDeadline).
//
// # What the emulator does (gcloud beta emulators pubsub, 0.8.20)
//
// Established by running it (TestConformance, TestSetupPush_Emulator, and
// probes recorded in README.md):
//
//   - Pull, Acknowledge and ModifyAckDeadline work; an empty pull is held
//     about 60s. Dead-letter policies work, including the 5-to-100 range
//     for MaxDeliveries, and delivery_attempt is filled in on pull
//     subscriptions with one.
//   - Dead-lettering is lazy: a message whose last lease expired moves to
//     the dead-letter topic only when its subscription is next pulled
//     after the lease and backoff. Nacking the last delivery moves it at
//     once. (Production Pub/Sub dead-letters on a best-effort basis.)
//   - Retry policy: the first nack of a message redelivers it at once;
//     later nacks, and lease expiries, wait about the policy's maximum
//     backoff (at least 1s) plus up to 2s.
//   - Acknowledging an ack ID that is no longer current returns OK, and
//     after a nack of that delivery it even removes the message: staleness
//     must be, and is, decided client-side.
//   - Ack deadlines under 10s are accepted (production refuses them, so
//     Setup never asks for one); attribute limits are not enforced (Publish
//     enforces production's).
//   - Push subscriptions work: wrapped JSON envelopes carrying both
//     camelCase and snake_case field names, retries with backoff after a
//     non-2xx answer, dead-lettering after MaxDeliveries failed pushes. But
//     the emulator sends no OIDC token (no Authorization header even with a
//     service account configured) and no deliveryAttempt, so push handlers
//     see Attempt 1 on every push.
//   - A request the client cancels (a Receive whose context ends during a
//     pull, or the client library's own 60s pull timeout) makes the
//     emulator log NoSuchMethodError in onRstStreamRead. Once, under load,
//     another pull waiting on the same connection then never returned, so
//     the tests bound each pull ([Config.PullWait]) and each AutoSetup
//     attempt.
//   - A subscription another client is creating is reported as existing
//     (CreateSubscription says AlreadyExists, GetSubscription finds it) a
//     moment before it receives what is published to its topic, and a
//     message published in that moment reaches no subscription. Within a
//     process AutoSetup lets one caller at a time set up a topic, so no
//     publish goes ahead on such a report; processes that share a topic
//     should set it up before any of them publishes, as the cloud
//     end-to-end test does and as deploy/ does in production.
//   - No ordering without ordering keys and no deduplication of publishes,
//     as in production. Exactly-once delivery can be switched on but is not
//     relied on.
//
// # What the pstest fake does (cloud.google.com/go/pubsub/v2/pstest)
//
// The tests run the queue suite in process against pstest whether or not
// the emulator is there (TestConformance/Fake). Its clock can be set, so
// the suite moves time instead of waiting. Where it differs:
//
//   - It ignores retry policies: a nacked message can be pulled again at
//     once (declared in TestConformance/Fake's caps).
//   - Dead-lettering is lazy, as in the emulator, and adds none of the
//     CloudPubSubDeadLetter attributes, so only the emulator shows that
//     deliveries drop them.
//   - An empty pull is held 500ms; its gRPC server takes requests of at
//     most 4 MB, so publishes split near Pub/Sub's 10 MB are tested on
//     the emulator only (TestQueue_PublishSplits).
//   - A subscription exists as soon as CreateSubscription returns, so the
//     emulator's creation race (TestQueue_AutoSetupConcurrentPublish) and
//     push delivery (TestSetupPush_Emulator) are the emulator's to test.
package gcppubsub
