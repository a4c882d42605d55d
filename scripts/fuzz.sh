#!/usr/bin/env bash
# Runs every fuzz target for FUZZTIME (default 5s) each.
set -euo pipefail
cd "$(dirname "$0")/.."
t="${FUZZTIME:-5s}"
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    echo "fuzz $pkg $f for $t" >&2
    # Go's fuzzing engine can end a run with "context deadline exceeded"
    # when the time runs out mid-input, with no failing input written (a
    # real failure always writes one): that run is repeated once.
    if ! out=$(go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$pkg" 2>&1); then
      echo "$out"
      if grep -q "context deadline exceeded" <<<"$out" && ! grep -q "Failing input" <<<"$out"; then
        echo "fuzz $pkg $f: the engine's deadline flake, no failing input; once more" >&2
        go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$pkg"
      else
        exit 1
      fi
    else
      echo "$out" | tail -1
    fi
  done
done
