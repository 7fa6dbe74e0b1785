"""Own data for `zoo fit|validate|test|predict`: ``data.max_examples`` is a seeded sample and says so, every run logs
the split sizes it uses, every referenced image and audio file is checked before the first step (a bad one is a
one-line error naming its row), and split names are the same in every layout."""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil
from pathlib import Path

import datasets
import numpy as np
import pytest
import soundfile

from benchmarks.cli import main
from tasks import get_finetune
from tasks.core import file_checks
from tasks.core.file_checks import check_files, file_problem
from tasks.core.finetune import build_config
from tasks.core.inputs import DataError
from tasks.core.own_data import SPLIT_NAMES
from tasks.core.own_datamodule import _cap
from tasks.med_report.data import read_report_csv
from tasks.vqa import data as vqa_data
from tests.finetune_data import WRITERS, write_captions, write_reviews

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.logger", "false"]
MAPPING = ["--data.columns", "text=review,label=stars"]


def _config(task: str):
    return build_config(task, "smoke", None, None, None, None)


def _data(task: str, **kwargs):
    return get_finetune(task).Data(**kwargs)


@pytest.fixture
def zoo_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="tasks")
    return caplog


def _zoo_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("zoo: ")]


# ---------------------------------------------------------------- caps and split sizes
def test_max_examples_is_a_seeded_sample_in_file_order_and_is_logged(tmp_path: Path, zoo_log) -> None:
    rows = [{"id": f"r{i:02d}", "review": f"text {i}", "stars": "1" if i < 20 else "5", "split": "train"}
            for i in range(40)]  # sorted by class: the file's head is one class only
    path = tmp_path / "sorted.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + json.dumps(
        {"id": "v", "review": "v", "stars": "1", "split": "val"}) + "\n" + json.dumps(
        {"id": "t", "review": "t", "stars": "5", "split": "test"}) + "\n", encoding="utf-8")
    config = _config("sentiment")

    def train(seed: int) -> list[dict]:
        return _data("sentiment", path=str(path), columns="text=review,label=stars", max_examples=10,
                     split_seed=seed).load(config)["train"]

    first = train(0)
    ids = [r["id"] for r in first]
    assert len(ids) == 10 and ids != [f"r{i:02d}" for i in range(10)]  # not the head
    assert ids == sorted(ids)  # kept in the file's order
    assert {r["label_name"] for r in first} == {"1", "5"}
    assert [r["id"] for r in train(0)] == ids and [r["id"] for r in train(1)] != ids
    lines = _zoo_lines(zoo_log)
    assert "zoo: train capped at 10 of 40 examples (data.max_examples, sampled with data.split_seed 0)" in lines
    assert not any("val capped" in line or "test capped" in line for line in lines)  # 1 example each: not capped
    assert f"zoo: data {path}: train 10, val 1, test 1 examples (read 42 rows)" in lines


def test_the_cap_samples_lists_datasets_and_questions_alike() -> None:
    items = [{"id": str(i), "image_index": i} for i in range(30)]
    as_list = _cap(items, 7, seed=3)
    as_dataset = _cap(datasets.Dataset.from_list(items), 7, seed=3)
    as_questions = _cap(vqa_data.Questions(items, vqa_data.ImageStore([np.zeros((2, 2, 3), np.uint8)] * 30)), 7, 3)
    ids = [r["id"] for r in as_list]
    assert ids == list(as_dataset["id"]) == [r["id"] for r in as_questions.rows]
    assert ids == sorted(ids, key=int) and ids != [str(i) for i in range(7)]
    assert [r["id"] for r in _cap(items, 7, seed=3)] == ids and _cap(items, 30, seed=3) is items


def test_builtin_data_is_capped_and_logged_too(zoo_log) -> None:
    splits = _data("sentiment", max_examples=5).load(_config("sentiment"))
    assert [len(splits[s]) for s in ("train", "val", "test")] == [5, 5, 5]
    lines = _zoo_lines(zoo_log)
    assert any(line.startswith("zoo: train capped at 5 of ") and "data.split_seed 0" in line for line in lines)
    assert "zoo: data built-in (sentiment): train 5, val 5, test 5 examples" in lines


