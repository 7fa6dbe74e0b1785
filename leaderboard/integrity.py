"""Integrity of a records dir: every problem of every record and predictions file, none skipped.

Unlike `read_records`, which stops at the first bad line, `scan_records` goes on and returns
each problem with its place (`path:line: problem`). `check_predictions` checks the files the
records reference: they exist, parse, have unique ids and one row per test example, and that
no predictions file is left without a record. Recomputing metrics needs the tasks (torch) and
lives in `benchmarks.scoring`. Standard library only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leaderboard.errors import RecordError
from leaderboard.predictions import PREDICTIONS_DIR, parse_rows, predictions_file
from leaderboard.schema import Record, validate_record
from leaderboard.store import SUFFIX, read_locked


@dataclass(frozen=True)
class Problem:
    """One integrity problem and where it is (line None: the whole file)."""

    path: Path
    line: int | None
    problem: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        return f"{where}: {self.problem}"


@dataclass(frozen=True)
class StoredRecord:
    """A valid record and the place it was read from."""

    record: Record
    path: Path
    line: int


def _lines(data: bytes) -> list[bytes]:
    """The lines of a records file (a final newline ends the last line, it does not start one)."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def _check_line(raw: bytes, path: Path) -> Record:
    """The record on one line, validated; RecordError (without a place) otherwise."""
    try:
        record = json.loads(raw)
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise RecordError(f"corrupt line, not valid JSON: {error}") from None
    if not isinstance(record, dict):
        raise RecordError(f"corrupt line: JSON {type(record).__name__}, not an object")
    validate_record(record)
    if record["task"] != path.stem:
        raise RecordError(f"record of task {record['task']!r} in the file of task {path.stem!r}", field="task")
    return record


def scan_records(directory: Path) -> tuple[list[StoredRecord], list[Problem]]:
    """Every valid record of `directory` with its place, and a Problem for every bad or repeated line."""
    stored: list[StoredRecord] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for path in sorted(Path(directory).glob(f"*{SUFFIX}")):
        for number, raw in enumerate(_lines(read_locked(path)), start=1):
            try:
                record = _check_line(raw, path)
            except RecordError as error:
                problems.append(Problem(path, number, str(error)))
                continue
            first = seen.setdefault(record["id"], f"{path}:{number}")
            if first != f"{path}:{number}":
                problems.append(Problem(path, number, f"duplicate id {record['id']!r}, first at {first}"))
                continue
            stored.append(StoredRecord(record, path, number))
    return stored, problems


def _sample_problems(record: Record, rows: list[dict[str, Any]]) -> list[str]:
    """Each of the record's samples must be the predictions file's row of the same id."""
    by_id = {row["id"]: row for row in rows}
    problems = []
    for index, sample in enumerate(record.get("samples", [])):
        row = by_id.get(sample["id"])
        if row is None or (row["prediction"], row["reference"]) != (sample["prediction"], sample["reference"]):
            problems.append(f"field 'samples[{index}]': id {sample['id']!r} differs from its predictions file row")
    return problems


def check_predictions(directory: Path, stored: list[StoredRecord]) -> tuple[dict[str, list[dict[str, Any]]],
                                                                           list[Problem]]:
    """Rows of each record's predictions file that checked clean (by record id), and every problem found."""
    clean: dict[str, list[dict[str, Any]]] = {}
    problems: list[Problem] = []
    referenced: set[Path] = set()
    for item in stored:
        path = predictions_file(item.record, directory)
        if path is None:
            continue
        referenced.add(path.resolve())
        try:
            data = path.read_bytes()
        except OSError as error:
            problems.append(Problem(item.path, item.line, f"predictions file {path} unreadable: "
                                                           f"{error.strerror or error}"))
            continue
        rows, bad = parse_rows(data, path)
        problems += [Problem(path, line, problem) for line, problem in bad]
        expected = item.record["num_test_examples"]
        if len(data.splitlines()) != expected:
            problems.append(Problem(path, None, f"{len(data.splitlines())} rows, but record {item.record['id']!r} "
                                                f"({item.path}:{item.line}) has num_test_examples {expected}"))
        elif not bad:
            clean[item.record["id"]] = rows
        problems += [Problem(item.path, item.line, problem) for problem in _sample_problems(item.record, rows)]
    for orphan in sorted(Path(directory, PREDICTIONS_DIR).glob("*.jsonl")):
        if orphan.resolve() not in referenced:
            problems.append(Problem(orphan, None, "no record references this predictions file "
                                                   "(a killed run, or one still appending its record)"))
    return clean, problems
