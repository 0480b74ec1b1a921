package health

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"tipoff/httpapi"
)

// AssessCoordinator checks in's date through a coordinator's API: first
// that the coordinator answers GET /health (a failing check, and nothing
// else read, when it does not), then [Assess] through its status API. The
// report names the coordinator as its source and is finished.
func AssessCoordinator(ctx context.Context, c *httpapi.Client, in Input) Report {
	source := "coordinator " + c.BaseURL
	info, err := c.Health(ctx)
	if err != nil {
		return Unread(in, source, Check{Name: "coordinator", Level: Fail, Message: fmt.Sprintf("%s does not answer: %v", c.BaseURL, err)})
	}
	rep := Assess(ctx, c, in)
	msg := fmt.Sprintf("%s answers (GET /health: %d)", c.BaseURL, info.Status)
	if info.Status == http.StatusOK {
		rep.Service = &info
		msg = fmt.Sprintf("%s answers: %s %s (commit %s)", c.BaseURL, orDash(info.Program), orDash(info.Version), orDash(info.Commit))
	}
	rep.AddSource(source, Check{Name: "coordinator", Level: OK, Message: msg})
	return rep
}

// Unread is the finished report of in's date when its source, named by
// source, cannot be read: c, the check of the source, says why.
func Unread(in Input, source string, c Check) Report {
	rep := Report{Date: in.Date.String(), Run: in.Run, CheckedAt: in.Now}
	rep.AddSource(source, c)
	return rep
}

// AddSource names the source of r and puts c, the check of the source
// itself, first, then finishes r again.
func (r *Report) AddSource(source string, c Check) {
	r.Source = source
	r.Checks = slices.Insert(r.Checks, 0, c)
	r.Finish()
}
