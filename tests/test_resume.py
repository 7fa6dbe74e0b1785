"""Crashes: a run killed with SIGKILL mid-epoch resumes with ``--resume`` and ends exactly like an uninterrupted run
(same final weights, same test metrics); a NaN loss stops a run with a message naming step and batch, no record."""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks.cli import main as zoo_main
from benchmarks.run import RunOptions, run_benchmark
from benchmarks.run_folders import FINISHED, open_run
from tasks import TASKS
from tasks.core.contract import TaskModule
from tests.conftest import env_without_pytest
from tests.records import example_record

pytestmark = pytest.mark.usefixtures("one_thread")  # the killed subprocess runs on one thread too

CHILD = "from tests.test_resume import child; child()"


def child() -> None:
    """Entry of the killed process: ``argv = [kill_step, options json]``; SIGKILLs itself when training
    reaches ``kill_step`` (before that step's update), in the middle of whatever it is doing."""
    kill_step, spec = int(sys.argv[1]), json.loads(sys.argv[2])
    original = TaskModule.training_step

    def training_step(self: TaskModule, batch: dict, batch_idx: int) -> torch.Tensor:
        if self.global_step == kill_step:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, batch, batch_idx)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TaskModule, "training_step", training_step)
        if "argv" in spec:
            zoo_main(spec["argv"])
        else:
            run_benchmark(_options(spec, Path(spec["root"])))


def _options(spec: dict, root: Path, **changes: object) -> RunOptions:
    task = TASKS[spec["task"]]
    overrides = {**spec.get("overrides", {}), "optim": dataclasses.replace(task.tiny().optim, **spec["optim"])}
    return RunOptions(task=spec["task"], recipe="smoke", records_dir=root / "records", runs_dir=root / "runs",
                      progress_bar=False, overrides=overrides, checkpoint_every_n_steps=spec["every"], **changes)


def _kill_at(step: int, spec: dict) -> None:
    env = {**env_without_pytest(), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(step), json.dumps(spec)], env=env, capture_output=True,
                          text=True, timeout=600, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]


def _final_weights(root: Path) -> dict[str, torch.Tensor]:
    (last,) = (root / "runs").rglob("last.ckpt")
    return torch.load(last, weights_only=True)["state_dict"]


def _records(root: Path) -> list[dict]:
    files = sorted((root / "records").glob("*.jsonl"))
    return [json.loads(line) for path in files for line in path.read_text().splitlines()]


def _assert_same_run(resumed: Path, uninterrupted: Path) -> None:
    ours, theirs = _final_weights(resumed), _final_weights(uninterrupted)
    assert ours.keys() == theirs.keys()
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], rtol=0, atol=0, msg=name)
    (a,), (b,) = _records(resumed), _records(uninterrupted)
    assert a["metrics"] == b["metrics"] and a["steps"] == b["steps"]


def test_zoo_bench_killed_mid_epoch_resumes_to_the_same_run(tmp_path: Path) -> None:
    """sentiment smoke (20 steps inside one 250-batch epoch), killed at step 13, last.ckpt from step 10."""
    def argv(root: Path) -> list[str]:
        return ["bench", "sentiment", "--recipe", "smoke", "--records-dir", str(root / "records"),
                "--runs-dir", str(root / "runs"), "--checkpoint-every", "5", "--no-progress"]

    killed, full = tmp_path / "killed", tmp_path / "full"
    _kill_at(13, {"argv": argv(killed)})
    assert _records(killed) == []  # a killed run writes no record
    assert torch.load(next((killed / "runs").rglob("last.ckpt")), weights_only=True)["global_step"] == 10
    assert zoo_main([*argv(killed), "--resume"]) == 0
    assert zoo_main(argv(full)) == 0
    _assert_same_run(killed, full)
    (record,) = _records(full)
    logged = _logged(full, "version_0")
    assert [row["step"] for row in logged if row["train/loss"]] == ["9", "19"]  # every 10 steps
    (test_row,) = [row for row in logged if row["test/accuracy"]]
    assert float(test_row["test/accuracy"]) == pytest.approx(record["metrics"]["accuracy"], abs=1e-6)
    assert float(_logged(killed, "version_1")[-1]["test/accuracy"]) == float(test_row["test/accuracy"])


