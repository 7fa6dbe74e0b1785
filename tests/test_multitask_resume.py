"""Multi-task runs stopped and resumed, and run on two processes (tasks/multitask/mixture.py, benchmarks/multitask.py).

A ``MixtureLoader`` restored from its state at any step goes on exactly as the uninterrupted one, across restarts of
its task loaders and epochs; a run stopped by SIGTERM (or a crash) resumes with ``options.resume`` to the records and
weights of an uninterrupted run; a 2-process DDP run (gloo on CPU) draws the same tasks on both processes, each its own
shard of the data, and writes records in which each test example counts once.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

from benchmarks.interrupts import Interrupted
from benchmarks.multitask import multitask_strategy, run_multitask
from benchmarks.run import RunOptions
from leaderboard.schema import validate_record
from tasks import get_task
from tasks import multitask as mt
from tasks.core.resume import set_rng_states
from tasks.core.samplers import EpochSampler
from tests.conftest import env_without_pytest

TWO = ("vqa", "asr")  # the smallest train sets: 13 steps a mixture epoch, asr's 3 batches restarting within it
STEPS = 20


class Shuffle(EpochSampler):
    """A seeded shuffle per epoch."""

    def order(self, epoch: int) -> list[int]:
        return self.permutation(self.seed + epoch)


def _loaders() -> dict[str, Any]:
    """Fresh task loaders, as a resumed process builds them: a generator's shuffle, an epoch sampler's shuffle with
    no generator (its base seed comes from torch's), and a plain list; all restart inside a mixture epoch."""
    data = torch.arange(15)
    return {"generator": DataLoader(data[:10], batch_size=3, shuffle=True, generator=torch.Generator().manual_seed(1)),
            "epochs": DataLoader(data[10:15], batch_size=2, sampler=Shuffle(5, seed=2)),
            "list": ["l0", "l1"]}


def _steps(loader: mt.MixtureLoader, epochs: int, saved: dict | None = None) -> Iterator[tuple[str, Any, float]]:
    """``(task, batch, a draw from torch's generator)`` per step, the draw standing for the step's dropout. Resumed
    from ``saved``, the first step's batch is followed by what the callbacks do: ``ResumePoint`` restores the states
    of the save, then ``MixturePoint`` sets those the mixture left after fetching the batch."""
    for _ in range(epochs):
        for name, batch in loader:
            if saved is not None:
                set_rng_states(saved["rng"])
                set_rng_states(loader.take_resumed_rng())
                saved = None
            yield name, batch.tolist() if isinstance(batch, torch.Tensor) else batch, torch.rand(()).item()


def _resumed(state: dict, probabilities: dict[str, float]) -> mt.MixtureLoader:
    """A mixture of fresh loaders in another process (another global RNG state), given ``state``."""
    torch.manual_seed(99)
    loader = mt.MixtureLoader(_loaders(), probabilities, seed=5)
    loader.load_state_dict(state)
    return loader


def test_a_mixture_restored_at_any_step_goes_on_as_the_uninterrupted_one() -> None:
    """At every step of three epochs: stopped there and resumed, and stopped again 4 steps later and resumed."""
    probabilities = {"generator": 0.4, "epochs": 0.3, "list": 0.3}
    torch.manual_seed(0)
    whole = list(_steps(mt.MixtureLoader(_loaders(), probabilities, seed=5), 3))
    epoch = 4 + 3 + 2
    assert len(whole) == 3 * epoch and whole[:epoch] != whole[epoch:2 * epoch]
    for step in range(len(whole)):
        torch.manual_seed(0)
        loader = mt.MixtureLoader(_loaders(), probabilities, seed=5)
        steps = _steps(loader, 3)
        ran = [next(steps) for _ in range(step)]
        state = loader.state_dict()
        rest = list(_steps(_resumed(state, probabilities), 3 - step // epoch, state))  # this epoch and the later
        assert ran + rest == whole, f"resumed after step {step}"
        again = _resumed(state, probabilities)
        steps = _steps(again, 3 - step // epoch, state)
        ran += [next(steps) for _ in range(min(4, len(whole) - step))]
        second = again.state_dict()
        rest = list(_steps(_resumed(second, probabilities), 3 - len(ran) // epoch, second))
        assert ran + rest == whole, f"resumed after step {step}, then after step {len(ran)}"


def _process(rank: int) -> mt.MixtureLoader:
    """Process ``rank``'s mixture of 2: its own loader objects, seeded as every process seeds them."""
    data = torch.arange(11)
    return mt.MixtureLoader({"a": DataLoader(data, batch_size=2, sampler=Shuffle(11, seed=1)),
                             "b": DataLoader(data + 100, batch_size=4, shuffle=True,
                                             generator=torch.Generator().manual_seed(3))},
                            {"a": 0.5, "b": 0.5}, seed=0, rank=rank, num_ranks=2)


def test_processes_draw_the_same_tasks_each_its_own_part_of_the_data() -> None:
    mixtures = [_process(rank) for rank in range(2)]
    assert len(mixtures[0]) == len(mixtures[1]) == 3 + 2  # ceil(ceil(11 / 2) / 2) + ceil(ceil(11 / 2) / 4)
    drawn = [[name for _ in range(3) for name, _ in mixture] for mixture in mixtures]
    assert drawn[0] == drawn[1] and set(drawn[0]) == {"a", "b"}
    for task, keys in (("a", set(range(11))), ("b", set(range(100, 111)))):
        parts = [[int(k) for batch in _process(rank).loaders[task] for k in batch] for rank in range(2)]
        assert len(parts[0]) == len(parts[1]) == 6 and set(parts[0]) | set(parts[1]) == keys
        assert len(set(parts[0]) & set(parts[1])) == 1  # the padding repeats one key, as DistributedSampler does
    with pytest.raises(ValueError, match="a: a train loader must be a DataLoader to be sharded across 2 processes"):
        mt.MixtureLoader({"a": [1, 2]}, {"a": 1.0}, seed=0, rank=0, num_ranks=2)


@pytest.fixture()
def short_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The smoke recipe cut to ``STEPS`` steps."""
    _short(monkeypatch, STEPS)


def _short(patch: pytest.MonkeyPatch, steps: int) -> None:
    preset = mt.preset
    patch.setattr(mt, "preset", lambda recipe, tasks=mt.TASKS: dataclasses.replace(
        preset(recipe, tasks), optim=dataclasses.replace(preset(recipe, tasks).optim, max_steps=steps)))


def _options(root: Path, **changes: Any) -> RunOptions:
    return RunOptions(task="multitask", recipe="smoke", records_dir=root / "records", runs_dir=root / "runs",
                      progress_bar=False, checkpoint_every_n_steps=5, **changes)


def _outcome(root: Path, records: list[dict]) -> dict[str, Any]:
    """Each task's metrics, steps and prediction rows, and the final weights."""
    rows = {r["task"]: (root / "records" / r["predictions"]).read_text().splitlines() for r in records}
    (last,) = (root / "runs").rglob("last.ckpt")
    return {"records": [(r["task"], r["metrics"], r["steps"], rows[r["task"]]) for r in records],
            "weights": torch.load(last, weights_only=True)["state_dict"]}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The outcome of the run on ``TWO`` that nothing stops."""
    root = tmp_path_factory.mktemp("uninterrupted")
    with pytest.MonkeyPatch.context() as patch:
        _short(patch, STEPS)
        return _outcome(root, run_multitask(_options(root), TWO))


class Crash(RuntimeError):
    """A failure that stops a run with no checkpoint of its own (as a kill does)."""


@pytest.mark.parametrize("stop,stop_step,saved_step", [("sigterm", 9, 10), ("crash", 14, 13)])
def test_a_stopped_run_resumes_to_the_uninterrupted_records(stop: str, stop_step: int, saved_step: int, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch, short_runs: None,
                                                            uninterrupted: dict[str, Any]) -> None:
    """SIGTERM during step 9 saves step 10 (mid-epoch), whose batch restarts asr's loader (its base seed from
    torch's generator); a crash during step 14 leaves the end of the first mixture epoch (step 13) to resume from,
    whose next epoch opens every task's loader anew."""
    original = mt.MultiTaskModule.training_step

    def training_step(self: mt.MultiTaskModule, batch: Any, batch_idx: int) -> torch.Tensor:
        if self.global_step == stop_step and stop == "sigterm":
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None), "Lightning's handler is not set"
            os.kill(os.getpid(), signal.SIGTERM)  # Lightning stops after this step, which ResumePoint saves
        elif self.global_step == stop_step:
            raise Crash(f"step {stop_step}")
        return original(self, batch, batch_idx)

    root = tmp_path / "stopped"
    with monkeypatch.context() as patch:
        patch.setattr(mt.MultiTaskModule, "training_step", training_step)
        with pytest.raises((Interrupted, Crash)) as stopped:
            run_multitask(_options(root), TWO)
    if stop == "sigterm":  # Interrupted, naming the checkpoint of the step it stopped at
        assert stopped.value.signum == signal.SIGTERM and stopped.value.checkpoint_step == saved_step
    (last,) = (root / "runs").rglob("last.ckpt")
    assert torch.load(last, weights_only=True)["global_step"] == saved_step
    assert not list(root.glob("records/*.jsonl"))
    resumed = _outcome(root, run_multitask(_options(root, resume=True), TWO))
    assert resumed["records"] == uninterrupted["records"]
    assert resumed["weights"].keys() == uninterrupted["weights"].keys()
    for name, tensor in uninterrupted["weights"].items():
        torch.testing.assert_close(resumed["weights"][name], tensor, rtol=0, atol=0, msg=name)


# ---------------------------------------------------------------- DDP
@pytest.mark.parametrize("strategy,devices,expected", [
    ("ddp", 2, "ddp_find_unused_parameters_true"), ("auto", 2, "ddp_find_unused_parameters_true"),
    ("ddp_spawn", 2, "ddp_spawn_find_unused_parameters_true"), ("auto", 1, "auto"), ("fsdp", 2, "fsdp")])
def test_ddp_runs_with_find_unused_parameters(strategy: str, devices: int, expected: str) -> None:
    """A step trains one task: the other tasks' heads get no gradient, which plain DDP rejects."""
    assert multitask_strategy(RunOptions(task="multitask", strategy=strategy, devices=devices)) == expected


DDP_STEPS = 10
ASR_TEST = 13  # odd: the distributed sampler repeats one test example to even out the two processes


def ddp_child(root: Path) -> None:
    """Entry of the DDP run (``python -m tests.test_multitask_resume ROOT``; Lightning starts the second process with
    the same command): a short 2-process run on ``TWO`` that logs each process's steps to ``ROOT/steps-RANK.jsonl``."""
    from tasks.asr import data as asr_data

    original = mt.MultiTaskModule.training_step

    def training_step(self: mt.MultiTaskModule, batch: Any, batch_idx: int) -> torch.Tensor:
        step = {"step": self.global_step, "task": batch[0], "ids": list(batch[1]["id"]),
                "epoch_steps": self.trainer.num_training_batches}
        with (root / f"steps-{self.global_rank}.jsonl").open("a") as handle:
            handle.write(json.dumps(step) + "\n")
        return original(self, batch, batch_idx)

    with pytest.MonkeyPatch.context() as patch:
        _short(patch, DDP_STEPS)
        patch.setitem(asr_data.TTS_SIZES, "smoke", {**asr_data.TTS_SIZES["smoke"], "test": ASR_TEST})
        patch.setattr(mt.MultiTaskModule, "training_step", training_step)
        run_multitask(_options(root, accelerator="cpu", devices=2, strategy="ddp"), TWO)


def _one_process_order(task: str) -> list[str]:
    """The example ids of the first pass of ``task``'s train loader in a one-process run on ``TWO``."""
    config = mt.task_config(mt.preset("smoke", TWO), task)
    datamodule = get_task(task).DataModule(config, seed=0, num_workers=0)
    datamodule.setup("fit")
    datamodule.batch_size = mt.preset("smoke", TWO).optim.batch_size
    return [key for batch in datamodule.train_dataloader() for key in batch["id"]]


@pytest.mark.slow  # two processes, each building, training and testing both tasks
def test_a_ddp_run_draws_the_same_tasks_shards_the_data_and_counts_each_test_example_once(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "tests.test_multitask_resume", str(tmp_path)],
                          env={**env_without_pytest(), "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=600, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [[json.loads(line) for line in (tmp_path / f"steps-{rank}.jsonl").read_text().splitlines()]
             for rank in range(2)]
    assert [s["step"] for s in ranks[0]] == [s["step"] for s in ranks[1]] == list(range(DDP_STEPS))
    assert [s["task"] for s in ranks[0]] == [s["task"] for s in ranks[1]]
    # a mixture epoch is each process's batches: vqa's 160 and asr's 48 train examples halved, in batches of 16
    epoch_steps = math.ceil(160 / 2 / 16) + math.ceil(48 / 2 / 16)
    assert {s["epoch_steps"] for r in ranks for s in r} == {epoch_steps}
    for mine, theirs in zip(*ranks, strict=True):
        assert mine["ids"] != theirs["ids"], mine["step"]
        if mine["task"] == "asr":  # a shuffle of all examples (vqa's warm-up curriculum repeats some in an epoch)
            assert not set(mine["ids"]) & set(theirs["ids"]), mine["step"]
    # vqa's first pass (no restart in the first epoch): process 0 has the keys at even positions of one process's
    # order, process 1 those at odd ones
    firsts = [[s["ids"] for s in r[:epoch_steps] if s["task"] == "vqa"] for r in ranks]
    interleaved = [key for ours, theirs in zip(*firsts, strict=True) for pair in zip(ours, theirs, strict=True)
                   for key in pair]
    assert interleaved and interleaved == _one_process_order("vqa")[:len(interleaved)]
    for task in TWO:
        record = json.loads((tmp_path / "records" / f"{task}.jsonl").read_text())
        validate_record(record)
        assert record["device"]["count"] == 2 and record["steps"] == DDP_STEPS
        rows = [json.loads(line) for line in (tmp_path / "records" / record["predictions"]).read_text().splitlines()]
        assert len(rows) == len({r["id"] for r in rows}) == record["num_test_examples"]
        assert get_task(task).score_predictions(rows) == pytest.approx(record["metrics"], abs=1e-6)
        (log,) = (tmp_path / "runs").rglob("logs/version_0/metrics.csv")
        with log.open(newline="") as handle:
            (logged,) = [row for row in csv.DictReader(handle) if row.get(f"test/{task}/{record['primary_metric']}")]
        for metric, value in record["metrics"].items():  # the task module's own metrics, gathered and de-duplicated
            assert float(logged[f"test/{task}/{metric}"]) == pytest.approx(value, abs=1e-6), (task, metric)
    assert json.loads((tmp_path / "records" / "asr.jsonl").read_text())["num_test_examples"] == ASR_TEST


if __name__ == "__main__":
    ddp_child(Path(sys.argv[1]))
