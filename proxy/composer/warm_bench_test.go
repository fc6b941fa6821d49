package composer

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
)

// BenchmarkP2_500Versions_8Clients is the warm metadata request of a
// package with 500 versions as clients see it: 8 clients at once, over
// loopback HTTP, through the real Upstream (its document fresh, within
// --metadata-max-age), the real Verifier (no log: unsigned, allowed) and
// the kept rendered document. It reports the latency percentiles. The
// clients run in the same process, on the same CPUs, and Go's client
// costs more than the server: compare with
// BenchmarkStatic_500Versions_8Clients, the same document served as a
// static file. The goal (p99 ≤ 2 ms at 8 connections) is measured by make
// bench, with the load generator on a CPU of its own.
func BenchmarkP2_500Versions_8Clients(b *testing.B) {
	doc, err := json.Marshal(minifiedDoc("acme/big", realisticVersions(500)))
	if err != nil {
		b.Fatal(err)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(doc)
	}))
	defer up.Close()
	upURL, _ := url.Parse(up.URL)
	upstream, v, store := fronttest.Served(b, up.Client())
	h, err := New(Config{UpstreamURL: upURL, Upstream: upstream, Checker: v, Served: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	// The root's metadata-url is the upstream's default, p2/%package%.json.
	up.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/packages.json" {
			w.Write([]byte(`{"packages":[],"metadata-url":"/p2/%package%.json"}`))
			return
		}
		w.Write(doc)
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	benchClients(b, srv.URL+"/composer/p2/acme/big.json")
}

// BenchmarkStatic_500Versions_8Clients serves the upstream document of
// BenchmarkP2_500Versions_8Clients as a static file would be.
func BenchmarkStatic_500Versions_8Clients(b *testing.B) {
	doc, err := json.Marshal(minifiedDoc("acme/big", realisticVersions(500)))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		http.ServeContent(w, r, "", fronttest.ArchiveTime, bytesReader(doc))
	}))
	defer srv.Close()
	benchClients(b, srv.URL+"/p2/acme/big.json")
}

// benchClients makes b.N GET requests of u from 8 clients at once and
// reports the 50th and 99th percentile latency in milliseconds.
func bytesReader(b []byte) io.ReadSeeker { return bytes.NewReader(b) }

func benchClients(b *testing.B, u string) {
	const clients = 8
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	get := func() time.Duration {
		start := time.Now()
		resp, err := c.Get(u)
		if err != nil {
			b.Error(err)
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Errorf("status %d", resp.StatusCode)
		}
		return time.Since(start)
	}
	get() // the cold request: fetch, parse, render
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < b.N; i += clients {
				lat[i] = get()
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
