// Package ensemble combines the other systems' predictions for a line
// (it never re-runs them): the mean of their predicted points, and a pick
// only when that mean clears MinEdge and a majority of the systems that
// picked agree with its side.
//
// It imports, of tipoff's packages, only predict. It is pure and
// deterministic.
package ensemble
