"""One batch vocabulary (``tasks/core/batch.py``) holds for every batch: each task's recipes and models on the
built-in data, the real-data readers on small folders in their release layouts, the own-data path (fit and
predict), and ``zoo bench --check-batches`` checks it on every batch of a run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from benchmarks.cli import main
from benchmarks.run import RunOptions, run_benchmark
from tasks import TASKS, get_finetune, sentiment
from tasks.core.batch import BATCH
from tasks.core.contract import RECIPES, check_batch
from tasks.core.finetune import build_config
from tasks.vqa import data as vqa_data
from tests.finetune_data import WRITERS
from tests.test_asr import an4_folder, fsdd_folder, librispeech_folder  # noqa: F401 (fixtures)
from tests.test_captioning import captions_folder, karpathy_folder  # noqa: F401 (fixtures)
from tests.test_med_report import iu_folder, mimic_csv  # noqa: F401 (fixtures)
from tests.test_sentiment import glue_folder  # noqa: F401 (fixtures)
from tests.test_vqa import rad_folder  # noqa: F401 (fixtures)

SMALL_IMAGES = {"image_size": 30, "patch_size": 15}
REAL_DATA = [  # (task, benchmark, fixture, Config changes that fit the small folder)
    ("sentiment", "sst2", "glue_folder", {"val_size": 8}),
    ("captioning", "captions-folder", "captions_folder", {}),
    ("captioning", "coco-karpathy", "karpathy_folder", {}),
    ("med_report", "iu-xray", "iu_folder", {}),
    ("med_report", "mimic-cxr", "mimic_csv", {}),
    ("asr", "fsdd", "fsdd_folder", {"val_size": 4}),
    ("asr", "an4", "an4_folder", {"val_size": 1}),
    ("asr", "librispeech", "librispeech_folder", {}),
    ("vqa", "vqa-rad", "rad_folder", SMALL_IMAGES),
    ("vqa", "vqa-rad-mevf", "mevf_folder", {**SMALL_IMAGES, "val_fraction": 0.2}),
]
OWN_DATA_COLUMNS = {"sentiment": "text=review,label=stars"}
PREDICT_INPUTS = {"sentiment": "reviews.csv", "captioning": ".", "vqa": "qa.jsonl", "med_report": ".", "asr": "."}


@pytest.fixture()
def mevf_folder(rad_folder: Path) -> Path:  # noqa: F811
    """The VQA-RAD release with MEVF's split beside it: mevf_split/{trainset,testset}.json."""
    released = json.loads((rad_folder / vqa_data.RAD_JSON).read_text())
    (rad_folder / "mevf_split").mkdir()
    (rad_folder / "mevf_split" / "trainset.json").write_text(json.dumps(released[:6]))
    (rad_folder / "mevf_split" / "testset.json").write_text(json.dumps(released[6:]))
    return rad_folder


def first_batches(datamodule: Any) -> list[dict]:
    """The first train and the first validation batch of a DataModule."""
    datamodule.setup("fit")
    return [next(iter(datamodule.train_dataloader())), next(iter(datamodule.val_dataloader()))]


def num_rows(batch: dict) -> int:
    """B: the first dimension of the batch's backbone inputs."""
    return next(int(value.shape[0]) for key, value in batch.items() if BATCH[key].dims[:1] == ("B",))


RECIPE_CASES = [pytest.param(t, r, m, marks=[pytest.mark.slow] if r != "smoke" else [])  # full data: asr's TTS, minutes
                for t in sorted(TASKS) for r in RECIPES for m in TASKS[t].SPEC.models]


@pytest.mark.parametrize("task,recipe,model", RECIPE_CASES)
def test_every_recipe_and_model_batches_keep_the_contract(task: str, recipe: str, model: str) -> None:
    module = TASKS[task]
    config = module.PRESETS[recipe](module.SPEC.benchmarks[0].name, model)
    train, val = first_batches(module.DataModule(config))
    check_batch(train)
    check_batch(val)
    assert num_rows(train) == config.optim.batch_size


@pytest.mark.parametrize("recipe", ["smoke", "standard"])
@pytest.mark.parametrize("task,benchmark,fixture,changes", REAL_DATA, ids=[case[1] for case in REAL_DATA])
def test_real_data_readers_batches_keep_the_contract(task: str, benchmark: str, fixture: str, changes: dict,
                                                     recipe: str, request: pytest.FixtureRequest) -> None:
    module = TASKS[task]
    folder = request.getfixturevalue(fixture)
    config = dataclasses.replace(module.PRESETS[recipe](benchmark, "zoo"), data_dir=str(folder), **changes)
    for batch in first_batches(module.DataModule(config)):
        check_batch(batch)


