package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"

	"github.com/transparency-dev/tessera"

	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

// pendingAdd is a statement that was queued in the log but whose index is
// not yet known or not yet indexed. A second add of the same version waits
// for it instead of deciding against an index that does not show it yet.
type pendingAdd struct {
	future tessera.IndexFuture // memoized by Tessera: safe to call again
	done   chan struct{}       // closed once idx and err are set
	idx    uint64
	err    error
}

// Add admits one signed note into the log and returns its index once a
// published checkpoint covers it. A note the log will not admit is a
// *RefusedError; other errors are failures of the log itself.
func (s *Server) Add(ctx context.Context, msg []byte) (tlog.AddResponse, error) {
	if len(msg) > s.cfg.MaxNoteSize {
		return tlog.AddResponse{}, refuse(http.StatusRequestEntityTooLarge, "note is larger than the limit of %d bytes", s.cfg.MaxNoteSize)
	}
	text, err := noteText(msg)
	if err != nil {
		return tlog.AddResponse{}, refuse(http.StatusBadRequest, "%v", err)
	}
	parsed, err := release.ParseText(text)
	if err != nil {
		return tlog.AddResponse{}, refuse(http.StatusBadRequest, "%v", err)
	}
	switch v := parsed.(type) {
	case *release.Statement:
		return s.addStatement(ctx, msg, text, v)
	case *release.KeyEvent:
		return s.addKeyEvent(ctx, msg, text, v)
	case *release.Observation:
		return tlog.AddResponse{}, refuse(http.StatusForbidden,
			"%s package %s version %s: observations are made by the log itself, from the registry it observes, never submitted", v.Ecosystem, v.Package, v.Version)
	}
	return tlog.AddResponse{}, refuse(http.StatusBadRequest, "unknown note type %T", parsed)
}

// noteText returns the text of a signed note: everything up to and
// including the newline before the last blank line. It checks only the
// shape; the signatures are checked by the keyring.
func noteText(msg []byte) ([]byte, error) {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return nil, errors.New("malformed note: no signatures (a signed note is text, a blank line, then signature lines)")
	}
	return msg[:i+1], nil
}

func (s *Server) addStatement(ctx context.Context, msg, text []byte, st *release.Statement) (tlog.AddResponse, error) {
	vkey := string(versionKey(st.Ecosystem, st.Package, st.Version))
	for {
		s.mu.Lock()
		if err := s.admissibleLocked(ctx); err != nil {
			s.mu.Unlock()
			return tlog.AddResponse{}, err
		}
		if p := s.pending[vkey]; p != nil {
			// The same version is on its way into the log: wait for its
			// index, then decide again against the index (same text, same
			// signers: the existing entry).
			s.mu.Unlock()
			select {
			case <-p.done:
			case <-ctx.Done():
				return tlog.AddResponse{}, ctx.Err()
			}
			continue
		}
		// Every key event before this statement in the log has its index
		// (see logKeyEventLocked), and s.next is above all of them: the
		// authority judges the statement at its place in the log, whatever
		// the log already holds.
		signers, err := s.auth[st.Ecosystem].checkStatement(s.next, msg)
		if err != nil {
			s.mu.Unlock()
			return tlog.AddResponse{}, refuse(http.StatusForbidden, "%s package %s version %s: %v", st.Ecosystem, st.Package, st.Version, err)
		}
		prev, found, err := s.ix.version(st.Ecosystem, st.Package, st.Version)
		if err != nil {
			s.mu.Unlock()
			return tlog.AddResponse{}, err
		}
		if found {
			if prevText, _ := noteText(prev.note); !bytes.Equal(prevText, text) {
				s.mu.Unlock()
				return tlog.AddResponse{}, refuse(http.StatusConflict,
					"%s package %s version %s is already logged at index %d with different content", st.Ecosystem, st.Package, st.Version, prev.idx)
			}
			// The same statement: the same signers answer the entry that
			// has them; a new signer (a vendor re-signing after a revoke)
			// is a new entry, which is what makes the statement valid again.
			idx, same, err := s.sameSignersLocked(statementPrefix(st.Ecosystem, st.Package), text, signers)
			if err != nil || same {
				s.mu.Unlock()
				if err != nil {
					return tlog.AddResponse{}, err
				}
				return s.awaitPublished(ctx, idx, true)
			}
		}
		p := &pendingAdd{done: make(chan struct{})}
		p.future = s.appender.Add(context.WithoutCancel(ctx), tessera.NewEntry(msg))
		want := s.next
		s.next++
		s.pending[vkey] = p
		s.inflight.Add(1)
		s.mu.Unlock()

		idx, err := s.finishStatement(p, vkey, want, msg, st)
		if err != nil {
			return tlog.AddResponse{}, err
		}
		return s.awaitPublished(ctx, idx, false)
	}
}

