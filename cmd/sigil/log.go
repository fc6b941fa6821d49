package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"k8s.io/klog/v2"

	"github.com/sigilproxy/sigil/internal/egress"
	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
	"github.com/sigilproxy/sigil/tlog/server"
)

// defaultLogListen is where the release log serves unless told otherwise:
// loopback, next to the proxy's port.
const defaultLogListen = "127.0.0.1:8781"

// logAddTimeout bounds one POST /add: the log answers only after a
// checkpoint covers the entry, which with witnesses can take a while.
const logAddTimeout = 2 * time.Minute

func logCommand() *cli.Command {
	return &cli.Command{
		Name:  "log",
		Usage: "run the release log, or submit notes to it",
		Subcommands: []*cli.Command{
			logEvidenceCommand(),
			logWatchCommand(),
			logResetCommand(),
			{
				Name:      "serve",
				Usage:     "run the release log",
				UsageText: "sigil log serve --dir DIR --key SIGNER_FILE [--listen ADDR] [--origin O] [--core-key [ECO=]VKEY ...] [--witness VKEY=URL ...] [--witness-threshold N] [--observe ECO=URL ...] [--archive-host HOST ...]",
				Description: "Serves a transparency log of release statements and key events (C2SP tlog-tiles:\n" +
					"/checkpoint and /tile/..., plus POST /add and GET /lookup/ECO/PACKAGE), kept in DIR.\n" +
					"A note is admitted only if a key authorized for its namespace signed it, by the chain\n" +
					"of key events that starts at the ecosystem's core key. An add answers once a\n" +
					"checkpoint that covers the entry is published (and cosigned by the witnesses).\n\n" +
					"The checkpoint origin is the key's name unless --origin is given; then the same key\n" +
					"signs under the name ORIGIN and the log's verifier key is logged at start.\n\n" +
					"Environment: SIGIL_LOG_DIR, SIGIL_LOG_SIGNER_KEY (the key FILE), SIGIL_LOG_LISTEN,\n" +
					"SIGIL_LOG_ORIGIN, SIGIL_CORE_KEYS and SIGIL_LOG_WITNESSES (comma-separated),\n" +
					"SIGIL_LOG_WITNESS_THRESHOLD, SIGIL_CHECKPOINT_INTERVAL. (The log's own variables carry\n" +
					"LOG_ so that they do not collide with the proxy's --listen, --log-key and --witness.)\n\n" +
					"With --observe ECO=URL the log is also a notary of that registry: a lookup that names\n" +
					"versions (GET /lookup/ECO/PACKAGE?version=V) makes the log fetch each version it has\n" +
					"not observed from URL (never from a URL a client gives), hash it, and log a\n" +
					"sigil-observed/v1 note signed by the log key, once per version. Archives on other\n" +
					"hosts than URL's are fetched only from --archive-host hosts and the conventional code\n" +
					"hosts. Environment: SIGIL_LOG_OBSERVE, SIGIL_LOG_ARCHIVE_HOSTS (comma-separated).",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "dir", Usage: "DIR of the log (created if missing)", EnvVars: envVar("log-dir")},
					&cli.StringFlag{Name: "key", Usage: "SIGNER_FILE of the log's checkpoint key (from sigil keygen)", EnvVars: envVar("log-signer-key")},
					&cli.StringFlag{Name: "listen", Value: defaultLogListen, Usage: "ADDR to listen on", EnvVars: envVar("log-listen")},
					&cli.StringFlag{Name: "origin", Usage: "checkpoint origin line (default: the key's name)", EnvVars: envVar("log-origin")},
					&cli.StringSliceFlag{Name: "core-key", Usage: "[ECO=]VKEY: an ecosystem's core key; without ECO= for every ecosystem (repeatable)", EnvVars: envVars("core-key", "core-keys")},
					&cli.StringSliceFlag{Name: "witness", Usage: "VKEY=URL of a C2SP tlog-witness to cosign checkpoints (repeatable)", EnvVars: envVars("log-witness", "log-witnesses")},
					&cli.IntFlag{Name: "witness-threshold", Usage: "how many witnesses must cosign a checkpoint before it is published (default: all)", EnvVars: envVar("log-witness-threshold")},
					&cli.StringSliceFlag{Name: "observe", Usage: "ECO=URL of a registry the log observes (composer or npm; repeatable)", EnvVars: envVar("log-observe")},
					&cli.StringSliceFlag{Name: "archive-host", Usage: "HOST[:PORT] the log may fetch observed archives from, besides the registries' own hosts (repeatable)", EnvVars: envVars("log-archive-host", "log-archive-hosts")},
					&cli.DurationFlag{Name: "checkpoint-interval", Value: server.DefaultCheckpointInterval, Usage: "how often a checkpoint is published while the log grows (at least 100ms)", EnvVars: envVar("checkpoint-interval")},
					&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json", EnvVars: envVar("log-format")},
					&cli.BoolFlag{Name: "debug", Usage: "log at debug level", EnvVars: envVar("debug")},
				},
				Action: runLogServe,
			},
			{
				Name:      "add",
				Usage:     "submit signed notes to the release log",
				UsageText: "sigil log add --log URL FILE...",
				Description: "Submits each FILE (a signed release statement or key event, as sigil sign and\n" +
					"sigil key write them) and prints \"FILE: index N\" for each, in order, once a\n" +
					"published checkpoint covers it. Statements go to the log together, so N of them\n" +
					"cost about one checkpoint interval; a key event goes alone, after the files before\n" +
					"it. A refusal prints the log's reason and exits 1; after a refused key event, or a\n" +
					"refused statement, the files of later steps are not submitted.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "log", Usage: "URL of the release log", EnvVars: envVar("log")},
				},
				Action: runLogAdd,
			},
		},
	}
}

