package proxy

import (
	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/tlog"
)

// evaluateLookup interprets the proven entries of a lookup with
// Lookup.Evaluate (which remembers verified signatures), under the
// policy's core keys, vendor key pins and the package's break-glass
// setting, and hands the result to the policy as it is, with the lookup's
// observations: the log's own types, no copy.
func (v *Verifier) evaluateLookup(lk *tlog.Lookup) *policy.Evidence {
	s := v.policy.For(lk.Package)
	t, err := lk.Evaluate(v.policy.CoreKeys[lk.Ecosystem], v.policy.VendorKeys, s.BreakGlass)
	if err != nil {
		return &policy.Evidence{Err: err}
	}
	return &policy.Evidence{Trust: t, Observations: lk.Observations}
}
