package composer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/front"
	"github.com/sigilproxy/sigil/proxy/internal/rawjson"
)

// rootInfo is what sigil learned from the upstream's packages.json: the
// only places it fetches metadata, provider lists and advisories from.
type rootInfo struct {
	metadataURL   string // absolute, with %package%
	providersAPI  string // absolute, with %package%; "" if none
	advisoriesAPI string // absolute; "" if none
	filterSummary string // absolute; "" if none
	filterAPI     string // absolute; "" if none
	searchURL     string // absolute, with %query%; "" if none
	listURL       string // absolute; "" if none
	fetched       time.Time
}

// rootTTL bounds how long learned URLs are reused before packages.json is
// read again. Those URLs practically never change; the bound only makes a
// change take effect without a restart.
const rootTTL = 5 * time.Minute

// Root keys passed through unchanged, when they have the type Composer
// expects. The served root is built from an allowlist: these, sigil's own
// routes and the upstream's notices. Everything else is dropped, and no
// URL of it points anywhere but at sigil: the v1 protocol
// ("providers-url", "provider-includes", "providers", "packages",
// "includes", "providers-lazy-url") and "mirrors" would let Composer load
// versions or archives around sigil; "notify-batch"/"notify" would send
// install statistics straight to the upstream and sigil does not proxy
// them; "metadata-changes-url" is for mirrors, not for Composer; any key
// a later Composer reads is not served until sigil knows what it does.
var rootStringLists = []string{"available-packages", "available-package-patterns"}

// servePackagesJSON answers the root document: the upstream's, with every
// URL Composer uses pointing where sigil wants the client to go.
//
//   - metadata-url: sigil's p2 route, as a path (Composer resolves a URL
//     starting with "/" against the origin of the repository URL the
//     project configured, ComposerRepository::canonicalizeUrl).
//   - providers-api: sigil's providers route, proxied (the input is a
//     package name, validated like any other).
//   - security-advisories.api-url: sigil's advisories route, absolute
//     (Composer does not canonicalize it). Proxied so that "composer audit"
//     works where only sigil is reachable; metadata and query-all pass.
//   - filter (Composer 2.10's filter lists, such as its malware list):
//     metadata and lists pass; summary-url and api-url point at sigil's
//     filter routes, proxied to the upstream's, so that the lists keep
//     blocking what they block where only sigil is reachable.
//   - search and list: sigil's search and list routes, passed through to
//     the upstream's uncached, one request each (serveSearch, serveList).
//     Composer would otherwise reach the upstream's URLs, on any host,
//     around sigil, with whatever credentials it has for that host.
func (h *Handler) servePackagesJSON(w http.ResponseWriter, r *http.Request) {
	base, ok := h.base(r)
	if !ok {
		http.Error(w, "bad Host header", http.StatusBadRequest)
		return
	}
	u := h.packagesJSONURL()
	doc, err := h.upstream.Document(r.Context(), u)
	if err != nil {
		h.core.Fail(w, r, "the upstream's packages.json", err)
		return
	}
	src, info, err := h.parseRoot(doc.Body)
	if err != nil {
		h.core.Fail(w, r, "the upstream's packages.json", front.Malformed(u, err))
		return
	}
	h.setRoot(info)

	out := object{
		"packages":     json.RawMessage(`{}`),
		"metadata-url": quoteRaw(h.prefix + "/p2/%package%.json"),
	}
	for _, k := range rootStringLists {
		if raw, ok := src[k]; ok && isStringList(raw) {
			out[k] = raw
		}
	}
	if info.searchURL != "" {
		out["search"] = quoteRaw(h.prefix + searchPath + "?q=%query%&type=%type%")
	}
	if info.listURL != "" {
		out["list"] = quoteRaw(h.prefix + listPath)
	}
	if info.providersAPI != "" {
		out["providers-api"] = quoteRaw(h.prefix + "/providers/%package%.json")
	}
	if sa := h.advisoriesConfig(src, info, base); sa != nil {
		out["security-advisories"] = sa
	}
	if f := h.filterConfig(src, info); f != nil {
		out["filter"] = f
	}
	passNotices(src, out)
	if doc.Stale {
		w.Header().Set("X-Sigil-Stale", "upstream unreachable; serving its last packages.json")
	}
	h.core.ServeDocument(w, r, stateKey(h.prefix, "/packages.json"), appendObject(nil, out), contentTypeJSON, "no-cache")
}

