package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/internal/egress"
	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/composer"
	"github.com/sigilproxy/sigil/proxy/npm"
	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

// defaultListen is where sigil serves when nothing else is said: loopback
// only, so that a laptop's mirror is never reachable from the network.
const defaultListen = "127.0.0.1:8780"

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:      "serve",
		Usage:     "run the install proxy",
		UsageText: "sigil serve [flags]",
		Description: "Serves a Composer repository at /composer and an npm registry at /npm/ that\n" +
			"mirror their upstreams and keep every version and archive that does not verify\n" +
			"from the client. With --ca-dir it is also an HTTPS proxy (forward mode).\n\n" +
			"Without --composer-upstream (--npm-upstream), sigil mirrors the upstream it\n" +
			"followed last time (remembered in the cache directory), or else the repository\n" +
			"the machine's Composer (npm) is configured with ('composer config --global\n" +
			"repositories', 'npm config get registry').\n" +
			"Without --log, no release log is consulted: every package is treated as\n" +
			"unsigned (--unsigned decides), and first-seen archive hashes are pinned.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "listen", Value: defaultListen, Usage: "ADDR to listen on", EnvVars: envVar("listen")},
			&cli.StringFlag{Name: "cache-dir", Usage: "DIR of the Badger cache (default: sigil in the user cache directory)", EnvVars: envVar("cache-dir")},
			&cli.StringFlag{Name: "cache-max-size", Value: defaultCacheMaxSize, Usage: "SIZE (10GB, 512MiB) the cache's archives and metadata stay under; the least recently used are evicted (0: no limit)", EnvVars: envVar("cache-max-size")},
			&cli.StringFlag{Name: "metadata-budget", Value: "64MiB", Usage: "SIZE of metadata documents fetched and parsed at once; past it, requests wait up to 10s, then get 503 with Retry-After", EnvVars: envVar("metadata-budget")},
			&cli.StringFlag{Name: "mode", Value: string(policy.ModeEnforce), Usage: "enforce (block what fails) or warn (serve it, report why)", EnvVars: envVar("mode")},
			&cli.StringFlag{Name: "unsigned", Value: string(policy.UnsignedAllow), Usage: "packages whose namespaces have no keys: allow (pinned, quiet), warn or deny", EnvVars: envVar("unsigned")},
			&cli.StringFlag{Name: "log", Usage: "URL of the release log", EnvVars: envVar("log")},
			&cli.StringFlag{Name: "log-key", Usage: "VKEY of the release log (required with --log)", EnvVars: envVar("log-key")},
			&cli.StringSliceFlag{Name: "witness", Usage: "VKEY of a witness whose cosignatures count (repeatable)", EnvVars: envVars("witness", "witnesses")},
			&cli.IntFlag{Name: "witness-threshold", Usage: "how many witnesses must cosign a checkpoint (default: all listed)", EnvVars: envVar("witness-threshold")},
			&cli.DurationFlag{Name: "max-cosignature-age", Usage: "a witness cosignature older than this does not count (0: 24h; negative: no limit)", EnvVars: envVar("max-cosignature-age")},
			&cli.StringSliceFlag{Name: "core-key", Usage: "[ECO=]VKEY: the ecosystem's core key (repeatable)", EnvVars: envVars("core-key", "core-keys")},
			&cli.StringSliceFlag{Name: "vendor-key", Usage: "NS=VKEY: trust VKEY for namespace NS (repeatable)", EnvVars: envVars("vendor-key", "vendor-keys")},
			&cli.BoolFlag{Name: "break-glass", Value: true, Usage: "honour core-signed key changes on namespaces that have keys", EnvVars: envVar("break-glass")},
			&cli.DurationFlag{Name: "min-release-age", Usage: "keep versions younger than DUR out of the metadata, aged from the release log's observation (0: none)", EnvVars: envVar("min-release-age")},
			&cli.StringFlag{Name: "composer-upstream", Usage: "URL of the Composer repository to mirror", EnvVars: envVar("composer-upstream")},
			&cli.StringFlag{Name: "npm-upstream", Usage: "URL of the npm registry to mirror", EnvVars: envVar("npm-upstream")},
			&cli.StringFlag{Name: "npm-registry-signatures", Value: string(npm.SignaturesWarn), Usage: "the registry's own signatures (dist.signatures): off, warn or require", EnvVars: envVar("npm-registry-signatures")},
			&cli.StringFlag{Name: "upstream-ca", Usage: "FILE of extra CA certificates (PEM) to trust for upstreams", EnvVars: envVar("upstream-ca")},
			&cli.StringFlag{Name: "auth-tokens", Usage: "FILE of client token hashes ('sigil token add'): every request but /-/healthz then needs a token", EnvVars: envVar("auth-tokens")},
			&cli.StringFlag{Name: "public-url", Usage: "URL clients reach sigil at, when a reverse proxy is in front (default: from each request)", EnvVars: envVar("public-url")},
			archiveHostFlag(),
			&cli.StringFlag{Name: "policy", Usage: "FILE of per-package rules (TOML); flags beat the file", EnvVars: envVar("policy")},
			&cli.DurationFlag{Name: "metadata-max-age", Value: proxy.DefaultMetadataMaxAge, Usage: "use a stored upstream document this long without asking the upstream; older ones are served at once and refreshed in the background (0: ask on every request)", EnvVars: envVar("metadata-max-age")},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json", EnvVars: envVar("log-format")},
			&cli.BoolFlag{Name: "debug", Usage: "log every verdict of every request, not only a line per package whose decision changed", EnvVars: envVar("debug")},
		}, forwardFlags()...),
		Action: runServe,
	}
}

