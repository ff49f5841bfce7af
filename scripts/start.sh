#!/usr/bin/env bash
# npm start / npm run devnet: install what is missing, build, make sure NATS, Postgres and Redis are
# reachable, then run the launcher (one node, or --nodes N), which supervises every service process.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "cnode: installing dependencies (npm ci)…"
  npm ci --no-audit --no-fund
fi
echo "cnode: building…"
npx tsc -b
bash scripts/infra.sh
exec node packages/launcher/dist/main.js "$@"
