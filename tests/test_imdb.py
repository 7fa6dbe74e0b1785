"""The sentiment task's ``imdb`` benchmark on fixtures written here: the aclImdb reader, the review/sentiment CSV and
its seeded split, one-line errors naming the bad file, the hub path, the presets and smoke runs of both models."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import datasets
import pytest

from benchmarks.cli import main as zoo_main
from benchmarks.run import RunOptions, run_benchmark
from leaderboard.schema import validate_record
from tasks import sentiment
from tasks.core.inputs import DataError
from tasks.sentiment import imdb

GOOD = ["A charming, moving film.<br /><br />Truly wonderful acting", "sharp , funny and warm", "a gem of a film"]
BAD = ["A dull, lifeless mess.<br />Boring<BR/>and far too long", "falls flat", "the plot is a disaster"]


def write_release(root: Path, num_train: int = 12, num_test: int = 4) -> Path:
    """An aclImdb layout under ``root/aclImdb``: ``num_*`` reviews per label and split, named ``ID_RATING.txt``, plus
    what the release also holds (``train/unsup``, ``urls_*.txt``, ``imdb.vocab``) and no reader may use."""
    folder = root / "aclImdb"
    for split, count in (("train", num_train), ("test", num_test)):
        for name, texts, rating in (("pos", GOOD, 9), ("neg", BAD, 2)):
            (folder / split / name).mkdir(parents=True)
            for i in range(count):
                (folder / split / name / f"{i}_{rating}.txt").write_text(f"{texts[i % 3]} ({split} {i})")
        (folder / split / "urls_pos.txt").write_text("http://www.imdb.com/title/tt0000000/usercomments\n")
    (folder / "train" / "unsup").mkdir()
    (folder / "train" / "unsup" / "0_0.txt").write_text("an unlabelled review")
    (folder / "imdb.vocab").write_text("the\nand\n")
    return root


def write_csv(folder: Path, num_rows: int = 40) -> Path:
    """The 50,000-review CSV's shape: columns ``review``, ``sentiment``; quoted reviews with commas, ``<br />`` tags
    and a line break inside one."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["review,sentiment"]
    for i in range(num_rows):
        text, label = (GOOD[i % 3], "positive") if i % 2 else (BAD[i % 3], "negative")
        lines.append(f'"{text} (row {i + 1})",{label}')
    lines[3] = lines[3].replace("(row 3)", "(row\n3)")
    path = folder / "IMDB Dataset.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture()
def release(tmp_path: Path) -> Path:
    return write_release(tmp_path / "download")


def test_release_reader_reads_labels_ids_and_strips_breaks(release: Path) -> None:
    splits, fingerprint, note = imdb.load_local(release)
    assert {split: len(rows) for split, rows in splits.items()} == {"train": 24, "test": 8}
    first = splits["train"][12]
    assert first == {"id": "train/pos/0_9", "label": 1,
                     "text": "A charming, moving film. Truly wonderful acting (train 0)"}
    assert splits["test"][0] == {"id": "test/neg/0_2", "label": 0,
                                 "text": "A dull, lifeless mess. Boring and far too long (test 0)"}
    assert [r["id"] for r in splits["train"][:3]] == ["train/neg/0_2", "train/neg/1_2", "train/neg/2_2"]
    assert all("<br" not in r["text"].lower() for rows in splits.values() for r in rows)
    assert not any("unsup" in r["id"] or "unlabelled" in r["text"] for r in splits["train"])
    assert note == "" and len(fingerprint) == 16
    assert imdb.load_local(release / "aclImdb")[:2] == (splits, fingerprint)  # the aclImdb folder itself


def test_ids_follow_natural_file_order(release: Path) -> None:
    ids = [r["id"] for r in imdb.load_local(release)[0]["train"] if r["id"].startswith("train/neg/")]
    assert ids.index("train/neg/2_2") < ids.index("train/neg/10_2")


def test_fingerprint_follows_review_content(release: Path) -> None:
    before = imdb.load_local(release)[1]
    (release / "aclImdb" / "test" / "pos" / "0_9.txt").write_text("a different review")
    assert imdb.load_local(release)[1] != before


