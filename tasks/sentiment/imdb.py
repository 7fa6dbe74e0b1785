"""The ``imdb`` benchmark's readers: the Large Movie Review Dataset (Maas et al. 2011), 25,000 train and 25,000 test
reviews, half positive.

Three sources, each giving split name → rows (``id``, ``text``, ``label``: 0 negative, 1 positive):

* the aclImdb release layout (``train/{pos,neg}/*.txt``, ``test/{pos,neg}/*.txt``; ``train/unsup`` is ignored),
  the folder itself or one that holds ``aclImdb/``; ids are the files' paths (``train/pos/0_9``);
* a folder with one CSV of columns ``review``, ``sentiment`` (positive/negative), like the widely shared
  50,000-review table: it has no split, so its rows are split in half by a fixed seed (``split_in_half``);
* ``hub:stanfordnlp/imdb`` (splits train/test, columns text/label), only when a user names it.

The release's reviews hold HTML line breaks (``<br />``); every reader replaces them with spaces.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from tasks.core.data import fingerprint_files, fingerprint_params, hold_out, load_hub
from tasks.core.inputs import DataError, read_text

DATA_HINT = ("an aclImdb release folder (train/{pos,neg}/*.txt, test/{pos,neg}/*.txt) or a folder holding aclImdb/, "
             "a folder with one CSV of columns review, sentiment (positive/negative), or hub:stanfordnlp/imdb")
VOCAB_SIZE = 10_000  # the word vocabulary, specials included: the source design's 10,000 most frequent words
MAX_TOKENS = 100  # reviews are cut to their first 100 tokens, as in the source design
CSV_TEST_FRACTION = 0.5  # the CSV has no split: half its rows (25,000 of 50,000) become test, as in the release
CSV_SPLIT_SEED = 0  # the seed of that split (hold_out)
LABEL_FOLDERS = {"neg": 0, "pos": 1}
CSV_LABELS = {"negative": 0, "positive": 1}
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def clean(text: str) -> str:
    """``text`` with the release's ``<br />`` tags replaced by spaces and runs of whitespace collapsed."""
    return " ".join(_BREAK.sub(" ", text).split())


def release_root(root: Path) -> Path | None:
    """The aclImdb folder (``root`` or ``root/aclImdb``) when ``root`` is in the release layout, else None."""
    for folder in (root / "aclImdb", root):
        if (folder / "train").is_dir() or (folder / "test").is_dir():
            return folder
    return None


def review_files(folder: Path) -> list[Path]:
    """The ``*.txt`` files of one label folder in natural order (``2_7.txt`` before ``10_3.txt``)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: missing (aclImdb review folder of .txt files)")
    files = sorted(folder.glob("*.txt"), key=lambda p: ([int(n) for n in re.findall(r"\d+", p.stem)], p.name))
    if not files:
        raise DataError(f"{folder}: no .txt review files")
    return files


def read_review(path: Path) -> str:
    """One review file's text (UTF-8, ``<br />`` removed); ``DataError`` naming the file if empty or not UTF-8."""
    text = clean(read_text(path))
    if not text:
        raise DataError(f"{path}: empty review file")
    return text


def read_release(folder: Path) -> tuple[dict[str, list[dict]], list[Path]]:
    """``{"train", "test"}`` rows of an aclImdb folder (negative files first) and the files read."""
    splits: dict[str, list[dict]] = {}
    files: list[Path] = []
    for split in ("train", "test"):
        splits[split] = []
        for name, label in LABEL_FOLDERS.items():
            for path in review_files(folder / split / name):
                splits[split].append({"id": f"{split}/{name}/{path.stem}", "text": read_review(path), "label": label})
                files.append(path)
    return splits, files


def read_review_csv(path: Path) -> list[dict]:
    """Rows of a CSV with columns ``review`` and ``sentiment`` (positive/negative), ids ``row-N`` (N from 1 after
    the header). A missing column, a bad field count or label, an empty review or non-UTF-8 bytes raise
    ``DataError`` naming the file and line."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    header = [name.strip().lower() for name in next(reader, [])]
    if "review" not in header or "sentiment" not in header:
        raise DataError(f"{path}:1: expected columns review, sentiment, got {header!r}")
    text_at, label_at = header.index("review"), header.index("sentiment")
    rows: list[dict] = []
    line = reader.line_num
    try:
        for fields in reader:
            where, line = f"{path}:{line + 1}", reader.line_num
            if not fields:
                continue
            if len(fields) != len(header):
                raise DataError(f"{where}: expected {len(header)} fields as in the header, got {len(fields)}")
            label = CSV_LABELS.get(fields[label_at].strip().lower())
            if label is None:
                raise DataError(f"{where}: sentiment must be positive or negative, got {fields[label_at]!r}")
            text = clean(fields[text_at])
            if not text:
                raise DataError(f"{where}: empty review")
            rows.append({"id": f"row-{len(rows) + 1}", "text": text, "label": label})
    except csv.Error as error:
        raise DataError(f"{path}:{reader.line_num}: malformed CSV ({error})") from None
    return rows


def split_in_half(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """``(train, test)``: ``CSV_TEST_FRACTION`` of the rows held out as test by ``CSV_SPLIT_SEED``, both in row
    order (the same rows give the same split)."""
    return hold_out(rows, int(len(rows) * CSV_TEST_FRACTION), seed=CSV_SPLIT_SEED)


def find_csv(root: Path) -> Path:
    """The one ``*.csv`` file in ``root``; ``FileNotFoundError`` naming the layouts when there is no data."""
    tables = sorted(root.glob("*.csv"))
    if not tables:
        raise FileNotFoundError(f"{root}: no IMDB data (expected {DATA_HINT})")
    if len(tables) > 1:
        raise DataError(f"{root}: several CSV files ({', '.join(p.name for p in tables)}); keep the one to use")
    return tables[0]


def csv_note(path: Path, num_train: int, num_test: int) -> str:
    """What a run on the CSV must say about its split (the record's ``notes``)."""
    return (f"imdb from {path.name}, which has no split: its rows were split by seed {CSV_SPLIT_SEED} into "
            f"train {num_train} / test {num_test} (half); the test split is not the aclImdb release's test set")


def load_local(root: Path) -> tuple[dict[str, list[dict]], str, str]:
    """``({"train", "test"} rows, fingerprint, note)`` of a local copy; the note is "" for the release layout."""
    folder = release_root(root)
    if folder is not None:
        splits, files = read_release(folder)
        return splits, fingerprint_files(files), ""
    path = find_csv(root)
    train, test = split_in_half(read_review_csv(path))
    fingerprint = fingerprint_params(csv=fingerprint_files([path]), test_fraction=CSV_TEST_FRACTION,
                                     seed=CSV_SPLIT_SEED)
    return {"train": train, "test": test}, fingerprint, csv_note(path, len(train), len(test))


def load_from_hub(hub_id: str) -> tuple[dict[str, list[dict]], str]:
    """``({"train", "test"} rows, fingerprint)`` of the hub copy (``datasets.load_dataset``; one-line error offline)."""
    ds = load_hub(hub_id)
    splits = {split: [{"id": f"{split}-{i}", "text": clean(r["text"]), "label": int(r["label"])}
                      for i, r in enumerate(ds[split])] for split in ("train", "test")}
    return splits, fingerprint_params(hub=hub_id, fp=ds["train"]._fingerprint)
