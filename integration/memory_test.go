package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The archive path holds no buffer per reader: 100 concurrent downloads
// of a cached 50 MiB archive, four times over in one process, keep sigil's
// peak RSS under 150 MB. The bytes come from Badger's memory-mapped value
// log, whose pages the kernel shares between readers (and counts once in
// RSS); a 1 MiB buffer per reader would add 100 MB.
func TestArchiveServingMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 20 GB over loopback")
	}
	const (
		archiveMiB = 50
		clients    = 100
		rounds     = 4
		maxPeakMB  = 150
	)
	_, up := staticUpstream(t, 1, archiveMiB)
	via, d := sigilServeDaemon(t, up)
	dist := distURL(t, via+"/p2/acme/big.json")
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	size := get(t, c, dist) // cold: downloaded, verified, stored
	pid := d.cmd.Process.Pid
	t.Logf("after the cold download: peak RSS %d MB (now %s)", peakRSS(t, pid)>>20, rssLine(t, pid))
	// Measure serving from the cache alone: reset the peak.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Fatalf("resetting the peak RSS: %v", err)
	}
	for r := range rounds {
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for range clients {
			wg.Go(func() {
				resp, err := c.Get(dist)
				if err != nil {
					errs <- err
					return
				}
				defer resp.Body.Close()
				n, err := io.Copy(io.Discard, resp.Body)
				if err == nil && (resp.StatusCode != 200 || n != size) {
					err = fmt.Errorf("GET %s: %s, %d bytes of %d", dist, resp.Status, n, size)
				}
				if err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		t.Logf("round %d: peak RSS %d MB (now %s)", r+1, peakRSS(t, pid)>>20, rssLine(t, pid))
	}
	if peak := peakRSS(t, pid); peak > maxPeakMB<<20 {
		t.Errorf("%d concurrent downloads of a cached %d MiB archive, %d times: peak RSS %d MB, want at most %d MB",
			clients, archiveMiB, rounds, peak>>20, maxPeakMB)
	}
}

// distURL returns the dist URL of the first version in a Composer p2
// document.
func distURL(t testing.TB, p2 string) string {
	t.Helper()
	resp, err := http.Get(p2)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Packages map[string][]struct {
			Dist struct{ URL string } `json:"dist"`
		} `json:"packages"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("GET %s: %v", p2, err)
	}
	for _, versions := range doc.Packages {
		if len(versions) > 0 {
			return versions[0].Dist.URL
		}
	}
	t.Fatalf("GET %s: no version", p2)
	return ""
}

// rssLine says what the resident memory of pid is made of, for the log.
func rssLine(t testing.TB, pid int) string {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for line := range strings.Lines(string(status)) {
		for _, k := range []string{"VmRSS:", "RssAnon:", "RssFile:", "RssShmem:"} {
			if v, ok := strings.CutPrefix(line, k); ok {
				out = append(out, k+" "+strings.TrimSpace(v))
			}
		}
	}
	return strings.Join(out, ", ")
}

// peakRSS reads VmHWM, the peak resident set size, of process pid.
func peakRSS(t testing.TB, pid int) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmHWM:")); ok {
			kb, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}
