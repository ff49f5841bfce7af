#!/usr/bin/env bash
# npm test: type-check and build everything (sources and tests), make sure NATS, Postgres and Redis
# answer (starting private ones when they do not), then run every unit, integration and e2e test
# (the hostile-peer harness and the deterministic simulation included; the chaos suite is `npm run chaos`).
# Extra arguments go to jest (e.g. `npm test -- --selectProjects unit`).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ]; then npm ci --no-audit --no-fund; fi
npx tsc -b
bash scripts/infra.sh
mkdir -p .cnode
results=.cnode/test-results.json
rm -f "$results"
set +e
# The chaos project is `npm run chaos`'s; without a project named, npm test runs the others.
projects=(--selectProjects unit integration)
for arg in "$@"; do [ "$arg" = --selectProjects ] && projects=(); done
NODE_OPTIONS=--experimental-vm-modules npx jest --json --outputFile="$results" "${projects[@]}" "$@"
code=$?
set -e
if [ -f "$results" ]; then
  node -e '
    const r = require(process.argv[1]);
    const skipped = r.numPendingTests + r.numTodoTests;
    console.log(`jest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
    if (r.numTotalTests === 0) { console.error("jest: no test ran"); process.exit(1); }
  ' "$(pwd)/$results" || code=1
fi
exit $code