func (h *Handler) packagesJSONURL() string {
	u := *h.upstreamURL
	if strings.Contains(u.Path, ".json") { // as Composer's getPackagesJsonUrl
		return u.String()
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/packages.json"
	u.RawPath = ""
	return u.String()
}

// parseRoot parses the upstream's packages.json and learns its URLs.
func (h *Handler) parseRoot(body []byte) (object, *rootInfo, error) {
	src, err := parseDocument(body)
	if err != nil {
		return nil, nil, fmt.Errorf("malformed JSON: %w", err)
	}
	info := &rootInfo{fetched: time.Now()}
	mu, ok := src.stringMember("metadata-url")
	if !ok || !strings.Contains(mu, "%package%") {
		return nil, nil, fmt.Errorf("no metadata-url with %%package%%: the upstream is not a Composer v2 repository")
	}
	if info.metadataURL, ok = h.resolveUpstream(mu); !ok {
		return nil, nil, fmt.Errorf("metadata-url %s is not an http(s) URL", front.QuoteForLog(proxy.RedactURL(mu)))
	}
	if pa, ok := src.stringMember("providers-api"); ok && strings.Contains(pa, "%package%") {
		info.providersAPI, _ = h.resolveUpstream(pa)
	}
	if raw, ok := src["security-advisories"]; ok {
		if sa, err := parseObject(raw); err == nil {
			if api, ok := sa.stringMember("api-url"); ok && api != "" {
				info.advisoriesAPI, _ = h.resolveUpstream(api)
			}
		}
	}
	if s, ok := src.stringMember("search"); ok && strings.Contains(s, "%query%") {
		info.searchURL, _ = h.resolveUpstream(s)
	}
	if s, ok := src.stringMember("list"); ok && s != "" && !strings.Contains(s, "?") {
		info.listURL, _ = h.resolveUpstream(s) // Composer appends "?filter=..."
	}
	if raw, ok := src["filter"]; ok {
		if f, err := parseObject(raw); err == nil {
			if u, ok := f.stringMember("summary-url"); ok && u != "" {
				info.filterSummary, _ = h.resolveUpstream(u)
			}
			if u, ok := f.stringMember("api-url"); ok && u != "" {
				info.filterAPI, _ = h.resolveUpstream(u)
			}
		}
	}
	return src, info, nil
}

// filterConfig is the served "filter" object, or nil: the upstream's
// "metadata" flag and "lists" (names and whether each is enabled, which
// Composer reads and sigil has no reason to change), with sigil's routes
// for the summary and the API. Composer resolves both URLs against the
// repository URL (ComposerRepository::canonicalizeUrl), as metadata-url.
func (h *Handler) filterConfig(src object, info *rootInfo) json.RawMessage {
	raw, ok := src["filter"]
	if !ok {
		return nil
	}
	f, err := parseObject(raw)
	if err != nil {
		return nil
	}
	out := object{}
	if v, ok := f["metadata"]; ok && (rawjson.Kind(v) == 't' || rawjson.Kind(v) == 'f') {
		out["metadata"] = v
	}
	if v, ok := f["lists"]; ok && rawjson.Kind(v) == '{' {
		out["lists"] = v
	}
	if info.filterSummary != "" {
		out["summary-url"] = quoteRaw(h.prefix + filterSummaryPath)
	}
	if info.filterAPI != "" {
		out["api-url"] = quoteRaw(h.prefix + filterAPIPath)
	}
	if len(out) == 0 {
		return nil
	}
	return appendObject(nil, out)
}

// advisoriesConfig is the served "security-advisories" object, or nil.
func (h *Handler) advisoriesConfig(src object, info *rootInfo, base string) json.RawMessage {
	raw, ok := src["security-advisories"]
	if !ok {
		return nil
	}
	sa, err := parseObject(raw)
	if err != nil {
		return nil
	}
	out := object{}
	for _, k := range []string{"metadata", "query-all"} {
		if v, ok := sa[k]; ok && (rawjson.Kind(v) == 't' || rawjson.Kind(v) == 'f') {
			out[k] = v
		}
	}
	if info.advisoriesAPI != "" {
		out["api-url"] = quoteRaw(base + h.prefix + advisoriesPath)
	}
	if len(out) == 0 {
		return nil
	}
	return appendObject(nil, out)
}

// resolveUpstream makes a URL from the upstream's packages.json absolute
// the way Composer does: one starting with "/" is relative to the origin
// of the repository URL; anything else must already be absolute.
func (h *Handler) resolveUpstream(s string) (string, bool) {
	if strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") {
		return h.upstreamURL.Scheme + "://" + h.upstreamURL.Host + s, true
	}
	// The templates' placeholders are not valid URL escapes ("%pa").
	u, err := url.Parse(placeholders.Replace(s))
	if err != nil || !front.IsHTTP(u) {
		return "", false
	}
	return s, true
}

