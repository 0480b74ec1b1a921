package httpapi

import (
	"context"
	"fmt"
	"math"
	"net/http"

	"tipoff/predict"
)

// ReliabilitySource grades a system's published P(over) over recent days
// ([pipeline.Reliability] in both shapes).
type ReliabilitySource interface {
	Reliability(ctx context.Context, system string) (*predict.Reliability, error)
}

type reliabilityPage struct {
	layoutData
	Rel     *predict.Reliability
	Diagram reliabilityDiagram
	// Off is true when the server has no source of graded results.
	Off bool
}

// reliabilityDiagram is the reliability diagram as inline SVG: stated
// P(over) across, realized share over up, one dot per bucket (its area
// grows with its count), and the diagonal a calibrated system lies on.
type reliabilityDiagram struct {
	Size, Pad, Plot int
	Dots            []reliabilityDot
}

type reliabilityDot struct {
	X, Y, R  float64
	Label    string
	N        int
	Stated   float64
	Realized float64
}

func newReliabilityDiagram(buckets []predict.Bucket) reliabilityDiagram {
	d := reliabilityDiagram{Size: 320, Pad: 40, Plot: 260}
	most := 1
	for _, b := range buckets {
		most = max(most, b.N)
	}
	for _, b := range buckets {
		if b.N == 0 {
			continue
		}
		x := float64(d.Pad) + b.Stated*float64(d.Plot)
		y := float64(d.Pad+d.Plot) - b.Realized*float64(d.Plot)
		r := 3 + 9*sqrtRatio(b.N, most)
		d.Dots = append(d.Dots, reliabilityDot{X: round1(x), Y: round1(y), R: round1(r), N: b.N, Stated: b.Stated, Realized: b.Realized,
			Label: fmt.Sprintf("%.0f–%.0f%%: %d predictions stated %.1f%%, %.1f%% went over", 100*b.Lo, 100*b.Hi, b.N, 100*b.Stated, 100*b.Realized)})
	}
	return d
}

func (s *Status) serveReliability(w http.ResponseWriter, r *http.Request) {
	p := reliabilityPage{layoutData: layoutData{Title: "tipoff reliability", Now: s.cfg.NowFunc()}, Off: s.cfg.Reliability == nil}
	if !p.Off {
		rel, err := s.cfg.Reliability.Reliability(r.Context(), s.cfg.PickSystem)
		if err != nil {
			s.writePageError(w, r, err)
			return
		}
		p.Rel, p.Diagram = rel, newReliabilityDiagram(rel.Buckets)
	}
	s.render(w, r, "reliability", p)
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

func sqrtRatio(n, most int) float64 { return math.Sqrt(float64(n) / float64(most)) }
