#!/usr/bin/env bash
# Entry point of `npm start` and `npm test`.
#
#   bash scripts/parley.sh start [args...]   run the reference server from source
#                                            (PARLEY_* environment variables pass through)
#   bash scripts/parley.sh test [vitest args...]
#                                            generated code, lint, typecheck, tests; ends with
#                                            one line "N passed, N failed, N skipped"
#
# Both first make sure a Node >= 22.12 is on PATH and dependencies are installed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/node-env.sh
source scripts/node-env.sh

# Installs dependencies when node_modules is missing or older than package-lock.json.
# npm writes node_modules/.package-lock.json last on every install, so its time is
# the time of the last install (the node_modules folder's own time is not updated
# when only nested folders change).
ensure_dependencies() {
  local stamp=node_modules/.package-lock.json
  [ -e "$stamp" ] || stamp=node_modules
  if [ -d node_modules ] && { [ ! -f package-lock.json ] || [ ! package-lock.json -nt "$stamp" ]; }; then
    return 0
  fi
  # `npm install` rather than `npm ci`: the registry reachable here lacks other
  # platforms' optional binaries, so the lockfile cannot list them and `npm ci`
  # refuses it; `npm install` still follows the lockfile's pinned versions.
  echo "==> npm install"
  npm install --no-audit --no-fund
}

run_start() {
  exec node --conditions=source --import tsx reference-server/src/main.ts "$@"
}

run_test() {
  local failed=() json
  json="$(mktemp "${TMPDIR:-/tmp}/parley-vitest.XXXXXX")"
  # shellcheck disable=SC2064 # expand now: $json is local
  trap "rm -f '$json'" EXIT

  step() {
    local name=$1
    shift
    echo
    echo "==> $name"
    if ! "$@"; then
      echo "==> $name: FAILED" >&2
      failed+=("$name")
    fi
  }

  step "check generated code" bash scripts/check-generated.sh
  step "biome ci" npx biome ci .
  step "typecheck" npx turbo run typecheck --continue
  step "vitest" npx vitest run --reporter=default --reporter=json --outputFile="$json" "$@"

  # One summary line from Vitest's JSON report; fails when no test ran.
  local summary
  if ! summary="$(
    node -e '
      const fs = require("node:fs");
      let r;
      try {
        r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
      } catch {
        r = {};
      }
      const n = (k) => Number(r[k] ?? 0);
      const passed = n("numPassedTests");
      const failed = n("numFailedTests");
      const skipped = n("numPendingTests") + n("numTodoTests");
      console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
      process.exit(passed + failed === 0 ? 1 : 0);
    ' "$json"
  )"; then
    failed+=("no tests ran")
  fi
  echo
  echo "$summary"
  if [ ${#failed[@]} -gt 0 ]; then
    local joined
    joined="$(printf '%s, ' "${failed[@]}")"
    echo "parley: failed: ${joined%, }" >&2
    return 1
  fi
}

usage() {
  echo "usage: bash scripts/parley.sh start [server args...] | test [vitest args...]" >&2
}

command="${1:-}"
[ $# -gt 0 ] && shift
case "$command" in
  start)
    ensure_dependencies
    run_start "$@"
    ;;
  test)
    ensure_dependencies
    run_test "$@"
    ;;
  -h | --help | help)
    usage
    ;;
  *)
    usage
    exit 2
    ;;
esac
