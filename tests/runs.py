"""Helpers for tests that need real benchmark runs: the smoke recipe cut to two training steps."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from benchmarks.run import RunOptions, run_benchmark
from tasks import TASKS


def two_step_options(task: str, records_dir: Path, runs_dir: Path, **changes: Any) -> RunOptions:
    """Options of a smoke run that stops after 2 training steps (seconds on a CPU)."""
    optim = dataclasses.replace(TASKS[task].tiny().optim, max_steps=2)
    overrides = {"optim": optim, **changes.pop("overrides", {})}
    return RunOptions(task=task, recipe="smoke", records_dir=records_dir, runs_dir=runs_dir,
                      progress_bar=False, overrides=overrides, **changes)


def two_step_run(task: str, records_dir: Path, runs_dir: Path, **changes: Any) -> dict:
    """Run `two_step_options` and return the record it appended."""
    return run_benchmark(two_step_options(task, records_dir, runs_dir, **changes))
