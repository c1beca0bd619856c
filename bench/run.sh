#!/usr/bin/env bash
# `make bench`: every capability's benchmarks. Figures are printed as ratios against a baseline measured in
# the same run (the machines are shared and noisy); absolute numbers are for orientation only.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
for cfg in bench/*.vitest.config.ts; do
  echo "== ${cfg#bench/}"
  npx vitest run -c "$cfg" --reporter=dot --silent=false || status=1
done
exit $status
