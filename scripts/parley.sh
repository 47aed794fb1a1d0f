#!/usr/bin/env bash
# Entry point of `npm start` and `npm test`.
#
#   bash scripts/parley.sh start [args...]   run the reference server from source
#                                            (PARLEY_* environment variables pass through)
#   bash scripts/parley.sh test [vitest args...]
#                                            generated code, lint, typecheck, tests (unit, real
#                                            server, Chromium; then Kafka, Cassandra and Redis,
#                                            started by scripts/services.sh; the cluster chaos and
#                                            dependency-outage tests), the SDK's bundle size, the
#                                            docs site build and the benchmark's quick mode; ends
#                                            with one line "N passed, N failed, N skipped"
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
  # Embedded mode serves the web chat (examples/web-chat) at "/", built once here.
  if [ -z "${PARLEY_STATIC_DIR:-}" ] && [ "${PARLEY_ROLE:-embedded}" = "embedded" ]; then
    if [ ! -f examples/web-chat/dist/index.html ]; then
      echo "==> building the web chat (examples/web-chat/dist)"
      npm run build -w @parley/example-web-chat
    fi
    export PARLEY_STATIC_DIR="$root/examples/web-chat/dist"
  fi
  exec node --conditions=source --import tsx reference-server/src/main.ts "$@"
}

run_test() {
  local failed=() reports=() unit_json services_json outage_json
  unit_json="$(mktemp "${TMPDIR:-/tmp}/parley-vitest.XXXXXX")"
  services_json="$(mktemp "${TMPDIR:-/tmp}/parley-vitest-services.XXXXXX")"
  outage_json="$(mktemp "${TMPDIR:-/tmp}/parley-vitest-outage.XXXXXX")"
  # shellcheck disable=SC2064 # expand now: the paths are local
  trap "rm -f '$unit_json' '$services_json' '$outage_json'" EXIT

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
  step "chromium" bash scripts/ensure-chromium.sh
  step "vitest" npx vitest run --reporter=default --reporter=json --outputFile="$unit_json" "$@"
  reports+=("$unit_json")

  # Tests against real Kafka, Cassandra and Redis (*.integration.test.ts), started
  # here without Docker (scripts/services.sh; idempotent, downloads cached).
  if [ "${PARLEY_SKIP_SERVICES:-}" = "1" ]; then
    echo
    echo "==> real services: not run (PARLEY_SKIP_SERVICES=1); the summary below leaves them out"
  else
    step "start Kafka, Cassandra, Redis" bash scripts/services.sh start all
    eval "$(bash scripts/services.sh env)"
    step "vitest (real services)" npx vitest run --config vitest.integration.config.ts --passWithNoTests \
      --reporter=default --reporter=json --outputFile="$services_json" "$@"
    reports+=("$services_json")
    # Last, the tests that stop and start the services themselves (one at a time).
    step "vitest (dependency outages)" npx vitest run --config vitest.outage.config.ts --passWithNoTests \
      --reporter=default --reporter=json --outputFile="$outage_json" "$@"
    reports+=("$outage_json")
    if [ "${CI:-}" = "true" ]; then
      step "stop services" bash scripts/services.sh stop all
    else
      echo "(services left running for the next run; stop them with: npm run services:stop)"
    fi
  fi

  step "bundle size" node packages/client-web/scripts/size.mjs
  # The docs site (TypeDoc API reference + VitePress) builds with no broken links.
  step "docs site" npm run build -w @parley/docs-site
  # The benchmark's quick mode as a smoke test: it must run; targets are reported, not enforced.
  if [ "${PARLEY_SKIP_BENCH:-}" = "1" ]; then
    echo
    echo "==> benchmark smoke: not run (PARLEY_SKIP_BENCH=1)"
  else
    step "benchmark smoke (npm run bench -- --quick)" npm run bench -w @parley/bench -- --quick
  fi

  # One summary line from Vitest's JSON reports; fails when no test ran.
  local summary
  if ! summary="$(
    node -e '
      const fs = require("node:fs");
      let passed = 0, failed = 0, skipped = 0;
      for (const file of process.argv.slice(1)) {
        let r = {};
        try {
          r = JSON.parse(fs.readFileSync(file, "utf8"));
        } catch {}
        const n = (k) => Number(r[k] ?? 0);
        passed += n("numPassedTests");
        failed += n("numFailedTests");
        skipped += n("numPendingTests") + n("numTodoTests");
      }
      console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
      process.exit(passed + failed === 0 ? 1 : 0);
    ' "${reports[@]}"
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
