package integration

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestSharedMirrorTokens: a mirror started with --auth-tokens serves real
// Composer and real npm that send a token the way they send any registry
// credential, refuses them without one (and says so), and keeps its health
// check open.
func TestSharedMirrorTokens(t *testing.T) {
	needClient(t, "composer")
	needClient(t, "npm")
	creg := newComposerRegistry(t)
	creg.add(t, &composerVersion{Name: "free/pkg", Version: "v1.0.0", Files: map[string]string{"src/Free.php": "<?php\n"}})
	nreg := newNPMRegistry(t)
	nreg.add(t, &npmVersion{Name: "free-pkg", Version: "1.0.0", Files: map[string]string{"index.js": "module.exports = 1\n"}})

	tokens := filepath.Join(t.TempDir(), "tokens")
	token := strings.TrimSpace(sigil(t, t.TempDir(), "token", "add", "--file", tokens, "--name", "ci"))
	d := startServe(t, "--composer-upstream", creg.url(), "--npm-upstream", nreg.url(), "--auth-tokens", tokens)
	if strings.Contains(d.logs.String(), "anyone who can reach this port") {
		t.Errorf("a guarded mirror warned that it is open:\n%s", d.logs.String())
	}
	// startServe waited for /-/healthz: it is open. Nothing else is.
	resp, err := http.Get(d.url() + "/composer/packages.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("packages.json without a token: %d, want 401", resp.StatusCode)
	}

	host := d.addr
	require := map[string]string{"free/pkg": "^1.0"}
	t.Run("composer without a token", func(t *testing.T) {
		dir, out, ok := composerRun(t, d.url(), require)
		if ok || installed(t, dir, "free/pkg", "src/Free.php") != "" {
			t.Fatalf("installed without a token:\n%s", out)
		}
		// Composer wraps its message: assert words that stay whole.
		wantAll(t, out, "/composer/packages.json", "(HTTP 401)", "interactive console")
	})
	t.Run("composer with a wrong token", func(t *testing.T) {
		_, out, ok := composerRunWith(t, d.url(), require, []byte(`{"bearer":{"`+host+`":"sigil_wrong"}}`))
		if ok {
			t.Fatalf("installed with a wrong token:\n%s", out)
		}
		wantAll(t, out, "/composer/packages.json", "(HTTP 401)")
	})
	t.Run("composer bearer", func(t *testing.T) {
		dir, out, ok := composerRunWith(t, d.url(), require, []byte(`{"bearer":{"`+host+`":"`+token+`"}}`))
		if !ok || installed(t, dir, "free/pkg", "src/Free.php") == "" {
			t.Fatalf("did not install with a bearer token:\n%s", out)
		}
	})
	t.Run("composer http-basic", func(t *testing.T) {
		dir, out, ok := composerRunWith(t, d.url(), require,
			[]byte(`{"http-basic":{"`+host+`":{"username":"anyone","password":"`+token+`"}}}`))
		if !ok || installed(t, dir, "free/pkg", "src/Free.php") == "" {
			t.Fatalf("did not install with http-basic:\n%s", out)
		}
	})

	registry := d.url() + "/npm/"
	deps := map[string]string{"free-pkg": "^1.0.0"}
	t.Run("npm without a token", func(t *testing.T) {
		dir, out, ok := npmRun(t, registry, deps)
		if ok || npmInstalled(t, dir, "free-pkg") != "" {
			t.Fatalf("installed without a token:\n%s", out)
		}
		wantAll(t, out, "E401", "Unable to authenticate")
	})
	t.Run("npm _authToken", func(t *testing.T) {
		rc := "//" + host + "/npm/:_authToken=" + token + "\n"
		dir, out, ok := npmRunRC(t, registry, rc, deps)
		if !ok || npmInstalled(t, dir, "free-pkg") != "1.0.0" {
			t.Fatalf("did not install with _authToken:\n%s", out)
		}
	})
}

// TestOpenMirrorWarns: without tokens, a listener beyond loopback says at
// start that anyone who reaches it can use the mirror; on loopback it is
// quiet.
func TestOpenMirrorWarns(t *testing.T) {
	reg := newComposerRegistry(t)
	quiet := startServe(t, "--composer-upstream", reg.url())
	if strings.Contains(quiet.logs.String(), "anyone who can reach") {
		t.Errorf("loopback listener warned:\n%s", quiet.logs.String())
	}
	_, port, _ := strings.Cut(freeAddr(t), ":")
	addr := "0.0.0.0:" + port
	d := startDaemon(t, "127.0.0.1:"+port, "/-/healthz", nil,
		"serve", "--listen", addr, "--cache-dir", t.TempDir(), "--composer-upstream", reg.url())
	wantAll(t, d.logs.String(), "without --auth-tokens: anyone who can reach this port can use the mirror")
}

// TestForwardTokens: through forward mode, a guarded sigil takes the token
// from the proxy URL (Proxy-Authorization) and refuses a client without
// one with 407.
func TestForwardTokens(t *testing.T) {
	needClient(t, "npm")
	w := newWorld(t)
	registry := newUpstreamTLS(t)
	reg := &npmRegistry{versions: map[string][]*npmVersion{}, tarballs: map[string][]byte{}}
	reg.srv = registry.serve(t, http.HandlerFunc(reg.serve))
	reg.srv.URL = strings.Replace(reg.srv.URL, "127.0.0.1", "localhost", 1)
	caDir, bundle := sigilCA(t, "localhost")
	reg.add(t, &npmVersion{Name: "free-pkg", Version: "1.0.0", Files: map[string]string{"index.js": "module.exports = 1\n"}})

	tokens := filepath.Join(t.TempDir(), "tokens")
	token := strings.TrimSpace(sigil(t, t.TempDir(), "token", "add", "--file", tokens, "--name", "ci"))
	d, _ := w.serveForward(t.TempDir(), "http://127.0.0.1:1", "--npm-upstream", reg.url(),
		"--ca-dir", caDir, "--upstream-ca", registry.caFile, "--auth-tokens", tokens)
	run := func(t *testing.T, proxy string) (string, string, bool) {
		return npmRun(t, reg.url(), map[string]string{"free-pkg": "^1.0.0"}, "HTTPS_PROXY="+proxy, "https_proxy="+proxy,
			"NO_PROXY=", "no_proxy=", "npm_config_cafile="+bundle, "NODE_EXTRA_CA_CERTS="+filepath.Join(caDir, "ca.pem"),
			"npm_config_fetch_retries=0")
	}
	t.Run("without a token", func(t *testing.T) {
		dir, out, ok := run(t, "http://"+d.addr)
		if ok || npmInstalled(t, dir, "free-pkg") != "" {
			t.Fatalf("installed through a guarded forward proxy without a token:\n%s", out)
		}
		wantAll(t, out, "407")
	})
	t.Run("token in the proxy URL", func(t *testing.T) {
		dir, out, ok := run(t, "http://ci:"+token+"@"+d.addr)
		if !ok || npmInstalled(t, dir, "free-pkg") != "1.0.0" {
			t.Fatalf("did not install with the token in the proxy URL:\n%s", out)
		}
	})
}
