// Package pipeline is the day's prediction job on the batch engine, the
// same in the embedded and cloud shapes: what a start request asks for and
// how it is checked ([StartRequest]), building a date's batch from a data
// set ([BuildSpec]) and starting it once per key ([Starter]), what a worker
// does with one request ([Job.Handle]), what finalizing a batch
// publishes and exports ([Job.Finalize], through an [Exporter]), an
// operator's explicit publish ([Job.Publish]), and running a day's batch
// to its end in one process with its report ([RunDay], [RunSummary.Report]).
//
// It may import batch, predict (with its systems) and internal/progress;
// it never picks a backend: stores, publishers and the data loader are
// handed to it.
//
// Invariants:
//   - Starting an existing key touches no data and returns its batch as it
//     was created (TestStarter_ExistingKeyLoadsNothing).
//   - Finalize replaces whole sets (publication, export file), so running
//     it again after a crash gives the same state (TestJob_FinalizeTwice).
//   - A finalize publishes only per the publication policy
//     ([predict.Publisher]): a worse run never replaces the date's picks
//     (TestJob_FailedRunKeepsGoodPublication); the export is rewritten from
//     the date's publication after every publish, explicit ones too
//     (TestJob_Publish).
package pipeline
