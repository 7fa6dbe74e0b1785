#!/usr/bin/env bash
# Create ./.venv with the pinned dependencies if it is missing (pip only, offline-capable
# where the wheels are on disk). Sourced by scripts/bench.sh and scripts/test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/zoo" ] || ! "$VENV/bin/python" -c "import zoo, tasks, benchmarks, leaderboard, torch, lightning" 2>/dev/null; then
    echo "[env] creating $VENV (about 2 minutes)" >&2
    python3.11 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -c "$ROOT/constraints.txt" -e "$ROOT[test]" 2>&1 \
        | grep -v -E "^WARNING: Location .* is ignored" >&2 || true
    "$VENV/bin/python" -c "import zoo, tasks, benchmarks, leaderboard, torch, lightning" 
fi
export PATH="$VENV/bin:$PATH"