func runLogServe(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError("log serve takes no arguments", "run 'sigil log serve --help'")
	}
	if err := required(c, "dir", "key"); err != nil {
		return err
	}
	logger, err := newLogger(c)
	if err != nil {
		return err
	}
	cfg, err := logServerConfig(c, logger)
	if err != nil {
		return err
	}
	if len(cfg.CoreKeys) == 0 {
		logger.Warn("no --core-key: no key event, and so no statement, can be admitted")
	}
	// Tessera logs through klog; send it to the same handler.
	klog.SetSlogLogger(logger.With("part", "tessera"))

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return checkFailed(fmt.Errorf("listening on %s: %w", c.String("listen"), err),
			"another process may be listening there; choose another --listen")
	}
	defer ln.Close()
	srv, err := server.Open(ctx, cfg)
	if err != nil {
		return checkFailed(fmt.Errorf("opening the log in %s: %w", cfg.Dir, err), logOpenHint(err))
	}
	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- httpSrv.Serve(ln) }()
	logger.Info("release log serving", "listen", ln.Addr().String(), "dir", cfg.Dir,
		"origin", srv.Origin(), "verifier_key", srv.VerifierKey())

	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
		logger.Info("release log shutting down")
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Stop taking requests, let the adds under way get their checkpoint,
	// then close the storage and the index.
	httpErr := httpSrv.Shutdown(shutdown)
	closeErr := srv.Close(shutdown)
	switch {
	case serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed):
		return checkFailed(fmt.Errorf("serving: %w", serveErr), "")
	case closeErr != nil:
		return checkFailed(fmt.Errorf("closing the log: %w", closeErr), "entries that were acknowledged are safe; the index is caught up on the next start")
	case httpErr != nil:
		return checkFailed(fmt.Errorf("shutting down: %w", httpErr), "")
	}
	return nil
}

