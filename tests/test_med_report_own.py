"""med_report on your own data: `zoo predict` reads tables of image + indication (the indication reaches the model,
as in `zoo test`), and the chest-radiograph clinical-efficacy metrics (ce_*) are reported on own data only when asked
(`Config.clinical`), while the built-in data and every benchmark keep them."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest
import torch

from benchmarks.lightning_cli import main
from tasks import med_report
from tasks.core.adapter import tokenizer_of
from tasks.core.checkpoints import load_checkpoint
from tasks.core.contract import config_from_dict, config_to_dict
from tasks.med_report.finetune import CLINICAL_SKIPPED, Model
from tests.finetune_data import write_reports

CONFIG = str(Path(__file__).resolve().parent.parent / "configs" / "med_report.yaml")
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.logger", "false"]
CHEST_NOTE = "chest-radiograph findings only"


def fit(run_dir: Path, *extra: str) -> Path:
    """Fine-tune the shipped config for 3 steps; returns the last checkpoint."""
    assert main(["fit", "--config", CONFIG, "--trainer.max_steps", "3", "--trainer.default_root_dir", str(run_dir),
                 *QUIET, *extra]) == 0
    return run_dir / "checkpoints" / "last.ckpt"


def zoo_test(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """``zoo test ARGV``: what it printed (the metrics table)."""
    capsys.readouterr()
    assert main(["test", *argv, *QUIET]) == 0
    return capsys.readouterr().out


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("tasks.")]


@pytest.fixture(scope="module")
def builtin_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fit(tmp_path_factory.mktemp("builtin"), "--data.max_examples", "32")


@pytest.fixture(scope="module")
def own_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_reports(tmp_path_factory.mktemp("own") / "data")


def load_model(checkpoint: Path) -> Model:
    saved = load_checkpoint(checkpoint, expected_task="med_report")
    model = Model(**{k: saved["hyper_parameters"][k] for k in ("preset", "backbone", "options", "lr", "data_info")})
    model.load_state_dict(saved["state_dict"])
    return model.eval()


# ---------------------------------------------------------------- predict: image + indication
def test_predict_table_feeds_the_indication(builtin_checkpoint: Path, tmp_path: Path) -> None:
    tested = tmp_path / "test_predictions.jsonl"  # what `zoo test` generates for one built-in test example
    assert main(["test", "--task", "med_report", "--ckpt_path", str(builtin_checkpoint), "--data.max_examples", "1",
                 "--output", str(tested), *QUIET]) == 0
    [test_row] = [json.loads(line) for line in tested.read_text().splitlines()]
    model = load_model(builtin_checkpoint)
    [example] = [e for e in med_report.load_splits(model.config)[0]["test"] if str(e["id"]) == test_row["id"]]
    assert example["indication"]
    films = tmp_path / "inputs" / "films"
    films.mkdir(parents=True)
    (films / "a.png").write_bytes(example["image"])
    table = tmp_path / "inputs" / "cases.csv"  # the training rows' column names: image_path, indication
    table.write_text(f"image_path,indication\nfilms/a.png,{example['indication']}\nfilms/a.png,\n", encoding="utf-8")
    out = tmp_path / "predictions.jsonl"
    assert main(["predict", "--task", "med_report", "--ckpt_path", str(builtin_checkpoint), "--data.predict",
                 str(table), str(films / "a.png"), "--data.batch_size", "1", "--output", str(out), *QUIET]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"films/a.png ({table}:2)", f"films/a.png ({table}:3)", str(films / "a.png")]
    assert rows[0]["prediction"] == test_row["prediction"]

    dm = med_report.DataModule(model.config)
    dm.tokenizer = tokenizer_of(model.data_info)
    with_indication = dm.collate([example])  # the example as `zoo test` batches it
    assert with_indication["text_mask"].sum() > 0  # the indication reaches the encoder
    without = dm.collate([{**example, "indication": ""}])
    assert "text" not in without
    with torch.no_grad():
        expected = model.generate(with_indication)[0], model.generate(without)[0]
    assert [r["prediction"] for r in rows] == [expected[0], expected[1], expected[1]]


def test_predict_table_maps_columns_and_names_a_missing_image(builtin_checkpoint: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "cases.jsonl"
    (tmp_path / "a.png").write_bytes(med_report.load_splits(med_report.tiny())[0]["test"][0]["image"])
    table.write_text(json.dumps({"film": "a.png", "history": "cough"}) + "\n"
                     + json.dumps({"film": "gone.png", "history": "fever"}) + "\n", encoding="utf-8")
    out = tmp_path / "predictions.jsonl"
    argv = ["predict", "--task", "med_report", "--ckpt_path", str(builtin_checkpoint), "--data.predict", str(table),
            "--data.columns", "image=film,indication=history", "--output", str(out), *QUIET]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{table}:2" in err and "gone.png" in err
    table.write_text(json.dumps({"film": "a.png", "history": "cough"}) + "\n"
                     + json.dumps({"film": "../a.png", "history": "fever"}) + "\n", encoding="utf-8")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{table}:2" in err and "outside the data folder" in err


# ---------------------------------------------------------------- clinical efficacy: chest radiographs only
def test_config_clinical_is_optional() -> None:
    config = med_report.Config()
    assert config.clinical is None and "clinical" not in config_to_dict(config)
    assert "clinical" not in config_to_dict(med_report.tiny())
    asked = dataclasses.replace(config, clinical=True)
    assert config_to_dict(asked)["clinical"] is True
    assert config_from_dict(med_report.Config, config_to_dict(asked)) == asked
    with pytest.raises(ValueError, match="clinical"):
        med_report.Config(clinical="yes")  # type: ignore[arg-type]


def test_own_data_skips_clinical_metrics_with_a_note(own_data: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    checkpoint = fit(tmp_path / "run", "--data.path", str(own_data))
    caplog.clear()
    out = zoo_test(capsys, "--task", "med_report", "--data.path", str(own_data), "--ckpt_path", str(checkpoint))
    assert "test/bleu4" in out and "test/ce_" not in out
    assert messages(caplog).count(CLINICAL_SKIPPED) == 1 and not any(CHEST_NOTE in m for m in messages(caplog))


def test_own_data_reports_clinical_metrics_when_asked(own_data: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    out = zoo_test(capsys, "--config", CONFIG, "--data.path", str(own_data), "--model.options",
                       "{clinical: true, image_size: 32, patch_size: 8}",
                       "--trainer.default_root_dir", str(tmp_path / "run"))
    assert "test/ce_f1 " in out and "test/ce_f1/pleural_effusion" in out
    assert CLINICAL_SKIPPED not in messages(caplog) and any(CHEST_NOTE in m for m in messages(caplog))


def test_builtin_data_reports_clinical_metrics_as_chest_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    out = zoo_test(capsys, "--config", CONFIG, "--data.max_examples", "16",
                       "--trainer.default_root_dir", str(tmp_path / "run"))
    assert "test/ce_f1 " in out and "test/ce_precision" in out and "test/ce_f1/cardiomegaly" in out
    assert CLINICAL_SKIPPED not in messages(caplog) and any(CHEST_NOTE in m for m in messages(caplog))


def test_auto_clinical_follows_the_data_source(own_data: Path) -> None:
    """Own data turns the metrics off, a checkpoint without a data source (older) counts as built-in data, and
    ``clinical`` set either way wins over the source."""
    tokenizer = med_report.build_tokenizer("word", ["no acute findings", "no acute findings"]).to_dict()

    def model(source: str | None, **options: object) -> Model:
        info = {"task": "med_report", "tokenizer": tokenizer, **({"source": source} if source else {})}
        built = Model(options=options, data_info=json.dumps(info))
        built.setup("test")
        return built

    assert not model("own").clinical and "clinical" not in model("own").metrics["test"]
    assert model(None).clinical and model("builtin").clinical
    assert model("own", clinical=True).clinical and not model("builtin", clinical=False).clinical
    metrics = model("own").metrics["test"]
    med_report.Module.update_metrics(metrics, ["no acute findings."], ["no acute findings."], ["1"])
    assert not any(name.startswith("ce_") for name in med_report.Module.metric_values(metrics))


def test_predict_table_ids_come_from_the_rows_and_must_be_unique(tmp_path: Path) -> None:
    from PIL import Image

    from tasks.med_report.finetune import ADAPTER

    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    table = tmp_path / "cases.jsonl"
    table.write_text('{"id": "x", "image": "a.png", "indication": " cough "}\n{"id": "y", "image": "a.png"}\n',
                     encoding="utf-8")
    examples = ADAPTER.predict_examples([table, tmp_path / "a.png"], {}, med_report.tiny())
    assert [(e["id"], e["indication"]) for e in examples] == [("x", "cough"), ("y", ""), (str(tmp_path / "a.png"), "")]
    table.write_text('{"id": "x", "image": "a.png"}\n{"id": "x", "image": "a.png"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{table}:1: id 'x' is used by 2 rows"):
        ADAPTER.predict_examples([table], {}, med_report.tiny())
