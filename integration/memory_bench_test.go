package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// BenchmarkMetadataPeakRSS: six clients ask at once for six different npm
// packuments of about 60 MB each, a few times over; the metric is sigil's
// peak resident memory (VmHWM from /proc), with the goal of 400 MB.
// Answers are 200 or, past the metadata budget, 503 with Retry-After.
// BENCH_SIGIL_ENV adds environment variables to sigil's (GOMEMLIMIT=...,
// to compare); BENCH_RSS_DETAIL=1 logs the process's Rss lines at the end.
func BenchmarkMetadataPeakRSS(b *testing.B) {
	if os.Getenv("SIGIL_SKIP_E2E") == "1" {
		b.Skip("SIGIL_SKIP_E2E=1")
	}
	const clients, docMB, goalMB = 6, 60, 400
	template := bigPackument(docMB << 20)
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		if strings.Contains(name, "/-/") {
			http.NotFound(w, r)
			return
		}
		body := strings.ReplaceAll(template, "PKGNAME", name)
		body = strings.ReplaceAll(body, "UPSTREAM", srv.URL)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write([]byte(body))
	}))
	b.Cleanup(srv.Close)

	addr := freeAddr(b)
	d := startDaemon(b, addr, "/-/healthz", strings.Fields(os.Getenv("BENCH_SIGIL_ENV")), "serve", "--listen", addr, "--cache-dir", b.TempDir(),
		"--npm-upstream", srv.URL+"/", "--composer-upstream", srv.URL, "--unsigned", "allow",
		"--npm-registry-signatures", "off")
	var ok, busy int
	var mu sync.Mutex
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		for c := range clients {
			wg.Go(func() {
				resp, err := http.Get(fmt.Sprintf("http://%s/npm/big-%d-%d", addr, i, c))
				if err != nil {
					b.Error(err)
					return
				}
				defer resp.Body.Close()
				buf := make([]byte, 64<<10)
				for {
					if _, err := resp.Body.Read(buf); err != nil {
						break
					}
				}
				mu.Lock()
				defer mu.Unlock()
				switch {
				case resp.StatusCode == 200:
					ok++
				case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
					busy++
				default:
					b.Errorf("status %d", resp.StatusCode)
				}
			})
		}
		wg.Wait()
	}
	if os.Getenv("BENCH_RSS_DETAIL") != "" {
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
		for _, l := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(l, "Rss") || strings.HasPrefix(l, "VmHWM") {
				b.Log(l)
			}
		}
	}
	peak := peakRSSMB(b, d.cmd.Process.Pid)
	b.ReportMetric(float64(peak), "peak-RSS-MB")
	b.ReportMetric(float64(busy)/float64(ok+busy), "busy-ratio")
	if ok == 0 {
		b.Errorf("no packument was served (%d answered 503)", busy)
	}
	if peak > goalMB {
		b.Errorf("peak RSS %d MB, goal %d MB", peak, goalMB)
	}
}

// bigPackument is an npm packument of about size bytes, with PKGNAME and
// UPSTREAM for the caller to fill in.
func bigPackument(size int) string {
	var sb strings.Builder
	sb.WriteString(`{"name":"PKGNAME","dist-tags":{"latest":"1.0.0"},"versions":{`)
	desc := strings.Repeat("lorem ipsum dolor sit amet ", 60)
	for i := 0; sb.Len() < size; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		v := fmt.Sprintf("1.%d.%d", i/1000, i%1000)
		if i == 0 {
			v = "1.0.0"
		}
		fmt.Fprintf(&sb, `%q:{"name":"PKGNAME","version":%q,"description":%q,"dependencies":{"left":"^1.0.0","right":"^2.0.0"},`+
			`"dist":{"tarball":"UPSTREAM/PKGNAME/-/PKGNAME-%s.tgz","shasum":"%040d","integrity":"sha512-%086d=="}}`, v, v, desc, v, i, i)
	}
	sb.WriteString(`}}`)
	return sb.String()
}

// peakRSSMB is the peak resident set size of a process, from
// /proc/PID/status (VmHWM), in MB.
func peakRSSMB(b *testing.B, pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return kb / 1024
		}
	}
	b.Fatal("no VmHWM in /proc status")
	return 0
}