def test_every_run_logs_its_split_sizes_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_reviews(tmp_path / "reviews.csv")
    run = ["--config", str(CONFIGS / "sentiment.yaml"), "--data.path", str(data), "--data.max_examples", "null",
           "--trainer.default_root_dir", str(tmp_path / "run"), *MAPPING, *QUIET]
    sizes = (f"zoo: data {data}: train 32, val 4, test 4 examples "
             "(read 40 rows; val and test carved from train with data.split_seed 0)")
    assert main(["fit", *run, "--trainer.max_steps", "2"]) == 0
    assert capsys.readouterr().out.splitlines().count(sizes) == 1
    for command in ("validate", "test"):
        assert main([command, *run, "--ckpt_path", "last"]) == 0
        assert capsys.readouterr().out.splitlines().count(sizes) == 1, command
    texts = tmp_path / "new.txt"
    texts.write_text("a great film\nboring\nfine\n", encoding="utf-8")
    assert main(["predict", "--task", "sentiment", "--ckpt_path", str(tmp_path / "run/checkpoints/last.ckpt"),
                 "--data.predict", str(texts), str(data), "--output", str(tmp_path / "p.jsonl"), *MAPPING,
                 *QUIET]) == 0
    assert "zoo: predict: 43 inputs from 2 files" in capsys.readouterr().out.splitlines()


# ---------------------------------------------------------------- file checks
def _damage(path: Path, how: str) -> None:
    if how == "missing":
        path.unlink()
    else:
        path.write_bytes(np.random.default_rng(0).bytes(300))  # random bytes under an image or audio name


# task → (the late row's file, where its row is named)
LATE_ROW = {"captioning": ("img11.png", "captions.jsonl: train example 12 (id 'img11.png')"),
            "med_report": ("img11.png", "reports.jsonl:12"),
            "vqa": ("img11.png", "qa.jsonl:23"),  # two questions an image: the first that names it
            "asr": ("utt11.wav", "metadata.csv:13")}  # line 1: the header


@pytest.mark.parametrize("how", ["missing", "corrupt"])
@pytest.mark.parametrize("task", sorted(LATE_ROW))
def test_a_bad_file_in_a_late_row_is_named_at_load(task: str, how: str, tmp_path: Path) -> None:
    folder = WRITERS[task](tmp_path / "data")
    name, where = LATE_ROW[task]
    _damage(folder / name, how)
    kind, problem = ("audio", "is not readable audio") if task == "asr" else ("image", "is not a readable image")
    expected = f"{folder / where}: {kind} file {folder / name} {'not found' if how == 'missing' else problem}"
    with pytest.raises(ValueError) as error:
        _data(task, path=str(folder)).load(_config(task))
    assert str(error.value).startswith(expected) and "\n" not in str(error.value)


def test_fit_stops_before_the_first_step_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_captions(tmp_path / "data", count=20)
    _damage(folder / "img17.png", "corrupt")
    code = main(["fit", "--config", str(CONFIGS / "captioning.yaml"), "--data.path", str(folder),
                 "--trainer.max_steps", "3", "--trainer.default_root_dir", str(tmp_path / "run"), *QUIET])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("zoo: error: ") and len(err.splitlines()) == 1
    assert f"image file {folder / 'img17.png'} is not a readable image" in err
    assert not (tmp_path / "run" / "checkpoints").exists()  # no step was taken


def test_predict_inputs_are_checked_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_captions(tmp_path / "data", count=12)
    assert main(["fit", "--config", str(CONFIGS / "captioning.yaml"), "--data.path", str(folder),
                 "--trainer.max_steps", "1", "--trainer.default_root_dir", str(tmp_path / "run"), *QUIET]) == 0
    _damage(folder / "img05.png", "corrupt")
    capsys.readouterr()
    code = main(["predict", "--task", "captioning", "--ckpt_path", str(tmp_path / "run/checkpoints/last.ckpt"),
                 "--data.predict", str(folder), "--output", str(tmp_path / "p.jsonl"), *QUIET])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert f"zoo: error: data.predict: image file {folder / 'img05.png'} is not a readable image" in err


