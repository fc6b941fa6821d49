package tlog

import (
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	flog "github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// FuzzCheckpoint feeds arbitrary notes to the checkpoint policy: it must
// never panic, and whatever it accepts must be signed by the log with the
// right origin and carry the required cosignatures.
func FuzzCheckpoint(f *testing.F) {
	skey, vkey, _ := note.GenerateKey(rand.Reader, "log.example")
	wskey, wvkey, _ := note.GenerateKey(rand.Reader, "witness.example")
	signer, _ := note.NewSigner(skey)
	wsigner, _ := fnote.NewSignerForCosignatureV1(wskey)
	p, err := newCheckpointPolicy(Config{LogKey: vkey, Witnesses: []string{wvkey}})
	if err != nil {
		f.Fatal(err)
	}
	text := flog.Checkpoint{Origin: "log.example", Size: 7, Hash: make([]byte, 32)}.Marshal()
	good, _ := note.Sign(&note.Note{Text: string(text)}, signer, wsigner)
	logOnly, _ := note.Sign(&note.Note{Text: string(text)}, signer)
	f.Add(good)
	f.Add(logOnly)
	f.Add(append(text, "\n— x AAAA\n"...))
	f.Add([]byte("log.example\n18446744073709551615\nAAAA\n\n— log.example AAAAAAAA\n"))
	now := time.Now()
	f.Fuzz(func(t *testing.T, raw []byte) {
		cp, err := p.verify(raw, now)
		if err != nil {
			return
		}
		if cp.Origin != "log.example" || len(cp.Cosignatures) != 1 {
			t.Fatalf("accepted %q: %+v", raw, cp)
		}
	})
}

// FuzzParseLookupResponse feeds arbitrary bodies to the lookup parser: it
// must never panic, and what it accepts must have the promised shape.
func FuzzParseLookupResponse(f *testing.F) {
	good, _ := json.Marshal(LookupResponse{Checkpoint: "x\n1\nAAAA\n\n— x AAAA\n", Entries: []LookupEntry{
		{Index: 0, Note: "a\n", Proof: [][]byte{make([]byte, 32)}},
		{Index: 3, Note: "b\n", Proof: nil},
	}})
	f.Add(good)
	f.Add([]byte(`{"checkpoint":"c","entries":[{"index":2,"note":"n"},{"index":1,"note":"m"}]}`))
	f.Add([]byte(`{"checkpoint":"c","entries":[{"index":1,"note":"n","proof":["AAAA"]}]}`))
	f.Add([]byte(`{"checkpoint":"c"} {}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseLookupResponse(body)
		if err != nil {
			return
		}
		if r.Checkpoint == "" {
			t.Fatal("accepted a response without checkpoint")
		}
		for i, e := range r.Entries {
			if i > 0 && e.Index <= r.Entries[i-1].Index || e.Note == "" || len(e.Proof) > maxProofHashes {
				t.Fatalf("accepted entry %d: %+v", i, e)
			}
			for _, h := range e.Proof {
				if len(h) != 32 {
					t.Fatalf("accepted a %d-byte proof hash", len(h))
				}
			}
		}
	})
}
