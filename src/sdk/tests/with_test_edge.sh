#!/usr/bin/env bash
# with_test_edge.sh EDGE_BINARY CMD ARGS...: runs CMD against a live edge.
#
# Starts EDGE_BINARY (sdk_test_edge), waits for its "ready" line (a blocking
# read: no sleep, no polling), exports the client configuration
#   ASTIS_EDGE_URL ASTIS_CA_FILE ASTIS_API_KEY_FILE ASTIS_TOKEN_PATH
#   ASTIS_SECRETS_DIR, and ASTIS_TEST_EDGE_INFO (the edge's info JSON:
#   plaintexts, sealed values, refused names)
# runs CMD, then closes the edge's stdin (it stops and removes its files) and
# exits with CMD's exit code. Test-only.
set -euo pipefail
edge=$1
shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
info=$work/edge.json
coproc EDGE { exec "$edge" "$info"; }
edge_pid=$EDGE_PID
from_edge=${EDGE[0]}
to_edge=${EDGE[1]}
if ! read -r line <&"$from_edge" || [[ $line != ready ]]; then
  echo "with_test_edge: the test edge did not start" >&2
  wait "$edge_pid" || true
  exit 1
fi
set -a
# shellcheck disable=SC1090
. "$info.env"
set +a
export ASTIS_TEST_EDGE_INFO=$info
set +e
# CMD must not inherit the edge's pipe (the edge stops at EOF on it).
eval '"$@"' "${from_edge}<&-" "${to_edge}>&-"
rc=$?
set -e
eval "exec ${to_edge}>&-"
wait "$edge_pid" || echo "with_test_edge: the test edge exited non-zero" >&2
exit "$rc"
