// Package baseline is the moving-average prediction system: 0.5 × the last
// 5 games' points + 0.3 × the last 10 + 0.2 × the season average.
//
// It imports, of tipoff's packages, only predict. It is pure and
// deterministic.
package baseline