def test_csv_reader_parses_quoted_reviews_and_labels(tmp_path: Path) -> None:
    rows = imdb.read_review_csv(write_csv(tmp_path / "kaggle", num_rows=4))
    assert rows == [
        {"id": "row-1", "label": 0, "text": "A dull, lifeless mess. Boring and far too long (row 1)"},
        {"id": "row-2", "label": 1, "text": "sharp , funny and warm (row 2)"},
        {"id": "row-3", "label": 0, "text": "the plot is a disaster (row 3)"},
        {"id": "row-4", "label": 1, "text": "A charming, moving film. Truly wonderful acting (row 4)"},
    ]


def test_csv_is_split_in_half_by_a_fixed_seed_and_the_note_says_so(tmp_path: Path) -> None:
    folder = write_csv(tmp_path / "kaggle").parent
    splits, fingerprint, note = imdb.load_local(folder)
    train_ids, test_ids = [r["id"] for r in splits["train"]], [r["id"] for r in splits["test"]]
    assert len(train_ids) == len(test_ids) == 20 and not set(train_ids) & set(test_ids)
    assert test_ids != [f"row-{i}" for i in range(21, 41)]  # shuffled, not the file's second half
    again = imdb.load_local(folder)
    assert again == (splits, fingerprint, note)  # the same seed gives the same split
    assert f"seed {imdb.CSV_SPLIT_SEED}" in note and "train 20 / test 20" in note and "IMDB Dataset.csv" in note


def test_the_csv_split_seed_decides_the_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_csv(tmp_path / "kaggle").parent
    splits, fingerprint, _ = imdb.load_local(folder)
    monkeypatch.setattr(imdb, "CSV_SPLIT_SEED", imdb.CSV_SPLIT_SEED + 1)
    other, other_fingerprint, note = imdb.load_local(folder)
    assert other["test"] != splits["test"] and other_fingerprint != fingerprint
    assert f"seed {imdb.CSV_SPLIT_SEED}" in note


def test_the_datamodule_carries_the_csv_note(tmp_path: Path) -> None:
    folder = write_csv(tmp_path / "kaggle").parent
    config = sentiment.Config(benchmark="imdb", data_dir=str(folder), val_size=4)
    module = sentiment.DataModule(config)
    module.setup("fit")
    assert {split: len(rows) for split, rows in module.splits.items()} == {"train": 16, "val": 4, "test": 20}
    assert module.notes == imdb.load_local(folder)[2] != ""


