package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// RefusedError is a request the log refuses: a note it will not admit, or
// a lookup it cannot answer. Status is the HTTP status the server answers
// with (4xx, or 503 when the log cannot answer now) and Reason is one line
// for the person who sent it.
type RefusedError struct {
	Status int
	Reason string
}

func (e *RefusedError) Error() string { return e.Reason }

func refuse(status int, format string, args ...any) error {
	return &RefusedError{Status: status, Reason: oneLine(fmt.Sprintf(format, args...))}
}

// oneLine keeps a reason to one line: refusals go into a text/plain body
// and a terminal, and may quote input.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// writeError maps an error to its HTTP answer, in one place: a refusal
// gets its own status and reason; anything else is the log's failure, logged
// here and answered with a generic 500.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var re *RefusedError
	switch {
	case errors.As(err, &re):
		s.log.Info("request refused", "method", r.Method, "path", r.URL.Path, "status", re.Status, "reason", re.Reason)
		if re.Status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "5")
		}
		writeText(w, re.Status, re.Reason)
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeText(w, http.StatusInternalServerError, "internal error of the log; the operator's log has the details")
	}
}

func writeText(w http.ResponseWriter, status int, line string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintln(w, oneLine(line))
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeText(w, http.StatusInternalServerError, "encoding the answer failed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(b, '\n'))
}

func (s *Server) handleAdd(w http.ResponseWriter, r *http.Request) {
	msg, err := readBody(r.Body, s.cfg.MaxNoteSize)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp, err := s.Add(r.Context(), msg)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, resp)
}

func (s *Server) handleLookup(w http.ResponseWriter, r *http.Request) {
	resp, err := s.Lookup(r.Context(), r.PathValue("eco"), r.PathValue("pkg"), r.URL.Query()["version"]...)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, resp)
}
