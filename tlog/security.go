package tlog

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrSecurity matches (errors.Is) every error that stems from proven log
// misbehaviour: a *SecurityError, and the refusal of a client that has
// recorded one.
var ErrSecurity = errors.New("release log misbehaviour detected")

// SecurityError is proof that the log signed two checkpoints that cannot
// both be true: the log forked, or was rolled back and grew again.
//
// Its text (Error and String) is self-contained: it holds both signed
// checkpoints in full and the consistency proof, so whoever receives it can
// check it with any RFC 6962 implementation and the log's public key,
// without asking the log.
type SecurityError struct {
	// Kind is "fork" (the received checkpoint is not smaller than the
	// stored one), "rollback" (it is smaller) or "backdated" (an
	// observation in the received checkpoint is dated before the stored
	// checkpoint, which does not contain it, was cosigned).
	Kind string
	// Log is the URL of the log; Origin its origin line.
	Log    string
	Origin string
	// Stored is the signed checkpoint this proxy had verified before;
	// Received is the one the log served now. Both exactly as signed.
	Stored   []byte
	Received []byte
	// ReceivedFrom is the URL the received checkpoint came with.
	ReceivedFrom string
	// Smaller and Larger are the two tree sizes. Proof is the consistency
	// proof from Smaller to Larger built from tiles that hash to the
	// larger checkpoint's root, and SmallerRoot the root of the first
	// Smaller entries according to those tiles. Both are empty when the
	// sizes are equal: two roots for one size need no proof.
	Smaller, Larger uint64
	Proof           [][]byte
	SmallerRoot     []byte
	// Entry and EntryIndex are, for "backdated", the signed observation
	// and its index in the received checkpoint's tree (proven by an
	// inclusion proof; anyone can fetch it again from the log's tiles).
	Entry      []byte
	EntryIndex uint64
	// Failed says what did not hold.
	Failed string
	// Time is when the client detected it.
	Time time.Time
}

func (e *SecurityError) Is(target error) bool { return target == ErrSecurity }

func (e *SecurityError) Error() string { return e.String() }

// String is the evidence: a text to hand to the log's operators, a witness
// or anyone who wants to check it.
func (e *SecurityError) String() string {
	var b strings.Builder
	indent := func(note []byte) string {
		return "\t" + strings.ReplaceAll(strings.TrimSuffix(string(note), "\n"), "\n", "\n\t") + "\n"
	}
	fmt.Fprintf(&b, "SECURITY ERROR\n")
	fmt.Fprintf(&b, "release log misbehaviour detected (%s): %s\n\n", e.Kind, e.Failed)
	fmt.Fprintf(&b, "log: %s\norigin: %s\ndetected: %s\n\n", e.Log, e.Origin, e.Time.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "stored checkpoint (verified earlier and kept by this proxy):\n%s\n", indent(e.Stored))
	fmt.Fprintf(&b, "received checkpoint (from %s):\n%s\n", e.ReceivedFrom, indent(e.Received))
	if e.Kind == "backdated" {
		fmt.Fprintf(&b, "observation at index %d (signed by the log key, in the received checkpoint's tree):\n%s\n", e.EntryIndex, indent(e.Entry))
		fmt.Fprintf(&b, "proof of misbehaviour: the stored checkpoint has %d entries, so it does not\n"+
			"contain index %d, and its witnesses cosigned it after the time the log wrote\n"+
			"into the observation: the log dated an observation before it made it.\n", e.Smaller, e.EntryIndex)
	} else if e.Smaller == e.Larger {
		fmt.Fprintf(&b, "proof of misbehaviour: both checkpoints are signed by the log key and\n"+
			"commit to %d entries, with different root hashes.\n", e.Larger)
	} else {
		fmt.Fprintf(&b, "proof of misbehaviour: RFC 6962 consistency proof from size %d to size %d,\n"+
			"built from tiles that hash to the root of the size-%d checkpoint. By it, the\n"+
			"first %d entries of that tree have root\n\t%s\n"+
			"which is not the root of the signed size-%d checkpoint.\n", e.Smaller, e.Larger, e.Larger, e.Smaller, b64(e.SmallerRoot), e.Smaller)
		fmt.Fprintf(&b, "proof (%d hashes):\n", len(e.Proof))
		for _, h := range e.Proof {
			fmt.Fprintf(&b, "\t%s\n", b64(h))
		}
	}
	fmt.Fprintf(&b, "\nThe proxy refuses to use this log from now on. The evidence is kept in its\n"+
		"log state; lookups resume only after an operator resets that state on purpose.\n")
	return b.String()
}
