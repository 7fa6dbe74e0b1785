"""One contract over every task: its SPEC's benchmarks are what the harness offers and every recipe builds a Config
for each; the tiny preset trains two steps, tests to a finite primary metric, and the record it writes validates
and round-trips; its predictions file rescores (the task's ``score_predictions``) to exactly the recorded metrics;
the same seed gives the same metrics and another seed other weights. (Batches of every recipe, not only the tiny
one: tests/test_batch_contract.py.)"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from benchmarks import run
from benchmarks.cli import main
from benchmarks.definitions import get_benchmark
from benchmarks.run import RunOptions, run_benchmark
from leaderboard.predictions import read_predictions
from leaderboard.schema import validate_record
from leaderboard.store import read_records
from tasks import TASKS, sentiment
from tasks.core.checkpoints import load_checkpoint
from tasks.core.contract import RECIPES, Optim
from tasks.core.resume import ResumePoint


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
    assert set(module.PRESETS) == set(RECIPES)
    assert get_benchmark(task, None).builtin


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_benchmark_is_offered_by_the_harness_and_every_recipe_builds_it(task: str) -> None:
    module = TASKS[task]
    for name in module.SPEC.benchmark_names:
        assert get_benchmark(task, name) == module.SPEC.benchmark(name)
        assert get_benchmark(task, name).name == name
        for recipe, make in module.PRESETS.items():
            for model in module.SPEC.models:
                config = make(name, model)
                assert isinstance(config, module.Config), (name, recipe, model)
                assert config.benchmark == name, (name, recipe, model)


def test_zoo_models_lists_every_benchmark_and_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    for task, module in TASKS.items():
        assert f"benchmarks {', '.join(module.SPEC.benchmark_names)};" in lines[task]
        assert lines[task].endswith(f"models {', '.join(module.SPEC.models)}")


@pytest.mark.parametrize("task", sorted(TASKS))
def test_two_steps_give_a_finite_metric_and_a_valid_record(task: str, records_dir: Path, tmp_path: Path) -> None:
    record = run_benchmark(_options(task, records_dir, tmp_path))
    spec = TASKS[task].SPEC
    assert math.isfinite(record["metrics"][spec.primary_metric])
    assert record["steps"] == 2
    validate_record(record)
    assert read_records(records_dir) == [record]
    assert [path.name for path in (tmp_path / "runs" / task).rglob("*.ckpt")] == ["last.ckpt"]


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
    assert first["config_hash"] == second["config_hash"] == other["config_hash"]  # the seed is not in the config
    assert read_predictions(records_dir / first["predictions"]) == read_predictions(records_dir / second["predictions"])
    assert len(read_records(records_dir)) == 3
    weights = {seed: load_checkpoint(next((tmp_path / "runs" / task).rglob(f"*-s{seed}/*/checkpoints/last.ckpt")))
               ["state_dict"] for seed in (3, 4)}
    assert weights[3].keys() == weights[4].keys()
    assert any(not torch.equal(weights[3][name], weights[4][name]) for name in weights[3])  # the seed is used


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
    point = ResumePoint(tmp_path / "checkpoints" / "last.ckpt", every_n_steps=0)
    trainer = run._trainer(options, config, tmp_path, run.RunMeter("accuracy", None, True), point)
    assert trainer.check_val_every_n_epoch == 3
    with pytest.raises(ValueError, match="optim.val_every_n_epochs must be positive"):
        Optim(val_every_n_epochs=0)
