"""One contract over every task: the tiny preset trains two steps, tests to a finite primary metric,
and the record it writes validates and round-trips; its predictions file rescores (the task's
``score_predictions``) to exactly the recorded metrics; the same seed gives the same metrics."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from benchmarks import run
from benchmarks.definitions import get_benchmark
from benchmarks.run import RunOptions, run_benchmark
from leaderboard.predictions import read_predictions
from leaderboard.schema import validate_record
from leaderboard.store import read_records
from tasks import TASKS, sentiment
from tasks.core.contract import BATCH_KEYS, Optim

FAST = {"optim": None}  # placeholder key replaced per task below


def _options(task: str, records_dir: Path, tmp_path: Path, seed: int = 0, model: str = "zoo") -> RunOptions:
    module = TASKS[task]
    optim = module.tiny().optim.__class__(**{**module.tiny().optim.__dict__, "max_steps": 2})
    return RunOptions(task=task, recipe="smoke", seed=seed, model=model, records_dir=records_dir,
                      runs_dir=tmp_path / "runs", progress_bar=False, overrides={"optim": optim})


@pytest.mark.parametrize("task", sorted(TASKS))
def test_spec_and_presets_are_complete(task: str) -> None:
    module = TASKS[task]
    assert module.SPEC.name == task
    assert module.SPEC.primary_metric in module.SPEC.metrics
    assert set(module.PRESETS) == {"smoke", "quick", "standard", "gpu"}
    for recipe, make in module.PRESETS.items():
        config = make(module.SPEC.benchmarks[0].name, "zoo")
        assert isinstance(config, module.Config), recipe
    assert get_benchmark(task, None).builtin


@pytest.mark.parametrize("task", sorted(TASKS))
def test_batches_use_the_shared_vocabulary(task: str) -> None:
    module = TASKS[task]
    datamodule = module.DataModule(module.tiny())
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    assert set(batch) <= BATCH_KEYS
    assert len(batch["id"]) == module.tiny().optim.batch_size


@pytest.mark.parametrize("task", sorted(TASKS))
def test_two_steps_give_a_finite_metric_and_a_valid_record(task: str, records_dir: Path, tmp_path: Path) -> None:
    record = run_benchmark(_options(task, records_dir, tmp_path))
    spec = TASKS[task].SPEC
    assert math.isfinite(record["metrics"][spec.primary_metric])
    assert record["steps"] == 2
    validate_record(record)
    assert read_records(records_dir) == [record]
    assert (tmp_path / "runs" / task).rglob("last.ckpt")


@pytest.mark.parametrize("task", sorted(TASKS))
def test_predictions_rescore_to_the_recorded_metrics(task: str, records_dir: Path, tmp_path: Path) -> None:
    record = run_benchmark(_options(task, records_dir, tmp_path))
    rows = read_predictions(records_dir / record["predictions"])  # also: unique ids, a finite score each
    assert len(rows) == record["num_test_examples"]
    assert TASKS[task].score_predictions(rows) == record["metrics"]
    assert [sample["id"] for sample in record["samples"]] == [row["id"] for row in rows[:8]]


@pytest.mark.parametrize("task", sorted(TASKS))
def test_same_seed_gives_identical_metrics(task: str, records_dir: Path, tmp_path: Path) -> None:
    first = run_benchmark(_options(task, records_dir, tmp_path, seed=3))
    second = run_benchmark(_options(task, records_dir, tmp_path, seed=3))
    other = run_benchmark(_options(task, records_dir, tmp_path, seed=4))
    assert first["metrics"] == second["metrics"]
    assert first["config_hash"] == second["config_hash"]
    assert first["id"] != second["id"]
    assert len(read_records(records_dir)) == 3
    assert other["seed"] == 4


@pytest.mark.parametrize("task,model", [(t, m) for t in sorted(TASKS) for m in TASKS[t].SPEC.models if m != "zoo"])
def test_reference_models_train_through_the_same_harness(task: str, model: str, records_dir: Path,
                                                         tmp_path: Path) -> None:
    record = run_benchmark(_options(task, records_dir, tmp_path, model=model))
    assert record["model"] == model
    assert math.isfinite(record["metrics"][TASKS[task].SPEC.primary_metric])


def test_the_harness_validates_every_nth_epoch_of_the_recipe(tmp_path: Path) -> None:
    config = dataclasses.replace(sentiment.tiny(), optim=Optim(max_epochs=6, val_every_n_epochs=3))
    options = RunOptions(task="sentiment", recipe="smoke", records_dir=tmp_path, runs_dir=tmp_path,
                         progress_bar=False)
    trainer = run._trainer(options, config, tmp_path, run.RunMeter("accuracy", None, True))
    assert trainer.check_val_every_n_epoch == 3
    with pytest.raises(ValueError, match="optim.val_every_n_epochs must be positive"):
        Optim(val_every_n_epochs=0)
