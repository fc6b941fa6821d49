package composer

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
)

const advisoryAPI = "https://www.upstream.test/api/security-advisories/"

func TestAdvisories(t *testing.T) {
	r := newRig(t)
	// Packagist answers [] for "none", as PHP encodes an empty map.
	r.up.Set(advisoryAPI+"?packages%5B%5D=acme%2Fbar&packages%5B%5D=acme%2Ffoo",
		`{"advisories":{"acme/foo":[{"advisoryId":"PKSA-1","packageName":"acme/foo","affectedVersions":"<1.1"}],"other/x":[{"advisoryId":"PKSA-2"}]}}`)
	// Composer's audit: POST, http_build_query(['packages' => [...]]).
	form := url.Values{"packages[0]": {"acme/foo"}, "packages[1]": {"Acme/Bar"}, "packages[2]": {"../etc"}, "packages[3]": {"acme/foo"}}
	resp, body := r.Do(http.MethodPost, "/composer/api/security-advisories/", strings.NewReader(form.Encode()), "Content-Type: application/x-www-form-urlencoded")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	got := fronttest.DecodeObject(t, body)
	want := map[string]any{"advisories": map[string]any{
		"acme/foo": []any{map[string]any{"advisoryId": "PKSA-1", "packageName": "acme/foo", "affectedVersions": "<1.1"}},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}

	// GET works too, and an empty answer is an empty map.
	r.up.Set(advisoryAPI+"?packages%5B%5D=acme%2Fbaz", `{"advisories":[]}`)
	resp, body = r.Get("/composer/api/security-advisories/?packages[]=acme/baz")
	if resp.StatusCode != 200 || string(body) != `{"advisories":{}}` {
		t.Errorf("GET: %d %s", resp.StatusCode, body)
	}
}

func TestAdvisoriesBatches(t *testing.T) {
	r := newRig(t)
	form := url.Values{}
	var names []string
	for i := range 120 {
		n := fmt.Sprintf("acme/p%03d", i)
		names = append(names, n)
		form.Add("packages[]", n)
	}
	for i := 0; i < len(names); i += advisoryBatch {
		batch := names[i:min(i+advisoryBatch, len(names))]
		r.up.Set(advisoryURL(advisoryAPI, batch), fmt.Sprintf(`{"advisories":{%q:[{"advisoryId":"A%d"}]}}`, batch[0], i))
	}
	resp, body := r.Do(http.MethodPost, "/composer/api/security-advisories/", strings.NewReader(form.Encode()), "Content-Type: application/x-www-form-urlencoded")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	adv := fronttest.DecodeObject(t, body)["advisories"].(map[string]any)
	if len(adv) != 3 || adv["acme/p100"] == nil {
		t.Errorf("merged %v", adv)
	}
}

func TestAdvisoriesUpstreamProblems(t *testing.T) {
	r := newRig(t)
	r.up.Set(advisoryAPI+"?packages%5B%5D=acme%2Ffoo", `{"nothing":1}`)
	resp, body := r.Get("/composer/api/security-advisories/?packages[]=acme/foo")
	if resp.StatusCode != 502 || !strings.Contains(string(body), "advisories") {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	// No api-url upstream: no route.
	r = newRig(t)
	r.up.Set(upstreamBase+"/packages.json", `{"metadata-url":"/p2/%package%.json"}`)
	resp, _ = r.Get("/composer/api/security-advisories/?packages[]=acme/foo")
	if resp.StatusCode != 404 {
		t.Errorf("without api-url: %d", resp.StatusCode)
	}
	_, body = r.Get("/composer/packages.json")
	if strings.Contains(string(body), "security-advisories") || strings.Contains(string(body), "providers-api") {
		t.Errorf("advertises routes the upstream lacks: %s", body)
	}
}

func TestProviders(t *testing.T) {
	r := newRig(t)
	r.up.Set("https://www.upstream.test/providers/psr/log-implementation.json",
		`{"providers":[{"name":"monolog/monolog","description":"Logs","type":"library"},{"description":"no name"},"junk"]}`)
	resp, body := r.Get("/composer/providers/psr/log-implementation.json")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	want := map[string]any{"providers": []any{map[string]any{"name": "monolog/monolog", "description": "Logs", "type": "library"}}}
	if got := fronttest.DecodeObject(t, body); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
	resp, _ = r.Get("/composer/providers/acme/none.json")
	if resp.StatusCode != 404 {
		t.Errorf("unknown: %d", resp.StatusCode)
	}
}

func TestMethods(t *testing.T) {
	r := newRig(t)
	for _, p := range []string{"/composer/packages.json", "/composer/p2/acme/foo.json", "/composer/dists/acme/foo/1.0.0/abc.zip"} {
		resp, _ := r.Do(http.MethodPost, p, nil)
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: %d", p, resp.StatusCode)
		}
	}
	if n := len(r.up.URLs()); n != 0 {
		t.Errorf("upstream asked %d times", n)
	}
}

// TestFilterRoutes: the filter list summary and API of packages.json are
// answered through sigil, from the upstream's URLs only.
func TestFilterRoutes(t *testing.T) {
	var posted []byte
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posted, _ = io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("upstream got %s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"filter":{"malware":[{"package":"acme/foo","constraint":"1.0.0"}]}}`)
	}))
	defer api.Close()
	r := newRig(t)
	r.up.Set(upstreamBase+"/packages.json", `{"metadata-url":"/p2/%package%.json",
		"filter":{"metadata":false,"lists":{"malware":{"enabled":true}},"summary-url":"/filter/summary.json","api-url":"`+api.URL+`/api/filter"}}`)
	r.up.Set(upstreamBase+"/filter/summary.json", `{"filter":{"malware":{"acme/foo":"1.0.0"}}}`)
	r.Get("/composer/packages.json")

	resp, body := r.Get("/composer/filter/summary.json")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"acme/foo":"1.0.0"`) {
		t.Errorf("summary: %d %s", resp.StatusCode, body)
	}
	req := `{"packages":["pkg://composer/acme/foo"],"lists":["malware"]}`
	resp, body = r.Do(http.MethodPost, "/composer/api/filter/", strings.NewReader(req), "Content-Type: application/json")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"constraint":"1.0.0"`) {
		t.Errorf("api: %d %s", resp.StatusCode, body)
	}
	if string(posted) != req {
		t.Errorf("upstream got %q, want the client's body", posted)
	}
	if resp, _ := r.Get("/composer/api/filter/"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET of the filter API: %d", resp.StatusCode)
	}
}
