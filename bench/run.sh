#!/usr/bin/env bash
# npm run bench -- <name> [args…]: builds the benchmarks and runs bench/<name>.ts against the
# NATS/Postgres/Redis the tests use. Benchmarks print numbers and ratios; they assert nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: npm run bench -- <name> [args…]   (e.g. bus/mailbox)}
shift
# The propagation and sync benchmarks start every service as a process: build them all.
npx tsc -b
bash scripts/infra.sh >/dev/null
exec node "bench/dist/${name}.js" "$@"
