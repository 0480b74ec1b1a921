package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"sync"

	"tipoff/batch"
	"tipoff/predict"
)

// itemView is what a batch page derives from the batch's items: one page of
// player rows, the preliminary picks among them, the completion chart and
// the failures. Building it reads and decodes every item, most of a page's
// cost; a finalized batch's items never change, so its views are kept.
type itemView struct {
	Players    []playerRow
	PlayerRows template.HTML // Players rendered as table rows
	After      string        // the ID the next page starts after; "" on the last page
	Prelim     []pickRow
	Chart      chart
	Failed     []ItemProblem
}

// viewCacheSize bounds the finalized views kept: a view of a 300-player day
// is about 100 KB.
const viewCacheSize = 64

// viewCache keeps the views of finalized batches, keyed by batch ID and page
// start, dropping the oldest entry when full. Views are shared: their
// readers must not modify them.
type viewCache struct {
	mu    sync.Mutex
	m     map[string]*itemView
	order []string
}

func viewKey(id, after string) string { return id + "\x00" + after }

func (c *viewCache) get(id, after string) *itemView {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[viewKey(id, after)]
}

func (c *viewCache) put(id, after string, v *itemView) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := viewKey(id, after)
	if c.m == nil {
		c.m = make(map[string]*itemView)
	}
	if _, ok := c.m[k]; ok {
		return
	}
	if len(c.order) == viewCacheSize {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	c.m[k] = v
	c.order = append(c.order, k)
}

// itemView returns the item-derived part of batch b's page starting after
// the given ID, from the cache when b is finalized.
func (s *Status) itemView(ctx context.Context, b batch.Batch, after string) (*itemView, error) {
	final := b.State == batch.Finalized
	if final {
		if v := s.views.get(b.ID, after); v != nil {
			return v, nil
		}
	}
	items, err := s.cfg.Store.Items(ctx, b.ID, batch.ItemsOptions{After: after, Limit: pageLimit + 1})
	if err != nil {
		return nil, err
	}
	v := &itemView{}
	if len(items) > pageLimit {
		items = items[:pageLimit]
		v.After = items[len(items)-1].ID
	}
	v.Players = make([]playerRow, len(items))
	for i, it := range items {
		row := s.playerRow(it)
		v.Players[i] = row
		if row.Pick != nil && row.Pick.Pick != predict.Pass {
			v.Prelim = append(v.Prelim, pickRow{PlayerID: row.ID, Name: row.Name, Team: row.Team, Matchup: row.Matchup, pickCell: *row.Pick})
		}
	}
	sortPicks(v.Prelim)
	var buf bytes.Buffer
	t, err := page("batch")
	if err == nil {
		err = t.ExecuteTemplate(&buf, "player-rows", v.Players)
	}
	if err != nil {
		return nil, fmt.Errorf("render the players of %s: %w", b.ID, err)
	}
	v.PlayerRows = template.HTML(buf.String()) // escaped by html/template as it rendered
	// The chart and the failures need every item, not only this page's.
	all := items
	if after != "" || v.After != "" {
		if all, err = s.cfg.Store.Items(ctx, b.ID, batch.ItemsOptions{}); err != nil {
			return nil, err
		}
	}
	v.Chart = completionChart(b, all, s.cfg.NowFunc())
	v.Failed = problemsOf(all, s.cfg.ReportLimit)
	if final {
		s.views.put(b.ID, after, v)
	}
	return v, nil
}