def test_file_problems(tmp_path: Path) -> None:
    write_captions(tmp_path, count=1)
    assert file_problem(tmp_path / "img00.png", "image") is None
    assert file_problem(tmp_path, "image") == "is not a file"
    assert file_problem(tmp_path / "nope.png", "image") == "not found"
    soundfile.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    assert file_problem(tmp_path / "empty.wav", "audio") == "holds no audio samples"
    (tmp_path / "text.wav").write_text("not audio", encoding="utf-8")
    assert file_problem(tmp_path / "text.wav", "audio").startswith("is not readable audio (")
    hub_image = {"image_source": b"\x89PNG..."}  # bytes: a hub image, decoded already
    assert check_files([("row 1", hub_image), ("row 2", {"image_path": str(tmp_path / "img00.png")})]) == 1


def test_a_large_set_shows_a_progress_bar_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    folder = write_captions(tmp_path, count=3)
    terminal = Terminal()
    monkeypatch.setattr(file_checks.sys, "stderr", terminal)
    monkeypatch.setattr(file_checks, "PROGRESS_FROM", 3)
    pairs = [(f"row {i}", {"image_path": str(folder / f"img{i:02d}.png")}) for i in range(3)]
    assert check_files(pairs, "my files") == 3
    assert "zoo: checking my files" in terminal.getvalue()
    monkeypatch.setattr(file_checks, "PROGRESS_FROM", 4)
    shown = len(terminal.getvalue())
    assert check_files(pairs) == 3 and len(terminal.getvalue()) == shown  # a small set: no bar


# ---------------------------------------------------------------- split names
def test_captions_folders_accept_every_split_name(tmp_path: Path) -> None:
    folder = write_captions(tmp_path / "data", count=12)
    names = ["train", "Training", "valid", "dev", "validation", "test", "testing", "TRAIN", "val", "train", "Test",
             " train "]
    lines = [json.loads(line) for line in (folder / "captions.jsonl").read_text().splitlines()]
    (folder / "captions.jsonl").write_text("".join(json.dumps({**line, "split": name}) + "\n"
                                                   for line, name in zip(lines, names)), encoding="utf-8")
    splits = _data("captioning", path=str(folder)).load(_config("captioning"))
    assert {s: len(splits[s]) for s in ("train", "val", "test")} == {"train": 5, "val": 4, "test": 3}

    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    (bad / "captions.jsonl").write_text(json.dumps({**lines[0], "split": "holdout"}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError) as error:
        _data("captioning", path=str(bad)).load(_config("captioning"))
    message = str(error.value)
    assert message.startswith(f"{bad / 'captions.jsonl'}:1: unknown split 'holdout'") and "\n" not in message
    assert all(name in message for name in SPLIT_NAMES)


def test_tables_and_report_csvs_accept_the_same_split_names(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text("review,stars,split\n" + "".join(f"text {i},{i % 2},{name}\n" for i, name in enumerate(
        ["training", "train", "valid", "dev", "testing", "Test"])), encoding="utf-8")
    splits = _data("sentiment", path=str(path), columns="text=review,label=stars").load(_config("sentiment"))
    assert [len(splits[s]) for s in ("train", "val", "test")] == [2, 2, 2]

    report = tmp_path / "reports.csv"
    with open(report, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image_path", "report", "split"])
        for i, name in enumerate(["training", "train", "valid", "dev", "testing", ""]):
            writer.writerow([f"img{i}.png", f"report {i}.", name])
    assert {s: len(r) for s, r in read_report_csv(report, val_size=1).items()} == {"train": 3, "val": 2, "test": 1}
    with open(report, "a", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerow(["img9.png", "report 9.", "holdout"])
    with pytest.raises(ValueError, match=r"reports.csv:8: unknown split 'holdout' in column 'split' \(use train, "):
        read_report_csv(report, val_size=1)
