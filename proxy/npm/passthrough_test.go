package npm

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestPing(t *testing.T) {
	r := newRig(t)
	resp, body := r.Get("/npm/-/ping?write=true")
	if resp.StatusCode != 200 || string(body) != "{}\n" {
		t.Errorf("ping: %d %s", resp.StatusCode, body)
	}
	if len(r.up.URLs()) != 0 {
		t.Error("ping asked the upstream")
	}
}

func TestKeysAndAttestationsPassThrough(t *testing.T) {
	r := newRig(t)
	keys := `{"keys":[{"expires":null,"keyid":"SHA256:x","keytype":"ecdsa-sha2-nistp256","scheme":"ecdsa-sha2-nistp256","key":"AAAA"}]}`
	r.up.Set(keysURL, keys)
	resp, body := r.Get("/npm/-/npm/v1/keys")
	if resp.StatusCode != 200 || string(body) != keys || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("keys: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	att := `{"attestations":[]}`
	r.up.Set(upstreamBase+"/-/npm/v1/attestations/@acme%2ffoo@1.0.0", att)
	for _, p := range []string{"/npm/-/npm/v1/attestations/@acme%2ffoo@1.0.0", "/npm/-/npm/v1/attestations/%40acme%2Ffoo%401.0.0"} {
		if resp, body := r.Get(p); resp.StatusCode != 200 || string(body) != att {
			t.Errorf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
	if resp, _ := r.Get("/npm/-/npm/v1/attestations/foo@2.0.0"); resp.StatusCode != 404 {
		t.Errorf("missing attestations: %d", resp.StatusCode)
	}
	n := len(r.up.URLs())
	for _, p := range []string{"/npm/-/npm/v1/attestations/foo", "/npm/-/npm/v1/attestations/@1.0.0", "/npm/-/npm/v1/attestations/.x@1", "/npm/-/npm/v1/attestations/foo@a%2fb"} {
		if resp, _ := r.Get(p); resp.StatusCode != 404 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	if len(r.up.URLs()) != n {
		t.Errorf("invalid attestation requests reached the upstream: %v", r.up.URLs()[n:])
	}
}

func TestAuditPassThrough(t *testing.T) {
	var mu sync.Mutex
	var got struct {
		method, path, encoding, auth string
		body                         []byte
	}
	status := 200
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		mu.Lock()
		got.method, got.path, got.encoding, got.auth, got.body = req.Method, req.URL.Path, req.Header.Get("Content-Encoding"), req.Header.Get("Authorization"), b
		st := status
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(st)
		io.WriteString(w, `{"foo":[{"id":1,"severity":"high"}]}`)
	}))
	defer up.Close()
	r := newRig(t, func(c *Config) { c.UpstreamURL = mustURL(up.URL); c.Client = up.Client() })

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, `{"foo":["1.0.0"]}`)
	zw.Close()
	resp, body := r.Do(http.MethodPost, "/npm/-/npm/v1/security/advisories/bulk", bytes.NewReader(gz.Bytes()),
		"Content-Type: application/json", "Content-Encoding: gzip", "Authorization: Bearer secret")
	if resp.StatusCode != 200 || string(body) != `{"foo":[{"id":1,"severity":"high"}]}` {
		t.Fatalf("bulk: %d %s", resp.StatusCode, body)
	}
	mu.Lock()
	if got.method != "POST" || got.path != "/-/npm/v1/security/advisories/bulk" || got.encoding != "gzip" || !bytes.Equal(got.body, gz.Bytes()) {
		t.Errorf("upstream got %s %s %q, %d bytes", got.method, got.path, got.encoding, len(got.body))
	}
	if got.auth != "" {
		t.Error("the client's credentials were forwarded")
	}
	status = http.StatusUnauthorized
	mu.Unlock()

	if resp, body := r.Do(http.MethodPost, "/npm/-/npm/v1/security/audits/quick", strings.NewReader("{}")); resp.StatusCode != http.StatusBadGateway || !bytes.Contains(body, []byte(`"error"`)) {
		t.Errorf("upstream 401: %d %s; never a 401 to npm", resp.StatusCode, body)
	}
	if resp, _ := r.Get("/npm/-/npm/v1/security/advisories/bulk"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET bulk: %d", resp.StatusCode)
	}
	big := bytes.Repeat([]byte("x"), maxAuditBody+1)
	if resp, _ := r.Do(http.MethodPost, "/npm/-/npm/v1/security/audits", bytes.NewReader(big)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized audit: %d", resp.StatusCode)
	}
	up.Close()
	if resp, _ := r.Do(http.MethodPost, "/npm/-/npm/v1/security/audits", strings.NewReader("{}")); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("upstream down: %d", resp.StatusCode)
	}
}

// TestAuditAnswerServedAsJSON: what the upstream answers an audit with is
// served from sigil's origin, so it goes out as JSON, never as a type a
// browser would render or sniff (an upstream's text/html would run as
// sigil's page).
func TestAuditAnswerServedAsJSON(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<script>alert(document.domain)</script>`)
	}))
	defer up.Close()
	r := newRig(t, func(c *Config) { c.UpstreamURL = mustURL(up.URL); c.Client = up.Client() })
	resp, _ := r.Do(http.MethodPost, "/npm/-/npm/v1/security/audits/quick", strings.NewReader("{}"), "Content-Type: application/json")
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("served as %q, nosniff %q", ct, resp.Header.Get("X-Content-Type-Options"))
	}
}
