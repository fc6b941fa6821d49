package composer

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/front"
	"github.com/sigilproxy/sigil/proxy/internal/rawjson"
)

// The routes here proxy two upstream APIs that packages.json names. Their
// inputs are package names, validated like any other, and the upstream
// URLs come from the upstream's packages.json, so they cannot be turned
// into fetches of arbitrary URLs. Their answers are information (lists of
// names, security advisories), not installable content, and pass through
// after a check of the shape Composer reads. The advisories API is asked
// with the client's request, once, and never cached (serveAdvisories).

// serveProviders answers providers-api: which packages provide name
// (ComposerRepository::getProviders; a 404 means none).
func (h *Handler) serveProviders(w http.ResponseWriter, r *http.Request, name string) {
	root, err := h.rootInfo(r.Context())
	if err != nil {
		h.core.Fail(w, r, "providers of "+name, err)
		return
	}
	if root.providersAPI == "" {
		notFound(w)
		return
	}
	u := strings.ReplaceAll(root.providersAPI, "%package%", name)
	doc, err := h.upstream.Document(r.Context(), u)
	if err != nil {
		h.core.Fail(w, r, "providers of "+name, err)
		return
	}
	body, err := filterProviders(doc.Body)
	if err != nil {
		h.core.Fail(w, r, "providers of "+name, front.Malformed(u, err))
		return
	}
	h.core.ServeDocument(w, r, stateKey(h.prefix, "/providers/"+name+".json"), body, contentTypeJSON, "no-cache")
}

