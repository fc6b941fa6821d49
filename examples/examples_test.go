// Package examples holds files users copy; this test keeps them working.
package examples

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/sigilproxy/sigil/policy"
)

func TestPolicyExampleLoads(t *testing.T) {
	cfg, err := policy.LoadFile("policy.toml")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.For("acme/foo").Unsigned; got != policy.UnsignedDeny {
		t.Errorf("acme/foo unsigned = %q, want deny from the first rule", got)
	}
	if got := cfg.For("legacy/lib").Mode; got != policy.ModeWarn {
		t.Errorf("legacy/lib mode = %q, want warn", got)
	}
}

func TestComposerExampleIsJSON(t *testing.T) {
	data, err := os.ReadFile("composer.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Repositories []map[string]any `json:"repositories"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Repositories) != 2 || v.Repositories[0]["url"] != "http://127.0.0.1:8780/composer" || v.Repositories[1]["packagist"] != false {
		t.Errorf("repositories = %v: want sigil first and the default repository disabled", v.Repositories)
	}
}

// TestPrometheusExampleScrapesMetrics keeps the scrape configuration on
// the route sigil serves its metrics at.
func TestPrometheusExampleScrapesMetrics(t *testing.T) {
	data, err := os.ReadFile("prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"metrics_path: /-/metrics", `"127.0.0.1:8780"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("prometheus.yml lacks %q", want)
		}
	}
}