// logServerConfig turns the flags into a server.Config.
func logServerConfig(c *cli.Context, logger *slog.Logger) (server.Config, error) {
	skey, err := readSecretFile(c.String("key"))
	if err != nil {
		return server.Config{}, err
	}
	if _, err := release.NewSigner(skey); err != nil {
		return server.Config{}, usageError(fmt.Sprintf("--key %s: %v", c.String("key"), err),
			"pass the .key file that 'sigil keygen' wrote, not the .pub")
	}
	cfg := server.Config{
		Dir:                c.String("dir"),
		Key:                skey,
		Origin:             c.String("origin"),
		WitnessThreshold:   c.Int("witness-threshold"),
		CheckpointInterval: c.Duration("checkpoint-interval"),
		Logger:             logger,
	}
	for _, v := range nonEmpty(c.StringSlice("core-key")) {
		ck, err := server.ParseCoreKey(v)
		if err != nil {
			return server.Config{}, usageError(fmt.Sprintf("--core-key: %v", err), "want [ECO=]VERIFIER_KEY, e.g. composer=core+1a2b3c4d+AW...")
		}
		cfg.CoreKeys = append(cfg.CoreKeys, ck)
	}
	for _, v := range nonEmpty(c.StringSlice("witness")) {
		w, err := server.ParseWitness(v)
		if err != nil {
			return server.Config{}, usageError(fmt.Sprintf("--witness: %v", err), "want VERIFIER_KEY=URL, e.g. witness.example+1a2b3c4d+BA...=https://witness.example")
		}
		cfg.Witnesses = append(cfg.Witnesses, w)
	}
	if len(cfg.Witnesses) > 0 {
		// The witnesses are reached like every fetch of the log: only
		// their own hosts (named, so any address), never the log itself,
		// checked again on every redirect.
		var hosts []string
		for _, w := range cfg.Witnesses {
			u, _ := url.Parse(w.URL) // checked by ParseWitness
			hosts = append(hosts, hostPort(u))
		}
		pol, err := egress.New(egress.Config{Named: hosts, Self: logSelf(c)})
		if err != nil {
			return server.Config{}, usageError(fmt.Sprintf("--witness: %v", err), "")
		}
		cfg.HTTPClient = pol.Client()
	}
	if n := cfg.WitnessThreshold; n < 0 || n > len(cfg.Witnesses) {
		return server.Config{}, usageError(fmt.Sprintf("--witness-threshold %d: want 0 (all) to %d, the number of --witness", n, len(cfg.Witnesses)), "")
	}
	if cfg.CheckpointInterval < 100*time.Millisecond {
		return server.Config{}, usageError(fmt.Sprintf("--checkpoint-interval %v: want at least 100ms", cfg.CheckpointInterval), "")
	}
	cfg.Now = clock(logger)
	if err := observeConfig(c, &cfg); err != nil {
		return server.Config{}, err
	}
	return cfg, nil
}

// logSelf is the log's own address, which it never fetches from; none
// when it listens on a port the system picks (port 0), unknown until then.
func logSelf(c *cli.Context) []string {
	listen := c.String("listen")
	if _, port, err := net.SplitHostPort(listen); err == nil && port == "0" {
		return nil
	}
	return []string{listen}
}

func logOpenHint(err error) string {
	switch msg := err.Error(); {
	case strings.Contains(msg, "not signed by this key"):
		return "this directory holds another log: pass its key and --origin, or choose another --dir"
	case strings.Contains(msg, "witness"):
		return "a new log publishes its first checkpoint at once: the witnesses must be reachable and know the log's key"
	}
	return ""
}

func runLogAdd(c *cli.Context) error {
	if err := required(c, "log"); err != nil {
		return err
	}
	if c.NArg() == 0 {
		return usageError("log add needs at least one FILE", "run 'sigil log add --help'")
	}
	u, err := parseLogURL(c.String("log"))
	if err != nil {
		return err
	}
	files := c.Args().Slice()
	msgs := make([][]byte, len(files))
	for i, file := range files {
		if msgs[i], err = readNoteFile(file); err != nil {
			return err
		}
	}
	results := submitNotes(c.Context, &http.Client{Timeout: logAddTimeout}, u.JoinPath(tlog.AddPath).String(), msgs)
	return reportSubmitted(c, u, files, results)
}

