// Package batch is tipoff's domain: batches of prediction requests, their
// items and outcomes, the Store and Queue interfaces every backend
// implements, the Engine that drives a batch from creation to exactly one
// finalize, and the two run-time sides on it, the same in every shape: the
// [Coordinator] (dispatch, outcome and dead-letter consumption or pushes,
// sweep, event relay, cancel) and the [Worker] (receive, handle, hand the
// outcome to a sink, ack only once it is durable; or one pushed delivery at
// a time). It imports only the standard library.
//
// # State machine
//
//	           CreateBatch (manifest written atomically; items unpublished)
//	                │
//	                ▼
//	┌──────────► running ──── Dispatch: outbox → queue → MarkPublished
//	│               │         RecordOutcome: first outcome per item wins
//	│               │         Sweep: overdue → Redrive or timed_out;
//	│               │                deadline → every pending item timed_out
//	│               │ AcquireFinalize (only when every item has an outcome)
//	│               ▼
//	│          finalizing ─── lease(owner, expires); FinalizeFunc runs
//	│   lease       │
//	└─ expired:     │ CompleteFinalize (lease holder only) + event, atomically
//	  takeover      ▼
//	            finalized ─── result succeeded | partial | failed | cancelled
//
// Cancel ([Engine.Cancel], "tipoff cancel", POST /batches/{id}/cancel)
// moves a running or finalizing batch straight to finalized with result
// cancelled. So does the sweeper when a batch's finalize still fails at its
// deadline, with the failure as the reason: no batch stays finalizing.
//
// A batch with no items on purpose (meta [MetaNoItems], e.g. a date with no
// games) is finalized by [Engine.Create] at once, succeeded.
//
// # Invariants
//
// Every backend keeps these; batchtest.RunStoreTests checks each one.
//
//   - One batch per key: creating an existing key returns it
//     (batchtest: Create/Idempotent, Create/ConcurrentSameKey).
//   - The manifest is the expected set; dispatch is driven from it, and a
//     crash between create and publish is repaired by re-driving unpublished
//     items (batchtest: Dispatch/CrashBeforePublish).
//   - An item's first outcome wins; counts are exact under concurrency,
//     duplicates and reordering (batchtest: Outcome/Concurrent).
//   - A batch leaves running only when every item has an outcome, and is
//     finalized exactly once, with exactly one finalized event
//     (batchtest: Finalize/Concurrent, Finalize/LeaseTakeover).
//   - Every write of a finalize (the publication, the export, the
//     finalized event) is fenced by the [LeaseToken] of the acquire it runs
//     under: once another acquire has happened the write is refused with
//     [ErrLeaseLost], so a finalizer that stalled past its lease changes
//     nothing when it wakes (batchtest: Fence/TakeoverFencesFirst,
//     RunFencedWriteTests on each backend's Publish).
//   - A dead-lettered request is one failed attempt of its item: the item
//     is re-driven as a new attempt until its [Policy.MaxAttempts], and
//     only the dead letter of its last attempt fails it; a dead letter
//     applies only to the attempt it names, so duplicates and stale ones
//     change nothing, and an outcome that arrives first wins
//     (batchtest: DeadLetter/RedriveAttempt, DeadLetter/EngineRetriesUntilLimit,
//     DeadLetter/EngineLateSuccessWins).
//   - Every batch ends: an empty one when it is created (Engine/NoItems,
//     Engine/NoItemsLeftRunning), one whose finalize keeps failing at its
//     deadline (Engine/FinalizeFailsUntilDeadline).
//   - Of many claimers of a free claim exactly one holds it; a holder that
//     stops renewing is taken over after its TTL, and its renewal then
//     fails. Coordinators sharing a store dispatch, sweep and relay only
//     while they hold the work claim ([ClaimWork]), so they do not repeat
//     each other (batchtest: Claim/ExactlyOneOfMany,
//     Claim/TakeoverAfterExpiry, Claim/CoordinatorsShareWork). A solo
//     coordinator (the embedded shape: one process per file) skips the
//     claim, so a restart after a crash does not wait out its dead
//     predecessor's (Claim/SoloIgnoresClaim).
package batch