// finishStatement waits for the log to assign the queued statement its
// index and indexes it, so that the lookup shows it before the add
// answers.
func (s *Server) finishStatement(p *pendingAdd, vkey string, want uint64, msg []byte, st *release.Statement) (uint64, error) {
	defer s.inflight.Done()
	i, err := p.future()
	if err == nil {
		err = s.ix.put([]entryKeys{statementKeys(i.Index, msg, st.Ecosystem, st.Package, st.Version)}, 0)
		if err != nil {
			err = fmt.Errorf("entry %d was logged, but indexing it failed (it is indexed again on restart): %w", i.Index, err)
		}
	} else {
		err = fmt.Errorf("adding to the log: %w", err)
	}

	s.mu.Lock()
	delete(s.pending, vkey)
	if err != nil || i.Index != want {
		// The log's numbering no longer matches ours (a failed batch), or
		// the index misses an entry: recompute both before the next
		// decision.
		s.resync = true
	}
	if len(s.pending) == 0 && !s.resync {
		if werr := s.ix.setWatermark(s.next); werr != nil {
			s.log.Warn("index watermark not saved", "err", werr)
		}
	}
	p.idx, p.err = i.Index, err
	close(p.done)
	s.mu.Unlock()
	if err != nil {
		s.log.Error("add failed", "err", err)
		return 0, err
	}
	s.log.Info("statement logged", "index", i.Index, "ecosystem", st.Ecosystem, "package", st.Package, "version", st.Version)
	return i.Index, nil
}

func (s *Server) addKeyEvent(ctx context.Context, msg, text []byte, ev *release.KeyEvent) (tlog.AddResponse, error) {
	s.mu.Lock()
	if err := s.admissibleLocked(ctx); err != nil {
		s.mu.Unlock()
		return tlog.AddResponse{}, err
	}
	if idx, ok, err := s.replayedLocked(keyEventPrefix(ev.Ecosystem, ev.Namespace), text, msg); err != nil || ok {
		s.mu.Unlock()
		if err != nil {
			return tlog.AddResponse{}, err
		}
		return s.awaitPublished(ctx, idx, true)
	}
	signers, err := s.auth[ev.Ecosystem].checkEvent(s.next, msg)
	if err != nil {
		s.mu.Unlock()
		return tlog.AddResponse{}, refuse(http.StatusForbidden, "%s namespace %s: %v", ev.Ecosystem, ev.Namespace, err)
	}
	// A new authorized signer of a logged event (a vendor's own revoke
	// after an identical core-signed one) is a new entry, so that clients
	// that refuse break-glass see the vendor's own event.
	if idx, same, err := s.sameSignersLocked(keyEventPrefix(ev.Ecosystem, ev.Namespace), text, signers); err != nil || same {
		s.mu.Unlock()
		if err != nil {
			return tlog.AddResponse{}, err
		}
		return s.awaitPublished(ctx, idx, true)
	}
	idx, err := s.logKeyEventLocked(ctx, msg, ev)
	s.mu.Unlock()
	if err != nil {
		return tlog.AddResponse{}, err
	}
	return s.awaitPublished(ctx, idx, false)
}

// logKeyEventLocked logs a key event the authority admitted, waits for
// its index and applies it at that index: every later decision may depend
// on it, so none is made before its place in the log is fixed. s.mu is
// held throughout, since the admission.
func (s *Server) logKeyEventLocked(ctx context.Context, msg []byte, ev *release.KeyEvent) (uint64, error) {
	idx, err := s.appendLocked(ctx, msg, func(idx uint64) entryKeys {
		return keyEventKeys(idx, msg, ev.Ecosystem, ev.Namespace)
	})
	if err != nil {
		return 0, err
	}
	if err := s.auth[ev.Ecosystem].apply(idx, msg); err != nil {
		// Cannot happen: nothing changed the keyrings since checkEvent. If
		// it does, the log has the event and the rebuild replays it.
		s.resync = true
		s.log.Error("logged key event not applied to the keyring", "index", idx, "err", err)
	}
	s.log.Info("key event logged", "index", idx, "ecosystem", ev.Ecosystem, "namespace", ev.Namespace,
		"action", string(ev.Action), "key", ev.Key)
	return idx, nil
}

