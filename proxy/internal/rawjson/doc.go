// Package rawjson splits JSON documents from an upstream registry without
// decoding them: a document is validated once (Validate), and everything
// read from it afterwards is a slice of it, found by counting brackets and
// quotes. Values stay the upstream's bytes, so a front re-encodes nothing
// it does not change, and what it did not change reaches the client byte
// for byte.
//
// What it guarantees:
//
//   - Validate refuses what either client would: invalid JSON, and
//     invalid UTF-8 (PHP's json_decode refuses it; Node decodes it to
//     U+FFFD, which could make two different names one). Its error names
//     the offset and never echoes the document.
//   - On a valid document, Members and Elements find exactly the members
//     and elements encoding/json finds, in document order, duplicates
//     included (what a duplicate means is the caller's: PHP and
//     JSON.parse both keep the last). Member names are decoded; values
//     are slices of the input with their capacity cut, so appending to
//     one cannot write into the document.
//   - On any other input they fail or return nonsense, but never panic or
//     loop: the fuzz targets hold them to this and to encoding/json.
//   - Describe and the errors here name JSON types, never content, so
//     nothing untrusted reaches a message through them.
//
// The package knows nothing of Composer or npm: the object models (a PHP
// array, a JSON.parse object) are each front's.
package rawjson