// parseLogURL checks the --log URL.
func parseLogURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError(fmt.Sprintf("--log %q: want the log's http or https URL", s), "")
	}
	return u, nil
}

// reportSubmitted prints "NAME: index N" for every admitted note, in
// order, and every refusal after the first on stderr; the first refusal
// is the command's error.
func reportSubmitted(c *cli.Context, u *url.URL, names []string, results []submitted) error {
	var first error
	notSent := 0
	for i, r := range results {
		switch {
		case !r.sent:
			notSent++
		case r.err != nil:
			err := submitError(names[i], u, r.err)
			if first == nil {
				first = err
			} else {
				fmt.Fprintf(c.App.ErrWriter, "sigil: %v\n", err)
			}
		case r.resp.Existing:
			fmt.Fprintf(c.App.Writer, "%s: index %d (already in the log)\n", names[i], r.resp.Index)
		default:
			fmt.Fprintf(c.App.Writer, "%s: index %d\n", names[i], r.resp.Index)
		}
	}
	if first != nil && notSent > 0 {
		ce := first.(*cliError)
		ce.hint = joinHints(ce.hint, fmt.Sprintf("the %d notes after the failed step were not submitted", notSent))
	}
	return first
}

// submitError turns a failed submission into the error the user sees.
func submitError(name string, u *url.URL, err error) error {
	var rej *logRefusal
	if errors.As(err, &rej) {
		return checkFailed(fmt.Errorf("%s: refused by the log (%d): %s", name, rej.status, rej.reason), refusalHint(rej.status))
	}
	var cpErr *tlog.CheckpointError
	if errors.As(err, &cpErr) {
		return checkFailed(fmt.Errorf("%s: logged, but not proven: %w", name, err),
			"the log's checkpoint does not verify against --log-key and --witness: check that the log is cosigned by these witnesses, then run the same command again")
	}
	return checkFailed(fmt.Errorf("%s: %w", name, err), fmt.Sprintf("is the release log running at %s?", u))
}

func joinHints(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func refusalHint(status int) string {
	switch status {
	case http.StatusForbidden:
		return "submit the key event that authorizes the signing key first, or sign with a key of the namespace"
	case http.StatusConflict:
		return "a version is logged once: publish the new content under a new version"
	case http.StatusServiceUnavailable:
		return "the entry may already be in the log: run the same command again later"
	}
	return ""
}

// readNoteFile reads a signed note, bounded by the largest a log entry can
// be.
func readNoteFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, checkFailed(err, "")
	}
	defer f.Close()
	msg, err := io.ReadAll(io.LimitReader(f, release.MaxNoteSize+1))
	if err != nil {
		return nil, checkFailed(fmt.Errorf("reading %s: %w", name, err), "")
	}
	if len(msg) > release.MaxNoteSize {
		return nil, checkFailed(fmt.Errorf("%s is larger than a signed note can be (%d bytes)", name, release.MaxNoteSize),
			"pass the files that 'sigil sign' and 'sigil key' write")
	}
	return msg, nil
}

// logRefusal is the log's answer to a note it did not admit.
type logRefusal struct {
	status int
	reason string
}

func (e *logRefusal) Error() string { return fmt.Sprintf("refused (%d): %s", e.status, e.reason) }

func postNote(ctx context.Context, client *http.Client, addURL string, msg []byte) (tlog.AddResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, addURL, bytes.NewReader(msg))
	if err != nil {
		return tlog.AddResponse{}, err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := client.Do(req)
	if err != nil {
		return tlog.AddResponse{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return tlog.AddResponse{}, fmt.Errorf("reading the log's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		reason := strings.TrimSpace(string(body))
		if i := strings.IndexByte(reason, '\n'); i >= 0 {
			reason = reason[:i]
		}
		if reason == "" {
			reason = resp.Status
		}
		return tlog.AddResponse{}, &logRefusal{status: resp.StatusCode, reason: reason}
	}
	var r tlog.AddResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return tlog.AddResponse{}, fmt.Errorf("the log's answer is not an add response: %w", err)
	}
	return r, nil
}
