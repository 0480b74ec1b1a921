// Package health holds the rules of "tipoff health": given what the status
// API says about a game date's batch, its publication and the queue, it
// decides whether the day is healthy, degraded or unhealthy, one [Check] at
// a time, and gives the verdict an exit code.
//
// [Assess] reads through a [Source]: the status API's ListBatches, Batch and
// Queue, which both an in-process [httpapi.Status] and an [httpapi.Client]
// satisfy, so the verdict is the same whether read from the SQLite file or
// from a coordinator. Opening the source, flags and rendering stay in
// cmd/tipoff.
//
// It imports, of tipoff's packages, only batch, predict and httpapi (whose
// report types it reads and embeds).
//
// The publication policy (see predict.Publisher) may keep an older or
// better run's picks live: the report names the live picks ([Report].Live),
// judges the batch's publication against the policy, and fails a date
// whose newer run failed or was cancelled even while older picks stand.
//
// Invariants:
//   - the status is the worst level among the checks: any [Fail] makes it
//     [Unhealthy] (exit 1), else any [Warn] makes it [Degraded] (exit 2),
//     else it is [Healthy] (exit 0); [Skip] never changes it;
//   - Assess does no I/O of its own and reads the clock only from
//     [Input].Now, so the same answers from the source give the same report;
//   - a source that cannot list or read the batch makes the run check fail;
//     a queue that cannot be read only degrades the report.
package health
