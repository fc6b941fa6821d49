package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// upstreamTLS is a CA of the test registry's own, as a private registry
// has: sigil trusts it through --upstream-ca; Composer never sees it.
type upstreamTLS struct {
	cert   tls.Certificate // a leaf for 127.0.0.1, signed by the CA
	caFile string          // the CA certificate, PEM
}

func newUpstreamTLS(t *testing.T) *upstreamTLS {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test registry CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"}, // npm's proxy agent verifies only names (TestNPMForward)
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	u := &upstreamTLS{
		cert:   tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key},
		caFile: filepath.Join(t.TempDir(), "registry-ca.pem"),
	}
	writeFile(t, u.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	return u
}

// serve starts an HTTPS server on 127.0.0.1 with the CA's leaf.
func (u *upstreamTLS) serve(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{u.cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// newTLSComposerRegistry is composerRegistry over HTTPS with a CA of its
// own, on two servers: repo, the URL a project names (packages.json and
// metadata), and the archive server, another origin (another port) that
// every dist URL points at, as when a registry's archives live on a code
// host. Both answer every route; each is asked only for its own.
func newTLSComposerRegistry(t *testing.T, u *upstreamTLS) (reg *composerRegistry, repo string) {
	t.Helper()
	reg = &composerRegistry{versions: map[string][]*composerVersion{}, dists: map[string][]byte{}, hits: map[string]int{}}
	reg.srv = u.serve(t, http.HandlerFunc(reg.serve)) // dist URLs are built from reg.srv
	return reg, u.serve(t, http.HandlerFunc(reg.serve)).URL
}

// sigilCA makes sigil's CA and the bundle Composer trusts through it. The
// CA may mint for hosts, by default 127.0.0.1, where the test registry
// listens, and example.test: certs wants a DNS name beside any IP address
// (name constraints without one would leave every DNS name free), and
// example.test resolves nowhere.
func sigilCA(t *testing.T, hosts ...string) (dir, bundle string) {
	t.Helper()
	if len(hosts) == 0 {
		hosts = []string{"example.test", "127.0.0.1"}
	}
	work := t.TempDir()
	dir = filepath.Join(work, "ca")
	args := []string{"ca", "init", "--dir", dir}
	for _, h := range hosts {
		args = append(args, "--host", h)
	}
	sigil(t, work, args...)
	bundle = filepath.Join(work, "bundle.pem")
	sigil(t, work, "ca", "show", "--dir", dir, "--bundle", bundle)
	return dir, bundle
}

// serveForward starts sigil serve in forward mode with the cache in
// cacheDir, and returns it with a function that stops it (so that another
// sigil may open the same cache). The listener keeps serving the mirror.
func (w *world) serveForward(cacheDir, upstream string, flags ...string) (*daemon, func()) {
	w.t.Helper()
	addr := freeAddr(w.t)
	args := append([]string{"serve", "--listen", addr, "--cache-dir", cacheDir,
		"--log", w.log.url(), "--log-key", w.logKey, "--core-key", w.core,
		"--composer-upstream", upstream}, flags...)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, sigilBin(w.t), args...)
	cmd.Env = cleanEnv()
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		w.t.Fatal(err)
	}
	d := &daemon{addr: addr, cmd: cmd, logs: logs}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var stopped atomic.Bool
	stop := func() {
		if stopped.Swap(true) {
			return
		}
		cancel()
		<-exited
		if w.t.Failed() {
			w.t.Logf("sigil serve output:\n%s", logs.String())
		}
	}
	w.t.Cleanup(stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			w.t.Fatalf("sigil serve exited before it served: %v\n%s", err, logs.String())
		default:
		}
		if resp, err := http.Get(d.url() + "/-/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d, stop
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("sigil serve did not answer within 30s:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// composerProject writes a project that requires pkgs from repos (https
// URLs, reached through sigil as HTTPS_PROXY) and nothing else.
func composerProject(t *testing.T, repos []string, require map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	var list []any
	for _, r := range repos {
		list = append(list, map[string]any{"type": "composer", "url": r})
	}
	list = append(list, map[string]any{"packagist": false})
	writeFile(t, filepath.Join(dir, "composer.json"), mustJSON(t, map[string]any{
		"name":              "test/project",
		"repositories":      list,
		"require":           require,
		"minimum-stability": "stable",
	}))
	return dir
}

// composerThrough runs composer args in the project dir with sigil at
// proxyAddr as its HTTPS proxy and bundle (the system roots and sigil's CA,
// not the registry's CA) as its CA file. Every run starts with an empty
// Composer cache and no vendor directory, so every archive comes through
// sigil.
func composerThrough(t *testing.T, dir, proxyAddr, bundle string, args ...string) (string, bool) {
	t.Helper()
	bin := needClient(t, "composer")
	os.RemoveAll(filepath.Join(dir, "vendor"))
	args = append(args, "--no-interaction", "--no-progress", "--no-ansi")
	if args[0] == "update" {
		args = append(args, "--no-audit") // install audits only when asked
	}
	cmd := commandIn(dir, bin, args...)
	var env []string
	for _, kv := range cleanEnv() {
		if k, _, _ := strings.Cut(kv, "="); !strings.EqualFold(k, "https_proxy") && !strings.EqualFold(k, "http_proxy") && !strings.EqualFold(k, "no_proxy") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env,
		"HTTPS_PROXY=http://"+proxyAddr,
		"https_proxy=http://"+proxyAddr,
		"COMPOSER_CAFILE="+bundle,
		"COMPOSER_HOME="+filepath.Join(dir, ".home"),
		"COMPOSER_CACHE_DIR="+t.TempDir(),
		"COMPOSER_ALLOW_SUPERUSER=1",
		"COMPOSER_NO_INTERACTION=1",
		"COMPOSER_DISABLE_XDEBUG_WARN=1",
	)
	out, err := cmd.CombinedOutput()
	t.Logf("composer %s (%v):\n%s", strings.Join(args, " "), err, out)
	return string(out), err == nil
}

// countingListener accepts TCP connections on 127.0.0.1 and counts them:
// a host nothing may reach.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func newCountingListener(t *testing.T) *countingListener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	cl := &countingListener{Listener: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			cl.accepted.Add(1)
			c.Close()
		}
	}()
	return cl
}
