#!/usr/bin/env bash
# The supply-chain and secret gates of .ci/run, each failing the run with its own message.
# Run them all before failing, so one CI run reports every broken gate.
set -uo pipefail
cd "$(dirname "$0")/../.."
failed=()
gate() { # $1 name, rest: command
  local name=$1; shift
  "$@" || failed+=("$name")
}
gate "secret scan"     node scripts/ci/secret-scan.ts
gate "lockfile"        node scripts/ci/lockfile.ts
gate "npm audit"       node scripts/ci/audit.ts "$@"
gate "licences"        node scripts/ci/licenses.ts
gate "install scripts" node scripts/ci/install-scripts.ts
if ((${#failed[@]})); then
  echo "ci: gates failed: ${failed[*]}" >&2
  exit 1
fi
