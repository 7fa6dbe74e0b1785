"""Per-example test predictions of a run, stored beside its record.

A run writes `<records_dir>/predictions/<record id>.jsonl`, one JSON object per line:
`{"id", "prediction", "reference", "score"}` (`score`: the example's own metric, e.g. 1.0
when correct). The record's `predictions` field holds that path relative to the records
dir. Files are written whole and atomically (a temporary file renamed into place), so a
reader never sees half a file. Standard library only.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from leaderboard.errors import RecordError
from leaderboard.schema import Record

PREDICTIONS_DIR = "predictions"
ROW_KEYS: tuple[str, ...] = ("id", "prediction", "reference", "score")


def relative_path(record_id: str) -> str:
    """The `predictions` field of the record `record_id`: a path relative to the records dir."""
    if not record_id or "/" in record_id or record_id.startswith("."):
        raise RecordError(f"cannot name a predictions file after id {record_id!r}", field="id")
    return f"{PREDICTIONS_DIR}/{record_id}.jsonl"


def predictions_file(record: Record, records_dir: Path) -> Path | None:
    """The predictions file a record references, or None when it has none."""
    relative = record.get("predictions")
    return None if relative is None else Path(records_dir) / relative


def write_predictions(rows: Iterable[dict[str, Any]], records_dir: Path, record_id: str) -> Path:
    """Write prediction rows atomically to `<records_dir>/predictions/<record_id>.jsonl`."""
    path = Path(records_dir) / relative_path(record_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for index, row in enumerate(rows):
        _check_row(row, path, index + 1)
        lines.append(json.dumps({key: row[key] for key in ROW_KEYS}, ensure_ascii=False, allow_nan=False))
    handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.",
                                         delete=False)
    try:
        with handle:
            handle.write("".join(line + "\n" for line in lines))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o644)  # temporary files are created 0600
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return path


def _check_row(row: Any, path: Path, line: int) -> None:
    """A prediction row: an object with exactly ROW_KEYS, a string id and a finite score."""
    if not isinstance(row, dict):
        raise RecordError(f"prediction row must be an object, got {type(row).__name__}", path=path, line=line)
    keys = sorted(set(row) ^ set(ROW_KEYS))
    if keys:
        what = "unknown" if keys[0] in row else "missing"
        raise RecordError(f"{what} key {keys[0]!r} (a row has {', '.join(ROW_KEYS)})", path=path, line=line)
    if not isinstance(row["id"], str) or not row["id"]:
        raise RecordError("id must be a non-empty string", field="id", path=path, line=line)
    score = row["score"]
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        raise RecordError(f"score must be a finite number, got {score!r}", field="score", path=path, line=line)


def parse_rows(data: bytes, path: Path) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """The valid rows of a predictions file's bytes, and (line, problem) for every bad or repeated one."""
    rows: list[dict[str, Any]] = []
    problems: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            row = json.loads(raw)
            _check_row(row, path, number)
        except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, RecordError
            problems.append((number, error.problem if isinstance(error, RecordError) else f"not valid JSON: {error}"))
            continue
        first = seen.setdefault(row["id"], number)
        if first != number:
            problems.append((number, f"duplicate id {row['id']!r}, first at line {first}"))
        rows.append(row)
    return rows, problems


def read_predictions(path: Path) -> list[dict[str, Any]]:
    """Read and check every row of a predictions file.

    A missing file raises FileNotFoundError; the first bad line (not JSON, wrong keys, a
    repeated id) raises RecordError naming the file and line. No line is skipped.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: predictions file not found") from None
    rows, problems = parse_rows(data, path)
    if problems:
        line, problem = problems[0]
        raise RecordError(problem, path=path, line=line)
    return rows
