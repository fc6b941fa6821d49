package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/sigilproxy/sigil/internal/egress"
)

// UpstreamError is a failure of the upstream registry or archive host: it
// could not be reached, answered with an unexpected status, or sent more
// than a limit allows. Ecosystem fronts answer it with 502.
type UpstreamError struct {
	URL    string
	Status int // the upstream's HTTP status, 0 when there was no answer
	Err    error
}

// Error names the URL without its query (RedactURL).
func (e *UpstreamError) Error() string {
	err := e.Err
	if ue, ok := err.(*url.Error); ok {
		err = ue.Err // it repeats the URL, query and all
	}
	if e.Status != 0 {
		return fmt.Sprintf("upstream GET %s: %d %s: %v", RedactURL(e.URL), e.Status, http.StatusText(e.Status), err)
	}
	return fmt.Sprintf("upstream GET %s: %v", RedactURL(e.URL), err)
}

func (e *UpstreamError) Unwrap() error { return e.Err }

// StatusOf maps an error of this package (or of a front built on it) to the
// HTTP status the client gets. It is the one place where that mapping is
// made:
//
//   - nil: 200
//   - ErrNotFound: 404
//   - *BlockedError: 410, the verdict, which is final for this version
//   - *egress.Refused: 410, the outbound fetch policy's verdict on a URL
//     (a host that is not an upstream or archive host, an internal
//     address, sigil itself), final as a block is
//   - *UpstreamError: 502
//   - context.DeadlineExceeded: 504
//   - anything else (the cache failed, a bug): 500
//
// It never returns 401 or 403: Composer answers those by asking the user
// for credentials, which would hide the reason.
func StatusOf(err error) int {
	var blocked *BlockedError
	var up *UpstreamError
	var refused *egress.Refused
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &blocked), errors.As(err, &refused):
		return http.StatusGone
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.As(err, &up):
		return http.StatusBadGateway
	case errors.Is(err, ErrBusy):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// upstreamFailure is the error of a request to url that got no answer: the
// fetch policy's refusal as it is (it names the host and the rule), any
// other failure as an *UpstreamError.
func upstreamFailure(url string, err error) error {
	var refused *egress.Refused
	if errors.As(err, &refused) {
		return refused
	}
	return &UpstreamError{URL: url, Err: err}
}
