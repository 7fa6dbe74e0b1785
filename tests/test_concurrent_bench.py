"""Eight ``zoo bench`` processes writing to one records dir at once: eight whole, valid records, eight
predictions files, and a store that passes ``zoo leaderboard --check``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.scoring import check_leaderboard
from leaderboard.store import read_records
from tests.conftest import env_without_pytest

WRITERS = 8


def _zoo() -> list[str]:
    """The installed `zoo` script beside this Python, else the module."""
    script = Path(sys.executable).with_name("zoo")
    return [str(script)] if script.exists() else [sys.executable, "-m", "benchmarks.cli"]


@pytest.mark.slow  # about a minute on 2 cores: eight processes each import torch and train; still in the default run
def test_concurrent_benches_each_append_one_valid_record(tmp_path: Path) -> None:
    records, runs = tmp_path / "records", tmp_path / "runs"
    env = {**env_without_pytest(), "OMP_NUM_THREADS": "1"}
    processes = [
        subprocess.Popen([*_zoo(), "bench", "sentiment", "--recipe", "smoke", "--records-dir", str(records),
                          "--runs-dir", str(runs), "--seeds", str(seed), "--no-progress"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for seed in range(WRITERS)
    ]
    outputs = [process.communicate(timeout=900) for process in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-2000:]
    written = read_records(records)
    assert sorted(record["seed"] for record in written) == list(range(WRITERS))
    assert len({record["id"] for record in written}) == WRITERS
    files = sorted(path.name for path in (records / "predictions").iterdir())
    assert files == sorted(f"{record['id']}.jsonl" for record in written)
    assert check_leaderboard(records) == (WRITERS, [])