var placeholders = strings.NewReplacer("%package%", "p", "%query%", "q", "%type%", "t", "%hash%", "h")

func (h *Handler) setRoot(info *rootInfo) {
	h.rootMu.Lock()
	h.root = info
	h.rootMu.Unlock()
}

// rootInfo returns what sigil learned from the upstream's packages.json,
// reading it again when it is older than rootTTL. Concurrent callers wait
// for one fetch.
func (h *Handler) rootInfo(ctx context.Context) (*rootInfo, error) {
	h.rootMu.Lock()
	defer h.rootMu.Unlock()
	if h.root != nil && time.Since(h.root.fetched) < rootTTL {
		return h.root, nil
	}
	doc, err := h.upstream.Document(ctx, h.packagesJSONURL())
	if err != nil {
		if h.root != nil {
			return h.root, nil // learned URLs outlive an upstream outage
		}
		return nil, fmt.Errorf("the upstream's packages.json: %w", err)
	}
	_, info, err := h.parseRoot(doc.Body)
	if err != nil {
		if h.root != nil {
			return h.root, nil
		}
		return nil, fmt.Errorf("the upstream's packages.json: %w", front.Malformed(h.packagesJSONURL(), err))
	}
	h.root = info
	return info, nil
}

func isStringList(raw []byte) bool {
	if rawjson.Kind(raw) != '[' {
		return false
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return false
	}
	for _, v := range list {
		if rawjson.Kind(v) != '"' {
			return false
		}
	}
	return true
}

func quoteRaw(s string) json.RawMessage { return rawjson.AppendStringHTML(nil, s) }

// passNotices copies the upstream's own messages for the client, where
// they have the shape Composer 2.5's HttpDownloader::outputWarnings reads
// (a malformed entry would make Composer fail, not print): "warning" and
// "info" strings with optional "-versions" constraints, and "warnings" and
// "infos" lists of {"message", "versions"}.
func passNotices(src, out object) {
	for _, k := range []string{"warning", "warning-versions", "info", "info-versions"} {
		if raw, ok := src[k]; ok && rawjson.Kind(raw) == '"' {
			out[k] = raw
		}
	}
	for _, k := range []string{"warnings", "infos"} {
		raw, ok := src[k]
		if !ok {
			continue
		}
		var list []json.RawMessage
		if rawjson.Kind(raw) != '[' || json.Unmarshal(raw, &list) != nil {
			continue
		}
		var kept []notice
		for _, item := range list {
			o, err := parseObject(item)
			if err != nil {
				continue
			}
			m, ok1 := o.stringMember("message")
			v, ok2 := o.stringMember("versions")
			if ok1 && ok2 && v != "" {
				kept = append(kept, notice{Message: m, Versions: v})
			}
		}
		if len(kept) > 0 {
			out[k] = appendNotices(nil, kept)
		}
	}
}

// notice is one entry of "warnings" or "infos". Composer 2.2+ prints
// Message when its own version matches the Versions constraint.
type notice struct {
	Message  string `json:"message"`
	Versions string `json:"versions"`
}

func appendNotices(b []byte, ns []notice) []byte {
	b = append(b, '[')
	for i, n := range ns {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"message":`...)
		b = rawjson.AppendStringHTML(b, n.Message)
		b = append(b, `,"versions":`...)
		b = rawjson.AppendStringHTML(b, n.Versions)
		b = append(b, '}')
	}
	return append(b, ']')
}