def _logged(root: Path, version: str) -> list[dict[str, str]]:
    """The rows of a run's CSV log (``runs/.../logs/VERSION/metrics.csv``)."""
    (path,) = (root / "runs").rglob(f"logs/{version}/metrics.csv")
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("kill_step,saved_step", [(9, 8), (13, 12)])
def test_resume_across_epochs_restores_data_order_and_random_state(kill_step: int, saved_step: int,
                                                                    tmp_path: Path) -> None:
    """asr smoke over 3 epochs of 6 batches, with dropout and SpecAugment drawing from torch's generator and a
    length-grouped sampler. Killed at step 9 it resumes from the mid-epoch checkpoint of step 8 (epoch 1); killed at
    step 13, from the end-of-epoch checkpoint of step 12; either way it continues through epoch 2."""
    spec = {"task": "asr", "optim": {"max_epochs": 3, "max_steps": -1}, "every": 4,
            "overrides": {"spec_augment": True, "model": {"dropout": 0.1}}}
    killed, full = tmp_path / "killed", tmp_path / "full"
    _kill_at(kill_step, {**spec, "root": str(killed)})
    assert torch.load(next((killed / "runs").rglob("last.ckpt")), weights_only=True)["global_step"] == saved_step
    run_benchmark(_options(spec, killed, resume=True))
    run_benchmark(_options(spec, full))
    _assert_same_run(killed, full)


def test_nan_loss_stops_the_run_naming_step_and_batch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = tmp_path / "records"
    records.mkdir()
    earlier = json.dumps(example_record(id="sentiment-an-earlier-record")) + "\n"
    (records / "sentiment.jsonl").write_text(earlier)
    options = _options({"task": "sentiment", "optim": {"lr": 1e30, "max_steps": 5}, "every": 0}, tmp_path)
    with pytest.raises(FloatingPointError, match=r"non-finite training loss nan at step \d+, batch \d+"):
        run_benchmark(options)
    assert (records / "sentiment.jsonl").read_text() == earlier
    assert not (records / "predictions").exists()


def _run_folder(config: Path, name: str, finished: bool = False) -> Path:
    """A run folder of ``config`` with a last.ckpt (and a ``record_id`` when ``finished``)."""
    path = config / name if name else config
    (path / "checkpoints").mkdir(parents=True)
    (path / "checkpoints" / "last.ckpt").write_bytes(b"")
    if finished:
        (path / FINISHED).write_text("a-record-id\n")
    return path


def test_fresh_runs_of_one_config_get_folders_of_their_own(tmp_path: Path) -> None:
    config = tmp_path / "sentiment" / "reviews" / "smoke" / "zoo-tiny-s0"
    first, second = open_run(config, resume=False), open_run(config, resume=False)
    assert first.path != second.path and first.path.parent == second.path.parent == config
    assert not first.resumed and first.path.is_dir() and second.path.is_dir()
    first.release()
    second.release()


def test_resume_takes_the_newest_unfinished_run_not_in_use_and_names_the_others(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = tmp_path / "zoo-tiny-s0"
    legacy = _run_folder(config, "")  # the earlier layout: checkpoints/ right in the config folder
    older = _run_folder(config, "20260101T000000000000Z-aaaaaa")
    newest = _run_folder(config, "20260102T000000000000Z-bbbbbb")
    _run_folder(config, "20260103T000000000000Z-cccccc", finished=True)
    busy = open_run(_run_folder(config, "20260104T000000000000Z-dddddd").parent, resume=True)  # another run's
    assert busy.path.name.endswith("dddddd")
    caplog.set_level(logging.INFO, logger="benchmarks.run_folders")
    chosen = open_run(config, resume=True)
    assert chosen.resumed and chosen.path == newest and chosen.last.is_file()
    assert f"zoo: resuming {newest}, the newest unfinished run; others: {older}, {legacy}" in caplog.messages
    assert f"zoo: {busy.path} is in use by another run: not resuming it" in caplog.messages
    then, last = open_run(config, resume=True), open_run(config, resume=True)
    assert (then.path, last.path) == (older, legacy)
    fresh = open_run(config, resume=True)  # every unfinished run is in use: a new one
    assert not fresh.resumed and fresh.path not in (legacy, older, newest, busy.path)
    for folder in (busy, chosen, then, last, fresh):
        folder.release()
    again = open_run(config, resume=True)
    assert again.path == busy.path  # released: the newest unfinished run again
    again.release()
