package forward

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sigilproxy/sigil/proxy"
)

// requestCounts reads sigil_requests_total from reg: "front code" → count.
func requestCounts(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "sigil_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out[labels["front"]+" "+labels["code"]] += m.GetCounter().GetValue()
		}
	}
	return out
}

// Tunnels and refusals are counted under the front "forward", inside
// intercepted connections too; what a front answers is left to the front.
func TestProxyAnswersCounted(t *testing.T) {
	tlsHost := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "other") }))
	t.Cleanup(tlsHost.Close)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "plain") }))
	t.Cleanup(plain.Close)
	reg := prometheus.NewRegistry()
	r := newRig(t, rigOptions{
		allow:   []string{strings.TrimPrefix(tlsHost.URL, "https://"), strings.TrimPrefix(plain.URL, "http://")},
		metrics: proxy.NewMetrics(reg),
	})

	// Answered by the front: not the Proxy's to count.
	if resp, _ := r.get(r.reg.meta.URL + "/packages.json"); resp.StatusCode != 200 {
		t.Fatalf("packages.json: %d", resp.StatusCode)
	}
	if got := requestCounts(t, reg); len(got) != 0 {
		t.Fatalf("after an intercepted request answered by the front: %v", got)
	}

	// Refusals: a CONNECT and a plain request to an unknown host, and an
	// archive URL no metadata named, inside an intercepted connection.
	if resp, _, _ := r.connect("unknown.example.test:443"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("CONNECT: %d", resp.StatusCode)
	}
	if resp, _ := r.get("http://unknown.example.test/x"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("plain GET: %d", resp.StatusCode)
	}
	if resp, _ := r.get(r.reg.distURL("1.0.0")); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unlearned archive: %d", resp.StatusCode)
	}
	// Tunnels: CONNECT and plain, to allowed hosts.
	resp, err := r.client(tlsHost.Certificate()).Get(tlsHost.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp, body := r.get(plain.URL + "/x"); resp.StatusCode != 200 || body != "plain" {
		t.Errorf("plain tunnel: %d %s", resp.StatusCode, body)
	}

	want := map[string]float64{"forward 4xx": 3, "forward 2xx": 2}
	got := requestCounts(t, reg)
	if len(got) != len(want) {
		t.Errorf("counts %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

func TestNonProxyOnlyCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := NonProxyOnly(http.NotFoundHandler(), testLogger(t), proxy.NewMetrics(reg))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodConnect, "http://example.test:443", nil))
	if w.Code != http.StatusForbidden {
		t.Fatalf("CONNECT: %d", w.Code)
	}
	if got := requestCounts(t, reg); got["forward 4xx"] != 1 || len(got) != 1 {
		t.Errorf("counts %v: want one forward 4xx", got)
	}
}
