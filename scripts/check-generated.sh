#!/usr/bin/env bash
# Fails when the committed generated code differs from what proto/ generates now.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/gen-proto.sh
if ! git diff --exit-code --stat -- packages/proto/src/gen || [ -n "$(git ls-files --others --exclude-standard packages/proto/src/gen)" ]; then
  echo "generated code is stale: run 'npm run gen' and commit packages/proto/src/gen" >&2
  exit 1
fi
echo "generated code is up to date"
