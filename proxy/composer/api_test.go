package composer

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
)

// advisoryAPI is an upstream advisories API: it records what it was
// asked and answers with answer (status 200 unless set).
type advisoryAPI struct {
	srv    *httptest.Server
	mu     sync.Mutex
	asked  []string // "METHOD Content-Type body"
	status int
	answer string
}

// newAdvisoryRig is a rig whose upstream names api as its advisories API.
func newAdvisoryRig(t *testing.T) (*rig, *advisoryAPI) {
	api := &advisoryAPI{status: 200, answer: `{"advisories":[]}`}
	api.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		api.mu.Lock()
		defer api.mu.Unlock()
		api.asked = append(api.asked, r.Method+" "+r.Header.Get("Content-Type")+" "+string(b))
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(api.status)
		io.WriteString(w, api.answer)
	}))
	t.Cleanup(api.srv.Close)
	r := newRig(t)
	r.up.Set(upstreamBase+"/packages.json", `{"metadata-url":"/p2/%package%.json",
		"security-advisories":{"metadata":true,"api-url":"`+api.srv.URL+`/api/security-advisories/"}}`)
	return r, api
}

func (a *advisoryAPI) set(status int, answer string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.status, a.answer = status, answer
}

// take returns what the API was asked since the last take.
func (a *advisoryAPI) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	asked := a.asked
	a.asked = nil
	return asked
}

func postForm(r *rig, form url.Values) (*http.Response, []byte) {
	return r.Do(http.MethodPost, "/composer/api/security-advisories/", strings.NewReader(form.Encode()), "Content-Type: application/x-www-form-urlencoded")
}

