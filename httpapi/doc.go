// Package httpapi holds tipoff's HTTP surface, handlers only: the
// coordinator's ([CoordinatorHandler]: /start, cancel, publish, sweep, pushes — the
// same handler in "tipoff serve" and "tipoff coordinator") and the cloud
// worker's ([WorkerHandler]), their auth (route groups with their own
// callers, [Guards], built from a [GuardConfig]: Google OIDC tokens per
// group in the cloud, a bearer
// token for "tipoff serve" off loopback), and what operators read — the status JSON
// API (GET /api/batches, /api/batches/{id}, /api/queue) and its [Client],
// the server-rendered status pages (GET /, /batches/{id}), the status text
// of "tipoff status" ([WriteStatusText]) and the
// Prometheus metrics (GET /metrics, a [batch.Observer]).
//
// The work behind the handlers is batch's ([batch.Coordinator],
// [batch.Worker]) and pipeline's (the start request and [pipeline.Starter]).
// It imports batch, predict and pipeline only, never a backend: what it reads comes
// in as small interfaces ([StatusStore], [Publications],
// [DeadLetterCounter], [QueueDepthFunc], [ExportFunc]) that cmd/tipoff
// satisfies with the SQLite or cloud backends.
//
// Invariants:
//   - the API, the pages and the health command read one model ([Status]),
//     so they cannot disagree; the embedded "tipoff serve" and the cloud
//     coordinator mount the same handler;
//   - everything is read from durable state at request time (gauges
//     included), never from what one process happened to observe;
//   - errors map onto HTTP statuses by kind in one place (not found 404,
//     invalid 400, forbidden 403, unsupported media type 415, conflict and
//     finalized 409, else 500 whose body says
//     only "internal error"); the pages work without JavaScript.
package httpapi
