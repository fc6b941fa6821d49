// Package tlog is the release log: the wire contract shared with the log
// server (package tlog/server) and the verifying client the proxy uses.
//
// # What the client guarantees
//
// A [Client] answers [Client.Lookup] with log entries only after it has
// proven all of the following, and refuses with an error otherwise:
//
//   - The checkpoint is signed by the configured log key and carries the
//     configured origin (C2SP tlog-checkpoint), and at least
//     Config.WitnessThreshold distinct configured witnesses cosigned it
//     (C2SP tlog-cosignature, cosignature/v1), each no longer ago than
//     Config.MaxCosignatureAge. Signatures by keys that are not configured
//     are ignored.
//   - The checkpoint lies on the same history as the latest checkpoint this
//     proxy ever verified, which the [CheckpointStore] keeps across
//     restarts: a larger checkpoint is proven to extend it, a smaller one to
//     be a prefix of it, an equal-sized one to have the same root. The stored
//     checkpoint only ever moves forward.
//   - Every entry is in the tree of that checkpoint (RFC 6962 inclusion
//     proof of the leaf hash of the note bytes), and the entries are in
//     strictly ascending index order.
//
// Observations (sigil-observed/v1 notes, the log's own record of a
// version it fetched from a registry it observes) are taken out of the
// entries into Lookup.Observations, each checked to be signed by the log
// key and to concern the package asked about. An observation at an index
// the stored checkpoint (as it was before the lookup) does not contain,
// dated more than BackdateSlack before the time by which the threshold of
// witnesses cosigned that checkpoint, is a *SecurityError of kind
// "backdated": the log signed a time it cannot have observed at. Without
// witnesses a checkpoint carries no time and this cannot be checked.
//
// What it cannot guarantee: that the log returned every entry of a package.
// A log that leaves entries out of a lookup is seen only by a full mirror
// of the log or a monitor (see the README).
//
// # Verify, then cache
//
// Consistency proofs are computed by the client itself from the log's tiles
// (C2SP tlog-tiles, height 8), as golang.org/x/mod/sumdb does: tile data is
// suspect until the whole set of tiles used hashes to the root of a signed
// checkpoint, and even then it is written to the [TileCache] only once that
// checkpoint has been proven consistent with the stored one. A tile that
// does not hash to the root is an error that names the tile and the
// checkpoint; it is not a proof of misbehaviour (a broken cache or proxy in
// front of the log can cause it), so it refuses the lookup but does not stop
// the client.
//
// # Security errors: fail closed
//
// Two signed checkpoints that cannot both be true (same size and different
// roots, or a consistency proof that fails) are proof that the log forked or
// was rolled back. The client reports that as a [*SecurityError], whose text
// is self-contained: both signed checkpoints, the proof and what failed, so
// an operator can hand it to the log's operators or a witness and anyone can
// check it without asking the log. The text is recorded with
// [CheckpointStore.RecordSecurityError], and from then on every Client over
// that store refuses every lookup (errors.Is(err, [ErrSecurity])), including
// after a restart.
//
// The package never clears that state itself. To proceed, an operator reads
// the evidence, settles with the log's operators what happened, and then
// deliberately resets the proxy's stored log state (the store's
// implementation says how; for the proxy's Badger store that is deleting its
// log state) so that the next lookup trusts the log's checkpoint anew. Tiles
// in the TileCache were verified against checkpoints of the old history;
// reset them together with the checkpoint.
//
// # Evaluation
//
// [Evaluate] is the pure half: from verified entries it computes, in log
// order, the keys valid for each namespace of one package (release.Keyring
// applies every key rule; this package only feeds it), the user's pinned
// vendor keys, and the valid statements per version. Two different valid
// statements for one version are reported as an [Equivocation] and the
// version gets no valid statement. Several entries with the same statement
// text are one statement, valid if any of them carries a signature valid at
// its place in the log: that is how a release re-signed with a new key
// after a revoke becomes valid again (the log admits a new signer of a
// logged text as a new entry). Entries the rules refuse are listed with
// the reason, break-glass refusals marked, so the proxy can show them.
//
// [Lookup.Evaluate] is the same over a Client's lookup, with one
// difference in cost, none in outcome: the Client remembers the outcome of
// each signature check it made (a bounded LRU keyed by the hash of key,
// note text and signature, release.SigMemo), so a warm lookup checks only
// the checkpoint's signatures and the inclusion proofs. Which keys count at
// which index is replayed from the entries every time.
package tlog