// filterProviders keeps the entries Composer can read: objects with a
// string "name" (it indexes the result by it).
func filterProviders(body []byte) ([]byte, error) {
	top, err := parseDocument(body)
	if err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	b := []byte(`{"providers":[`)
	n := 0
	if raw, ok := top["providers"]; ok {
		items, err := parseValues(raw)
		if err != nil {
			return nil, fmt.Errorf("providers: %w", err)
		}
		for _, item := range items {
			o, err := parseObject(item)
			if err != nil {
				continue
			}
			if _, ok := o.stringMember("name"); !ok {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			b = appendObject(b, o)
			n++
		}
	}
	return append(b, "]}"...), nil
}

const (
	// maxAdvisoryNames bounds one request; a project with more packages
	// than this is not a project.
	maxAdvisoryNames = 5000
	// maxAdvisoryBody bounds the client's form: 5000 names of up to 200
	// bytes, encoded.
	maxAdvisoryBody = 1 << 20
	// maxAdvisoryAnswer bounds the upstream's answer, held in memory
	// while it is filtered: a few advisories of a few hundred bytes for
	// each package of the largest project take well under this.
	maxAdvisoryAnswer = 16 << 20
	advisoryTimeout   = 30 * time.Second
	formType          = "application/x-www-form-urlencoded"
)

// serveAdvisories answers security-advisories.api-url. Composer's audit
// POSTs a form with packages[]=name... (ComposerRepository::
// getSecurityAdvisories); GET with the same query also works. sigil posts
// the valid names, sorted, in one request to the upstream's API, as
// Composer would, and answers {"advisories": {name: [advisory...]}} for
// the names asked. Nothing is cached: a request is one upstream request
// of bounded size with a bounded answer, and fills no cache however many
// clients ask about however many names.
func (h *Handler) serveAdvisories(w http.ResponseWriter, r *http.Request) {
	const what = "security advisories"
	root, err := h.rootInfo(r.Context())
	if err != nil {
		h.core.Fail(w, r, what, err)
		return
	}
	if root.advisoriesAPI == "" {
		notFound(w)
		return
	}
	post := front.Post{URL: root.advisoriesAPI, What: what, MaxBody: maxAdvisoryBody, MaxAnswer: maxAdvisoryAnswer, Timeout: advisoryTimeout}
	form := r.URL.Query()
	if r.Method == http.MethodPost {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != formType {
			writeWarning(w, http.StatusUnsupportedMediaType, "sigil: a security advisories request is a form ("+formType+") of packages[]=NAME")
			return
		}
		body, ok := h.core.ReadBody(w, r, post)
		if !ok {
			return
		}
		posted, err := url.ParseQuery(string(body))
		if err != nil {
			writeWarning(w, http.StatusBadRequest, "sigil: malformed security advisories request: "+err.Error())
			return
		}
		for k, vs := range posted {
			form[k] = append(form[k], vs...)
		}
	}
	names, err := advisoryNames(form)
	if err != nil {
		writeWarning(w, http.StatusBadRequest, "sigil: "+err.Error())
		return
	}
	merged := object{}
	if len(names) > 0 {
		hdr := http.Header{"Content-Type": {formType}, "Accept": {contentTypeJSON}}
		ans, err := front.Send(r.Context(), h.client, post, advisoryForm(names), hdr)
		if err == nil && ans.Status != http.StatusOK {
			err = &proxy.UpstreamError{URL: post.URL, Status: ans.Status, Err: errors.New("the advisories API did not answer 200")}
		}
		if err != nil {
			h.core.Fail(w, r, what, err)
			return
		}
		if err := mergeAdvisories(merged, ans.Body, names); err != nil {
			h.core.Fail(w, r, what, front.Malformed(post.URL, err))
			return
		}
	}
	body := append([]byte(`{"advisories":`), appendObject(nil, merged)...)
	body = append(body, '}')
	front.WriteJSON(w, r, http.StatusOK, contentTypeJSON, body)
}

// advisoryNames takes the package names of an audit request: every value
// of "packages" and "packages[...]" (PHP's http_build_query writes
// packages[0]=…), lowercased, valid, unique and sorted.
func advisoryNames(form url.Values) ([]string, error) {
	seen := map[string]bool{}
	var names []string
	for k, vs := range form {
		if k != "packages" && !(strings.HasPrefix(k, "packages[") && strings.HasSuffix(k, "]")) {
			continue
		}
		for _, v := range vs {
			n := strings.ToLower(v)
			if !validName(n) || seen[n] {
				continue
			}
			if len(names) == maxAdvisoryNames {
				return nil, fmt.Errorf("more than %d packages in one security advisories request", maxAdvisoryNames)
			}
			seen[n] = true
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// advisoryForm is the form Composer posts for names:
// packages[]=a&packages[]=b.
func advisoryForm(names []string) []byte {
	var b []byte
	for i, n := range names {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, "packages%5B%5D="...)
		b = append(b, url.QueryEscape(n)...)
	}
	return b
}

// mergeAdvisories adds the lists of an upstream answer to merged, for the
// names that were asked only.
func mergeAdvisories(merged object, body []byte, asked []string) error {
	top, err := parseDocument(body)
	if err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	raw, ok := top["advisories"]
	if !ok {
		return errors.New(`upstream answer has no "advisories"`)
	}
	adv, err := parseObject(raw)
	if err != nil {
		return fmt.Errorf("advisories: %w", err)
	}
	for name, list := range adv {
		if _, ok := slices.BinarySearch(asked, name); !ok || rawjson.Kind(list) != '[' {
			continue
		}
		var items []json.RawMessage
		if json.Unmarshal(list, &items) != nil {
			continue
		}
		merged[name] = list
	}
	return nil
}

// Composer's filter lists (2.10): serveFilterSummary answers the
// summary-url of packages.json's "filter" (which packages each list names,
// so that Composer asks about those only), serveFilterAPI its api-url
// (Composer POSTs {"packages": [purl...], "lists": [...]} as JSON,
// FilterListApiClient, and reads "filter" from the answer). Both pass the
// upstream's answer through: what they hold takes versions away from what
// Composer may install, never adds any.
func (h *Handler) serveFilterSummary(w http.ResponseWriter, r *http.Request) {
	root, err := h.rootInfo(r.Context())
	if err != nil {
		h.core.Fail(w, r, "the filter list summary", err)
		return
	}
	if root.filterSummary == "" {
		notFound(w)
		return
	}
	doc, err := h.upstream.Document(r.Context(), root.filterSummary)
	if err != nil {
		h.core.Fail(w, r, "the filter list summary", err)
		return
	}
	top, err := parseDocument(doc.Body)
	if err == nil {
		if raw, ok := top["filter"]; !ok || rawjson.Kind(raw) != '{' {
			err = errors.New(`no "filter" object`)
		}
	}
	if err != nil {
		h.core.Fail(w, r, "the filter list summary", front.Malformed(root.filterSummary, err))
		return
	}
	h.core.ServeDocument(w, r, stateKey(h.prefix, filterSummaryPath), doc.Body, contentTypeJSON, "no-cache")
}

const (
	maxFilterBody = 4 << 20
	filterTimeout = 30 * time.Second
)

func (h *Handler) serveFilterAPI(w http.ResponseWriter, r *http.Request) {
	root, err := h.rootInfo(r.Context())
	if err != nil {
		h.core.Fail(w, r, "the filter list API", err)
		return
	}
	if root.filterAPI == "" {
		notFound(w)
		return
	}
	h.core.PassPost(w, r, h.client, front.Post{
		URL:     root.filterAPI,
		What:    "the filter list API",
		MaxBody: maxFilterBody,
		Timeout: filterTimeout,
		Headers: []string{"Content-Type", "Accept"},
	})
}

const (
	// maxSearchQuery bounds a search's text; maxListParam each list
	// parameter (a name or a pattern of one).
	maxSearchQuery = 256
	maxListParam   = 256
	// maxSearchAnswer bounds a search page (Composer shows one page of
	// names and descriptions); maxListAnswer the list of every package
	// name of a large public repository, which Composer asks for
	// without a filter (a few hundred thousand names).
	maxSearchAnswer = 4 << 20
	maxListAnswer   = 32 << 20
	apiTimeout      = 30 * time.Second
)

// serveSearch answers the served root's "search" (Composer's search
// command): the upstream's search URL, with the client's query and type
// in its %query% and %type%, asked once and never cached, and answered
// with the fields Composer reads of each result (name, description,
// abandoned, url).
func (h *Handler) serveSearch(w http.ResponseWriter, r *http.Request) {
	const what = "the search"
	root, err := h.rootInfo(r.Context())
	if err != nil {
		h.core.Fail(w, r, what, err)
		return
	}
	if root.searchURL == "" {
		notFound(w)
		return
	}
	q := r.URL.Query()
	query, typ := q.Get("q"), q.Get("type")
	if len(query) > maxSearchQuery {
		writeWarning(w, http.StatusBadRequest, fmt.Sprintf("sigil refused a search of more than %d bytes: search for less", maxSearchQuery))
		return
	}
	if typ != "" && !validPackageType(typ) {
		writeWarning(w, http.StatusBadRequest, "sigil: the package type to search for is "+front.QuoteForLog(typ)+", want lower-case letters, digits, '-', '_' and '.'")
		return
	}
	u := strings.NewReplacer("%query%", url.QueryEscape(query), "%type%", url.QueryEscape(typ)).Replace(root.searchURL)
	h.passFiltered(w, r, front.Post{Method: http.MethodGet, URL: u, What: what, MaxAnswer: maxSearchAnswer, Timeout: apiTimeout}, filterSearch)
}

// serveList answers the served root's "list": the upstream's list of
// package names, with the parameters Composer and the public API use
// (filter, vendor, type), asked once and never cached.
func (h *Handler) serveList(w http.ResponseWriter, r *http.Request) {
	const what = "the package list"
	root, err := h.rootInfo(r.Context())
	if err != nil {
		h.core.Fail(w, r, what, err)
		return
	}
	if root.listURL == "" {
		notFound(w)
		return
	}
	q := r.URL.Query()
	params := url.Values{}
	for _, k := range []string{"filter", "vendor", "type"} {
		v := q.Get(k)
		if len(v) > maxListParam {
			writeWarning(w, http.StatusBadRequest, fmt.Sprintf("sigil refused a package list parameter %s of more than %d bytes", k, maxListParam))
			return
		}
		if v != "" {
			params.Set(k, v)
		}
	}
	u := root.listURL
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	h.passFiltered(w, r, front.Post{Method: http.MethodGet, URL: u, What: what, MaxAnswer: maxListAnswer, Timeout: apiTimeout}, filterList)
}

// passFiltered asks p's URL once, uncached, and answers with what filter
// keeps of a 200 answer; any other answer is the upstream's failure.
func (h *Handler) passFiltered(w http.ResponseWriter, r *http.Request, p front.Post, filter func([]byte) ([]byte, error)) {
	ans, err := front.Send(r.Context(), h.client, p, nil, http.Header{"Accept": {contentTypeJSON}})
	if err == nil && ans.Status != http.StatusOK {
		err = &proxy.UpstreamError{URL: p.URL, Status: ans.Status, Err: errors.New("unexpected answer")}
	}
	if err != nil {
		h.core.Fail(w, r, p.What, err)
		return
	}
	body, err := filter(ans.Body)
	if err != nil {
		h.core.Fail(w, r, p.What, front.Malformed(p.URL, err))
		return
	}
	front.WriteJSON(w, r, http.StatusOK, contentTypeJSON, body)
}

// validPackageType reports whether t looks like a Composer package type
// ("library", "symfony-bundle"): Composer puts it in the search URL as it
// is, and so would sigil.
func validPackageType(t string) bool {
	if len(t) > 64 {
		return false
	}
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// filterSearch keeps what Composer's search command reads of each result
// (SearchCommand): a valid "name", and "description", "abandoned" and
// "url" (an http(s) link it prints) where they have the expected type.
// Virtual packages are left out, as Composer leaves them out.
func filterSearch(body []byte) ([]byte, error) {
	top, err := parseDocument(body)
	if err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	b := []byte(`{"results":[`)
	n := 0
	if raw, ok := top["results"]; ok {
		items, err := parseValues(raw)
		if err != nil {
			return nil, fmt.Errorf("results: %w", err)
		}
		for _, item := range items {
			o, err := parseObject(item)
			if err != nil || rawjson.Kind(o["virtual"]) == 't' {
				continue
			}
			name, ok := o.stringMember("name")
			if !ok || !validName(strings.ToLower(name)) {
				continue
			}
			out := object{"name": o["name"]}
			if _, ok := o.stringMember("description"); ok {
				out["description"] = o["description"]
			}
			if k := rawjson.Kind(o["abandoned"]); k == 't' || k == '"' {
				out["abandoned"] = o["abandoned"]
			}
			if link, ok := o.stringMember("url"); ok {
				if lu, err := url.Parse(link); err == nil && front.IsHTTP(lu) {
					out["url"] = o["url"]
				}
			}
			if n > 0 {
				b = append(b, ',')
			}
			b = appendObject(b, out)
			n++
		}
	}
	return append(b, "]}"...), nil
}

// filterList keeps the valid package names of a list answer
// ({"packageNames": [...]}, which Composer reads).
func filterList(body []byte) ([]byte, error) {
	top, err := parseDocument(body)
	if err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	raw, ok := top["packageNames"]
	if !ok {
		return nil, errors.New(`no "packageNames"`)
	}
	items, err := parseValues(raw)
	if err != nil {
		return nil, fmt.Errorf("packageNames: %w", err)
	}
	b := make([]byte, 0, len(body))
	b = append(b, `{"packageNames":[`...)
	n := 0
	for _, item := range items {
		var name string
		if rawjson.Kind(item) != '"' || json.Unmarshal(item, &name) != nil || !validName(strings.ToLower(name)) {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = rawjson.AppendStringHTML(b, name)
		n++
	}
	return append(b, "]}"...), nil
}
