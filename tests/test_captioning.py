"""Captioning task: the real-data layouts on fixture folders, corrupt images, the caption cycle, scoring."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.run import RunOptions, run_benchmark
from tasks import captioning
from tasks.core import vision

COLOURS = {"red": (220, 30, 30), "blue": (30, 80, 220), "green": (30, 160, 60)}


def _write_image(path: Path, colour: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30), COLOURS[colour]).save(path)


@pytest.fixture()
def captions_folder(tmp_path: Path) -> Path:
    """An image folder with captions.jsonl: 6 train, 2 val, 2 test images, three colours."""
    root = tmp_path / "captions"
    lines = []
    for index, split in enumerate(["train"] * 6 + ["val"] * 2 + ["test"] * 2):
        colour = list(COLOURS)[index % 3]
        _write_image(root / "img" / f"{index}.png", colour)
        lines.append({"image": f"img/{index}.png", "split": split,
                      "captions": [f"a {colour} picture", f"it is all {colour}"]})
    (root / "captions.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return root


@pytest.fixture()
def karpathy_folder(tmp_path: Path) -> Path:
    """Karpathy's dataset_coco.json with train/restval/val/test images under their filepath folders."""
    root = tmp_path / "coco"
    images = []
    for index, split in enumerate(["train", "restval", "val", "test", "test"]):
        folder = "train2014" if split in ("train", "restval") else "val2014"
        _write_image(root / folder / f"COCO_{index}.jpg", "red")
        images.append({"filepath": folder, "filename": f"COCO_{index}.jpg", "split": split, "cocoid": 100 + index,
                       "sentences": [{"raw": "A red square.", "tokens": ["a", "red", "square"]},
                                     {"raw": "Red everywhere.", "tokens": ["red", "everywhere"]}]})
    (root / "dataset_coco.json").write_text(json.dumps({"images": images, "dataset": "coco"}))
    return root


def test_captions_folder_loads_its_splits(captions_folder: Path) -> None:
    config = captioning.Config(benchmark="captions-folder", data_dir=str(captions_folder))
    splits, fingerprint = captioning.load_splits(config)
    assert {split: len(rows) for split, rows in splits.items()} == {"train": 6, "val": 2, "test": 2}
    assert splits["test"][0]["captions"] == ["a green picture", "it is all green"]
    assert Path(splits["train"][0]["image_path"]).is_file()
    assert len(fingerprint) == 16


def test_karpathy_json_maps_restval_to_train(karpathy_folder: Path) -> None:
    config = captioning.Config(benchmark="coco-karpathy", data_dir=str(karpathy_folder))
    splits, _ = captioning.load_splits(config)
    assert [r["id"] for r in splits["train"]] == ["100", "101"]
    assert [r["id"] for r in splits["test"]] == ["103", "104"]
    assert splits["val"][0]["captions"] == ["A red square.", "Red everywhere."]
    assert all(Path(r["image_path"]).is_file() for rows in splits.values() for r in rows)


def test_corrupt_image_is_named_in_one_line(captions_folder: Path) -> None:
    broken = captions_folder / "img" / "7.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    config = dataclasses.replace(captioning.tiny("captions-folder"), data_dir=str(captions_folder))
    datamodule = captioning.DataModule(config)
    datamodule.setup("fit")
    with pytest.raises(ValueError, match="not a readable image") as info:
        next(iter(datamodule.val_dataloader()))
    assert str(broken) in str(info.value) and "\n" not in str(info.value)


def test_captions_folder_benchmark_runs(captions_folder: Path, records_dir: Path, tmp_path: Path,
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    record = run_benchmark(RunOptions(task="captioning", benchmark="captions-folder", recipe="smoke",
                                      data_dir=str(captions_folder), records_dir=records_dir,
                                      runs_dir=tmp_path / "runs", progress_bar=False))
    assert record["benchmark"] == "captions-folder" and record["num_test_examples"] == 2
    assert record["samples"][0]["input"]["image"].startswith("data:image/png;base64,")
    shown = [r.getMessage() for r in caplog.records if " predicted: " in r.getMessage()]
    assert len(shown) == 2 and shown[0].startswith("[") and "\n    references: " in shown[0]


def test_training_cycles_through_every_reference() -> None:
    rows = [{"id": f"r{i}", "captions": [f"c{i}-{k}" for k in range(5)]} for i in range(3)]
    view = captioning.CaptionCycle(rows, seed=1)
    sampler = captioning.EpochSampler(len(rows), seed=1)
    seen: dict[str, list[str]] = {row["id"]: [] for row in rows}
    for epoch in range(5):
        sampler.set_epoch(epoch)
        for key in sampler:
            item = view[key]
            seen[item["id"]].append(item["caption"])
    assert all(sorted(captions) == sorted(row["captions"]) for row, captions in zip(rows, seen.values()))
    assert seen != {r["id"]: r["captions"] for r in rows}  # a seeded order, not always the listed one


def test_epoch_sampler_order_is_pinned() -> None:
    """The keys of each epoch as the pre-``tasks.core.samplers`` sampler drew them (resumed runs depend on it)."""
    sampler = captioning.EpochSampler(7, seed=3)
    sampler.set_epoch(1)
    assert list(sampler) == [9, 13, 7, 11, 10, 8, 12]
    assert list(sampler) == [20, 15, 14, 17, 16, 18, 19]  # a full pass moves on to the next epoch
    fresh = captioning.EpochSampler(7, seed=3)
    assert [list(fresh) for _ in range(2)] == [[3, 6, 2, 1, 5, 0, 4], [9, 13, 7, 11, 10, 8, 12]]


def test_score_predictions_uses_corpus_idf() -> None:
    rows = [{"id": "a", "prediction": "a red circle", "reference": ["a red circle", "one red circle"], "score": 0.0},
            {"id": "b", "prediction": "a blue star", "reference": ["a blue square"], "score": 0.0},
            {"id": "c", "prediction": "two shapes", "reference": "there are two shapes", "score": 0.0}]
    whole = captioning.score_predictions(rows)
    halves = [captioning.score_predictions(rows[:1])["cider_d"], captioning.score_predictions(rows[1:])["cider_d"]]
    assert set(whole) == set(captioning.SPEC.metrics)
    assert whole["cider_d"] != pytest.approx((halves[0] + 2 * halves[1]) / 3)  # not a mean of batch values


def test_majority_baseline_runs_on_the_builtin_data(monkeypatch: pytest.MonkeyPatch) -> None:
    splits, _ = captioning.load_splits(captioning.tiny())
    calls = []
    original = captioning.score_predictions
    monkeypatch.setattr(captioning, "score_predictions", lambda rows: calls.append(rows) or original(rows))
    scores = captioning.majority_baseline(splits["train"], splits["test"])
    assert set(scores) == set(captioning.SPEC.metrics)
    assert len(calls) == 1 and len(calls[0]) == captioning.SHAPES_SIZES["test"]
    assert len({row["prediction"] for row in calls[0]}) == 1
    assert 0.0 <= scores["cider_d"] < 1.0


def test_sample_input_is_a_png_data_uri() -> None:
    example = {"id": "x", "image": vision.encode_png(np.zeros((64, 64, 3), dtype=np.uint8))}
    uri = captioning.sample_input(example)["image"]
    assert uri.startswith("data:image/png;base64,")
