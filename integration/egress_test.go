package integration

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// distRegistry is a Composer repository whose packages' dist URLs are
// whatever the test says: a registry that tries to turn sigil against the
// network it runs in.
type distRegistry struct {
	srv   *httptest.Server
	dists map[string]string // package → dist URL
}

func newDistRegistry(t *testing.T, dists map[string]string) *distRegistry {
	r := &distRegistry{dists: dists}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		p := req.URL.Path
		switch {
		case p == "/packages.json":
			json.NewEncoder(w).Encode(map[string]any{"packages": []any{}, "metadata-url": "/p2/%package%.json"})
		case strings.HasPrefix(p, "/redirect/"):
			// A redirect on the upstream itself, to wherever the query
			// says.
			http.Redirect(w, req, req.URL.Query().Get("to"), http.StatusFound)
		case strings.HasPrefix(p, "/p2/") && strings.HasSuffix(p, ".json"):
			name := strings.TrimSuffix(strings.TrimPrefix(p, "/p2/"), ".json")
			u, ok := r.dists[name]
			if !ok {
				http.NotFound(w, req)
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"packages": map[string]any{name: []any{map[string]any{
				"name": name, "version": "v1.0.0", "type": "library",
				"dist": map[string]any{"type": "zip", "url": u, "reference": strings.Repeat("ab", 20)},
			}}}})
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// archiveThroughSigil asks sigil for pkg's metadata, then for the archive
// its metadata names, and returns the archive's status and body.
func archiveThroughSigil(t *testing.T, sigilURL, pkg string) (int, string) {
	t.Helper()
	resp, err := http.Get(sigilURL + "/composer/p2/" + pkg + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Packages map[string][]struct {
			Dist struct{ URL string } `json:"dist"`
		} `json:"packages"`
	}
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || len(doc.Packages[pkg]) != 1 {
		t.Fatalf("%s: metadata through sigil: %v %+v", pkg, err, doc)
	}
	resp, err = http.Get(doc.Packages[pkg][0].Dist.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetadataCannotMakeSigilFetchInternalURLs: dist URLs naming internal
// services, in every spelling, are refused before any connection, in warn
// mode as in enforce, with the same answer for an open and a closed port.
func TestMetadataCannotMakeSigilFetchInternalURLs(t *testing.T) {
	var hits atomic.Int64
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "INTERNAL SECRET")
	}))
	defer internal.Close()
	_, port, _ := net.SplitHostPort(internal.Listener.Addr().String())
	closed := freeAddr(t) // nothing listens there
	sigilAddr := freeAddr(t)

	dists := map[string]string{
		"x/open":      internal.URL + "/a.zip",
		"x/closed":    "http://" + closed + "/a.zip",
		"x/loop2":     "http://127.0.0.2:" + port + "/a.zip",
		"x/localhost": "http://localhost:" + port + "/a.zip",
		"x/mapped":    "http://[::ffff:127.0.0.1]:" + port + "/a.zip",
		"x/decimal":   "http://2130706433:" + port + "/a.zip",
		"x/octal":     "http://0177.0.0.1:" + port + "/a.zip",
		"x/metadata":  "http://169.254.169.254/latest/meta-data/",
		"x/self":      "http://" + sigilAddr + "/composer/p2/x/self.json",
		"x/healthz":   "http://" + sigilAddr + "/-/healthz",
	}
	reg := newDistRegistry(t, dists)
	dists["x/redirect"] = reg.srv.URL + "/redirect/?to=" + internal.URL + "/a.zip"

	for _, mode := range []string{"enforce", "warn"} {
		t.Run(mode, func(t *testing.T) {
			addr := sigilAddr
			if mode == "warn" {
				addr = freeAddr(t)
				dists["x/self"] = "http://" + addr + "/composer/p2/x/self.json"
				dists["x/healthz"] = "http://" + addr + "/-/healthz"
			}
			d := startDaemon(t, addr, "/-/healthz", nil, "serve", "--listen", addr, "--cache-dir", t.TempDir(),
				"--mode", mode, "--unsigned", "allow", "--composer-upstream", reg.srv.URL)
			answers := map[string]string{}
			for pkg := range dists {
				status, body := archiveThroughSigil(t, d.url(), pkg)
				if status != http.StatusGone || !strings.Contains(body, "sigil does not fetch from") {
					t.Errorf("%s (%s): %d %s; want 410 and the refusal", pkg, dists[pkg], status, body)
				}
				if strings.Contains(body, "INTERNAL SECRET") {
					t.Errorf("%s: the internal service's answer reached the client: %s", pkg, body)
				}
				answers[pkg] = body
			}
			for pkg, rule := range map[string]string{
				"x/loop2": "loopback", "x/mapped": "loopback", "x/open": "loopback", "x/metadata": "link-local",
				"x/decimal": "non-standard form", "x/octal": "non-standard form", "x/localhost": "not a configured upstream",
				"x/self": "sigil itself", "x/healthz": "sigil itself", "x/redirect": "loopback",
			} {
				if !strings.Contains(answers[pkg], rule) {
					t.Errorf("%s: %s; want the rule %q", pkg, answers[pkg], rule)
				}
			}
			// The port scanner: an open and a closed port read alike.
			open := strings.NewReplacer(port, "PORT", "x/open", "PKG").Replace(answers["x/open"])
			_, closedPort, _ := net.SplitHostPort(closed)
			if shut := strings.NewReplacer(closedPort, "PORT", "x/closed", "PKG").Replace(answers["x/closed"]); open != shut {
				t.Errorf("open port answers\n%s\nclosed port answers\n%s", open, shut)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the internal service was reached %d times", n)
	}
}