@pytest.mark.parametrize("broken,content,message", [
    ("aclImdb/train/pos/3_9.txt", b"caf\xe9 society", "not UTF-8 text"),
    ("aclImdb/test/neg/1_2.txt", b"  <br /><br />\n", "empty review file"),
    ("IMDB Dataset.csv", b"review,sentiment\n\"fine\",positive\n\"meh\",neutral\n", ":3: sentiment must be"),
    ("IMDB Dataset.csv", b"review,sentiment\n\"\",positive\n", ":2: empty review"),
    ("IMDB Dataset.csv", b"text,label\nfine,1\n", ":1: expected columns review, sentiment"),
])
def test_a_bad_file_is_a_one_line_error_naming_it(tmp_path: Path, broken: str, content: bytes,
                                                  message: str) -> None:
    root = tmp_path / "data"
    if broken.startswith("aclImdb"):
        write_release(root)
    else:
        root.mkdir()
    path = root / broken
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        imdb.load_local(root)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def zoo_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], data_dir: str) -> str:
    """``zoo bench sentiment --benchmark imdb --recipe smoke --data-dir DATA_DIR``: assert exit 2, one error line
    and no traceback on stderr, no record; return the error line."""
    capsys.readouterr()
    code = zoo_main(["bench", "sentiment", "--benchmark", "imdb", "--recipe", "smoke", "--data-dir", data_dir,
                     "--records-dir", str(tmp_path / "records"), "--runs-dir", str(tmp_path / "runs"),
                     "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    lines = [line for line in err if line.startswith("zoo: error: ")]
    assert code == 2 and len(lines) == 1 and not any("Traceback" in line for line in err), err
    assert not (tmp_path / "records").exists() or not any((tmp_path / "records").iterdir())
    return lines[0]


def test_a_folder_without_imdb_data_names_the_layouts(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZOO_DEBUG", raising=False)
    (tmp_path / "empty").mkdir()
    line = zoo_error(tmp_path, capsys, str(tmp_path / "empty"))
    assert line == f"zoo: error: {tmp_path / 'empty'}: no IMDB data (expected {imdb.DATA_HINT})"


def test_the_hub_copy_is_read_with_its_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    def stand_in(hub_id: str) -> datasets.DatasetDict:
        assert hub_id == "stanfordnlp/imdb"
        return datasets.DatasetDict({
            "train": datasets.Dataset.from_dict({"text": [BAD[0], GOOD[1]] * 3, "label": [0, 1] * 3}),
            "test": datasets.Dataset.from_dict({"text": [GOOD[0]], "label": [1]}),
            "unsupervised": datasets.Dataset.from_dict({"text": ["unlabelled"], "label": [-1]}),
        })

    monkeypatch.setattr(imdb, "load_hub", stand_in)
    rows, fingerprint = sentiment.load_splits(sentiment.Config(benchmark="imdb", data_dir="hub:stanfordnlp/imdb",
                                                               val_size=2))
    assert {split: len(items) for split, items in rows.items()} == {"train": 4, "val": 2, "test": 1}
    assert rows["test"] == [{"id": "test-0", "label": 1,
                             "text": "A charming, moving film. Truly wonderful acting"}]
    assert len(fingerprint) == 16


def test_the_hub_offline_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise ConnectionError(f"Couldn't reach '{args[0]}' on the Hub (OfflineModeIsEnabled)\nmore detail")

    monkeypatch.setattr("datasets.load_dataset", offline)
    monkeypatch.delenv("ZOO_DEBUG", raising=False)
    line = zoo_error(tmp_path, capsys, "hub:stanfordnlp/imdb")
    assert line.startswith("zoo: error: hub:stanfordnlp/imdb: cannot load from the Hugging Face hub (Couldn't reach")


@pytest.mark.parametrize("recipe", list(sentiment.PRESETS))
def test_only_imdb_presets_cut_inputs_to_100_tokens(recipe: str) -> None:
    preset = sentiment.PRESETS[recipe]
    assert preset("imdb", "bilstm").max_length == preset("imdb").max_length == imdb.MAX_TOKENS == 100
    assert preset("reviews").max_length == preset("sst2", "bilstm").max_length == (128 if recipe == "gpu" else 64)


def test_the_imdb_vocabulary_is_capped(release: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = sentiment.Config(benchmark="imdb", data_dir=str(release), val_size=4)
    monkeypatch.setattr(imdb, "VOCAB_SIZE", 12)
    module = sentiment.DataModule(config)
    module.setup("fit")
    uncapped = sentiment.build_tokenizer("word", [r["text"] for r in module.splits["train"]])
    assert module.tokenizer.vocab_size == 12 < uncapped.vocab_size
    assert module.tokenizer.vocab[:12] == uncapped.vocab[:12]  # the most frequent words are kept
    assert sentiment.vocab_cap(dataclasses.replace(config, benchmark="reviews")) is None


@pytest.mark.parametrize("model", ["zoo", "bilstm"])
def test_imdb_smoke_runs_on_the_release_layout(model: str, release: Path, records_dir: Path, tmp_path: Path) -> None:
    record = run_benchmark(RunOptions(task="sentiment", benchmark="imdb", recipe="smoke", model=model,
                                      data_dir=str(release), records_dir=records_dir, runs_dir=tmp_path / "runs",
                                      progress_bar=False, overrides={"val_size": 4}))
    validate_record(record)
    assert (record["benchmark"], record["split"], record["model"]) == ("imdb", "test", "bilstm" if model == "bilstm"
                                                                      else "zoo-tiny")
    assert record["num_test_examples"] == 8 and record["config"]["max_length"] == 100
    assert 0.0 <= record["metrics"]["accuracy"] <= 1.0
    assert [json.loads(line)["id"] for line in (records_dir / "sentiment.jsonl").read_text().splitlines()] == [
        record["id"]]


def test_a_csv_run_says_how_it_was_split_in_the_record(tmp_path: Path, records_dir: Path) -> None:
    folder = write_csv(tmp_path / "kaggle").parent
    record = run_benchmark(RunOptions(task="sentiment", benchmark="imdb", recipe="smoke", model="bilstm",
                                      data_dir=str(folder), records_dir=records_dir, runs_dir=tmp_path / "runs",
                                      progress_bar=False, overrides={"val_size": 4}))
    validate_record(record)
    assert record["notes"] == imdb.load_local(folder)[2]
