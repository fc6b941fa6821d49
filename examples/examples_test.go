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

// TestSystemdExampleTokens keeps the service example working as shipped:
// it listens beyond loopback, so tokens are on, and the token file is one
// the service's user owns (sigil refuses one that group or others may
// write, and a DynamicUser= could not read a file 'sigil token add' made).
func TestSystemdExampleTokens(t *testing.T) {
	unit := settings(t, "systemd/sigil.service")
	env := settings(t, "systemd/sigil.env")
	if unit["DynamicUser"] != "" {
		t.Errorf("sigil.service has DynamicUser=%s: it could not read a token file that the operator made", unit["DynamicUser"])
	}
	user := unit["User"]
	if user == "" || unit["StateDirectory"] == "" {
		t.Fatalf("sigil.service: User=%q StateDirectory=%q: want a static user and its state directory", user, unit["StateDirectory"])
	}
	tokens := env["SIGIL_AUTH_TOKENS"]
	if !strings.HasPrefix(env["SIGIL_LISTEN"], "127.0.0.1:") && tokens == "" {
		t.Fatalf("sigil.env listens on %s without SIGIL_AUTH_TOKENS", env["SIGIL_LISTEN"])
	}
	if want := "/var/lib/" + unit["StateDirectory"] + "/"; !strings.HasPrefix(tokens, want) {
		t.Errorf("SIGIL_AUTH_TOKENS=%s is not in the service's state directory %s", tokens, want)
	}
	// The instructions make the file as the service's user, at that path.
	add := "sudo -u " + user + " sigil token add --file " + tokens + " "
	for _, f := range []string{"systemd/sigil.service", "systemd/sigil.env"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), add) {
			t.Errorf("%s does not say to run %q", f, add)
		}
	}
}

// settings reads the NAME=VALUE lines of a unit or environment file,
// comments and sections left out.
func settings(t *testing.T, file string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	return out
}
