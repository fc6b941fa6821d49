package front

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
)

func testCore(t *testing.T, checker proxy.Checker) *Core {
	return &Core{
		Name: "test", Log: fronttest.Logger(t), Checker: checker, Served: NewMemServed(),
		NotFound: func(w http.ResponseWriter) { w.WriteHeader(http.StatusNotFound) },
		Message: func(w http.ResponseWriter, status int, msg string) {
			w.WriteHeader(status)
			fmt.Fprint(w, msg)
		},
	}
}

func TestFail(t *testing.T) {
	c := testCore(t, nil)
	blocked := &proxy.BlockedError{Facts: proxy.VersionFacts{Metadata: policy.Metadata{Package: "p", Version: "1"}}, Verdict: policy.Verdict{Action: policy.Block}}
	for _, tc := range []struct {
		err    error
		status int
		body   string
	}{
		{fmt.Errorf("x: %w", proxy.ErrNotFound), 404, ""},
		{blocked, http.StatusGone, "sigil blocked: p@1"},
		{&proxy.BlockedError{Verdict: policy.Verdict{Action: policy.Block, Reasons: []string{"p@1: revoked"}}}, http.StatusGone, "sigil blocked: p@1: revoked"},
		{&proxy.UpstreamError{URL: "https://u.test/x", Err: errors.New("bad")}, http.StatusBadGateway, "sigil could not serve the thing: "},
		{errors.New("disk full"), http.StatusInternalServerError, "sigil could not serve the thing: disk full"},
	} {
		w := httptest.NewRecorder()
		c.Fail(w, httptest.NewRequest("GET", "/", nil), "the thing", tc.err)
		if w.Code != tc.status || !strings.HasPrefix(w.Body.String(), tc.body) {
			t.Errorf("%v: %d %q, want %d %q", tc.err, w.Code, w.Body, tc.status, tc.body)
		}
	}
	// A client that went away gets nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := httptest.NewRecorder()
	c.Fail(w, httptest.NewRequest("GET", "/", nil).WithContext(ctx), "the thing", errors.New("x"))
	if w.Body.Len() != 0 || len(w.Header()) != 0 {
		t.Errorf("answered a gone client: %d %q", w.Code, w.Body)
	}
}

func TestDecideFailsClosed(t *testing.T) {
	checker := fronttest.NewChecker()
	checker.Short = true
	c := testCore(t, checker)
	facts := []proxy.VersionFacts{{Metadata: policy.Metadata{Version: "1"}}, {Metadata: policy.Metadata{Version: "2"}}}
	vs := c.Decide(context.Background(), "npm", "p", facts)
	if len(vs) != 2 || !vs[0].Blocked() || !vs[1].Blocked() || !strings.Contains(vs[1].Reason(), "p@2: sigil could not decide") {
		t.Errorf("short answer: %+v", vs)
	}
	checker.Short = false
	if vs := c.Decide(context.Background(), "npm", "p", facts); len(vs) != 2 || vs[0].Blocked() {
		t.Errorf("kept answer: %+v", vs)
	}
	if vs := c.Decide(context.Background(), "npm", "p", nil); len(vs) != 0 || checker.Calls != 2 {
		t.Errorf("no facts: %+v after %d calls", vs, checker.Calls)
	}
}

func TestServeDocumentValidators(t *testing.T) {
	c := testCore(t, nil)
	serve := func(body string, headers ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/doc", nil)
		for _, h := range headers {
			k, v, _ := strings.Cut(h, ": ")
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		c.ServeDocument(w, r, "key", []byte(body), "application/x-test", "no-store")
		return w
	}
	w := serve(`{"a":1}`)
	etag, lm := w.Header().Get("ETag"), w.Header().Get("Last-Modified")
	if w.Code != 200 || w.Body.String() != `{"a":1}` || etag == "" || lm == "" ||
		w.Header().Get("Content-Type") != "application/x-test" || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %q %v", w.Code, w.Body, w.Header())
	}
	if w := serve(`{"a":1}`, "If-None-Match: "+etag); w.Code != http.StatusNotModified {
		t.Errorf("same bytes, If-None-Match: %d", w.Code)
	}
	if w := serve(`{"a":1}`, "If-Modified-Since: "+lm); w.Code != http.StatusNotModified {
		t.Errorf("same bytes, If-Modified-Since: %d", w.Code)
	}
	w = serve(`{"a":2}`, "If-Modified-Since: "+lm)
	if w.Code != 200 || w.Header().Get("ETag") == etag || w.Header().Get("Last-Modified") == lm {
		t.Errorf("new bytes: %d, ETag %s, Last-Modified %s", w.Code, w.Header().Get("ETag"), w.Header().Get("Last-Modified"))
	}
}