def test_packed_batches_with_answer_options_keep_the_contract(rad_folder: Path) -> None:  # noqa: F811
    config = dataclasses.replace(TASKS["vqa"].tiny("vqa-rad"), data_dir=str(rad_folder), scene_batch=True,
                                 answer_options="question", **SMALL_IMAGES)
    train, val = first_batches(TASKS["vqa"].DataModule(config))
    for batch in (train, val):
        check_batch(batch)
        assert {"slot", "answer_mask", "text_segments", "questions_per_row"} <= set(batch)
    assert train["answer_mask"].shape[0] == len(train["id"]) > num_rows(train)  # N questions over B images


def own_data(task: str, config: Any, info: dict | None = None, **kwargs: Any) -> Any:
    """The task's own-data DataModule as ``zoo fit|predict`` sets it up: the model gives its config and data_info
    (from the data's train split when ``info`` is None)."""
    data = get_finetune(task).Data(columns=OWN_DATA_COLUMNS.get(task), **kwargs)
    info = data.data_info(config) if info is None else info
    data.trainer = SimpleNamespace(lightning_module=SimpleNamespace(config=config, data_info=info))
    return data


@pytest.mark.parametrize("task", sorted(TASKS))
def test_own_data_batches_keep_the_contract(task: str, tmp_path: Path) -> None:
    root = tmp_path / "data"
    config = build_config(task, "smoke", None, None, None, None)
    data = own_data(task, config, path=str(WRITERS[task](root)))
    data.setup("fit")
    for loader in (data.train_dataloader(), data.val_dataloader(), data.test_dataloader()):
        check_batch(next(iter(loader)))
    predict = own_data(task, config, data.trainer.lightning_module.data_info,
                       predict=[str(root / PREDICT_INPUTS[task])])
    predict.setup("predict")
    check_batch(next(iter(predict.predict_dataloader())))


@pytest.fixture()
def sentiment_batch() -> dict:
    """A real batch of the sentiment smoke recipe: text (32, T), text_mask, label (32,), id."""
    return first_batches(sentiment.DataModule(sentiment.tiny()))[0]


BAD_BATCHES = {  # what breaks the batch -> the error it must give
    "undeclared key": (lambda b: {**b, "extra": torch.zeros(1)},
                       r"batch key\(s\) 'extra' not in the batch vocabulary"),
    "float label": (lambda b: {**b, "label": b["label"].float()},
                    r"'label': expected a long tensor, got torch.float32"),
    "long mask": (lambda b: {**b, "text_mask": b["text_mask"].long()}, r"'text_mask': expected a bool tensor"),
    "1-d text": (lambda b: {**b, "text": b["text"][:, 0]}, r"'text': expected 2 dimensions \(B, T\)"),
    "short label": (lambda b: {**b, "label": b["label"][1:]}, r"'label': dimension B is 31, but 32 in 'text'"),
    "short mask": (lambda b: {**b, "text_mask": b["text_mask"][:, 1:]}, r"'text_mask': dimension T is"),
    "int ids": (lambda b: {**b, "id": list(range(32))}, r"'id': items must be str, got int"),
    "no ids": (lambda b: {k: v for k, v in b.items() if k != "id"}, r"batch: 'id' missing"),
}


@pytest.mark.parametrize("name", BAD_BATCHES)
def test_a_batch_outside_the_vocabulary_is_named(sentiment_batch: dict, name: str) -> None:
    check_batch(sentiment_batch)
    spoil, message = BAD_BATCHES[name]
    with pytest.raises(ValueError, match=message):
        check_batch(spoil(sentiment_batch))


def _two_steps(tmp_path: Path, check_batches: bool) -> RunOptions:
    optim = dataclasses.replace(sentiment.tiny().optim, max_steps=2)
    return RunOptions(task="sentiment", recipe="smoke", records_dir=tmp_path / "records", runs_dir=tmp_path / "runs",
                      progress_bar=False, overrides={"optim": optim}, check_batches=check_batches)


def test_check_batches_passes_a_run_of_good_batches(tmp_path: Path) -> None:
    record = run_benchmark(_two_steps(tmp_path, check_batches=True))
    assert record["steps"] == 2 and "check_batches" not in json.dumps(record)


def test_check_batches_stops_a_run_at_a_bad_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    collate = sentiment.DataModule.collate
    monkeypatch.setattr(sentiment.DataModule, "collate", lambda self, examples: {**collate(self, examples),
                                                                                 "lengths": torch.zeros(1)})
    assert run_benchmark(_two_steps(tmp_path / "unchecked", check_batches=False))["steps"] == 2
    code = main(["bench", "sentiment", "--recipe", "smoke", "--check-batches", "--no-progress",
                 "--records-dir", str(tmp_path / "records"), "--runs-dir", str(tmp_path / "runs")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == ("zoo: error: batch key(s) 'lengths' not in the batch vocabulary (tasks/core/batch.py)")
