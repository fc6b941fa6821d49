package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	f_log "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"

	"github.com/sigilproxy/sigil/release"
)

// Defaults of Config.
const (
	DefaultCheckpointInterval = time.Second
	DefaultAddTimeout         = 30 * time.Second
	DefaultWitnessTimeout     = 5 * time.Second
	DefaultMaxNoteSize        = 16 << 10
	// IndexDirName is the index's directory inside Config.Dir unless
	// Config.IndexDir says otherwise. It is not a tlog-tiles path, so it is
	// never served.
	IndexDirName = ".sigil-index"
)

// maxEntrySize is the largest entry C2SP tlog-tiles can carry (a bundle
// entry has a 16-bit length).
const maxEntrySize = tessera.DefaultEntrySizeLimit

// sequencingBatchAge is how long Tessera lets a batch of entries wait
// before it writes them. Every add waits at least this long, and a key
// event holds the admission lock for it, so it is short; the checkpoint
// interval dominates an add's latency anyway.
const sequencingBatchAge = 5 * time.Millisecond

// Config configures a log server. Only Dir and Key are required; every
// other field has a useful zero value.
type Config struct {
	// Dir holds the log: Tessera's POSIX storage (checkpoint, tile/, and
	// its private .state/), and the index unless IndexDir is set. It is
	// created if missing.
	Dir string
	// IndexDir is where the Badger index lives. Default: Dir/.sigil-index.
	IndexDir string
	// Key is the log's signer key, PRIVATE+KEY+NAME+HASH+BASE64, as read
	// from its file (secrets only ever come from files).
	Key string
	// Origin is the checkpoint origin line. Default: the key's name. When
	// it differs, the key signs under the name Origin, and clients need
	// the verifier key Server.VerifierKey returns.
	Origin string
	// CoreKeys are the ecosystems' core keys, the roots of every
	// namespace's chain of key events. With none, no key event can be
	// admitted and therefore no statement either.
	CoreKeys []CoreKey
	// Witnesses are asked to cosign every checkpoint before it is
	// published. Default: none.
	Witnesses []Witness
	// WitnessThreshold is how many witnesses must cosign a checkpoint for
	// it to be published. Default (0): all of them.
	WitnessThreshold int
	// WitnessTimeout bounds one round of cosigning requests. Default 5s.
	WitnessTimeout time.Duration
	// CheckpointInterval is how often a new checkpoint is published while
	// the log grows; an add answers after the next one. Default 1s,
	// minimum 100ms (Tessera's).
	CheckpointInterval time.Duration
	// AddTimeout bounds how long an add waits for a checkpoint that covers
	// its entry. Default 30s.
	AddTimeout time.Duration
	// MaxNoteSize bounds the body of POST /add. Default 16 KiB; at most
	// 65535, the largest entry tlog-tiles can carry.
	MaxNoteSize int
	// HTTPClient is used to reach witnesses. Default: a client whose
	// transport is http.DefaultTransport.
	HTTPClient *http.Client
	// Logger receives structured logs. Default: discarded.
	Logger *slog.Logger

	// Observer, when set, makes the log a notary of the registries it
	// observes: a lookup that names versions (GET /lookup/...?version=V)
	// makes the log fetch each listed version that it has not observed,
	// hash it and log a sigil-observed/v1 note signed by the log key.
	// Default: none, and the log observes nothing.
	Observer Observer
	// ObserveConcurrency bounds the versions measured at once. Default
	// DefaultObserveConcurrency.
	ObserveConcurrency int
	// ObserveQueue bounds the observations running or waiting; beyond it a
	// lookup is answered 429. Default DefaultObserveQueue.
	ObserveQueue int
	// Now is the log's clock: the time written into observations.
	// Default: time.Now.
	Now func() time.Time
}