func TestAdvisories(t *testing.T) {
	r, api := newAdvisoryRig(t)
	// Packagist answers [] for "none", as PHP encodes an empty map.
	api.set(200, `{"advisories":{"acme/foo":[{"advisoryId":"PKSA-1","packageName":"acme/foo","affectedVersions":"<1.1"}],"other/x":[{"advisoryId":"PKSA-2"}]}}`)
	// Composer's audit: POST, http_build_query(['packages' => [...]]).
	form := url.Values{"packages[0]": {"acme/foo"}, "packages[1]": {"Acme/Bar"}, "packages[2]": {"../etc"}, "packages[3]": {"acme/foo"}}
	resp, body := postForm(r, form)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %v: %s", resp.StatusCode, resp.Header, body)
	}
	got := fronttest.DecodeObject(t, body)
	want := map[string]any{"advisories": map[string]any{
		"acme/foo": []any{map[string]any{"advisoryId": "PKSA-1", "packageName": "acme/foo", "affectedVersions": "<1.1"}},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
	// The upstream got the valid names, lowercased, sorted and once each,
	// in the form Composer posts.
	if asked := api.take(); !slices.Equal(asked, []string{"POST application/x-www-form-urlencoded packages%5B%5D=acme%2Fbar&packages%5B%5D=acme%2Ffoo"}) {
		t.Errorf("upstream asked %q", asked)
	}

	// GET works too, and an empty answer is an empty map.
	api.set(200, `{"advisories":[]}`)
	resp, body = r.Get("/composer/api/security-advisories/?packages[]=acme/baz")
	if resp.StatusCode != 200 || string(body) != `{"advisories":{}}` {
		t.Errorf("GET: %d %s", resp.StatusCode, body)
	}
	if asked := api.take(); !slices.Equal(asked, []string{"POST application/x-www-form-urlencoded packages%5B%5D=acme%2Fbaz"}) {
		t.Errorf("upstream asked %q", asked)
	}
	// No valid name: nothing to ask.
	if resp, body := postForm(r, url.Values{"packages[]": {"../x"}}); resp.StatusCode != 200 || string(body) != `{"advisories":{}}` || len(api.take()) != 0 {
		t.Errorf("no names: %d %s", resp.StatusCode, body)
	}
}

// One audit is one upstream request, however many names it asks about,
// and nothing of it goes into the cache: a client's POST cannot be turned
// into many upstream requests or fill sigil's cache.
func TestAdvisoriesOneUncachedRequest(t *testing.T) {
	r, api := newAdvisoryRig(t)
	form := url.Values{}
	for i := range 120 {
		form.Add("packages[]", fmt.Sprintf("acme/p%03d", i))
	}
	api.set(200, `{"advisories":{"acme/p000":[{"advisoryId":"A0"}],"acme/p100":[{"advisoryId":"A1"}]}}`)
	for range 2 {
		resp, body := postForm(r, form)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if adv := fronttest.DecodeObject(t, body)["advisories"].(map[string]any); len(adv) != 2 || adv["acme/p100"] == nil {
			t.Errorf("answer %v", adv)
		}
		if asked := api.take(); len(asked) != 1 || strings.Count(asked[0], "packages%5B%5D=") != 120 {
			t.Errorf("%d upstream requests for one audit, want 1: %q", len(asked), asked)
		}
	}
	for _, u := range r.up.URLs() {
		if strings.Contains(u, "advisories") {
			t.Errorf("the advisories API was fetched through the cache: %s", u)
		}
	}
}

func TestAdvisoriesBounds(t *testing.T) {
	r, api := newAdvisoryRig(t)
	big := url.Values{"packages[]": {strings.Repeat("a", maxAdvisoryBody)}}
	if resp, body := postForm(r, big); resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "larger than") {
		t.Errorf("large body: %d %s", resp.StatusCode, body)
	}
	resp, body := r.Do(http.MethodPost, "/composer/api/security-advisories/", strings.NewReader(`{"packages":["acme/foo"]}`), "Content-Type: application/json")
	if resp.StatusCode != http.StatusUnsupportedMediaType || !strings.Contains(string(body), "packages[]=NAME") {
		t.Errorf("JSON body: %d %s", resp.StatusCode, body)
	}
	many := url.Values{}
	for i := range maxAdvisoryNames + 1 {
		many.Add("packages[]", fmt.Sprintf("a/%d", i))
	}
	if resp, body := postForm(r, many); resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "more than") {
		t.Errorf("too many names: %d %s", resp.StatusCode, body)
	}
	if asked := api.take(); len(asked) != 0 {
		t.Errorf("refused requests reached the upstream: %d", len(asked))
	}

	foo := url.Values{"packages[]": {"acme/foo"}}
	for _, c := range []struct {
		status int
		answer string
	}{
		{200, `{"advisories":{"acme/foo":[{"advisoryId":"` + strings.Repeat("x", maxAdvisoryAnswer) + `"}]}}`},
		{200, `{"nothing":1}`},
		{200, `<html>`},
		{500, `{"advisories":{}}`},
		{403, `{"advisories":{}}`},
	} {
		api.set(c.status, c.answer)
		resp, body := postForm(r, foo)
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "advisories") || len(body) > 4096 {
			t.Errorf("upstream %d %.40s: %d %.200s", c.status, c.answer, resp.StatusCode, body)
		}
	}
}

func TestAdvisoriesRoute(t *testing.T) {
	// No api-url upstream: no route.
	r := newRig(t)
	r.up.Set(upstreamBase+"/packages.json", `{"metadata-url":"/p2/%package%.json"}`)
	resp, _ := r.Get("/composer/api/security-advisories/?packages[]=acme/foo")
	if resp.StatusCode != 404 {
		t.Errorf("without api-url: %d", resp.StatusCode)
	}
	_, body := r.Get("/composer/packages.json")
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

// searchRig is a rig whose upstream names api's search and list URLs;
// api records each request's URL.
func searchRig(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) (*rig, *[]string) {
	var mu sync.Mutex
	var asked []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.Method+" "+r.URL.RequestURI())
		mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(api.Close)
	r := newRig(t)
	r.up.Set(upstreamBase+"/packages.json", `{"metadata-url":"/p2/%package%.json",
		"search":"`+api.URL+`/search.json?q=%query%&type=%type%","list":"`+api.URL+`/packages/list.json"}`)
	return r, &asked
}

