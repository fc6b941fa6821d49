package front

import (
	"bytes"
	"cmp"
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

// A Post is a request with a body that a front passes to its upstream:
// an API that answers information (advisories, audits, filter lists),
// never installable content. The URL is always one the upstream's own
// documents or sigil's configuration named, never one from the request;
// no client credential is forwarded. One client request makes one
// upstream request, and nothing of either is cached.
type Post struct {
	// Method is the upstream request's method. Default: POST.
	Method string
	// URL is the upstream's endpoint.
	URL string
	// What names it in errors: "the audit".
	What string
	// MaxBody bounds the request body.
	MaxBody int64
	// MaxAnswer bounds the upstream's answer. Default:
	// proxy.DefaultMaxDocumentSize.
	MaxAnswer int64
	// Timeout bounds the whole exchange with the upstream.
	Timeout time.Duration
	// Headers are the request headers passed on, when the client sent
	// them.
	Headers []string
}

// An Answer is an upstream's answer to a Post, read whole.
type Answer struct {
	Status      int
	ContentType string
	Body        []byte
}

// PassPost posts r's body to p.URL with client and answers with the
// upstream's answer (status, a JSON Content-Type and body), never cached.
// An upstream 401 or 403 is answered as a failure, since the client would
// ask for credentials sigil never forwards.
func (c *Core) PassPost(w http.ResponseWriter, r *http.Request, client *http.Client, p Post) {
	body, ok := c.ReadBody(w, r, p)
	if !ok {
		return
	}
	hdr := http.Header{}
	for _, k := range p.Headers {
		if v := r.Header.Get(k); v != "" {
			hdr.Set(k, v)
		}
	}
	ans, err := Send(r.Context(), client, p, body, hdr)
	if err != nil {
		c.Fail(w, r, p.What, err)
		return
	}
	WriteJSON(w, r, ans.Status, ans.ContentType, ans.Body)
}

// ReadBody reads r's body, at most p.MaxBody bytes. When it reports false
// it has answered: 413 for a larger body, 400 for one that could not be
// read.
func (c *Core) ReadBody(w http.ResponseWriter, r *http.Request, p Post) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.MaxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		c.Message(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("sigil: %s: request larger than %d bytes", p.What, p.MaxBody))
		return nil, false
	case err != nil:
		c.Message(w, http.StatusBadRequest, "sigil: reading the request for "+p.What+": "+err.Error())
		return nil, false
	}
	return body, true
}

// Send sends body (nil: none), with the headers in hdr, to p.URL with
// client, once, and reads the answer, at most p.MaxAnswer bytes, charged
// to the request's metadata budget (proxy.ReadBody). Its errors are ones
// Core.Fail renders: an answer that does not come, or is larger than the
// bound, is an *proxy.UpstreamError, and so is a 401 or 403.
func Send(ctx context.Context, client *http.Client, p Post, body []byte, hdr http.Header) (Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, cmp.Or(p.Method, http.MethodPost), p.URL, rd)
	if err != nil {
		return Answer{}, err
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		return Answer{}, &proxy.UpstreamError{URL: p.URL, Err: err}
	}
	defer resp.Body.Close()
	limit := cmp.Or(p.MaxAnswer, proxy.DefaultMaxDocumentSize)
	out, err := proxy.ReadBody(ctx, resp.Body, limit, resp.ContentLength)
	switch {
	case errors.Is(err, proxy.ErrBusy):
		return Answer{}, err
	case err != nil:
		return Answer{}, &proxy.UpstreamError{URL: p.URL, Status: resp.StatusCode, Err: fmt.Errorf("answer: %w", err)}
	}
	if s := resp.StatusCode; s == http.StatusUnauthorized || s == http.StatusForbidden {
		return Answer{}, &proxy.UpstreamError{URL: p.URL, Status: s, Err: errors.New("the upstream refused " + p.What)}
	}
	return Answer{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: out}, nil
}

// WriteJSON answers with body, passed through from an upstream, never to
// be stored. The answer is served from sigil's origin: only a JSON type
// passes (ct when it is one), with nosniff, so that no upstream answer is
// rendered as a page of sigil's.
func WriteJSON(w http.ResponseWriter, r *http.Request, status int, ct string, body []byte) {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	if !isJSONType(ct) {
		ct = "application/json"
	}
	hdr.Set("Content-Type", ct)
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// isJSONType reports whether a Content-Type names JSON: application/json
// or a +json type, with any parameters.
func isJSONType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}
