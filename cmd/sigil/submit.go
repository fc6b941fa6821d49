package main

import (
	"context"
	"net/http"
	"sync"

	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

// maxInFlight bounds the notes submitted at once. The log answers an add
// only once a checkpoint covers it, so notes submitted one after another
// cost a checkpoint interval each; submitted together they share one.
const maxInFlight = 128

// submitted is the log's answer to one note.
type submitted struct {
	resp tlog.AddResponse
	err  error
	sent bool // false: not submitted, because an earlier step failed
}

// submitNotes submits msgs to the log at addURL and returns the answers
// in the same order. Consecutive statements go concurrently: none depends
// on another. A key event is a barrier: it is submitted alone, after
// everything before it was admitted, because what follows may need the
// key it adds (and what precedes it, the key it retires). After a step
// with a failure nothing more is submitted.
func submitNotes(ctx context.Context, client *http.Client, addURL string, msgs [][]byte) []submitted {
	out := make([]submitted, len(msgs))
	for start := 0; start < len(msgs); {
		end := start + 1
		if !isKeyEvent(msgs[start]) {
			for end < len(msgs) && !isKeyEvent(msgs[end]) {
				end++
			}
		}
		var wg sync.WaitGroup
		sem := make(chan struct{}, maxInFlight)
		for i := start; i < end; i++ {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				r, err := postNote(ctx, client, addURL, msgs[i])
				out[i] = submitted{resp: r, err: err, sent: true}
			}()
		}
		wg.Wait()
		for i := start; i < end; i++ {
			if out[i].err != nil {
				return out
			}
		}
		start = end
	}
	return out
}

// isKeyEvent reports whether a signed note's text is a key event.
func isKeyEvent(msg []byte) bool {
	st, err := parseUnverifiedText(msg)
	if err != nil {
		return false
	}
	_, ok := st.(*release.KeyEvent)
	return ok
}
