package egress

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// fakeResolver answers every name from a table; other names do not exist.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// noDNS fails a test that resolves anything: the URL-level check must
// refuse before.
type noDNS struct{ t *testing.T }

func (r noDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.t.Errorf("resolved %q: a refusal must not need DNS", host)
	return nil, errors.New("no DNS in this test")
}

// countingServer is an httptest server that counts the connections made
// to it: a refused fetch must make none.
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func ok(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "internal secret") }

func mustPolicy(t *testing.T, cfg Config) *Policy {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func wantRefused(t *testing.T, err error, rule string) *Refused {
	t.Helper()
	var r *Refused
	if !errors.As(err, &r) {
		t.Fatalf("err = %v, want a *Refused", err)
	}
	if !strings.Contains(r.Rule, rule) {
		t.Fatalf("rule = %q, want it to say %q", r.Rule, rule)
	}
	return r
}

func TestCheckURL(t *testing.T) {
	p := mustPolicy(t, Config{
		Named:        []string{"127.0.0.1:8081", "registry.internal", "[::1]:9000"},
		Conventional: []string{"code.example"},
		Self:         []string{"127.0.0.1:8780", "mirror.example:443"},
		Resolver:     noDNS{t},
	})
	refused := map[string]string{
		"http://127.0.0.1:8082/":              "loopback",
		"http://127.0.0.2:8081/":              "loopback",
		"http://localhost:8081/":              "not a configured upstream",
		"http://[::ffff:127.0.0.1]:8082/":     "loopback",
		"http://[::ffff:7f00:1]:8082/":        "loopback",
		"http://[::127.0.0.1]:8082/":          "loopback",
		"http://[64:ff9b::7f00:1]/":           "loopback",
		"http://[::1]:9001/":                  "loopback",
		"http://2130706433:8081/":             "non-standard form (it means 127.0.0.1)",
		"http://0177.0.0.1:8081/":             "non-standard form (it means 127.0.0.1)",
		"http://0x7f.0.0.1:8081/":             "non-standard form (it means 127.0.0.1)",
		"http://0x7f000001:8081/":             "non-standard form (it means 127.0.0.1)",
		"http://127.1:8081/":                  "non-standard form (it means 127.0.0.1)",
		"http://127.0.0.1.:8081/":             "non-standard form (it means 127.0.0.1)",
		"http://017700000001/":                "non-standard form (it means 127.0.0.1)",
		"http://169.254.169.254/latest/":      "link-local",
		"http://[fe80::1]/":                   "link-local",
		"http://10.0.0.1/":                    "private",
		"http://192.168.1.1/":                 "private",
		"http://172.16.0.1/":                  "private",
		"http://[fd00::1]/":                   "private",
		"http://100.64.0.1/":                  "CGNAT",
		"http://239.1.1.1/":                   "multicast",
		"http://[ff02::1]/":                   "link-local",
		"http://0.0.0.0:8081/":                "unspecified",
		"http://[::]:8081/":                   "unspecified",
		"http://255.255.255.255/":             "reserved",
		"http://127.0.0.1:8780/composer/x":    "sigil itself",
		"https://mirror.example/npm/x.tgz":    "sigil itself",
		"https://MIRROR.example./npm/x.tgz":   "sigil itself",
		"http://other.example/x.zip":          "not a configured upstream",
		"https://code.example:8443/x.zip":     "not a configured upstream",
		"https://registry.internal:444/":      "not a configured upstream",
		"ftp://code.example/x.zip":            "only http and https",
		"file:///etc/passwd":                  "only http and https",
		"http://[fe80::1%25eth0]:8081/":       "zone",
		"https://8.8.8.8/":                    "not a configured upstream",
		"https://code.example:0/":             "not a port number",
		"http://127.0.0.1:8081.evil.example/": "not a port number",
	}
	for raw, rule := range refused {
		u, err := url.Parse(raw)
		if err != nil {
			continue // Go's own parser refuses it: it cannot be fetched either
		}
		r := wantRefused(t, p.CheckURL(u), rule)
		if r.Host == "" {
			t.Errorf("%s: refusal names no host", raw)
		}
	}
	for _, raw := range []string{
		"http://127.0.0.1:8081/p2/a/b.json", // the named loopback upstream, exactly
		"https://registry.internal/x",       // HOST: port 443
		"http://registry.internal/x",        // and 80
		"http://REGISTRY.internal./x",
		"http://[::1]:9000/",
		"https://code.example/x.zip",
		"http://code.example/x.zip",
	} {
		u, _ := url.Parse(raw)
		if err := p.CheckURL(u); err != nil {
			t.Errorf("%s: %v, want allowed", raw, err)
		}
	}
}

func TestParseLooseIPv4(t *testing.T) {
	for in, want := range map[string]string{
		"2130706433": "127.0.0.1", "0177.0.0.1": "127.0.0.1", "0x7f.0.0.1": "127.0.0.1",
		"127.1": "127.0.0.1", "10.1.2": "10.1.0.2", "0xA9.0xFE.0xA9.0xFE": "169.254.169.254",
		"0": "0.0.0.0", "0x": "0.0.0.0",
	} {
		a, ok := parseLooseIPv4(in)
		if !ok || a.String() != want {
			t.Errorf("parseLooseIPv4(%q) = %v, %v; want %s", in, a, ok, want)
		}
	}
	for _, in := range []string{"", "1.2.3.4.5", "256.1.1.1", "1.2.3.256", "08.1.1.1", "1..2", "a.b", "example.com", "4294967296", "+1.2.3.4", "1_0.1.1.1"} {
		if a, ok := parseLooseIPv4(in); ok {
			t.Errorf("parseLooseIPv4(%q) = %v, want not an address", in, a)
		}
	}
}

func TestParseHost(t *testing.T) {
	got, err := ParseHost("Files.Example.")
	if err != nil || len(got) != 2 || got[0] != "files.example:443" || got[1] != "files.example:80" {
		t.Errorf("ParseHost = %v, %v", got, err)
	}
	got, err = ParseHost("[::ffff:10.0.0.1]:8080")
	if err != nil || len(got) != 1 || got[0] != "10.0.0.1:8080" {
		t.Errorf("ParseHost = %v, %v", got, err)
	}
	for _, bad := range []string{"", "https://files.example", "files.example/x", "*.example", "a@b", "0177.0.0.1", "files.example:http", "files.example:70000"} {
		if _, err := ParseHost(bad); err == nil {
			t.Errorf("ParseHost(%q) accepted", bad)
		}
	}
}

// A refused fetch makes no connection, so it answers the same whether a
// service listens at the address or not: no port scanner.
func TestRefusalSameForOpenAndClosedPort(t *testing.T) {
	open, conns := countingServer(t, http.HandlerFunc(ok))
	closedLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := closedLn.Addr().String()
	closedLn.Close()

	p := mustPolicy(t, Config{Named: []string{"127.0.0.1:1"}})
	c := p.Client()
	var rules []string
	for _, target := range []string{open.URL, "http://" + closed} {
		resp, err := c.Get(target + "/")
		if err == nil {
			resp.Body.Close()
			t.Fatalf("GET %s: %s, want refused", target, resp.Status)
		}
		if strings.Contains(err.Error(), "refused") && !strings.Contains(err.Error(), "does not fetch") {
			t.Errorf("GET %s: %v: the error tells a closed port", target, err)
		}
		rules = append(rules, wantRefused(t, err, "loopback").Rule)
	}
	if rules[0] != rules[1] {
		t.Errorf("open port: %q; closed port: %q: they must read the same", rules[0], rules[1])
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("%d connections reached the refused service", n)
	}
}

// A name the policy allows by convention but that resolves to loopback
// (a hostile DNS answer, rebinding) is refused at dial time.
func TestDialRefusesNameResolvingToLoopback(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(ok))
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	host := net.JoinHostPort("archive.test", itoa(port))
	res := fakeResolver{"archive.test": {netip.MustParseAddr("127.0.0.1")}, "both.test": {netip.MustParseAddr("10.1.1.1"), netip.MustParseAddr("::ffff:127.0.0.1")}}

	p := mustPolicy(t, Config{Conventional: []string{host, net.JoinHostPort("both.test", itoa(port))}, Resolver: res})
	for _, name := range []string{"archive.test", "both.test"} {
		_, err := p.Client().Get("http://" + net.JoinHostPort(name, itoa(port)) + "/x.zip")
		r := wantRefused(t, err, "it resolves to")
		if !strings.Contains(r.Rule, "loopback") {
			t.Errorf("%s: rule %q does not name the loopback rule", name, r.Rule)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("%d connections reached the service behind the name", n)
	}

	// Named by the operator, the same name may be on loopback.
	p = mustPolicy(t, Config{Named: []string{host}, Resolver: res})
	resp, err := p.Client().Get("http://" + host + "/x.zip")
	if err != nil {
		t.Fatalf("named host: %v", err)
	}
	resp.Body.Close()
}

// The Control hook judges the address the socket connects to, whatever
// the resolution step let through.
func TestControlHookRefuses(t *testing.T) {
	p := mustPolicy(t, Config{Conventional: []string{"archive.test:80"}})
	err := p.checkAddr("archive.test:80", netip.MustParseAddr("::ffff:10.0.0.1"), "80", false)
	wantRefused(t, err, "private")
	if err := p.checkAddr("archive.test:80", netip.MustParseAddr("93.184.216.34"), "80", false); err != nil {
		t.Errorf("public address refused: %v", err)
	}
}

func TestRedirectToLoopbackRefused(t *testing.T) {
	internal, conns := countingServer(t, http.HandlerFunc(ok))
	port := internal.Listener.Addr().(*net.TCPAddr).Port
	res := fakeResolver{"archive.test": {netip.MustParseAddr("127.0.0.1")}}
	for _, target := range []string{
		internal.URL + "/secret",                                       // another port on the upstream's address
		"http://localhost:" + itoa(port) + "/",                         // a name for it
		"http://" + net.JoinHostPort("archive.test", itoa(port)) + "/", // a conventional name resolving to it
		"http://[::ffff:127.0.0.1]:" + itoa(port) + "/",
	} {
		upstream := httptest.NewServer(http.RedirectHandler(target, http.StatusFound))
		p := mustPolicy(t, Config{
			Named:        []string{upstream.Listener.Addr().String()},
			Conventional: []string{net.JoinHostPort("archive.test", itoa(port))},
			Resolver:     res,
		})
		resp, err := p.Client().Get(upstream.URL + "/dist.zip")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Errorf("redirect to %s followed: %s %q", target, resp.Status, body)
		} else {
			wantRefused(t, err, "")
		}
		upstream.Close()
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("%d connections reached the internal service", n)
	}
}

