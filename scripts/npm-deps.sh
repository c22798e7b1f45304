#!/usr/bin/env bash
# npm-deps.sh — install the npm packages of the test clients (and nothing
# else: the product itself has no npm dependency). Each tests/<dir>/ with a
# package-lock.json gets exactly its locked versions (`npm ci`), only when
# its node_modules is missing or older than the lock file.
set -euo pipefail
cd "$(dirname "$0")/.."
for lock in tests/*/package-lock.json; do
  [[ -e $lock ]] || continue
  dir=$(dirname "$lock")
  if [[ -d $dir/node_modules && $dir/node_modules -nt $lock ]]; then
    echo "npm-deps: $dir up to date"
    continue
  fi
  echo "npm-deps: npm ci in $dir"
  npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
  touch "$dir/node_modules"
done
