#!/usr/bin/env bash
# Create the environment if missing, run the built-in benchmark suite (every task, `quick` recipe by
# default; pass another recipe as $1) and print the leaderboard table: the published records with yours beside them.
# Records and runs go to your workspace, $ZOO_HOME or ./zoo-runs/ (records/, runs/; git-ignored), never into
# leaderboard/records (the published leaderboard), so the checkout stays clean.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/ensure-env.sh
zoo bench --suite builtin --recipe "${1:-quick}" --no-progress
zoo leaderboard
