"""Report generation: the IU X-Ray (R2Gen) and MIMIC-CXR CSV layouts on fixture folders, batches, scoring."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest
from PIL import Image

from benchmarks.run import RunOptions, run_benchmark
from tasks import med_report

NORMAL = "The heart size is normal. No pleural effusion or pneumothorax."
ABNORMAL = "Moderate enlargement of the cardiac silhouette. There is a small left pleural effusion."


def _write_film(path: Path, grey: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (48, 48), grey).save(path)


@pytest.fixture()
def iu_folder(tmp_path: Path) -> Path:
    """R2Gen layout: annotation.json (train 4 / val 1 / test 2 studies, two views each) and images/."""
    root = tmp_path / "iu_xray"
    annotation: dict[str, list] = {}
    for split, count in (("train", 4), ("val", 1), ("test", 2)):
        annotation[split] = []
        for index in range(count):
            study = f"CXR{split}{index}_IM-0001"
            for view in range(2):
                _write_film(root / "images" / study / f"{view}.png", 40 * index)
            annotation[split].append({"id": study, "report": NORMAL if index % 2 else ABNORMAL, "split": split,
                                      "image_path": [f"{study}/0.png", f"{study}/1.png"]})
    (root / "annotation.json").write_text(json.dumps(annotation))
    return root


@pytest.fixture()
def mimic_csv(tmp_path: Path) -> Path:
    """A MIMIC-CXR-style CSV: dicom_id, path, findings, indication, split (train/validate/test)."""
    root = tmp_path / "mimic"
    lines = ["dicom_id,path,findings,indication,split"]
    for index, split in enumerate(["train"] * 4 + ["validate", "test", "test"]):
        _write_film(root / "files" / f"p{index}.png", 30 * index)
        lines.append(f'd{index},files/p{index}.png,"{NORMAL if index % 2 else ABNORMAL}",Cough.,{split}')
    (root / "reports.csv").write_text("\n".join(lines) + "\n")
    return root


def test_iu_xray_loads_its_splits(iu_folder: Path) -> None:
    splits, fingerprint = med_report.load_splits(med_report.Config(benchmark="iu-xray", data_dir=str(iu_folder)))
    assert {split: len(rows) for split, rows in splits.items()} == {"train": 4, "val": 1, "test": 2}
    assert splits["test"][1]["report"] == NORMAL
    assert splits["train"][0]["image_path"].endswith("CXRtrain0_IM-0001/0.png")
    assert len(fingerprint) == 16


def test_mimic_csv_loads_its_splits(mimic_csv: Path) -> None:
    splits, _ = med_report.load_splits(med_report.Config(benchmark="mimic-cxr", data_dir=str(mimic_csv)))
    assert {split: len(rows) for split, rows in splits.items()} == {"train": 4, "val": 1, "test": 2}
    assert splits["val"][0]["id"] == "d4" and splits["val"][0]["indication"] == "Cough."


def test_mimic_csv_file_itself_or_no_data_dir(mimic_csv: Path, tmp_path: Path) -> None:
    config = med_report.Config(benchmark="mimic-cxr", data_dir=str(mimic_csv / "reports.csv"))
    splits, _ = med_report.load_splits(config)
    assert {split: len(rows) for split, rows in splits.items()} == {"train": 4, "val": 1, "test": 2}
    with pytest.raises(ValueError, match="iu-xray needs a data dir: an R2Gen IU X-Ray folder"):
        med_report.load_splits(med_report.Config(benchmark="iu-xray"))
    with pytest.raises(FileNotFoundError, match="data dir not found"):
        med_report.load_splits(med_report.Config(benchmark="iu-xray", data_dir=str(tmp_path / "missing")))


def test_mimic_csv_missing_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("path,split\na.png,train\n")
    with pytest.raises(ValueError, match=r"bad\.csv:1: missing column 'report'"):
        med_report.read_report_csv(path, val_size=1)


def test_corrupt_film_is_named_in_one_line(iu_folder: Path) -> None:
    broken = iu_folder / "images" / "CXRtest0_IM-0001" / "0.png"
    broken.write_bytes(b"GIF89a truncated")
    config = dataclasses.replace(med_report.tiny("iu-xray"), data_dir=str(iu_folder))
    datamodule = med_report.DataModule(config)
    datamodule.setup("fit")
    with pytest.raises(ValueError, match="not a readable image") as info:
        next(iter(datamodule.test_dataloader()))
    assert str(broken) in str(info.value) and "\n" not in str(info.value)


def test_batches_fuse_image_and_indication() -> None:
    datamodule = med_report.DataModule(med_report.tiny())
    datamodule.setup("fit")
    batch = next(iter(datamodule.val_dataloader()))
    assert batch["image"].shape == (16, 3, 32, 32)
    assert batch["text"].shape[0] == 16 and batch["text_mask"].any(dim=1).all()
    assert batch["reference"][0] == datamodule.splits["val"][0]["report"]


def test_iu_xray_benchmark_runs_image_only(iu_folder: Path, records_dir: Path, tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    record = run_benchmark(RunOptions(task="med_report", benchmark="iu-xray", recipe="smoke",
                                      data_dir=str(iu_folder), records_dir=records_dir,
                                      runs_dir=tmp_path / "runs", progress_bar=False))
    assert record["num_test_examples"] == 2
    assert {"bleu4", "ce_f1", "ce_f1/cardiomegaly"} <= set(record["metrics"])
    shown = [r.getMessage() for r in caplog.records if " predicted: " in r.getMessage()]
    assert len(shown) == 2 and "\n    reference: '" in shown[0]


def test_score_predictions_reads_the_findings() -> None:
    rows = [{"id": "a", "prediction": ABNORMAL, "reference": ABNORMAL, "score": 1.0},
            {"id": "b", "prediction": NORMAL, "reference": ABNORMAL, "score": 0.0}]
    scores = med_report.score_predictions(rows)
    assert scores["ce_recall"] == pytest.approx(0.5) and scores["ce_precision"] == pytest.approx(2 / 3, abs=1e-6)
    assert scores["ce_f1/cardiomegaly"] == pytest.approx(2 / 3, abs=1e-6)


def test_majority_baseline_runs_on_the_builtin_data(monkeypatch: pytest.MonkeyPatch) -> None:
    splits, _ = med_report.load_splits(med_report.tiny())
    calls = []
    original = med_report.score_predictions
    monkeypatch.setattr(med_report, "score_predictions", lambda rows: calls.append(rows) or original(rows))
    scores = med_report.majority_baseline(splits["train"], splits["test"])
    assert set(med_report.SPEC.metrics) <= set(scores)
    assert len(calls) == 1 and len(calls[0]) == med_report.PHANTOM_SIZES["test"]
    assert len({row["prediction"] for row in calls[0]}) == 1


def test_sample_input_shows_film_and_indication() -> None:
    splits, _ = med_report.load_splits(med_report.tiny())
    shown = med_report.sample_input(splits["test"][0])
    assert shown["image"].startswith("data:image/png;base64,") and shown["text"].startswith("Indication: ")
