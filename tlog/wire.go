package tlog

// This file is the wire contract between the log server (package
// tlog/server) and the verifying client in this package. Both sides import
// these types, so a change here is a change of protocol.

// LookupPath is the prefix of the lookup endpoint. The full path is
// LookupPath + ecosystem + "/" + package, for example
// "/lookup/composer/acme/foo" or "/lookup/npm/@acme/foo": the package name
// keeps its own slash, unescaped.
const LookupPath = "/lookup/"

// AddPath is the endpoint that takes one signed note per POST.
const AddPath = "/add"

// LookupResponse is the JSON body of GET /lookup/{ecosystem}/{package}.
//
// Checkpoint is the signed checkpoint note exactly as the log serves it at
// /checkpoint, with its witness cosignatures. Every entry's Proof is an
// RFC 6962 inclusion proof of the entry's leaf in the tree that checkpoint
// commits to. Entries hold every release statement of the package and every
// key event of each namespace that governs it, in ascending index order.
//
// The response proves that each listed entry is in the log; it cannot prove
// that no entry was left out. Only a full mirror of the log or a monitor
// sees omissions.
type LookupResponse struct {
	Checkpoint string        `json:"checkpoint"`
	Entries    []LookupEntry `json:"entries"`
}

// LookupEntry is one logged note with its inclusion proof.
type LookupEntry struct {
	// Index is the entry's position in the log.
	Index uint64 `json:"index"`
	// Note is the leaf data: the signed note's bytes, exactly as added.
	Note string `json:"note"`
	// Proof lists the sibling hashes from leaf to root (RFC 6962 §2.1.1),
	// each base64 (standard encoding) in JSON.
	Proof [][]byte `json:"proof"`
}

// AddResponse is the JSON body of a successful POST /add. The server answers
// only after the entry is covered by a published checkpoint.
type AddResponse struct {
	Index uint64 `json:"index"`
	// Existing is true when the same content was already logged and Index is
	// that earlier entry.
	Existing bool `json:"existing,omitempty"`
}
