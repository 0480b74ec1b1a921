package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"syscall"

	"tipoff/batch"
)

// errForbidden marks a request refused for who or where it comes from.
var errForbidden = errors.New("forbidden")

// errUnsupportedMediaType marks a request body of a content type the route
// does not take.
var errUnsupportedMediaType = errors.New("unsupported media type")

// errorStatus maps an error's kind onto a status code: not found 404,
// invalid 400, forbidden 403, unsupported media type 415, conflict and
// finalized 409, anything else 500.
func errorStatus(err error) int {
	switch {
	case errors.Is(err, errForbidden):
		return http.StatusForbidden
	case errors.Is(err, errUnsupportedMediaType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, batch.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, batch.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, batch.ErrConflict), errors.Is(err, batch.ErrFinalized):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// apiError is the JSON body of an error answer.
type apiError struct {
	Error string `json:"error"`
}

// writeError answers with err's kind mapped onto a status code as a JSON
// error. A 500 says only "internal error"; the details go to the log.
func writeError(w http.ResponseWriter, log *slog.Logger, r *http.Request, err error) {
	code := errorStatus(err)
	msg := err.Error()
	if code == http.StatusInternalServerError {
		logFailed(log, r, "request failed", err)
		msg = "internal error"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	logUndelivered(log, r, json.NewEncoder(w).Encode(apiError{Error: msg}))
}

// clientGone reports whether err is the client going away rather than a
// fault of the service: the request's context ended (the client
// disconnected or gave up), or the connection broke under a write.
func clientGone(r *http.Request, err error) bool {
	return r.Context().Err() != nil || errors.Is(err, context.Canceled) || brokenConn(err)
}

// brokenConn reports whether err is a connection the peer closed.
func brokenConn(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// logFailed logs a request that failed: at ERROR, as a person has to look,
// unless the client went away, which is routine (INFO).
func logFailed(log *slog.Logger, r *http.Request, msg string, err error) {
	level := slog.LevelError
	if clientGone(r, err) {
		level, msg = slog.LevelInfo, msg+": the client went away"
	}
	log.Log(r.Context(), level, msg, "method", r.Method, "path", r.URL.Path, "err", err)
}

// logUndelivered logs err, the failure to write an answer, if not nil: at
// INFO when the client went away, else WARN (a write timeout). Neither is
// for a person to act on: the client asks again.
func logUndelivered(log *slog.Logger, r *http.Request, err error) {
	if err == nil {
		return
	}
	level := slog.LevelWarn
	if clientGone(r, err) {
		level = slog.LevelInfo
	}
	log.Log(r.Context(), level, "answer not delivered", "method", r.Method, "path", r.URL.Path, "err", err)
}
