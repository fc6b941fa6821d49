package server

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/transparency-dev/tessera"
)

// witnessGroup builds Tessera's witness policy: threshold of the
// witnesses (0 means all of them) must cosign a checkpoint before it is
// published.
func witnessGroup(ws []Witness, threshold int) (tessera.WitnessGroup, error) {
	if threshold < 0 || threshold > len(ws) {
		return tessera.WitnessGroup{}, fmt.Errorf("witness threshold %d: want 0 (all) to %d, the number of witnesses", threshold, len(ws))
	}
	if threshold == 0 {
		threshold = len(ws)
	}
	seen := map[string]bool{}
	group := tessera.WitnessGroup{N: threshold}
	for _, w := range ws {
		u, err := url.Parse(w.URL)
		if err != nil {
			return tessera.WitnessGroup{}, fmt.Errorf("witness URL %q: %w", w.URL, err)
		}
		tw, err := tessera.NewWitness(w.Key, u)
		if err != nil {
			return tessera.WitnessGroup{}, fmt.Errorf("witness key %q: %w", w.Key, err)
		}
		if seen[tw.URL] {
			return tessera.WitnessGroup{}, fmt.Errorf("witness URL %q is given twice", w.URL)
		}
		seen[tw.URL] = true
		// Components has Tessera's unexported component type, which
		// tessera.Witness implements; append converts.
		group.Components = append(group.Components, tw)
	}
	return group, nil
}

// witnessMonitor remembers how each witness last answered, so that an add
// that times out because checkpoints are not being published can say why.
// It wraps the HTTP client Tessera uses to reach the witnesses.
type witnessMonitor struct {
	client    *http.Client
	threshold int
	names     map[string]string // add-checkpoint URL -> witness key name

	mu   sync.Mutex
	last map[string]string // add-checkpoint URL -> last outcome
}

func newWitnessMonitor(base *http.Client, ws []Witness, threshold int) *witnessMonitor {
	m := &witnessMonitor{threshold: threshold, names: map[string]string{}, last: map[string]string{}}
	for _, w := range ws {
		u, err := url.Parse(w.URL)
		if err != nil {
			continue
		}
		name, _, _ := strings.Cut(w.Key, "+")
		m.names[u.JoinPath("/add-checkpoint").String()] = name
	}
	c := *base
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(r)
		key := r.URL.String()
		switch {
		case err != nil:
			m.record(key, err.Error())
		case resp.StatusCode == http.StatusOK:
			m.record(key, "")
		case resp.StatusCode == http.StatusConflict && resp.Header.Get("Content-Type") == "text/x.tlog.size":
			// The witness knows a later size than Tessera assumed (it
			// cosigned a checkpoint that was then not published); Tessera
			// asks again from that size. Not a failure.
		default:
			m.record(key, resp.Status)
		}
		return resp, err
	})
	m.client = &c
	return m
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (m *witnessMonitor) record(url, outcome string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last[url] = outcome
}

// hint explains, in a clause that starts with "; ", which witnesses failed
// at their last request, or returns "" when no witness is configured.
func (m *witnessMonitor) hint() string {
	if len(m.names) == 0 {
		return ""
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var failed []string
	for u, name := range m.names {
		outcome, asked := m.last[u]
		switch {
		case !asked:
			failed = append(failed, fmt.Sprintf("%s (%s): not reached yet", name, u))
		case outcome != "":
			failed = append(failed, fmt.Sprintf("%s (%s): %s", name, u, outcome))
		}
	}
	slices.Sort(failed)
	if len(failed) == 0 {
		return fmt.Sprintf("; the witness policy needs %d of %d cosignatures and every witness answered its last request", m.threshold, len(m.names))
	}
	return fmt.Sprintf("; the witness policy needs %d of %d cosignatures, and these witnesses failed: %s", m.threshold, len(m.names), strings.Join(failed, "; "))
}