// Composer's search and list, through sigil's routes: one upstream
// request each, uncached, the client's parameters checked and passed on
// encoded, the answer cut to what Composer reads, served as JSON.
func TestSearchAndList(t *testing.T) {
	r, asked := searchRig(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		switch r.URL.Path {
		case "/search.json":
			io.WriteString(w, `{"results":[{"name":"acme/foo","description":"Foo","url":"https://upstream.test/packages/acme/foo","repository":"https://git.test/acme/foo","downloads":3},
				{"name":"psr/log-implementation","description":"virtual","virtual":true},
				{"name":"acme/old","abandoned":"acme/new","url":"javascript:alert(1)"},{"name":"../x"},"junk"],"total":4,"next":"https://upstream.test/search.json?page=2"}`)
		case "/packages/list.json":
			io.WriteString(w, `{"packageNames":["acme/foo","acme/bar","../x",1]}`)
		}
	})
	// As Composer writes it: urlencode($query), $type as it is.
	resp, body := r.Get("/composer/api/search.json?q=log+%26+more&type=symfony-bundle")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("search: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	want := map[string]any{"results": []any{
		map[string]any{"name": "acme/foo", "description": "Foo", "url": "https://upstream.test/packages/acme/foo"},
		map[string]any{"name": "acme/old", "abandoned": "acme/new"},
	}}
	if got := fronttest.DecodeObject(t, body); !reflect.DeepEqual(got, want) {
		t.Errorf("search answer %v", got)
	}
	resp, body = r.Get("/composer/api/list.json?filter=acme%2F%2A&vendor=acme&other=x")
	if resp.StatusCode != 200 || string(body) != `{"packageNames":["acme/foo","acme/bar"]}` {
		t.Errorf("list: %d %s", resp.StatusCode, body)
	}
	wantAsked := []string{
		"GET /search.json?q=log+%26+more&type=symfony-bundle",
		"GET /packages/list.json?filter=acme%2F%2A&vendor=acme",
	}
	if !slices.Equal(*asked, wantAsked) {
		t.Errorf("upstream asked %q, want %q", *asked, wantAsked)
	}
	// Asked again: asked again, nothing was cached.
	r.Get("/composer/api/list.json")
	if n := len(*asked); n != 3 {
		t.Errorf("%d upstream requests after three client requests", n)
	}
	for _, u := range r.up.URLs() {
		if strings.Contains(u, "search") || strings.Contains(u, "list") {
			t.Errorf("fetched through the cache: %s", u)
		}
	}
}

func TestSearchAndListBadInput(t *testing.T) {
	r, asked := searchRig(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/search.json":
			io.WriteString(w, `{"results":[{"name":"`+strings.Repeat("a", maxSearchAnswer)+`"}]}`)
		default:
			io.WriteString(w, `{"names":[]}`)
		}
	})
	for _, tc := range []struct {
		path   string
		status int
		msg    string
	}{
		{"/composer/api/search.json?q=" + strings.Repeat("a", maxSearchQuery+1), 400, `"warning":"sigil refused a search of more than 256 bytes: search for less"`},
		{"/composer/api/search.json?q=x&type=a%22b", 400, "package type"},
		{"/composer/api/list.json?filter=" + strings.Repeat("a", maxListParam+1), 400, `"warning":"sigil refused a package list parameter filter of more than 256 bytes"`},
		{"/composer/api/search.json?q=x", 502, "larger than"},
		{"/composer/api/list.json", 502, "packageNames"},
	} {
		resp, body := r.Get(tc.path)
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.msg) || len(body) > 4096 {
			t.Errorf("%.60s: %d %.300s", tc.path, resp.StatusCode, body)
		}
	}
	if n := len(*asked); n != 2 {
		t.Errorf("%d upstream requests; refused requests reached it", n)
	}
	if resp, _ := r.Do(http.MethodPost, "/composer/api/search.json", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST search: %d", resp.StatusCode)
	}
	// An upstream without them: no routes, and none served.
	r = newRig(t)
	r.up.Set(upstreamBase+"/packages.json", `{"metadata-url":"/p2/%package%.json","search":"/no-placeholder","list":"/list.json?x=1"}`)
	if _, body := r.Get("/composer/packages.json"); strings.Contains(string(body), "search") || strings.Contains(string(body), "list") {
		t.Errorf("served routes the upstream lacks: %s", body)
	}
	if resp, _ := r.Get("/composer/api/search.json?q=x"); resp.StatusCode != 404 {
		t.Errorf("search without an upstream search: %d", resp.StatusCode)
	}
}
