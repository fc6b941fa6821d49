package policy

import "strings"

// Action is what the proxy does with a version or an archive.
type Action uint8

const (
	// Allow serves it as verified (or as permitted unsigned, per policy).
	Allow Action = iota
	// Warn serves it but reports why it would have been blocked: in the
	// structured log, a response header and the client-visible warnings.
	Warn
	// Block keeps it from the client: removed from metadata, archive
	// refused with 410 and the reasons.
	Block
)

func (a Action) String() string {
	switch a {
	case Allow:
		return "allow"
	case Warn:
		return "warn"
	case Block:
		return "block"
	}
	return "invalid"
}

// Verdict is the decision about one version of one package, with the
// reasons a person needs to act on it. Reasons are complete sentences that
// name the package, the version and the problem; they are shown to clients.
// The one reason about the package as a whole, the unsigned = warn
// policy's notice, names the package only: it is the same sentence for
// every version, so it can be told once per package.
type Verdict struct {
	Action  Action
	Reasons []string
	// Signed is true when a valid logged statement covers the version and
	// everything checked so far matched it.
	Signed bool
	// Failed is true when verification failed: the reasons block the
	// version in enforce mode. In warn mode such a verdict is a Warn; a
	// Warn that did not fail is an unsigned version served under the
	// unsigned = warn policy. The proxy never caches the bytes of a failed
	// verdict as verified.
	Failed bool
	// NoticeOnly is true for a Warn whose one reason is the unsigned =
	// warn policy's notice that the package is unsigned: nothing failed
	// and nothing is wrong with the version or its archive. The notice is
	// about the package, so the fronts tell it once per package, with the
	// metadata, and not again with each archive; any other reason (a
	// registry signature problem, a failed check) makes it false.
	NoticeOnly bool
}

// Blocked reports whether the version must be kept from the client.
func (v Verdict) Blocked() bool { return v.Action == Block }

// Reason joins the reasons into one line for headers and log attributes.
func (v Verdict) Reason() string { return strings.Join(v.Reasons, "; ") }
