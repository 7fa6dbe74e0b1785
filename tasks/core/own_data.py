"""Your own data for fine-tuning: tables (CSV, TSV, JSONL, JSON, parquet), column mapping, splits, hub ids.

A data source is a file, a folder or ``hub:OWNER/NAME``:

* a **file** is one table; a **folder** holds the task's annotation file (``captions.jsonl``, ``qa.jsonl``,
  ``reports.jsonl``, ``metadata.csv``, ...) or files named ``train.*``, ``val.*`` (or ``validation.*``, ``dev.*``)
  and ``test.*``; file paths inside a table (images, audio) are relative to the table's folder;
* **columns** map the task's field names to yours: ``"text=review,label=stars"`` (or a dict);
* **splits** come from separate files, else from a ``split`` column (``SPLIT_NAMES``: train/training,
  val/valid/validation/validate/dev, test/testing; any case), else
  they are carved out of train with a seed: ``test_fraction`` first, then ``val_fraction`` of what is left
  (a split that exists is never carved);
* a **hub id** is loaded with ``datasets.load_dataset`` (only when asked; offline it fails with one line).

Every problem is a one-line ``ValueError`` naming the file and row (line for CSV/JSONL, 1 = the header): a table
with no rows, an id used by two rows of a split (``check_unique_ids``), a split left empty. A CSV field of any
length is read (long texts are truncated by the tokenizer).
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tasks.core.data import load_hub
from tasks.core.inputs import DataError, list_images, read_text

SPLITS = ("train", "val", "test")
SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
               "validate": "val", "dev": "val", "test": "test", "testing": "test"}
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")


def parse_columns(columns: str | Mapping[str, str] | None) -> dict[str, str]:
    """``"text=review,label=stars"`` (or a dict) as ``{"text": "review", "label": "stars"}``: ours → yours."""
    if not columns:
        return {}
    if isinstance(columns, Mapping):
        return {str(k): str(v) for k, v in columns.items()}
    mapping = {}
    for part in str(columns).split(","):
        ours, sep, theirs = part.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise ValueError(f"data.columns: expected FIELD=COLUMN pairs separated by commas, got {part!r}")
        mapping[ours.strip()] = theirs.strip()
    return mapping


def read_table(path: Path) -> list[dict]:
    """Rows of a CSV/TSV (header), JSONL (one object a line), JSON (a list of objects) or parquet file.

    Each row gets ``_where`` (``file:line`` or ``file: row N``) for error messages."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: data file not found")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return _nonempty(_csv_rows(path, read_text(path), "\t" if suffix == ".tsv" else ","), path)
    if suffix == ".jsonl":
        rows = []
        for number, line in enumerate(read_text(path).splitlines(), start=1):
            if line.strip():
                rows.append({**_object(line, f"{path}:{number}"), "_where": f"{path}:{number}"})
        return _nonempty(rows, path)
    if suffix == ".json":
        try:
            items = json.loads(read_text(path))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ValueError(f"{path}: expected a JSON list of objects")
        return _nonempty([{**item, "_where": f"{path}: row {n}"} for n, item in enumerate(items, start=1)], path)
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            items = pq.read_table(path).to_pylist()
        except Exception as error:  # pyarrow raises several types for a damaged file
            raise ValueError(f"{path}: not a readable parquet file ({str(error).splitlines()[0]})") from None
        return _nonempty([{**item, "_where": f"{path}: row {n}"} for n, item in enumerate(items, start=1)], path)
    raise ValueError(f"{path}: unknown table format (use one of {', '.join(TABLE_SUFFIXES)})")


