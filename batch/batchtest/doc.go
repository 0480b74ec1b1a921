// Package batchtest holds the conformance suites and benchmarks that every
// [batch.Store] and [batch.Queue] backend runs, so the embedded and the cloud
// shapes keep the same semantics.
//
// A backend's test calls [RunStoreTests] with a function that returns an
// empty store and registers its own cleanup, and [RunStoreBenchmarks] the
// same way. The suite assumes nothing about the backend beyond the
// [batch.Store] contract: no process-wide lock, no particular speed, no
// time source other than the explicit now arguments and an injected
// [batch.EngineConfig.NowFunc] (it never sleeps). Times it passes in are
// whole milliseconds, so a backend that stores microseconds round-trips
// them.
//
// Engine-level cases run [batch.Engine] on the store under test with a small
// in-memory Queue defined here; storage semantics are always the backend's
// own.
//
// It imports, of tipoff's packages, only batch; besides the standard library
// it uses go-cmp for comparisons.
//
// Invariants the store suite enforces, one subtest each (see batch/doc.go):
// one batch per key (Create/Idempotent, Create/ConcurrentSameKey); the
// manifest is the dispatched set and a crash before publishing is repaired
// from the outbox (Dispatch/CrashBeforePublish, Engine/CrashBeforePublish,
// Engine/CrashBeforeMark); first outcome wins with exact counts
// (Outcome/Concurrent, Outcome/ConcurrentSameItem); one finalize and one
// event per batch (Finalize/Concurrent, Finalize/LeaseTakeover,
// Engine/ConcurrentFinalize, Sweep/LeaseTakeover); a finalize lease that
// was taken over, or renewed by another acquire, fences the older token out
// of the finalized event (Fence/TakeoverFencesFirst,
// Fence/SameOwnerReacquireFencesFirst) and, through [RunFencedWriteTests],
// out of every other fenced write of the backend (the publication); a
// dead-lettered request is one failed attempt, re-driven until the item's
// attempt limit, idempotent per attempt (DeadLetter/RedriveAttempt,
// DeadLetter/RedriveAttemptConcurrent, DeadLetter/EngineRetriesUntilLimit,
// DeadLetter/EngineConcurrentDuplicates, DeadLetter/EngineLateSuccessWins).
package batchtest
