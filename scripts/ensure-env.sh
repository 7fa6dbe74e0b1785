#!/usr/bin/env bash
# Create ./.venv with the pinned dependencies if it is missing (pip only, offline-capable
# where the wheels are on disk). Sourced by scripts/bench.sh and scripts/test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/zoo" ] || ! "$VENV/bin/python" -c "import zoo, tasks, benchmarks, leaderboard, torch, lightning" 2>/dev/null; then
    # The venv takes about 6 GB (torch's wheel is a CUDA build) and pip unpacks wheels in $TMPDIR first: a full disk
    # otherwise shows up only as a torch ImportError after pip's own message.
    for dir in "$ROOT" "${TMPDIR:-/tmp}"; do
        free_kb="$(df -Pk "$dir" | awk 'NR == 2 {print $4}')"
        if [ "${free_kb:-0}" -lt $((7 * 1024 * 1024)) ]; then
            echo "[env] error: only $((free_kb / 1024)) MB free on the disk holding $dir; creating $VENV needs about 7 GB" >&2
            exit 1
        fi
    done
    echo "[env] creating $VENV (about 2 minutes)" >&2
    python3.11 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -c "$ROOT/constraints.txt" -e "$ROOT[test]" 2>&1 \
        | grep -v -E "^WARNING: Location .* is ignored" >&2 || true
    if ! "$VENV/bin/python" -c "import zoo, tasks, benchmarks, leaderboard, torch, lightning"; then
        echo "[env] error: $VENV was created but does not import the project (see pip's messages above)" >&2
        exit 1
    fi
fi
export PATH="$VENV/bin:$PATH"
