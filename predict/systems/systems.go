package systems

import (
	"tipoff/predict"
	"tipoff/predict/baseline"
	"tipoff/predict/ensemble"
	"tipoff/predict/market"
	"tipoff/predict/matchup"
	"tipoff/predict/similar"
)

// Default returns the default systems: baseline, matchup, similar, market
// and ensemble. It panics if two share a name (a programmer error).
func Default() []predict.System {
	s := []predict.System{baseline.New(), matchup.New(), similar.New(), market.New(), ensemble.New()}
	predict.CheckSystems(s)
	return s
}
