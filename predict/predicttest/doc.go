// Package predicttest builds hand-made requests for the prediction systems'
// tests, so each system's arithmetic can be pinned on numbers worked out by
// hand, and holds the conformance suite every [predict.Publisher] runs
// ([RunPublisherTests]: the publication policy, on SQLite and on
// Firestore).
//
// It imports, of tipoff's packages, only batch and predict.
package predicttest
