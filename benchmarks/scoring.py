"""``zoo score`` and ``zoo leaderboard --check``: recompute a run's metrics from its predictions file.

Each task's ``score_predictions(rows)`` recomputes its test metrics from the per-example rows a run
wrote; they must equal the record's metrics exactly (the same computation on the same predictions).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from leaderboard.integrity import Problem, check_predictions, scan_records
from leaderboard.predictions import PREDICTIONS_DIR, read_predictions
from leaderboard.schema import Record
from leaderboard.store import DEFAULT_DIR, read_records
from tasks import get_task


def mismatches(recomputed: Mapping[str, float], recorded: Mapping[str, float]) -> list[str]:
    """One line per metric that is not exactly equal on both sides (or is missing on one)."""
    found = []
    for name in sorted(set(recomputed) | set(recorded)):
        new, old = recomputed.get(name), recorded.get(name)
        if new is None or old is None or new != old:
            found.append(f"{name}: recomputed {new!r}, recorded {old!r}")
    return found


def default_records_dir(path: Path) -> Path:
    """Where the record of a predictions file lives: two levels up from `<dir>/predictions/<id>.jsonl`."""
    return path.parent.parent if path.parent.name == PREDICTIONS_DIR else DEFAULT_DIR


def _owner(path: Path, records_dir: Path, task: str | None) -> tuple[Record | None, str]:
    """The record whose id is the file's stem, and the task to score with."""
    record = next((r for r in read_records(records_dir) if r["id"] == path.stem), None)
    if record is None and task is None:
        raise ValueError(f"{path}: no record with id {path.stem!r} in {records_dir}; give --task to score "
                         "the file without a record")
    if record is not None and task is not None and task != record["task"]:
        raise ValueError(f"{path}: --task {task} but record {record['id']} is of task {record['task']}")
    return record, task or record["task"]  # type: ignore[index]


def score_file(path: Path, records_dir: Path | None = None, task: str | None = None,
               say: Callable[[str], None] = print) -> int:
    """Print the metrics recomputed from a predictions file beside its record's; 0 if exactly equal, else 1.

    Without a record (only with `task`) there is nothing to compare: it prints the metrics and returns 0.
    """
    path = Path(path)
    rows = read_predictions(path)
    records_dir = Path(records_dir) if records_dir is not None else default_records_dir(path)
    record, task_name = _owner(path, records_dir, task)
    recomputed = get_task(task_name).score_predictions(rows)
    recorded = record["metrics"] if record is not None else {}
    say(f"{path}: {len(rows)} rows, task {task_name}, "
        + (f"record {record['id']}" if record is not None else "no record"))
    table = [("metric", "recomputed", "recorded", "equal")]
    for name in sorted(set(recomputed) | set(recorded)):
        new, old = recomputed.get(name), recorded.get(name)
        equal = "—" if record is None else ("yes" if new is not None and new == old else "NO")
        table.append((name, "—" if new is None else repr(new), "—" if old is None else repr(old), equal))
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        say("  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip())
    if record is None:
        return 0
    different = mismatches(recomputed, recorded)
    say("verdict: " + ("the predictions give exactly the recorded metrics" if not different else
                       f"the predictions do NOT give the recorded metrics ({len(different)} differ)"))
    return 1 if different else 0


def check_leaderboard(records_dir: Path) -> tuple[int, list[Problem]]:
    """(number of valid records, every problem): records, predictions files and recomputed metrics."""
    stored, problems = scan_records(records_dir)
    clean, more = check_predictions(records_dir, stored)
    problems += more
    for item in stored:
        rows = clean.get(item.record["id"])
        if rows is None:
            continue
        try:
            recomputed = get_task(item.record["task"]).score_predictions(rows)
        except ValueError as error:
            problems.append(Problem(item.path, item.line, f"cannot score {item.record['predictions']}: {error}"))
            continue
        problems += [Problem(item.path, item.line, f"metrics differ from {item.record['predictions']}: {text}")
                     for text in mismatches(recomputed, item.record["metrics"])]
    return len(stored), problems
