#!/usr/bin/env bash
# Runs every Go fuzz target of the module for $FUZZTIME each. `go test -fuzz`
# takes one target of one package per run, so this finds them all.
set -euo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10000x}
cd "$(git rev-parse --show-toplevel)"
found=0
while IFS= read -r file; do
	dir=./$(dirname "$file")
	for name in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/'); do
		found=$((found + 1))
		echo "fuzz: $dir $name ($FUZZTIME)"
		"$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$dir"
	done
done < <(git ls-files --cached --others --exclude-standard '*_test.go' | sort)
echo "fuzz: $found targets ran for $FUZZTIME each"
