#!/usr/bin/env bash
# Create the environment if missing, run the built-in benchmark suite (every task, `quick` recipe by
# default; pass another recipe as $1) and print the leaderboard table. Records go to leaderboard/records/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/ensure-env.sh
zoo bench --suite builtin --recipe "${1:-quick}" --no-progress
zoo leaderboard
