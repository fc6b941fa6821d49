// Package integration holds end-to-end tests: the sigil binary, a release
// log it runs itself, a registry served from the test on 127.0.0.1, and the
// real Composer and npm clients installing through sigil. Nothing reaches
// beyond the loopback interface.
//
// The tests need the clients on PATH; `make test` installs Composer from
// Debian's packages first. Where a client is missing they fail with the
// reason, unless SIGIL_SKIP_E2E=1 (a developer machine) makes them skip.
package integration
