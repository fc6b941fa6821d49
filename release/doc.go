// Package release is what sigil's vendors sign and what everyone else
// checks: release statements ("this version of this package has exactly this
// content"), key events ("this key may, or may no longer, sign for this
// namespace"), the signed notes that carry them, package and namespace names,
// and the Keyring that replays key events in log order to decide which
// signatures count.
//
// Everything here is a pure function of its inputs: no I/O, no network, no
// clock, no global state. The log server (admitting entries) and the log
// client (judging them) call the same code on the same log, and so reach the
// same answer.
//
// Parsing is strict, because these texts are compared and logged as bytes
// and come from untrusted parties. A note text has exactly one encoding:
// a header line, then "key value" lines in a fixed order, each at most once,
// no empty lines, no CR, no surrounding white space, a final newline, and
// canonical values (lowercase hex, canonical base64, lowercase key hashes).
// Text(Parse(x)) == x for every x a parser accepts. Every input is bounded
// by MaxNoteSize before it is parsed, and every parse error names the line
// that broke it, quoted and truncated so that hostile input cannot flood a
// log. Only Ed25519 keys are accepted.
package release