func runServe(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError("serve takes no arguments", "run 'sigil serve --help'")
	}
	logger, err := newLogger(c)
	if err != nil {
		return err
	}
	pol, err := servePolicy(c)
	if err != nil {
		return err
	}
	tlsConfig, err := upstreamTLS(c.String("upstream-ca"))
	if err != nil {
		return err
	}
	cacheDir := c.String("cache-dir")
	if cacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return usageError("no user cache directory: "+err.Error(), "set --cache-dir or SIGIL_CACHE_DIR")
		}
		cacheDir = filepath.Join(base, "sigil")
	}
	// The upstreams followed are remembered in the cache directory, once
	// it is open (remember, below).
	remembered := newUpstreamMemory(cacheDir)
	composerURL, err := composerUpstream(c, logger, remembered)
	if err != nil {
		return err
	}
	npmURL, err := upstreamURL(c, npmSource, logger, remembered)
	if err != nil {
		return err
	}
	// Listening comes first: the fetch policy must know sigil's own
	// address, which it never fetches from.
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return checkFailed(fmt.Errorf("listening on %s: %w", c.String("listen"), err),
			"another process may use the port: pick another --listen")
	}
	defer ln.Close()
	logURL, _ := url.Parse(c.String("log")) // releaseLog reports a bad one
	if c.String("log") == "" {
		logURL = nil
	}
	outPolicy, err := outboundPolicy(c, outbound{
		upstreams: []*url.URL{composerURL, npmURL, logURL},
		composer:  composerURL != nil,
		listen:    ln.Addr().String(),
		tls:       tlsConfig,
	})
	if err != nil {
		return err
	}
	upstreamClient := outPolicy.Client()

	maxSize, err := parseSize(c.String("cache-max-size"))
	if err != nil {
		return usageError("--cache-max-size: "+err.Error(), "")
	}
	budgetSize, err := parseSize(c.String("metadata-budget"))
	if err != nil || budgetSize < 1<<20 {
		return usageError(fmt.Sprintf("--metadata-budget %q: want a size of at least 1MiB", c.String("metadata-budget")), "")
	}
	budget := proxy.NewMetadataBudget(budgetSize, 0)
	memLimit := setMemoryLimit(budgetSize, logger)
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return checkFailed(fmt.Errorf("cache directory: %w", err), "set --cache-dir to a directory you can write")
	}
	store, err := cache.Open(cacheDir, cache.Options{Logger: logger.With("part", "cache"), MaxSize: maxSize,
		// The upstream keeps the documents it serves in memory in front of
		// the store (proxy.UpstreamConfig.MemoryBytes): a second copy of each
		// in the store's own cache would only double their memory.
		MetaCacheBytes: -1,
		// Archives served again stay mapped while sigil is under the
		// metadata budget + 64 MiB (the Go memory limit's base): the room
		// a busy heap would use.
		KeepMappedUnder: budgetSize + memLimitRoom})
	if err != nil {
		return checkFailed(fmt.Errorf("opening the cache in %s: %w", cacheDir, err),
			"another sigil may be using it: stop it or set another --cache-dir")
	}
	defer store.Close()

	// The cache is ours alone now (Badger holds its lock), so staging
	// directories left by a sigil that crashed can go.
	sweepStaging(cacheDir, logger)
	remember(remembered, logger, map[string]*url.URL{composerSource.flag: composerURL, npmSource.flag: npmURL})

	lg, err := releaseLog(c, store, outPolicy, logger)
	if err != nil {
		return err
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := proxy.NewMetrics(registry)
	verifier, err := proxy.NewVerifier(proxy.VerifierConfig{
		Log:     lg,
		Policy:  pol,
		Cache:   proxy.StoreCache(store),
		Client:  upstreamClient,
		TempDir: cacheDir,
		Logger:  logger.With("part", "verdict"),
		Now:     clock(logger),
		Metrics: metrics,
	})
	if err != nil {
		return checkFailed(err, "")
	}
	defer verifier.Close()
	maxAge := c.Duration("metadata-max-age")
	if maxAge < 0 {
		return usageError("--metadata-max-age must not be negative", "0 asks the upstream on every request")
	}
	if maxAge == 0 {
		maxAge = -1 // UpstreamConfig's "always ask"
	}
	upstream, err := proxy.NewHTTPUpstream(proxy.UpstreamConfig{
		Client:  upstreamClient,
		Cache:   proxy.StoreCache(store),
		Budget:  budget,
		MaxAge:  maxAge,
		FileDir: cacheDir,
		Logger:  logger.With("part", "upstream"),
		Metrics: metrics,
	})
	if err != nil {
		return checkFailed(err, "")
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/-/healthz", proxy.Healthz(verifier, upstream))
	mux.Handle("/-/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}))
	if composerURL != nil {
		h, err := composer.New(composer.Config{
			UpstreamURL: composerURL,
			Upstream:    upstream,
			Checker:     verifier,
			PublicURL:   c.String("public-url"),
			Served:      store,
			Mode:        pol.Mode,
			Client:      upstreamClient,
			Logger:      logger.With("part", "composer"),
			Metrics:     metrics,
			RenderedDir: cacheDir,
		})
		if err != nil {
			return usageError(err.Error(), "")
		}
		counted := metrics.Instrument("composer", h)
		mux.Handle("/composer/", counted)
		mux.Handle("/composer", counted)
	} else {
		mux.HandleFunc("/composer/", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "sigil: no Composer upstream is configured\nhint: set --composer-upstream or SIGIL_COMPOSER_UPSTREAM", http.StatusServiceUnavailable)
		})
	}

	err = npmMirror(c, mux, npmURL, npm.Config{
		Upstream:    upstream,
		Checker:     verifier,
		PublicURL:   c.String("public-url"),
		Served:      store,
		Keys:        store,
		Mode:        pol.Mode,
		Client:      upstreamClient,
		Logger:      logger.With("part", "npm"),
		Metrics:     metrics,
		RenderedDir: cacheDir,
	})
	if err != nil {
		return err
	}

	handler, stopForward, err := forwardHandler(c, mux, forwardParts{composerURL, npmURL, upstream, verifier, store, pol, upstreamClient, logger, budget, cacheDir, metrics})
	if err != nil {
		return err
	}
	defer stopForward()

	handler, err = guardAccess(c, budget.Handler(handler), logger)
	if err != nil {
		return err
	}

	srv := &http.Server{
		Handler: handler,
		// Archives can be large and clients slow, so there is no write
		// timeout; a slow client holding headers open is cut off.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	summaries := time.NewTicker(proxy.DefaultSummaryEvery)
	defer summaries.Stop()
	go verifier.RunSummary(ctx, summaries.C)
	go memLimit.follow(ctx)
	logger.Info("sigil serving", "listen", ln.Addr().String(), "mode", pol.Mode, "unsigned", pol.TopLevel().Unsigned, "metadata_max_age", c.Duration("metadata-max-age"),
		"cache", cacheDir, "log", c.String("log"), "composer_upstream", urlString(composerURL), "npm_upstream", urlString(npmURL), "fetches_from", strings.Join(outPolicy.Hosts(), ","))
	select {
	case err := <-errc:
		return checkFailed(fmt.Errorf("serving: %w", err), "")
	case <-ctx.Done():
	}
	logger.Info("sigil shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// sweepStaging removes download staging directories a previous run left
// behind when it did not shut down cleanly, which hold unverified bytes
// only, and the files of large rendered documents (the fronts'
// RenderedDir) and of large upstream documents (UpstreamConfig.FileDir),
// which are not used after the process that wrote them.
func sweepStaging(dir string, logger *slog.Logger) {
	stale, _ := filepath.Glob(filepath.Join(dir, "sigil-downloads-*"))
	rendered, _ := filepath.Glob(filepath.Join(dir, "sigil-rendered-*"))
	documents, _ := filepath.Glob(filepath.Join(dir, "sigil-documents-*"))
	stale = append(append(stale, rendered...), documents...)
	for _, d := range stale {
		if err := os.RemoveAll(d); err != nil {
			logger.Warn("could not remove a stale staging directory", "dir", d, "err", err)
		}
	}
}

func urlString(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.String()
}

func newLogger(c *cli.Context) (*slog.Logger, error) {
	level := slog.LevelInfo
	if c.Bool("debug") {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.String("log-format") {
	case "text":
		return slog.New(slog.NewTextHandler(c.App.ErrWriter, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(c.App.ErrWriter, opts)), nil
	}
	return nil, usageError(fmt.Sprintf("--log-format %q: want text or json", c.String("log-format")), "")
}

// servePolicy builds the trust configuration: the --policy file, with every
// flag the user set (on the command line or through SIGIL_*) on top.
func servePolicy(c *cli.Context) (*policy.Config, error) {
	file := policy.Config{}
	if name := c.String("policy"); name != "" {
		f, err := policy.LoadFile(name)
		if err != nil {
			return nil, usageError(err.Error(), "see examples/policy.toml for the format")
		}
		file = *f
	}
	var flags policy.Config
	if c.IsSet("mode") || file.Mode == "" {
		flags.Mode = policy.Mode(c.String("mode"))
	}
	if c.IsSet("unsigned") || file.Unsigned == "" {
		flags.Unsigned = policy.Unsigned(c.String("unsigned"))
	}
	if c.IsSet("break-glass") {
		bg := c.Bool("break-glass")
		flags.BreakGlass = &bg
	}
	if c.IsSet("min-release-age") {
		age := c.Duration("min-release-age")
		if age < 0 {
			return nil, usageError(fmt.Sprintf("--min-release-age %s: want a positive duration, or 0 for none", age), "")
		}
		flags.MinReleaseAge = &age
	}
	for _, v := range nonEmpty(c.StringSlice("vendor-key")) {
		ns, key, err := splitPin("vendor-key", v)
		if err != nil {
			return nil, err
		}
		if flags.VendorKeys == nil {
			flags.VendorKeys = map[string][]string{}
		}
		flags.VendorKeys[ns] = append(flags.VendorKeys[ns], key)
	}
	core, err := coreKeys(nonEmpty(c.StringSlice("core-key")))
	if err != nil {
		return nil, err
	}
	flags.CoreKeys = core
	cfg := file.Overlay(flags)
	if err := cfg.Validate(); err != nil {
		return nil, usageError(err.Error(), "run 'sigil serve --help'")
	}
	return &cfg, nil
}

// coreKeys parses [ECO=]VKEY values; a key without an ecosystem is the core
// key of every ecosystem.
func coreKeys(vals []string) (map[string][]string, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	out := map[string][]string{}
	for _, v := range vals {
		eco, key, ok := strings.Cut(v, "=")
		if !ok || strings.Contains(eco, "+") {
			// No "ECO=": the whole value is the key. (A key line has no
			// '=' before its '+'.)
			eco, key = "", v
		}
		if _, err := release.NewVerifier(key); err != nil {
			return nil, usageError(fmt.Sprintf("--core-key %q: %v", v, err), "want [ECO=]VERIFIER_KEY, e.g. composer=core+1a2b3c4d+AW...")
		}
		switch eco {
		case "":
			out[release.Composer] = append(out[release.Composer], key)
			out[release.NPM] = append(out[release.NPM], key)
		case release.Composer, release.NPM:
			out[eco] = append(out[eco], key)
		default:
			return nil, usageError(fmt.Sprintf("--core-key: unknown ecosystem %q", eco), "want composer or npm")
		}
	}
	return out, nil
}

// upstreamTLS trusts the system roots plus the CA certificates in file.
func upstreamTLS(file string) (*tls.Config, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, usageError(fmt.Sprintf("--upstream-ca: %v", err), "")
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, usageError(fmt.Sprintf("--upstream-ca %s: no PEM certificate in it", file), "give a file of PEM CERTIFICATE blocks")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// releaseLog is the verifying log client, or, without --log, a log that
// knows nothing: every package then counts as unsigned.
func releaseLog(c *cli.Context, store *cache.Store, out *egress.Policy, logger *slog.Logger) (proxy.Log, error) {
	logURL := c.String("log")
	if logURL == "" {
		if c.String("log-key") != "" || len(nonEmpty(c.StringSlice("witness"))) > 0 {
			return nil, usageError("--log-key and --witness need --log", "set --log to the release log's URL")
		}
		logger.Warn("no release log configured: every package is treated as unsigned and signed releases cannot be verified",
			"hint", "set --log and --log-key")
		return proxy.NoLog{}, nil
	}
	if c.String("log-key") == "" {
		return nil, usageError("--log needs --log-key", "the log's verifier key is what makes its checkpoints trustworthy")
	}
	vk, err := release.NewVerifier(c.String("log-key"))
	if err != nil {
		return nil, usageError("--log-key: "+err.Error(), "")
	}
	state, err := store.Log(vk.Name())
	if err != nil {
		return nil, checkFailed(err, "")
	}
	httpClient := out.Client()
	httpClient.Timeout = logTimeout
	client, err := tlog.NewClient(tlog.Config{
		URL:               logURL,
		HTTPClient:        httpClient,
		LogKey:            c.String("log-key"),
		Witnesses:         nonEmpty(c.StringSlice("witness")),
		WitnessThreshold:  c.Int("witness-threshold"),
		MaxCosignatureAge: c.Duration("max-cosignature-age"),
		Store:             state,
		Tiles:             state,
		Logger:            logger.With("part", "tlog"),
	})
	if err != nil {
		return nil, usageError(err.Error(), "check --log, --log-key and --witness")
	}
	return client, nil
}

// upstreamSource says where an ecosystem's upstream comes from: its flag,
// else the repository the machine's own client is configured with.
type upstreamSource struct {
	flag     string                           // "composer-upstream"
	client   string                           // "Composer", for messages
	route    string                           // "/composer", for messages
	fallback func(ctx context.Context) string // the client's configured repository, or ""
}

var (
	composerSource = upstreamSource{"composer-upstream", "Composer", "/composer", composerDefaultRepository}
	npmSource      = upstreamSource{"npm-upstream", "npm", "/npm/", npmDefaultRegistry}
)

// upstreamURL is the upstream of one ecosystem, or nil when none is known:
// its flag, else the one remembered in the cache directory (mem, nil for
// none), else the client's own configuration. A client's default that
// points at sigil itself is not taken: sigil would mirror itself. serve
// remembers the upstream taken (remember) once its cache is open.
func upstreamURL(c *cli.Context, src upstreamSource, logger *slog.Logger, mem *upstreamMemory) (*url.URL, error) {
	raw := c.String(src.flag)
	env := envVar(src.flag)[0]
	if raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, usageError(fmt.Sprintf("--%s %q: want an http or https URL", src.flag, redactURL(raw)), "")
		}
		if u.User != nil {
			return nil, usageError(fmt.Sprintf("--%s %s: the URL holds credentials, and sigil sends none upstream", src.flag, u.Redacted()),
				"give the registry's URL without user and password")
		}
		return u, nil
	}
	remembered, err := mem.get(src.flag)
	if err != nil {
		logger.Warn("the remembered upstreams cannot be read; ignoring them", "err", err)
	}
	// An earlier sigil remembered what it was given; one that holds
	// credentials is not followed (see below).
	if u := parseUpstream(remembered); u != nil && u.User == nil && !pointsAt(remembered, c.String("listen")) {
		logger.Info(src.client+" upstream remembered from an earlier run", "url", u.String(),
			"hint", fmt.Sprintf("set --%s (%s) to follow another", src.flag, env))
		return u, nil
	}
	raw = src.fallback(c.Context)
	u := parseUpstream(raw)
	switch {
	case raw == "":
	case u == nil:
		logger.Warn(src.client+" is configured with a repository that is no http or https URL; not mirroring it", "repository", redactURL(raw))
	case u.User != nil:
		// A password in the URL is a credential for that registry, which
		// sigil never sends, and never logs or remembers.
		logger.Warn(src.client+"'s repository URL holds credentials, and sigil sends none upstream; not mirroring it", "repository", u.Redacted(),
			"hint", fmt.Sprintf("set --%s (%s) to a repository sigil can read without credentials", src.flag, env))
	case pointsAt(raw, c.String("listen")):
		logger.Warn(src.client+" is configured to use sigil itself; not mirroring it", "repository", raw,
			"hint", fmt.Sprintf("set --%s (%s) to the repository sigil should follow", src.flag, env))
	default:
		logger.Info(src.client+" upstream taken from "+src.client+"'s configuration", "url", raw)
		return u, nil
	}
	logger.Warn(fmt.Sprintf("no %s upstream: set --%s (%s); %s answers 503", src.client, src.flag, env, src.route))
	return nil, nil
}

// parseUpstream is raw as an upstream URL, or nil when it is none: empty,
// or not an absolute http or https URL.
func parseUpstream(raw string) *url.URL {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil
	}
	return u
}

// redactURL is raw with any password replaced, for messages; raw that does
// not parse is cut at its last "@".
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	if i := strings.LastIndexByte(raw, '@'); i >= 0 {
		return "…" + raw[i:]
	}
	return raw
}

// composerUpstream is --composer-upstream, or the default repository of the
// machine's own Composer configuration, or nil when there is neither.
func composerUpstream(c *cli.Context, logger *slog.Logger, mem *upstreamMemory) (*url.URL, error) {
	return upstreamURL(c, composerSource, logger, mem)
}

// npmMirror mounts the npm registry at /npm/ when an npm upstream u is
// known: --npm-upstream, or the registry the machine's npm is configured
// with.
func npmMirror(c *cli.Context, mux *http.ServeMux, u *url.URL, cfg npm.Config) error {
	if err := cfg.RegistrySignatures.UnmarshalText([]byte(c.String("npm-registry-signatures"))); err != nil {
		return usageError("--npm-registry-signatures: "+err.Error(), "want off, warn or require")
	}
	if u == nil {
		mux.HandleFunc("/npm/", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error":"sigil: no npm upstream is configured (set --npm-upstream or SIGIL_NPM_UPSTREAM)"}`, http.StatusServiceUnavailable)
		})
		return nil
	}
	cfg.UpstreamURL = u
	h, err := npm.New(cfg)
	if err != nil {
		return usageError(err.Error(), "")
	}
	mux.Handle("/npm/", cfg.Metrics.Instrument("npm", h))
	return nil
}

// pointsAt reports whether an upstream URL names sigil's own listen
// address: a client already configured to use sigil must not make sigil
// mirror itself.
func pointsAt(raw, listen string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if u.Port() != port {
		return false
	}
	h := u.Hostname()
	return h == host || (host == "0.0.0.0" || host == "" || host == "::") || h == "localhost" || net.ParseIP(h).IsLoopback()
}
