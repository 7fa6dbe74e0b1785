"""Sentiment task: the GLUE SST-2 loader on fixture files, the reference BiLSTM, the generated split."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmarks.run import RunOptions, run_benchmark
from tasks import sentiment
from tasks.sentiment.bilstm import BiLSTMClassifier


@pytest.fixture()
def glue_folder(tmp_path: Path) -> Path:
    """A small GLUE SST-2 layout: train.tsv (phrases) and dev.tsv (sentences)."""
    folder = tmp_path / "sst2"
    folder.mkdir()
    good = ["a charming and moving film", "sharp , funny and warm", "a gem", "truly wonderful acting"]
    bad = ["a dull , lifeless mess", "boring and far too long", "falls flat", "the plot is a disaster"]
    lines = [f"{t} \t1" for t in good] + [f"{t} \t0" for t in bad]
    (folder / "train.tsv").write_text("sentence\tlabel\n" + "\n".join(lines * 10) + "\n")
    (folder / "dev.tsv").write_text("sentence\tlabel\nwonderful and funny \t1\na boring mess \t0\n")
    return folder


def test_glue_reader_reads_rows_and_strips_text(glue_folder: Path) -> None:
    rows = sentiment.read_glue_tsv(glue_folder / "dev.tsv")
    assert [(r["text"], r["label"]) for r in rows] == [("wonderful and funny", 1), ("a boring mess", 0)]


@pytest.mark.parametrize(
    "content,message",
    [
        ("text\tlabel\nfine\t1\n", ":1: expected header"),
        ("sentence\tlabel\nfine\t1\n\t0\n", ":3: expected a non-empty sentence"),
        ("sentence\tlabel\nfine\t2\n", ":2: label must be 0 or 1"),
    ],
)
def test_glue_reader_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "train.tsv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        sentiment.read_glue_tsv(path)
    assert str(path) in str(info.value)


def test_sst2_benchmark_runs_on_a_local_folder(glue_folder: Path, records_dir: Path, tmp_path: Path) -> None:
    record = run_benchmark(RunOptions(task="sentiment", benchmark="sst2", recipe="smoke", data_dir=str(glue_folder),
                                      records_dir=records_dir, runs_dir=tmp_path / "runs", progress_bar=False,
                                      overrides={"val_size": 8}))
    assert record["benchmark"] == "sst2" and record["split"] == "dev"
    assert record["num_test_examples"] == 2
    assert len(record["data_fingerprint"]) == 16


def test_data_fingerprint_follows_file_content(glue_folder: Path) -> None:
    config = sentiment.Config(benchmark="sst2", data_dir=str(glue_folder), val_size=8)
    _, before = sentiment.load_splits(config)
    with open(glue_folder / "dev.tsv", "a") as handle:
        handle.write("one more \t1\n")
    _, after = sentiment.load_splits(config)
    assert before != after


def test_generated_splits_share_no_text() -> None:
    rows, fingerprint = sentiment.load_splits(sentiment.tiny())
    texts = {split: {r["text"] for r in items} for split, items in rows.items()}
    assert not texts["train"] & texts["test"] and not texts["train"] & texts["val"]
    assert {len(items) for items in rows.values()} == set(sentiment.REVIEWS_SIZES.values())
    assert sentiment.load_splits(sentiment.tiny())[1] == fingerprint


def test_bilstm_ignores_padding() -> None:
    torch.manual_seed(0)
    model = BiLSTMClassifier(vocab_size=30, num_classes=2).eval()
    ids = torch.tensor([[5, 6, 7]])
    padded = torch.tensor([[5, 6, 7, 0, 0]])
    short = model(ids, torch.ones(1, 3, dtype=torch.bool))
    long = model(padded, torch.tensor([[True, True, True, False, False]]))
    torch.testing.assert_close(short, long)
