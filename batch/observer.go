package batch

import "time"

// Observer is told what the engine, coordinator and workers do, for metrics.
// Its methods must be cheap and safe for concurrent use. Embed
// [NopObserver] to implement only some of them.
type Observer interface {
	// OutcomeRecorded: an outcome reached the store (duplicate or not) and
	// how long the store took.
	OutcomeRecorded(o Outcome, duplicate bool, took time.Duration)
	// Dispatched: n items were published from the outbox.
	Dispatched(n int)
	// Redriven: n items were put back in the outbox, overdue or because
	// their request was dead-lettered.
	Redriven(n int)
	// DeadLettered: a request or an outcome used all its deliveries and
	// reached the coordinator from the dead-letter topic.
	DeadLettered()
	// FinalizeAttempted: a finalize was tried; err is nil when it finalized.
	FinalizeAttempted(err error)
	// Redelivered: a worker received a request for at least the second time.
	Redelivered()
}

// NopObserver ignores everything.
type NopObserver struct{}

func (NopObserver) OutcomeRecorded(Outcome, bool, time.Duration) {}
func (NopObserver) Dispatched(int)                               {}
func (NopObserver) Redriven(int)                                 {}
func (NopObserver) DeadLettered()                                {}
func (NopObserver) FinalizeAttempted(error)                      {}
func (NopObserver) Redelivered()                                 {}
