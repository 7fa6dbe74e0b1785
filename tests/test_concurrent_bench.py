"""Eight identical ``zoo bench`` processes (same task, recipe and seed) started at once: each has a run folder of
its own, so none deletes another's checkpoints or logs; eight whole, valid records, eight predictions files, and a
store that passes ``zoo leaderboard --check``."""

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
def test_identical_concurrent_benches_each_append_one_valid_record(tmp_path: Path) -> None:
    records, runs = tmp_path / "records", tmp_path / "runs"
    env = {**env_without_pytest(), "OMP_NUM_THREADS": "1"}
    processes = [
        subprocess.Popen([*_zoo(), "bench", "sentiment", "--recipe", "smoke", "--records-dir", str(records),
                          "--runs-dir", str(runs), "--checkpoint-every", "1", "--no-progress"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(WRITERS)
    ]
    outputs = [process.communicate(timeout=900) for process in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-2000:]
    written = read_records(records)
    assert [record["seed"] for record in written] == [0] * WRITERS
    assert len({record["id"] for record in written}) == WRITERS
    finished = sorted((runs / "sentiment").glob("*/smoke/zoo-tiny-s0/*/record_id"))  # one folder per run
    assert sorted(path.read_text().strip() for path in finished) == sorted(record["id"] for record in written)
    files = sorted(path.name for path in (records / "predictions").iterdir())
    assert files == sorted(f"{record['id']}.jsonl" for record in written)
    assert check_leaderboard(records) == (WRITERS, [])
