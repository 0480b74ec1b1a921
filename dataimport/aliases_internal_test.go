package dataimport

import "tipoff/predict"

type (
	predictGame     = predict.Game
	predictGameLog  = predict.GameLog
	predictPropLine = predict.PropLine
	predictStatus   = predict.Status
)
