package npm

import "github.com/sigilproxy/sigil/proxy"

// Every packument request and every revalidation reads the upstream's
// packument, which proxy.Upstream answers with the same bytes while the
// upstream's copy is unchanged. Parsing it and digesting every version's
// manifest is most of the cost of a request for a package with many
// versions, so the result is kept (front.Parsed), by the packument's bytes
// and name, for both forms and for the tarball requests. Verdicts are not:
// they are made by the Checker, with the registry signatures checked (and
// a packument rendered from them kept only while the Checker says they are
// current and the registry's keys are the same).

// parsedVersionBytes is the memory of one version beyond the bytes of the
// packument, for front.Parsed's bound: its members, dist and facts and its
// entry in the index, measured together at about 2.4 KB for a version
// with the fields npm publishes.
const parsedVersionBytes = 2560

// parsedPackument is what is kept of a packument: the packument, and the
// index of its versions that tarball requests read. Nothing changes either
// once parsePackument made them.
type parsedPackument struct {
	p     *packument
	index *docIndex
}

// parse parses the upstream packument body of name, or returns what an
// earlier request with the same bytes made of it. The packument is shared:
// nothing may change it.
func (h *Handler) parse(doc *proxy.Document, name string) (*packument, *docIndex, error) {
	body := doc.Body
	pp, err := h.parsed.GetSum(doc.Digest(), name, func() (parsedPackument, int64, error) {
		p, err := parsePackument(body, name)
		if err != nil {
			return parsedPackument{}, 0, err
		}
		return parsedPackument{p, newDocIndex(p, doc.Digest())}, int64(len(body)) + parsedVersionBytes*int64(len(p.versions)), nil
	})
	return pp.p, pp.index, err
}