func TestSelfRefusedEvenWhenNamed(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(ok))
	addr := srv.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	for _, self := range []string{addr, ":" + port, "0.0.0.0:" + port} {
		p := mustPolicy(t, Config{Named: []string{addr, "localhost:" + port}, Self: []string{self}})
		for _, u := range []string{srv.URL, "http://localhost:" + port} {
			_, err := p.Client().Get(u + "/composer/dists/a/b.zip")
			wantRefused(t, err, "sigil itself")
		}
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("%d connections reached sigil's own listener", n)
	}
}

func TestNamedUpstreamFetched(t *testing.T) {
	srv, _ := countingServer(t, http.HandlerFunc(ok))
	p := mustPolicy(t, Config{Named: []string{srv.Listener.Addr().String()}})
	resp, err := p.Client().Get(srv.URL + "/packages.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "internal secret" {
		t.Errorf("body %q", b)
	}
}

// stallingTransport answers with a body that sends its bytes, then
// nothing until the request is cancelled.
type stallingTransport struct {
	chunks []string
	every  time.Duration
}

func (s stallingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	pr, pw := io.Pipe()
	go func() {
		for _, c := range s.chunks {
			select {
			case <-time.After(s.every):
			case <-req.Context().Done():
				pw.CloseWithError(req.Context().Err())
				return
			}
			io.WriteString(pw, c)
		}
		<-req.Context().Done()
		pw.CloseWithError(req.Context().Err())
	}()
	return &http.Response{StatusCode: 200, Body: pr, Request: req}, nil
}

func TestStalledBodyFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := mustPolicy(t, Config{Named: []string{"upstream.test"}, IdleTimeout: 30 * time.Second})
		p.transport.base = stallingTransport{chunks: []string{"PK", "\x03\x04"}, every: 20 * time.Second}
		start := time.Now()
		resp, err := p.Client().Get("https://upstream.test/a.zip")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !errors.Is(err, ErrStalled) {
			t.Fatalf("read %q, err %v; want ErrStalled", b, err)
		}
		if string(b) != "PK\x03\x04" {
			t.Errorf("read %q before the stall", b)
		}
		// Two chunks 20 s apart (each within the idle timeout), then 30 s
		// of nothing.
		if got := time.Since(start); got != 70*time.Second {
			t.Errorf("failed after %s, want 70s", got)
		}
		if !strings.Contains(err.Error(), "no byte for 30s") {
			t.Errorf("error %q does not say how long", err)
		}
	})
}

func TestBodyDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := mustPolicy(t, Config{Named: []string{"upstream.test"}, IdleTimeout: 30 * time.Second, Deadline: time.Minute})
		chunks := make([]string, 100)
		for i := range chunks {
			chunks[i] = "x"
		}
		// A byte every 10 s never stalls, but never ends either.
		p.transport.base = stallingTransport{chunks: chunks, every: 10 * time.Second}
		resp, err := p.Client().Get("https://upstream.test/a.zip")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !errors.Is(err, ErrDeadline) {
			t.Fatalf("read %d bytes, err %v; want ErrDeadline", len(b), err)
		}
	})
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:8081/", "http://0177.1/", "https://code.example/x", "http://[::ffff:7f00:1]/", "http://2130706433/"} {
		f.Add(s)
	}
	p, err := New(Config{Named: []string{"127.0.0.1:8081"}, Conventional: []string{"code.example"}, Self: []string{"127.0.0.1:8780"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		if p.CheckURL(u) != nil {
			return
		}
		// Allowed: then its host:port is one of the listed ones.
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
		}
		hp, _, err := canonical(u.Hostname(), port)
		if err != nil || !(p.named[hp] || p.conventional[hp]) {
			t.Fatalf("%q allowed as %q", raw, hp)
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

// Over a real connection: the idle timeout unblocks a read that waits on
// the network (the synctest tests above use a fake transport).
func TestStalledBodyOverTheNetwork(t *testing.T) {
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		io.WriteString(w, "PK")
		w.(http.Flusher).Flush()
		select { // stall until the client gives up (bounded, for a broken test)
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	p := mustPolicy(t, Config{Named: []string{srv.Listener.Addr().String()}, IdleTimeout: 50 * time.Millisecond})
	resp, err := p.Client().Get(srv.URL + "/a.zip")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, ErrStalled) || string(b) != "PK" {
		t.Fatalf("read %q, err %v; want the 2 bytes, then ErrStalled", b, err)
	}
}

// DialContext, forward mode's dial for --allow-host tunnels: a host the
// operator allowed whose DNS answer moves to sigil's own listener is
// refused before any connection, while the same name elsewhere connects.
func TestDialContextRefusesSelfBehindAllowedName(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(ok))
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	res := fakeResolver{"git.test": {netip.MustParseAddr("127.0.0.1")}}
	p := mustPolicy(t, Config{Named: []string{"git.test:" + port}, Self: []string{"127.0.0.1:" + port}, Resolver: res})
	if c, err := p.DialContext(t.Context(), "tcp", "git.test:"+port); err == nil {
		c.Close()
		t.Fatal("tunnel to sigil itself dialled")
	} else {
		wantRefused(t, err, "sigil itself")
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("%d connections reached sigil's own listener", n)
	}

	p = mustPolicy(t, Config{Named: []string{"git.test:" + port}, Resolver: res})
	c, err := p.DialContext(t.Context(), "tcp", "git.test:"+port)
	if err != nil {
		t.Fatalf("allowed tunnel: %v", err)
	}
	c.Close()
}
