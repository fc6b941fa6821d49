package release

import (
	"bytes"
	"fmt"
)

// An Action is what a key event does to a key in a namespace.
type Action string

const (
	// ActionAdd makes a key active for the namespace from the event on.
	ActionAdd Action = "add"
	// ActionRetire ends a key: it signs nothing new from the event on, and
	// what it signed before stays valid.
	ActionRetire Action = "retire"
	// ActionRevoke declares a key compromised: everything it alone signed for
	// the namespace is invalid, before the event as well as after.
	ActionRevoke Action = "revoke"
)

const keyEventHeader = "sigil-key/v1"

// A KeyEvent changes which keys may sign for a namespace. Its note text is
// the contract in DESIGN.md; who may sign it is the Keyring's business.
type KeyEvent struct {
	Ecosystem string // Composer or NPM
	Namespace string // vendor, scope or package: see ValidateNamespace
	Action    Action
	Key       string // the verifier key line acted on, canonical
}

var keyEventFields = []field{
	{"ecosystem", false},
	{"namespace", false},
	{"action", false},
	{"key", false},
}

func (e *KeyEvent) values() []string {
	return []string{e.Ecosystem, e.Namespace, string(e.Action), e.Key}
}

func (e *KeyEvent) check() (int, error) {
	checks := []func() error{
		func() error { return checkEcosystem(e.Ecosystem) },
		func() error {
			if err := checkEcosystem(e.Ecosystem); err != nil {
				return err
			}
			return ValidateNamespace(e.Ecosystem, e.Namespace)
		},
		func() error {
			switch e.Action {
			case ActionAdd, ActionRetire, ActionRevoke:
				return nil
			}
			return fmt.Errorf("unknown action %s (want add, retire or revoke)", quote(string(e.Action)))
		},
		func() error { _, err := NewVerifier(e.Key); return err },
	}
	for i, c := range checks {
		if err := c(); err != nil {
			return i, fmt.Errorf("%s: %w", keyEventFields[i].key, err)
		}
	}
	return -1, nil
}

// Validate reports the first field of e that breaks the key event format.
func (e *KeyEvent) Validate() error {
	if _, err := e.check(); err != nil {
		return fmt.Errorf("key event: %w", err)
	}
	return nil
}

// Text returns the note text of e.
func (e *KeyEvent) Text() ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return formatFields(keyEventHeader, keyEventFields, e.values()), nil
}

// ParseKeyEvent parses the note text of a key event, as strictly as
// ParseStatement: Text(ParseKeyEvent(x)) == x for every x it accepts.
func ParseKeyEvent(text []byte) (*KeyEvent, error) {
	const kind = "key event"
	vals, err := parseFields(kind, text, keyEventHeader, keyEventFields)
	if err != nil {
		return nil, err
	}
	e := &KeyEvent{
		Ecosystem: vals[0].value,
		Namespace: vals[1].value,
		Action:    Action(vals[2].value),
		Key:       vals[3].value,
	}
	if i, err := e.check(); err != nil {
		return nil, vals[i].errorf(kind, "%w", err)
	}
	return e, nil
}

// ParseText parses a note text as whatever its first line says it is:
// a *Statement, a *KeyEvent or an *Observation.
func ParseText(text []byte) (any, error) {
	first, _, _ := bytes.Cut(text, []byte("\n"))
	// Dispatch a CRLF text too, so that its parser names the real problem.
	switch string(bytes.TrimSuffix(first, []byte("\r"))) {
	case statementHeader:
		return ParseStatement(text)
	case keyEventHeader:
		return ParseKeyEvent(text)
	case observationHeader:
		return ParseObservation(text)
	}
	return nil, lineError("note text", 1, string(first),
		fmt.Errorf("unknown note type (want %q, %q or %q)", statementHeader, keyEventHeader, observationHeader))
}