def _csv_rows(path: Path, text: str, delimiter: str) -> list[dict]:
    """Rows of a CSV/TSV text; a field of any length is read (the csv module's 128 KiB default limit is lifted
    for this file only: long texts are truncated later, by the tokenizer, as from any other table)."""
    reader = csv.DictReader(text.splitlines(keepends=True), delimiter=delimiter)
    previous = csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    rows = []
    try:
        for number, row in enumerate(reader, start=2):
            if None in row or any(value is None for value in row.values()):
                raise DataError(f"{path}:{number}: expected {len(reader.fieldnames or [])} fields as in the header")
            rows.append({**row, "_where": f"{path}:{number}"})
    except csv.Error as error:
        raise DataError(f"{path}:{reader.line_num}: not valid CSV ({error})") from None
    finally:
        csv.field_size_limit(previous)
    if not rows and not reader.fieldnames:
        raise DataError(f"{path}: empty file (expected a header line, then one row a line)")
    return rows


def _nonempty(rows: list[dict], path: Path) -> list[dict]:
    """``rows``; a ``DataError`` naming the file when it has none (an empty split would fail later, unnamed)."""
    if not rows:
        raise DataError(f"{path}: the table has no rows")
    return rows


def _object(line: str, where: str) -> dict:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where}: not valid JSON ({error.msg})") from None
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected a JSON object")
    return item


def get_field(row: Mapping[str, Any], name: str, columns: Mapping[str, str], aliases: Sequence[str] = (),
          required: bool = True) -> Any:
    """The value of our field ``name`` in ``row``: the mapped column, else ``name`` or one of its ``aliases``."""
    candidates = [columns[name]] if name in columns else [name, *aliases]
    for column in candidates:
        if column in row and row[column] is not None:
            return row[column]
    if required:
        known = ", ".join(k for k in row if not k.startswith("_"))
        raise ValueError(f"{row.get('_where', '?')}: missing column {candidates[0]!r} for field {name!r} "
                         f"(columns: {known}; map one with --data.columns {name}=COLUMN)")
    return None


def split_name(value: Any, where: str, field: str = "split") -> str | None:
    """``value`` as train, val or test through ``SPLIT_NAMES`` (any case; None when empty): the one mapping of every
    reader of a split field, so a name accepted in one layout is accepted in all. An unknown name is a ``DataError``
    naming ``where`` and ``field`` and listing the accepted names."""
    if value is None or str(value).strip() == "":
        return None
    name = SPLIT_NAMES.get(str(value).strip().lower())
    if name is None:
        raise DataError(f"{where}: unknown split {value!r} in {field} (use {accepted_split_names()})")
    return name


def accepted_split_names() -> str:
    """The accepted split names, grouped by split: ``train, training; val, valid, ...; test, testing``."""
    return "; ".join(", ".join(n for n, s in SPLIT_NAMES.items() if s == split) for split in SPLITS)


def split_of(row: Mapping[str, Any], column: str) -> str | None:
    """The row's split from ``column`` (None when the row has none)."""
    return split_name(row.get(column), row.get("_where", "?"), f"column {column!r}")


def carve(splits: dict[str, list], val_fraction: float, test_fraction: float, seed: int,
          source: str = "the data") -> dict[str, list]:
    """Fill missing val/test splits with seeded fractions of train (test first); the same seed, the same split.
    ``source`` (the file or folder) starts the error for a split left empty."""
    for name, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= fraction < 1.0:
            raise ValueError(f"data.{name}: must be in [0, 1), got {fraction}")
    out = {split: list(splits.get(split, [])) for split in SPLITS}
    for split, fraction, salt in (("test", test_fraction, 1), ("val", val_fraction, 2)):
        if out[split] or fraction == 0.0:
            continue
        order = list(range(len(out["train"])))
        random.Random(seed * 1000 + salt).shuffle(order)
        held = set(order[:max(1, round(len(order) * fraction))] if len(order) > 1 else [])
        out[split] = [row for i, row in enumerate(out["train"]) if i in held]
        out["train"] = [row for i, row in enumerate(out["train"]) if i not in held]
    for split in SPLITS:
        if not out[split]:
            raise DataError(f"{source}: no {split} examples (give a {split} file, a split column, or a "
                            f"positive --data.{split}_fraction)" if split != "train" else
                            f"{source}: no train examples")
    return out


