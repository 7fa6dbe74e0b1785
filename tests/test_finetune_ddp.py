"""`zoo test --trainer.devices 2 --trainer.strategy ddp` (CPU, gloo) gives the single-process metrics: a fine-tuned
checkpoint is tested on an odd-sized test split, so a sample dropped or repeated by the distributed sampler would
change them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.cli import main
from tests.finetune_data import write_reviews

ROOT = Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "configs" / "sentiment.yaml")
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.logger", "false"]
METRIC = re.compile(r"(test/[\w/]+)[\s│|]+([-+0-9.eE]+)")

pytestmark = pytest.mark.slow  # two `zoo test` processes plus a DDP pair: about a minute on 2 cores


def zoo_test(data: Path, checkpoint: Path, root: Path, *extra: str) -> dict[str, float]:
    """Run `zoo test` in a fresh process (DDP launches copies of the command) and parse its metric table."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "benchmarks.cli", "test", "--config", CONFIG,
                           "--data.path", str(data), "--data.columns", "text=review,label=stars",
                           "--ckpt_path", str(checkpoint), "--trainer.default_root_dir", str(root),
                           "--trainer.accelerator", "cpu", *QUIET, *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = {name: float(value) for name, value in METRIC.findall(done.stdout)}
    assert "test/accuracy" in metrics, done.stdout[-2000:]
    return metrics


def test_two_process_test_equals_one_process(tmp_path: Path) -> None:
    data = write_reviews(tmp_path / "reviews.csv", rows=115, split_column=True)  # 23 test rows: odd
    assert main(["fit", "--config", CONFIG, "--data.path", str(data), "--data.columns", "text=review,label=stars",
                 "--data.max_examples", "null", "--trainer.max_steps", "6",
                 "--trainer.default_root_dir", str(tmp_path / "run"), *QUIET]) == 0
    checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"
    one = zoo_test(data, checkpoint, tmp_path / "one", "--trainer.devices", "1")
    two = zoo_test(data, checkpoint, tmp_path / "two", "--trainer.devices", "2", "--trainer.strategy", "ddp")
    assert one.keys() == two.keys()
    for name, value in one.items():
        assert two[name] == pytest.approx(value, abs=1e-6), name
