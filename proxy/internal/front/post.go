package front

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/sigilproxy/sigil/proxy"
)

// A Post is a request with a body that a front passes to its upstream as
// it came: an API that answers information (advisories, audits, filter
// lists), never installable content. The URL is always one the upstream's
// own documents or sigil's configuration named, never one from the
// request; no client credential is forwarded.
type Post struct {
	// URL is the upstream's endpoint.
	URL string
	// What names it in errors: "the audit".
	What string
	// MaxBody bounds the request body.
	MaxBody int64
	// Timeout bounds the whole exchange with the upstream.
	Timeout time.Duration
	// Headers are the request headers passed on, when the client sent
	// them.
	Headers []string
}

// PassPost posts r's body to p.URL with client and answers with the
// upstream's answer (status, a JSON Content-Type and body, bounded by
// proxy.DefaultMaxDocumentSize), never cached. An upstream 401 or 403 is
// answered as a failure, since the client would ask for credentials sigil
// never forwards.
func (c *Core) PassPost(w http.ResponseWriter, r *http.Request, client *http.Client, p Post) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.MaxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		c.Message(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("sigil: %s: request larger than %d bytes", p.What, p.MaxBody))
		return
	case err != nil:
		c.Message(w, http.StatusBadRequest, "sigil: reading the request for "+p.What+": "+err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), p.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(body))
	if err != nil {
		c.Fail(w, r, p.What, err)
		return
	}
	for _, k := range p.Headers {
		if v := r.Header.Get(k); v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		c.Fail(w, r, p.What, &proxy.UpstreamError{URL: p.URL, Err: err})
		return
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, proxy.DefaultMaxDocumentSize+1))
	switch {
	case err != nil:
		c.Fail(w, r, p.What, &proxy.UpstreamError{URL: p.URL, Status: resp.StatusCode, Err: err})
		return
	case len(out) > proxy.DefaultMaxDocumentSize:
		c.Fail(w, r, p.What, &proxy.UpstreamError{URL: p.URL, Status: resp.StatusCode, Err: errors.New("answer too large")})
		return
	}
	status := resp.StatusCode
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		c.Fail(w, r, p.What, &proxy.UpstreamError{URL: p.URL, Status: status, Err: errors.New("the upstream refused " + p.What)})
		return
	}
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	// The answer is served from sigil's origin: only a JSON type passes,
	// so that no upstream answer is rendered as a page of sigil's.
	ct := resp.Header.Get("Content-Type")
	if !isJSONType(ct) {
		ct = "application/json"
	}
	hdr.Set("Content-Type", ct)
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// isJSONType reports whether a Content-Type names JSON: application/json
// or a +json type, with any parameters.
func isJSONType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}
