"""`zoo fit | validate | test | predict` on your own data: every shipped config fine-tunes on a small folder in the
generic layout and predicts for it; column mapping, seeded split carving, the label set in the checkpoint,
starting from another task's checkpoint, freezing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from benchmarks.cli import main
from tasks import TASKS
from tasks.core.checkpoints import load_checkpoint
from tasks.core.own_data import carve
from tasks.sentiment.finetune import Data as SentimentData
from tasks.core.finetune import build_config
from tests.finetune_data import WRITERS, write_reviews, write_speech, write_tone

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.logger", "false"]
PREDICT_INPUTS = {"sentiment": "reviews.csv", "captioning": ".", "vqa": "qa.jsonl", "med_report": ".", "asr": "."}


def fit(task: str, data: Path, run_dir: Path, *extra: str) -> Path:
    """Fine-tune with the shipped config for 3 steps; returns the last checkpoint."""
    code = main(["fit", "--config", str(CONFIGS / f"{task}.yaml"), "--data.path", str(data),
                 "--data.max_examples", "null", "--trainer.max_steps", "3",
                 "--trainer.default_root_dir", str(run_dir), *QUIET, *extra])
    assert code == 0
    return run_dir / "checkpoints" / "last.ckpt"


@pytest.mark.parametrize("task", sorted(TASKS))
def test_shipped_config_parses(task: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--config", str(CONFIGS / f"{task}.yaml"), "--print_config"]) == 0
    printed = capsys.readouterr().out
    assert f"task: {task}" in printed and "preset: smoke" in printed


@pytest.mark.parametrize("task", sorted(TASKS))
def test_config_fine_tunes_on_a_folder_then_predicts(task: str, tmp_path: Path) -> None:
    root = tmp_path / "data"
    data = WRITERS[task](root)
    extra = ["--data.columns", "text=review,label=stars"] if task == "sentiment" else []
    checkpoint = fit(task, data, tmp_path / "run", *extra)
    assert load_checkpoint(checkpoint, expected_task=task)["hyper_parameters"]["task"] == task
    assert main(["test", "--config", str(CONFIGS / f"{task}.yaml"), "--data.path", str(data),
                 "--trainer.default_root_dir", str(tmp_path / "run"), "--ckpt_path", "last", *extra, *QUIET]) == 0
    inputs = root / PREDICT_INPUTS[task]  # folders of images or audio (the annotation file is skipped), tables
    out = tmp_path / "predictions.jsonl"
    assert main(["predict", "--task", task, "--ckpt_path", str(checkpoint), "--data.predict", str(inputs),
                 "--output", str(out), *extra, *QUIET]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    expected = {"sentiment": 40, "captioning": 12, "vqa": 24, "med_report": 12, "asr": 12}[task]
    assert len(rows) == expected and len({r["id"] for r in rows}) == expected
    assert all(isinstance(r["prediction"], str) for r in rows)
    if task == "sentiment":
        assert {r["prediction"] for r in rows} <= {"1", "5"}


def test_columns_are_mapped_and_a_missing_column_is_named(tmp_path: Path) -> None:
    path = write_reviews(tmp_path / "reviews.csv")
    config = build_config("sentiment", "smoke", None, None, None, None)
    info = SentimentData(path=str(path), columns="text=review,label=stars").data_info(config)
    assert info["labels"] == ["1", "5"]
    with pytest.raises(ValueError, match=r"reviews.csv:2: missing column 'label' for field 'label'"):
        SentimentData(path=str(path)).data_info(config)


def test_csv_jsonl_and_parquet_tables_read_alike(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"review": f"text {i}", "stars": str(i % 2)} for i in range(6)]
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "t.csv").write_text("review,stars\n" + "".join(f"{r['review']},{r['stars']}\n" for r in rows))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "t.parquet")
    config = build_config("sentiment", "smoke", None, None, None, None)
    texts = {suffix: sorted(e["text"] for split in SentimentData(path=str(tmp_path / f"t.{suffix}"),
                            columns={"text": "review", "label": "stars"}).load(config).values() for e in split)
             for suffix in ("csv", "jsonl", "parquet")}
    assert texts["csv"] == texts["jsonl"] == texts["parquet"] == [r["review"] for r in rows]


def test_split_carving_is_deterministic_by_seed(tmp_path: Path) -> None:
    rows = {"train": [{"id": str(i)} for i in range(50)]}
    ids = lambda splits: {s: [r["id"] for r in rows] for s, rows in splits.items()}  # noqa: E731
    first, again = ids(carve(rows, 0.2, 0.1, seed=3)), ids(carve(rows, 0.2, 0.1, seed=3))
    assert first == again and len(first["test"]) == 5 and len(first["val"]) == 9
    assert ids(carve(rows, 0.2, 0.1, seed=4)) != first
    assert sorted(sum(first.values(), []), key=int) == [str(i) for i in range(50)]  # a partition
    path = write_reviews(tmp_path / "reviews.csv", split_column=True)  # a split column wins over carving
    config = build_config("sentiment", "smoke", None, None, None, None)
    splits = SentimentData(path=str(path), columns="text=review,label=stars").load(config)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [24, 8, 8]


def test_labels_come_from_the_checkpoint_and_unknown_eval_labels_are_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_reviews(tmp_path / "reviews.csv")
    checkpoint = fit("sentiment", data, tmp_path / "run", "--data.columns", "text=review,label=stars")
    info = json.loads(load_checkpoint(checkpoint)["hyper_parameters"]["data_info"])
    assert info["labels"] == ["1", "5"] and info["tokenizer"]["kind"] == "word"
    other = tmp_path / "other.csv"
    other.write_text("review,stars\ngreat,5\nbad,1\nmeh,3\nfine,5\nok,5\n", encoding="utf-8")
    assert main(["validate", "--task", "sentiment", "--ckpt_path", str(checkpoint), "--data.path", str(data),
                 "--data.columns", "text=review,label=stars", *QUIET]) == 0
    code = main(["test", "--task", "sentiment", "--ckpt_path", str(checkpoint), "--data.test", str(other),
                 "--data.train", str(data), "--data.columns", "text=review,label=stars", *QUIET])
    assert code == 2
    err = capsys.readouterr().err
    assert "label '3' is not one of the train labels" in err and len(err.strip().splitlines()) == 1


def test_init_from_another_task_loads_the_backbone_and_reports_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = fit("sentiment", write_reviews(tmp_path / "reviews.csv"), tmp_path / "sentiment",
                 "--data.columns", "text=review,label=stars", "--model.backbone", '{"width": 64, "num_heads": 2}')
    capsys.readouterr()
    target = fit("vqa", WRITERS["vqa"](tmp_path / "qa"), tmp_path / "vqa", "--model.init_from", str(source),
                 "--model.backbone", '{"width": 64, "num_heads": 2, "num_encoder_layers": 1}')
    out = capsys.readouterr().out
    assert f"init from {source} (sentiment checkpoint): loaded encoder;" in out
    assert "head (re-initialised: a sentiment checkpoint)" in out and "text (different tokenizer)" in out
    assert "image (" in out  # the sentiment model has no image embedder
    assert target.is_file()


def test_init_from_the_same_task_builds_the_start_structure(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    data = write_reviews(tmp_path / "reviews.csv")
    mapping = ["--data.columns", "text=review,label=stars"]
    source = fit("sentiment", data, tmp_path / "first", *mapping, "--model.backbone", '{"width": 48, "num_heads": 2}')
    capsys.readouterr()
    tuned = fit("sentiment", data, tmp_path / "second", *mapping, "--model.init_from", str(source))
    out = capsys.readouterr().out
    assert f"built at the structure of {source}" in out
    assert "(sentiment checkpoint): loaded text, encoder, head; not loaded: none" in out
    assert load_checkpoint(tuned)["hyper_parameters"]["backbone"]["width"] == 48


def test_freeze_leaves_the_frozen_weights_unchanged(tmp_path: Path) -> None:
    data = write_reviews(tmp_path / "reviews.csv")
    mapping = ["--data.columns", "text=review,label=stars"]
    source = fit("sentiment", data, tmp_path / "first", *mapping)
    tuned = fit("sentiment", data, tmp_path / "second", *mapping, "--model.init_from", str(source),
                "--model.freeze", "[embedders, encoder]", "--model.head_lr", "0.05")
    before, after = (load_checkpoint(p)["state_dict"] for p in (source, tuned))
    frozen = [k for k in before if k.startswith(("net.text.", "net.encoder."))]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    assert not torch.equal(before["net.head.fc.weight"], after["net.head.fc.weight"])


@pytest.mark.parametrize("argv,expected", [
    (["fit"], "give --task NAME"),
    (["fit", "--task", "nosuch"], "unknown task 'nosuch'"),
    (["fit", "--task", "sentiment", "--model.preset", "huge"], "model.preset: unknown 'huge'"),
    (["predict", "--task", "sentiment", "--ckpt_path", "last"], "no last checkpoint to predict"),
    (["fit", "--task", "sentiment", "--model.freeze", "[wings]"], "model.freeze: unknown group 'wings'"),
    (["fit", "--task", "sentiment", "--model.options", '{"colour": 1}'], "unknown sentiment Config field(s) colour"),
])
def test_user_errors_are_one_line(argv: list[str], expected: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    data = write_reviews(tmp_path / "reviews.csv")
    code = main([*argv, "--trainer.default_root_dir", str(tmp_path / "run"), "--data.path", str(data),
                 "--data.columns", "text=review,label=stars", *QUIET])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("zoo: error: ") and expected in err
    assert len(err.strip().splitlines()) == 1


def test_a_hub_id_offline_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["fit", "--task", "sentiment", "--data.path", "hub:nobody/no-such-set",
                 "--trainer.default_root_dir", str(tmp_path), *QUIET])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("zoo: error: hub:nobody/no-such-set: cannot load")
    assert "OfflineModeIsEnabled" in err  # refused by the offline switch (tests/conftest.py), never sent
    assert len(err.strip().splitlines()) == 1


def test_asr_help_says_what_happens_to_long_audio(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--task", "asr", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "not chunked" in help_text and "{on_long: truncate}" in help_text and "5 s unless" in help_text


def test_asr_audio_over_the_limit_is_named_or_truncated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_speech(tmp_path / "data")
    write_tone(data / "utt03.wav", 320.0, seconds=6.0)  # over the 5 s default
    argv = ["fit", "--task", "asr", "--data.path", str(data), "--trainer.max_steps", "2",
            "--trainer.default_root_dir", str(tmp_path / "run"), *QUIET]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "utt03.wav: audio is 6.00 s long" in err and "max_audio_seconds=5.0" in err
    assert main([*argv, "--model.options", "{on_long: truncate}"]) == 0