// appendLocked logs msg, waits for its index and indexes it under the keys
// keysAt gives for that index, so that a lookup shows it before the add
// answers. s.mu is held throughout: every later decision may depend on it.
func (s *Server) appendLocked(ctx context.Context, msg []byte, keysAt func(uint64) entryKeys) (uint64, error) {
	s.inflight.Add(1)
	defer s.inflight.Done()
	i, err := s.appender.Add(context.WithoutCancel(ctx), tessera.NewEntry(msg))()
	if err != nil {
		s.resync = true
		return 0, fmt.Errorf("adding to the log: %w", err)
	}
	if i.Index != s.next {
		s.resync = true
	}
	s.next = i.Index + 1
	if err := s.ix.put([]entryKeys{keysAt(i.Index)}, 0); err != nil {
		s.resync = true
		return 0, fmt.Errorf("entry %d was logged, but indexing it failed (it is indexed again on restart): %w", i.Index, err)
	}
	if len(s.pending) == 0 && !s.resync {
		if err := s.ix.setWatermark(s.next); err != nil {
			s.log.Warn("index watermark not saved", "err", err)
		}
	}
	return i.Index, nil
}

// replayedLocked finds an entry under prefix with the same text whose
// signatures include every signature line of msg: msg is a replay of a
// logged note (Ed25519 signatures are deterministic, so one key signs one
// text one way). A replayed key event answers the existing index and
// changes nothing: its signed note is public, so logging it again would
// let anyone replay, say, an old "add" after the key's "retire" and bring
// the key back.
func (s *Server) replayedLocked(prefix, text, msg []byte) (uint64, bool, error) {
	sigs := msg[len(text)+1:]
	entries, err := s.ix.scan(prefix, math.MaxUint64)
	if err != nil {
		return 0, false, err
	}
	for _, e := range entries {
		t, err := noteText(e.note)
		if err != nil || !bytes.Equal(t, text) {
			continue
		}
		have := e.note[len(t)+1:]
		all := true
		for line := range bytes.Lines(sigs) {
			if !bytes.Contains(have, line) {
				all = false
				break
			}
		}
		if all {
			return e.idx, true, nil
		}
	}
	return 0, false, nil
}

// sameSignersLocked finds an entry under prefix with the same text that
// every one of signers signed: the note adds no signer to the log.
func (s *Server) sameSignersLocked(prefix, text []byte, signers []string) (uint64, bool, error) {
	entries, err := s.ix.scan(prefix, math.MaxUint64)
	if err != nil {
		return 0, false, err
	}
	for _, e := range entries {
		if t, err := noteText(e.note); err != nil || !bytes.Equal(t, text) {
			continue
		}
		if got, err := release.SignedBy(e.note, signers); err == nil && len(got) == len(signers) {
			return e.idx, true, nil
		}
	}
	return 0, false, nil
}

// admissibleLocked refuses adds once the server is closing, and brings the
// admission state back in line with the log after a failed add.
func (s *Server) admissibleLocked(ctx context.Context) error {
	if s.closed {
		return refuse(http.StatusServiceUnavailable, "the log is shutting down")
	}
	if s.resync {
		if err := s.resyncLocked(ctx); err != nil {
			return fmt.Errorf("recovering from a failed add: %w", err)
		}
	}
	return nil
}

// resyncLocked recomputes the next index, the index and the keyrings from
// the log, after an add failed or got an index other than predicted. It
// waits for every queued statement to get its index first, so that the
// log's size is final.
func (s *Server) resyncLocked(ctx context.Context) error {
	for _, p := range s.pending {
		_, _ = p.future()
	}
	if err := s.catchUp(ctx); err != nil {
		return err
	}
	s.resync = false
	return nil
}

// awaitPublished waits until a published checkpoint covers idx.
func (s *Server) awaitPublished(ctx context.Context, idx uint64, existing bool) (tlog.AddResponse, error) {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.AddTimeout)
	defer cancel()
	_, _, err := s.awaiter.Await(wctx, func() (tessera.Index, error) { return tessera.Index{Index: idx}, nil })
	if err != nil {
		if ctx.Err() != nil {
			return tlog.AddResponse{}, ctx.Err()
		}
		if wctx.Err() != nil {
			return tlog.AddResponse{}, refuse(http.StatusServiceUnavailable,
				"entry %d is in the log, but no checkpoint covering it was published within %v%s", idx, s.cfg.AddTimeout, s.witness.hint())
		}
		return tlog.AddResponse{}, fmt.Errorf("waiting for a checkpoint covering entry %d: %w", idx, err)
	}
	return tlog.AddResponse{Index: idx, Existing: existing}, nil
}
