package integration

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// composerRegistry is a Composer repository (protocol v2) served from the
// test on 127.0.0.1: packages.json, /p2/ metadata and dist zips, all of which
// a test can change to play a compromised registry, or take down.
type composerRegistry struct {
	srv  *httptest.Server
	down atomic.Bool
	// hold, when set, makes every dist request wait until it is closed,
	// after sending its path on held.
	hold atomic.Pointer[chan struct{}]
	held chan string

	mu       sync.Mutex
	versions map[string][]*composerVersion // package → versions
	dists    map[string][]byte             // dist path → bytes
	hits     map[string]int
	// rootExtra and p2Extra are more top-level members of packages.json
	// and of every p2 document.
	rootExtra, p2Extra map[string]any
	// searchAgents are the User-Agents of the requests for /search.json
	// (a search API, when rootExtra names it).
	searchAgents []string
}

type composerVersion struct {
	Name    string
	Version string
	Require map[string]string
	Files   map[string]string // the archive's files, without the top directory
	Ref     string
	// DistRef, when set, is the dist.reference the metadata claims instead
	// of Ref (a registry that swaps it).
	DistRef string
	// SourceURL is the git URL the metadata names (default: a closed
	// port); Meta are more members of the version's metadata, which the
	// archive's composer.json does not have.
	SourceURL string
	Meta      map[string]any
}

func newComposerRegistry(t *testing.T) *composerRegistry {
	r := &composerRegistry{versions: map[string][]*composerVersion{}, dists: map[string][]byte{}, hits: map[string]int{}, held: make(chan string, 16)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *composerRegistry) url() string { return r.srv.URL }

// add publishes a version and returns its dist zip (what a vendor signs).
func (r *composerRegistry) add(t *testing.T, v *composerVersion) []byte {
	t.Helper()
	if v.Ref == "" {
		v.Ref = strings.Repeat("ab", 20)
	}
	files := map[string]string{}
	for k, s := range v.Files {
		files[k] = s
	}
	cj, _ := json.Marshal(map[string]any{"name": v.Name, "require": v.Require})
	files["composer.json"] = string(cj)
	zip := zipTree(t, strings.ReplaceAll(v.Name, "/", "-")+"-"+v.Ref[:7], files)
	r.addArchive(v, zip)
	return zip
}

// addArchive publishes a version whose dist is zip, as made from the
// vendor's tag.
func (r *composerRegistry) addArchive(v *composerVersion, zip []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.versions[v.Name] = append(r.versions[v.Name], v)
	r.dists[distPath(v)] = zip
}

// tamper replaces the bytes the registry serves for a version's dist.
func (r *composerRegistry) tamper(v *composerVersion, zip []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dists[distPath(v)] = zip
}

// swapDistRef makes the metadata claim another dist.reference for a
// version, leaving the archive and source as they are.
func (r *composerRegistry) swapDistRef(v *composerVersion, ref string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v.DistRef = ref
}

// setRequire changes the dependencies the metadata claims for a version,
// leaving the archive as it is.
func (r *composerRegistry) setRequire(v *composerVersion, req map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v.Require = req
}

func distPath(v *composerVersion) string {
	return "/dist/" + v.Name + "/" + v.Version + ".zip"
}

func (r *composerRegistry) hitsFor(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits[path]
}

func (r *composerRegistry) serve(w http.ResponseWriter, req *http.Request) {
	if r.down.Load() {
		http.Error(w, "registry is down", http.StatusServiceUnavailable)
		return
	}
	if h := r.hold.Load(); h != nil && strings.HasPrefix(req.URL.Path, "/dist/") {
		r.held <- req.URL.Path
		<-*h
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hits[req.URL.Path]++
	switch {
	case req.URL.Path == "/packages.json":
		root := map[string]any{
			"packages":     []any{},
			"metadata-url": "/p2/%package%.json",
		}
		for k, v := range r.rootExtra {
			root[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(root)
	case strings.HasPrefix(req.URL.Path, "/p2/") && strings.HasSuffix(req.URL.Path, ".json"):
		name := strings.TrimSuffix(strings.TrimPrefix(req.URL.Path, "/p2/"), ".json")
		if strings.HasSuffix(name, "~dev") {
			// No dev versions here; Composer takes an empty list.
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"packages": map[string]any{}})
			return
		}
		vs, ok := r.versions[name]
		if !ok {
			http.NotFound(w, req)
			return
		}
		var list []map[string]any
		for _, v := range vs {
			distRef := v.Ref
			if v.DistRef != "" {
				distRef = v.DistRef
			}
			src := v.SourceURL
			if src == "" {
				src = "http://127.0.0.1:9/" + v.Name + ".git"
			}
			entry := map[string]any{
				"name":    v.Name,
				"version": v.Version,
				"dist":    map[string]any{"type": "zip", "url": r.srv.URL + distPath(v), "reference": distRef, "shasum": ""},
				"source":  map[string]any{"type": "git", "url": src, "reference": v.Ref},
				"type":    "library",
			}
			for k, val := range v.Meta {
				entry[k] = val
			}
			if len(v.Require) > 0 {
				entry["require"] = v.Require
			}
			list = append(list, entry)
		}
		doc := map[string]any{"packages": map[string]any{name: list}}
		for k, v := range r.p2Extra {
			doc[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(doc)
	case req.URL.Path == "/search.json":
		// Every package whose name contains the query, as a search API
		// answers.
		r.searchAgents = append(r.searchAgents, req.UserAgent())
		results := []any{}
		for _, name := range sortedKeys(r.packageNames()) {
			if strings.Contains(name, req.URL.Query().Get("q")) {
				results = append(results, map[string]any{"name": name, "description": "the " + name + " package", "url": r.srv.URL + "/packages/" + name})
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"results": results, "total": len(results)})
	case strings.HasPrefix(req.URL.Path, "/dist/"):
		data, ok := r.dists[req.URL.Path]
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Content-Type", "application/zip")
		w.Write(data)
	default:
		http.NotFound(w, req)
	}
}

// packageNames is the set of published package names. r.mu is held.
func (r *composerRegistry) packageNames() map[string]string {
	names := map[string]string{}
	for name := range r.versions {
		names[name] = name
	}
	return names
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
