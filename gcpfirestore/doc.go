// Package gcpfirestore is tipoff's cloud [batch.Store]: batch state in
// Google Cloud Firestore, through cloud.google.com/go/firestore. It passes
// the same conformance suite as the SQLite store (batchtest.RunStoreTests),
// on the Firestore emulator.
//
// It imports, of tipoff's packages, batch, and predict for the
// publication store in published.go (a [predict.Publisher] on the same
// client, documented there; it passes predicttest.RunPublisherTests, the
// publication policy's conformance suite, as the SQLite publisher does)
// and the export state in exports.go (a [predict.ExportLog]; it passes
// predicttest.RunExportLogTests, as the SQLite one does).
//
// # Documents
//
// With the default collection prefix "tipoff":
//
//	tipoff_keys/<date>~<run>                      which batch holds a key
//	tipoff_batches/<id>                           state, policy, lease, manifest id, shard count
//	tipoff_batches/<id>/shards/<nnn>              a slice of the counts (default 16 shards)
//	tipoff_batches/<id>/gates/<nnn>               exists while the batch runs (one per shard)
//	tipoff_batches/<id>/manifests/<m>/items/<it>  request, dispatch state, outcome, result
//	tipoff_events/<hex of event id>               the event outbox
//	tipoff_claims/<name>                          a claim of work (owner, epoch, expiry)
//	tipoff_exports/<date>                         the date's export state (exports.go)
//
// The system this replaces kept one document per batch that every worker
// updated, and lost most outcomes to transaction contention. Here no write
// path funnels workers into one document:
//
//   - Recording an outcome writes the item's own document, on condition
//     that it has not changed since it was read (so of two deliveries
//     exactly one wins and the other finds a duplicate), and increments one
//     counter shard chosen at random, in the same commit. Counts are the sum
//     of the shards: exact, because an increment commits only with the
//     item's first outcome. The same commit updates the gate of the
//     shard's number, which requires the gate to exist. The item and the
//     batch document are read beforehand without a transaction, so an
//     outcome holds no lock except during its commit: a recorder killed or
//     frozen mid-way delays nobody.
//   - Leaving running (AcquireFinalize), completing and cancelling are a
//     compare-and-set on the batch document alone: read it, decide, write it
//     on condition that it has not changed. Completing and cancelling create
//     the event document and delete the gates in the same commit, so an
//     outcome racing a cancel commits before it (and is in the counts the
//     cancel returns) or fails on its missing gate and finds the batch
//     finalized. Redrive's commits pass the first gate in the same way.
//     Racing finalizers never wait on each other's locks; losers read
//     again and see the lease taken. Batches created before gates (gates 0
//     on the batch document) are recorded and re-driven the older way: a
//     transaction reads the batch document, whose shared lock makes a
//     cancel wait.
//   - Creating a batch cannot be one commit (Firestore takes at most 500
//     writes per commit). The items are written first, in chunks, under a
//     fresh manifest id that nothing refers to; then one commit creates the
//     key document, the batch document naming that manifest, the shards and
//     the gates, each on condition that it does not exist. Until that
//     commit the batch is invisible; after it, it is complete. A create that dies in between
//     leaves unreferenced item documents only, and the next CreateBatch of
//     the key proceeds as if it had never run.
//
// Counting with a COUNT query instead of shards was measured and rejected:
// one query per outcome makes a batch cost O(n²) (see README.md).
//
// Transient Firestore errors (Aborted, Unavailable, DeadlineExceeded,
// ResourceExhausted, and InvalidArgument for a transaction that expired or
// was closed, as happens to a process frozen mid-transaction) and lost
// conditional writes are retried with capped exponential backoff and full
// jitter ([RetryPolicy]): the operation reads again and decides again. An
// expired transaction is never reported as [batch.ErrInvalid], which would
// make a caller drop the outcome as bad input. Outcome writes and
// state changes carry a random token, so a call whose commit is retried
// after an ambiguous failure (it landed, but the reply was lost) recognises
// its own write; manifest and dispatch writes are idempotent as they are.
//
// # Invariants
//
//   - A key names at most one batch, and a batch is visible only with its
//     whole manifest (batchtest Create/ConcurrentSameKey, Create/IDTaken).
//   - An item's first outcome wins; shard sums equal the number of items
//     with each outcome (Outcome/Concurrent, Outcome/ConcurrentSameItem).
//   - A batch leaves running only when the shards say every item has an
//     outcome, and is finalized once with one event (Finalize/Concurrent,
//     Engine/ConcurrentFinalize).
//   - No outcome is counted after a batch is finalized or cancelled
//     (Cancel/RacesOutcomes).
//   - Times are stored as Unix nanoseconds and metadata as JSON, so both
//     read back exactly.
//
// # Deploying
//
// The emulator needs no indexes; Firestore proper needs the composite
// indexes and field exemptions in firestore.indexes.json (written for the
// default prefix). Authentication is the client library's: application
// default credentials, or FIRESTORE_EMULATOR_HOST to use the emulator.
package gcpfirestore
