package composer

import "github.com/sigilproxy/sigil/proxy"

// Every metadata request and every revalidation reads the upstream's p2
// document, which proxy.Upstream answers with the same bytes while the
// upstream's copy is unchanged. Parsing, expanding and digesting it is
// most of the cost of a request for a package with many versions, so the
// result is kept (front.Parsed), by the document's bytes and package.
// Verdicts are not: they are made by the Checker (and a document rendered
// from them kept only while the Checker says they are current).

// parsedVersionBytes is the memory of one version beyond the bytes of the
// document, for front.Parsed's bound: its expanded members, its facts and
// its entry in the archive index, measured together at about 1.6 KB for a
// version with the fields Packagist publishes.
const parsedVersionBytes = 2048

// parsedP2 is what is kept of a p2 document: the document, and the
// index of its archives that the archive requests after it read. Nothing
// changes either once parseP2 made them.
type parsedP2 struct {
	doc   *p2Doc
	index *docIndex
}

// parse parses the upstream p2 document body for pkg, or returns what an
// earlier request with the same bytes made of it. The document is shared:
// nothing may change it.
func (h *Handler) parse(doc *proxy.Document, pkg string) (*p2Doc, *docIndex, error) {
	body := doc.Body
	p, err := h.parsed.GetSum(doc.Digest(), pkg, func() (parsedP2, int64, error) {
		d, err := parseP2(body, pkg)
		if err != nil {
			return parsedP2{}, 0, err
		}
		return parsedP2{d, newDocIndex(d, doc.Digest())}, int64(len(body)) + parsedVersionBytes*int64(len(d.entries)), nil
	})
	return p.doc, p.index, err
}
