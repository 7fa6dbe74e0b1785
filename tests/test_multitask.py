"""Multi-task training (tasks/multitask, benchmarks/multitask.py): one backbone whose shared parts are one instance
across the tasks, a seeded mixture of one task's batch a step, and one valid record per task."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.cli import main
from benchmarks.multitask import is_multitask, run_multitask
from benchmarks.run import RunOptions
from leaderboard.schema import validate_record
from tasks import get_task
from tasks import multitask as mt

TWO = ("sentiment", "vqa")


def test_shared_groups_are_one_instance_and_counted_once() -> None:
    config = mt.preset("smoke", ("sentiment", "captioning", "vqa"))
    _, _, modules = mt.build(config)
    nets = [m.net for m in modules.values()]
    assert nets[0].text is nets[1].text is nets[2].text and nets[0].encoder is nets[1].encoder is nets[2].encoder
    assert nets[1].image is nets[2].image and nets[1].decoder is not None
    assert nets[0].head is not nets[2].head  # sentiment's labels, vqa's answers
    whole = mt.MultiTaskModule(config, modules).num_parameters()
    assert whole < sum(sum(p.numel() for p in m.parameters()) for m in modules.values())
    shared = sum(p.numel() for p in nets[0].encoder.parameters())
    assert whole == sum(p.numel() for p in {id(p): p for m in modules.values() for p in m.parameters()}.values())
    assert shared > 0


def test_tie_names_a_group_built_differently() -> None:
    config = mt.preset("smoke", TWO)
    configs = {name: mt.task_config(config, name) for name in TWO}
    configs["vqa"] = dataclasses.replace(configs["vqa"], model={**configs["vqa"].model, "width": 48})
    modules = {}
    for name in TWO:
        dm = get_task(name).DataModule(configs[name])
        dm.setup("fit")
        modules[name] = get_task(name).Module(configs[name], dm.tokenizer.to_dict(), **dm.module_kwargs())
    with pytest.raises(ValueError, match=r"^\w+\.[\w.]+: sentiment and vqa build it differently"):
        mt.tie(modules)


def test_mixture_follows_the_temperature() -> None:
    sizes = {"a": 900, "b": 100}
    assert mt.mixture(sizes, 1.0) == pytest.approx({"a": 0.9, "b": 0.1})
    assert mt.mixture(sizes, 2.0) == pytest.approx({"a": 0.75, "b": 0.25})
    assert mt.mixture(sizes, 1e6)["a"] == pytest.approx(0.5, abs=1e-4)
    with pytest.raises(ValueError, match="temperature"):
        mt.Config(temperature=0)


def test_mixture_loader_is_seeded_and_restarts_short_loaders() -> None:
    loaders = {"a": [f"a{i}" for i in range(30)], "b": ["b0", "b1"]}
    first = list(mt.MixtureLoader(loaders, {"a": 0.5, "b": 0.5}, seed=3))
    again = list(mt.MixtureLoader(loaders, {"a": 0.5, "b": 0.5}, seed=3))
    other = list(mt.MixtureLoader(loaders, {"a": 0.5, "b": 0.5}, seed=4))
    assert first == again != other and len(first) == 32
    counts = Counter(name for name, _ in first)
    assert counts["b"] > 2  # b's two batches came round again
    assert [batch for name, batch in first if name == "b"][:4] == ["b0", "b1", "b0", "b1"]
    loader = mt.MixtureLoader(loaders, {"a": 0.5, "b": 0.5}, seed=3)
    assert list(loader) != list(loader)  # the next epoch draws again


def test_a_multitask_run_writes_one_valid_record_per_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    preset = mt.preset
    monkeypatch.setattr(mt, "preset", lambda recipe, tasks=mt.TASKS: dataclasses.replace(
        preset(recipe, tasks), optim=dataclasses.replace(preset(recipe, tasks).optim, max_steps=4)))
    options = RunOptions(task="multitask", recipe="smoke", records_dir=tmp_path / "records",
                         runs_dir=tmp_path / "runs", progress_bar=False)
    records = run_multitask(options, TWO)
    assert [r["task"] for r in records] == list(TWO)
    for record in records:
        validate_record(record)
        assert record["model"] == "zoo-tiny-multitask" and is_multitask(record)
        assert record["benchmark"] == get_task(record["task"]).SPEC.benchmarks[0].name
        shared = record["config"]["multitask"]
        assert shared["tasks"] == list(TWO) and shared["steps"] == 4 == sum(shared["task_steps"].values())
        assert record["num_parameters"] < sum(shared["task_parameters"].values())
    assert records[0]["num_parameters"] == records[1]["num_parameters"]
    assert records[0]["wall_seconds"] == records[1]["wall_seconds"]
    stored = [json.loads(line) for task in TWO for line in (tmp_path / "records" / f"{task}.jsonl").read_text()
              .splitlines()]
    assert [r["id"] for r in stored] == [r["id"] for r in records]
    capsys.readouterr()
    prediction = tmp_path / "records" / records[1]["predictions"]
    assert main(["score", str(prediction), "--records-dir", str(tmp_path / "records")]) == 0
    assert "verdict: the predictions give exactly the recorded metrics" in capsys.readouterr().out
    assert main(["bench", "sentiment", "--recipe", "smoke", "--init-from", records[0]["id"], "--records-dir",
                 str(tmp_path / "records"), "--runs-dir", str(tmp_path / "runs"), "--no-progress"]) == 0
    assert "(multitask checkpoint, its sentiment part): loaded text, encoder, head;" in capsys.readouterr().out
    transfer = json.loads((tmp_path / "records" / "sentiment.jsonl").read_text().splitlines()[-1])
    assert transfer["model"].startswith("zoo-tiny←multitask@") and transfer["init_from"]["record"] == records[0]["id"]
    assert main(["reproduce", records[1]["id"], "--records-dir", str(tmp_path / "records")]) == 0
    out = capsys.readouterr().out
    assert "tolerance: exact" in out and "verdict: reproduced" in out


def test_multitask_needs_the_builtin_suite(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "sentiment", "--multitask", "--recipe", "smoke"]) == 2
    assert "--multitask trains one backbone on every built-in benchmark" in capsys.readouterr().err


def test_the_checkpoint_names_every_task_and_loads_safely(tmp_path: Path) -> None:
    import lightning.pytorch as pl
    import torch

    from tasks.core.checkpoints import CheckpointError, load_checkpoint

    config = mt.preset("smoke", TWO)
    _, _, modules = mt.build(config)
    module = mt.MultiTaskModule(config, modules)
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, max_steps=0)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(tmp_path / "mt.ckpt", weights_only=False)
    checkpoint = load_checkpoint(tmp_path / "mt.ckpt")
    hparams = checkpoint["hyper_parameters"]
    assert hparams["task"] == "multitask" and set(hparams["tasks"]) == set(TWO)
    assert hparams["tasks"]["vqa"]["answers"] == modules["vqa"].answers
    state = checkpoint["state_dict"]
    assert torch.equal(state["tasks.sentiment.net.encoder.blocks.0.attn.qkv.weight"],
                       state["tasks.vqa.net.encoder.blocks.0.attn.qkv.weight"])
    with pytest.raises(CheckpointError, match="a checkpoint of task 'multitask', not of task 'sentiment'"):
        load_checkpoint(tmp_path / "mt.ckpt", expected_task="sentiment")
