#!/usr/bin/env bash
# Create the environment if missing and run the tests (CPU, no network, no ../shared data).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/ensure-env.sh
export ZOO_CACHE="${ZOO_CACHE:-$(mktemp -d)}" HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1
python -m pytest tests "$@"