// Server is a running release log. It is safe for concurrent use.
type Server struct {
	cfg    Config
	log    *slog.Logger
	signer note.Signer
	vkey   string
	v      note.Verifier // of vkey
	origin string

	bgCancel context.CancelFunc
	appender *tessera.Appender
	shutdown func(context.Context) error
	reader   tessera.LogReader
	awaiter  *tessera.PublicationAwaiter
	witness  *witnessMonitor
	root     *os.Root
	static   *staticHandler
	ix       *index
	tiles    *lru.Cache[tileKey, *expandedTile] // for lookups' proofs
	obs      *observer                          // nil when the log observes nothing

	// mu serializes admission decisions: the authority and uniqueness
	// checks of one note and the call that queues it happen under mu, so
	// two concurrent adds cannot both pass a check that only one may pass.
	mu       sync.Mutex
	auth     map[string]*authority  // by ecosystem
	next     uint64                 // index the next queued entry will get
	pending  map[string]*pendingAdd // statements queued but not yet indexed, by version key
	resync   bool                   // an add failed: next and keyrings must be recomputed
	closed   bool
	inflight sync.WaitGroup
}

// Open opens (or creates) the log in cfg.Dir and starts publishing
// checkpoints. The index is caught up with the log before Open returns.
// Close must be called to stop it.
func Open(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	signer, vkey, err := logSigner(cfg.Key, cfg.Origin)
	if err != nil {
		return nil, fmt.Errorf("log key: %w", err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("log key: %w", err)
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		signer:  signer,
		vkey:    vkey,
		origin:  signer.Name(),
		v:       verifier,
		pending: map[string]*pendingAdd{},
		tiles:   newTileCache(),
		obs:     newObserver(&cfg),
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("log directory: %w", err)
	}
	if err := s.checkOrigin(); err != nil {
		return nil, err
	}
	if s.root, err = os.OpenRoot(cfg.Dir); err != nil {
		return nil, fmt.Errorf("log directory: %w", err)
	}
	s.static = &staticHandler{root: s.root}
	opened := false
	defer func() {
		if !opened {
			_ = s.closeAll()
		}
	}()

	group, err := witnessGroup(cfg.Witnesses, cfg.WitnessThreshold)
	if err != nil {
		return nil, err
	}
	s.witness = newWitnessMonitor(cfg.HTTPClient, cfg.Witnesses, group.N)
	driver, err := posix.New(ctx, posix.Config{Path: cfg.Dir, HTTPClient: s.witness.client})
	if err != nil {
		return nil, fmt.Errorf("log storage: %w", err)
	}
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithCheckpointInterval(cfg.CheckpointInterval).
		WithBatching(tessera.DefaultBatchMaxSize, sequencingBatchAge).
		WithWitnesses(group, &tessera.WitnessOptions{Timeout: cfg.WitnessTimeout})
	bgCtx, cancel := context.WithCancel(context.Background())
	s.bgCancel = cancel
	s.appender, s.shutdown, s.reader, err = tessera.NewAppender(bgCtx, driver, opts)
	if err != nil {
		return nil, fmt.Errorf("log storage: %w%s", err, s.witness.hint())
	}
	// Poll often: an add waits for the first poll after its checkpoint.
	s.awaiter = tessera.NewPublicationAwaiter(bgCtx, s.reader.ReadCheckpoint, min(cfg.CheckpointInterval/4, 50*time.Millisecond))

	if s.ix, err = openIndex(cfg.IndexDir, s.log); err != nil {
		return nil, err
	}
	if err := s.catchUp(ctx); err != nil {
		return nil, err
	}
	s.log.Info("release log open", "dir", cfg.Dir, "origin", s.origin, "verifier_key", s.vkey,
		"size", s.next, "witnesses", len(cfg.Witnesses), "witness_threshold", group.N)
	opened = true
	return s, nil
}

func (c *Config) fill() error {
	if c.Dir == "" {
		return errors.New("log directory not set")
	}
	if c.Key == "" {
		return errors.New("log signer key not set")
	}
	if c.IndexDir == "" {
		c.IndexDir = filepath.Join(c.Dir, IndexDirName)
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
	}
	if c.CheckpointInterval < 100*time.Millisecond {
		return fmt.Errorf("checkpoint interval %v is below the minimum of 100ms", c.CheckpointInterval)
	}
	if c.AddTimeout == 0 {
		c.AddTimeout = DefaultAddTimeout
	}
	if c.WitnessTimeout == 0 {
		c.WitnessTimeout = DefaultWitnessTimeout
	}
	if c.MaxNoteSize == 0 {
		c.MaxNoteSize = DefaultMaxNoteSize
	}
	if c.MaxNoteSize < 0 || c.MaxNoteSize > maxEntrySize {
		return fmt.Errorf("max note size %d is outside 1..%d", c.MaxNoteSize, maxEntrySize)
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ObserveConcurrency <= 0 {
		c.ObserveConcurrency = DefaultObserveConcurrency
	}
	if c.ObserveQueue <= 0 {
		c.ObserveQueue = DefaultObserveQueue
	}
	for _, ck := range c.CoreKeys {
		if ck.Ecosystem != "" && !isEcosystem(ck.Ecosystem) {
			return fmt.Errorf("core key: unknown ecosystem %q", ck.Ecosystem)
		}
		if _, err := release.NewVerifier(ck.Key); err != nil {
			return fmt.Errorf("core key: %w", err)
		}
	}
	for _, w := range c.Witnesses {
		if err := w.check(); err != nil {
			return err
		}
	}
	return nil
}

// checkOrigin refuses to open a log that an other key or origin wrote: its
// checkpoints would change identity mid-log.
func (s *Server) checkOrigin() error {
	cp, err := os.ReadFile(filepath.Join(s.cfg.Dir, layout.CheckpointPath))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading checkpoint: %w", err)
	}
	if _, _, _, err := f_log.ParseCheckpoint(cp, s.origin, s.v); err != nil {
		first, _, _ := strings.Cut(string(cp), "\n")
		return fmt.Errorf("the log in %s has origin %q and is not signed by this key (want origin %q): %w", s.cfg.Dir, first, s.origin, err)
	}
	return nil
}

// Origin returns the checkpoint origin line.
func (s *Server) Origin() string { return s.origin }

// VerifierKey returns the verifier key of the log's checkpoints, the key
// clients are configured with.
func (s *Server) VerifierKey() string { return s.vkey }

// Checkpoint returns the latest published checkpoint, with its witness
// cosignatures.
func (s *Server) Checkpoint(ctx context.Context) ([]byte, error) {
	return s.reader.ReadCheckpoint(ctx)
}

// Close stops accepting adds, waits until every entry that was queued is
// covered by a published checkpoint (or ctx ends), and closes the storage
// and the index. Adds still waiting get an error.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()

	var errs []error
	if err := s.shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("publishing the last entries: %w", err))
	}
	s.inflight.Wait()
	s.mu.Lock()
	if len(s.pending) == 0 && !s.resync {
		if err := s.ix.setWatermark(s.next); err != nil {
			errs = append(errs, fmt.Errorf("index: %w", err))
		}
	}
	s.mu.Unlock()
	if err := s.closeAll(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (s *Server) closeAll() error {
	var errs []error
	if s.bgCancel != nil {
		s.bgCancel()
	}
	if s.ix != nil {
		if err := s.ix.close(); err != nil {
			errs = append(errs, fmt.Errorf("closing index: %w", err))
		}
	}
	if s.root != nil {
		if err := s.root.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Handler returns the HTTP interface: the tlog-tiles read API
// (/checkpoint, /tile/...), POST /add and GET /lookup/{ecosystem}/{package}.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /checkpoint", s.static.serveCheckpoint)
	mux.HandleFunc("GET /tile/", s.static.serveTile)
	mux.HandleFunc("POST /add", s.handleAdd)
	mux.HandleFunc("GET /lookup/{eco}/{pkg...}", s.handleLookup)
	return mux
}

// readBody reads at most limit bytes of r, and reports a body that is
// larger as a refusal.
func readBody(r io.Reader, limit int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "reading the request body: %v", err)
	}
	if len(b) > limit {
		return nil, refuse(http.StatusRequestEntityTooLarge, "note is larger than the limit of %d bytes", limit)
	}
	return b, nil
}
