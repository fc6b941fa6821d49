// Package server is sigil's release log: a C2SP tlog-tiles transparency log
// on Tessera (POSIX storage in one directory) whose entries are signed
// release statements and key events, each admitted only if the key chain
// rooted in the ecosystem's core key authorizes it at that point of the log.
//
// # HTTP interface
//
// Read API, exactly as C2SP tlog-tiles and tlog-checkpoint specify, served
// straight from the storage directory:
//
//	GET /checkpoint                 text/plain; charset=utf-8, Cache-Control: no-cache
//	GET /tile/<L>/<N>[.p/<W>]       application/octet-stream, immutable
//	GET /tile/entries/<N>[.p/<W>]   application/octet-stream, immutable, gzip if accepted
//
// Only paths in the specs' canonical form are served, through an os.Root
// on the directory; anything else (directories, Tessera's .state/, the
// index, temporary files) is 404. The checkpoint's origin line is the log
// key's name (or Config.Origin), it is signed by the log key, and it
// carries the cosignatures (C2SP tlog-cosignature, cosignature/v1) of the
// configured witnesses, which Tessera collects over C2SP tlog-witness
// before it publishes a checkpoint.
//
//	POST /add
//
// The body is one signed note (at most Config.MaxNoteSize bytes): a release
// statement or a key event (see package release). The answer is
// tlog.AddResponse as JSON, sent only once a published checkpoint covers
// the entry, so the entry is immediately provable. Refusals are a 4xx
// status with one line of text/plain saying why:
//
//	400  the note is malformed (the reason names the line)
//	403  the keyring refuses it: no signature by a key active for the
//	     package's namespaces at this point of the log, or a key event
//	     not signed by a key of the namespace (or the core key), or one
//	     that does not fit the key's state (re-adding a retired key, ...)
//	409  another statement for the same ecosystem, package and version is
//	     logged; the reason names its index
//	413  the body is too large
//	503  the log is shutting down, or no checkpoint covering the entry was
//	     published in time (the entry is in the log; the reason says which
//	     witnesses failed); retrying answers with the entry's index
//
// Admission is by signer, not by text. A note is its text and its
// signatures: a note with no signature by a key authorized at this point
// of the log is refused with 403, even when its text is already logged.
// The same text with the same authorized signers answers the entry that
// has them, with Existing set. The same text with a new authorized signer
// is a new entry: a vendor re-signs an old release with a new key after a
// revoke (clients count a statement valid if any entry of its text is),
// or logs its own key event after an identical core-signed one. Key events
// are judged both with and without break-glass (a client refusing
// break-glass must see its vendor's own events); statements only with. A
// key event whose signature lines are all those of a logged entry is a
// replay and answers that entry: a logged key event is public, and logging
// it again would let anyone replay an old "add" after a "retire".
//
//	GET /lookup/{ecosystem}/{package}
//
// The package name keeps its slash ("/lookup/composer/acme/foo",
// "/lookup/npm/@acme/foo"). With Config.Observer set, each "version"
// query parameter (at most MaxLookupVersions) names a version to observe
// first: if the observed registry lists it and the log has no observation
// of it, the log downloads and hashes it and logs a sigil-observed/v1 note
// signed by the log key, before it answers (429 with Retry-After when
// more observations are queued than Config.ObserveQueue; 502 when the
// registry fails). One observation per version, ever: the decision and the
// append happen under the admission lock after a check of the index, and a
// crash before Tessera sequenced the entry leaves nothing, after it the
// catch-up indexes it. POST /add refuses observations (403): only the log
// makes them. The answer is tlog.LookupResponse as JSON:
//
//	{
//	  "checkpoint": "<the published checkpoint note, with cosignatures>",
//	  "entries": [
//	    {"index": 0, "note": "<signed note>", "proof": ["<base64 hash>", ...]},
//	    ...
//	  ]
//	}
//
// entries holds every release statement and observation of the package
// and every key event of each namespace that governs it (release.Namespaces: "acme" and
// "acme/foo"; "@acme" and "@acme/foo"; npm "foo"), that the checkpoint
// covers, in ascending index order, refused or not by today's keyring:
// the client replays them. proof is the RFC 6962 inclusion proof of the
// entry (leaf hash SHA-256(0x00 || note)) in the tree of the returned
// checkpoint, built from the tiles of exactly that tree size. A package with
// no entries gets the checkpoint and an empty list. An invalid package name
// is 400. The answer proves that each entry is in the log, not that none
// was left out.
//
// # Admission and ordering
//
// Admission decisions are serialized: the authority and uniqueness checks
// of one note, and the call that queues it in Tessera, happen under one
// lock, and Tessera keeps queue order, so the log order is the decision
// order. A key event is logged and its index awaited before the lock is
// released, and only then applied to the keyring at that index; statements
// are queued without waiting, and a second add of a version still on its
// way waits for the first. Nothing is answered before it is durably
// sequenced (Tessera's POSIX storage writes entry bundles, tiles and tree
// state with fsync before an index is returned) and published.
//
// # Checkpoints and proofs
//
// Tessera publishes a checkpoint at most every Config.CheckpointInterval
// (default 1s) while the log grows, after the witnesses cosigned it, and
// republishes an unchanged one every ten minutes so that cosignatures stay
// fresh. An add therefore takes about one interval. Lookup proofs are
// built from the log's own tiles for exactly the size of the checkpoint
// returned; each tile, immutable for its (level, index, width), is expanded
// once into all its inner nodes and kept in an LRU, so a lookup of a
// hundred entries costs about a millisecond.
//
// # Index
//
// A Badger database beside the log (Dir/.sigil-index) maps (ecosystem,
// package) to statements, (ecosystem, namespace) to key events, and
// (ecosystem, package, version) to the first statement's index; each value
// is the logged note. A watermark records up to which size every entry is
// indexed. On start the index is caught up from the entry bundles (from
// the watermark to the log's size: a kill -9 between Tessera's write and
// ours loses nothing), rebuilt from scratch if it is missing or claims more
// than the log holds, and the keyrings are rebuilt by replaying every
// logged key event in log order.
//
// # Logging
//
// The server logs through the *slog.Logger in Config. Tessera itself logs
// through klog; the command routes that to the same handler.
package server