def check_unique_ids(examples: Sequence[Mapping[str, Any]], wheres: Sequence[str], split: str) -> None:
    """``DataError`` naming the first id that more than one example of ``split`` has, and its rows (``wheres``):
    metrics score one example per id, so a repeated id would silently drop the other rows."""
    rows: dict[str, list[str]] = {}
    for example, where in zip(examples, wheres, strict=True):
        rows.setdefault(str(example["id"]), []).append(where)
    for name, places in rows.items():
        if len(places) > 1:
            shown = ", ".join(places[:3]) + (", ..." if len(places) > 3 else "")
            raise DataError(f"{places[0]}: id {name!r} is used by {len(places)} rows of the {split} split ({shown}); "
                            "ids must be unique, as metrics score one example per id")


def split_files(folder: Path) -> dict[str, Path]:
    """``train.*``, ``val.*`` (``validation``, ``valid``, ``dev``) and ``test.*`` tables in a folder."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in TABLE_SUFFIXES and path.stem.lower() in SPLIT_NAMES:
            split = SPLIT_NAMES[path.stem.lower()]
            if split in found:
                raise ValueError(f"{folder}: two {split} files ({found[split].name}, {path.name})")
            found[split] = path
    return found


def table_rows(path: Path, annotation: Sequence[str], split_column: str,
               files: Mapping[str, str | None]) -> tuple[dict[str, list[dict]], list[Path]]:
    """Raw rows by split (``None`` key: no split given) and the tables read.

    ``files`` (train/val/test paths) win; else a folder's ``train.*``/``val.*``/``test.*`` tables; else its
    annotation file (the first of ``annotation`` that exists, else its only table) or the file ``path`` itself,
    split by ``split_column``.
    """
    chosen = {split: Path(p) for split, p in files.items() if p}
    if not chosen and path.is_dir():
        chosen = split_files(path)
        if not chosen:
            tables = [p for p in sorted(path.iterdir()) if p.suffix.lower() in TABLE_SUFFIXES]
            table = next((path / name for name in annotation if (path / name).is_file()), None)
            table = table or (tables[0] if len(tables) == 1 else None)
            if table is None:
                raise FileNotFoundError(f"{path}: no data table (expected one of {', '.join(annotation)}, "
                                        f"or train/val/test tables)")
            path = table
    if chosen:
        return {split: _rooted(read_table(p), p.parent) for split, p in chosen.items()}, list(chosen.values())
    rows: dict[str, list[dict]] = {}
    for row in _rooted(read_table(path), path.parent):
        rows.setdefault(split_of(row, split_column), []).append(row)
    return rows, [path]


def _rooted(rows: list[dict], root: Path) -> list[dict]:
    """Rows with ``_root``: the folder their file paths are relative to (the table's own folder)."""
    return [{**row, "_root": root} for row in rows]


def hub_rows(hub_id: str) -> dict[str, list[dict]]:
    """Rows of every split of a hub dataset (only when asked for); a one-line error when it cannot be loaded."""
    ds = load_hub(hub_id)
    rows: dict[str, list[dict]] = {}
    for split in ds:
        name = SPLIT_NAMES.get(split.split(".")[0].lower(), "train")
        rows.setdefault(name, []).extend({**item, "_where": f"hub:{hub_id}[{split}] row {i}", "_root": Path(".")}
                                         for i, item in enumerate(ds[split]))
    return rows


def listed_files(paths: Sequence[str], suffixes: Sequence[str], images: bool = False) -> list[Path]:
    """Files given directly, or found in folders by suffix (sorted; image folders through ``inputs.list_images``,
    which warns about the non-image files it skips); a missing path is an error."""
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found += list_images(path) if images else sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    if not found:
        raise ValueError(f"{', '.join(paths)}: no input files (looked for {', '.join(suffixes)})")
    return found
