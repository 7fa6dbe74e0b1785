"""Checkpoints written before the move to ``tasks/<task>/`` (commit e4aa25f) still load and test to exactly the
metrics that code gave (``tests/fixtures/premove``; its README says how they were made)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from benchmarks.cli import main

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "premove"
EXPECTED = json.loads((FIXTURES / "test_metrics.json").read_text())
# configs/TASK.yaml's trainer and data settings at e4aa25f (with all the data), spelled out so that a later change
# there changes nothing here; the model comes from the checkpoint. The fixtures were made on a CPU.
TRAINER = {"accelerator": "cpu", "devices": "1", "precision": "32-true", "gradient_clip_val": "1.0",
           "log_every_n_steps": "5", "enable_model_summary": "false", "enable_progress_bar": "false"}
DATA = {"path": "null", "columns": "null", "val_fraction": "0.1", "test_fraction": "0.1", "split_seed": "0",
        "max_examples": "null"}  # every test example: a cap samples since #26, where e4aa25f took the first rows
BATCH_SIZE = {"asr": 8, "captioning": 32, "med_report": 32, "sentiment": 32, "vqa": 32}
SLOW = ("med_report",)  # over about 30 s on a 2-core CPU (it generates its built-in data first)


def premove_metrics(task: str, root: Path) -> dict[str, float]:
    """``zoo test`` of the task's pre-move checkpoint; the test metrics its CSV log holds."""
    argv = ["test", "--task", task, "--seed_everything", "0", "--ckpt_path", str(FIXTURES / f"{task}.ckpt"),
            "--trainer.default_root_dir", str(root),
            "--trainer.logger", json.dumps({"class_path": "lightning.pytorch.loggers.CSVLogger",
                                            "init_args": {"save_dir": str(root), "name": "logs"}}),
            "--data.batch_size", str(BATCH_SIZE[task])]
    argv += [arg for key, value in TRAINER.items() for arg in (f"--trainer.{key}", value)]
    argv += [arg for key, value in DATA.items() for arg in (f"--data.{key}", value)]
    assert main(argv) == 0
    (row,) = csv.DictReader((root / "logs" / "version_0" / "metrics.csv").open())
    return {key.split("/", 1)[1]: float(value) for key, value in row.items() if key.startswith("test/") and value}


@pytest.mark.parametrize("task", [pytest.param(t, marks=[pytest.mark.slow] if t in SLOW else [])
                                  for t in sorted(EXPECTED)])
def test_a_premove_checkpoint_tests_to_the_same_metrics(task: str, tmp_path: Path) -> None:
    assert premove_metrics(task, tmp_path) == EXPECTED[task]
