#!/usr/bin/env bash
# Makes sure the real package-manager clients the end-to-end tests drive are
# installed: Composer from Debian's packages, npm from the machine. It
# installs what is missing when it can (root with apt-get) and otherwise
# fails with the reason, unless SIGIL_SKIP_E2E=1 says this machine does not
# run the end-to-end tests.
set -uo pipefail

if [ "${SIGIL_SKIP_E2E:-}" = 1 ]; then
	echo "e2e-deps: SIGIL_SKIP_E2E=1, not checking Composer and npm"
	exit 0
fi

fail() {
	echo "e2e-deps: $*" >&2
	echo "hint: install it, or set SIGIL_SKIP_E2E=1 on a developer machine to skip the end-to-end tests" >&2
	exit 1
}

if ! command -v composer >/dev/null 2>&1 || ! php -m 2>/dev/null | grep -qx curl; then
	command -v apt-get >/dev/null 2>&1 || fail "composer is not installed and there is no apt-get to install it"
	[ "$(id -u)" = 0 ] || fail "composer is not installed and installing it needs root (apt-get install composer)"
	echo "e2e-deps: installing composer from Debian's packages"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/tmp/sigil-apt.log 2>&1 || { cat /tmp/sigil-apt.log >&2; fail "apt-get update failed"; }
	apt-get install -y -qq --no-install-recommends composer php-cli php-zip php-curl unzip >>/tmp/sigil-apt.log 2>&1 ||
		{ tail -n 30 /tmp/sigil-apt.log >&2; fail "apt-get install composer failed"; }
fi
command -v composer >/dev/null 2>&1 || fail "composer is still not on PATH after installing it"
command -v npm >/dev/null 2>&1 || fail "npm is not installed (the end-to-end tests use the machine's npm)"
echo "e2e-deps: composer $(composer --version 2>/dev/null | head -n1 | awk '{print $3}'), npm $(npm --version)"
