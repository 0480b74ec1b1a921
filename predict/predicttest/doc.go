// Package predicttest builds hand-made requests for the prediction systems'
// tests, so each system's arithmetic can be pinned on numbers worked out by
// hand.
//
// It imports, of tipoff's packages, only predict.
package predicttest
