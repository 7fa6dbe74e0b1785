"""Re-score a task's committed leaderboard records from their predictions files after its metrics changed.

Usage: ``python scripts/rescore_records.py TASK [--benchmark B] [--dry-run] [--why TEXT] [--records-dir DIR]``

For every record of TASK (only benchmark B's with ``--benchmark``) whose predictions file exists, the metrics
are recomputed with the task's ``score_predictions(rows)`` (as ``zoo score`` does, ``benchmarks/scoring.py``).
A record whose metrics or ``task_version`` differ from what the code now gives is rewritten: new ``metrics``,
``task_version`` = the task's ``SPEC.version``, and a sentence appended to ``notes``: "re-scored under
task_version N: WHY; was PRIMARY OLD" (plus "; no metric moved" when none did). Its id, config, samples and
everything else stay. Records without a predictions file are left as they are and listed. When the task
package has a module-level ``example_scores(predictions, references) -> list[float]``, each row's per-example
``score`` is recomputed too and a predictions file whose scores moved is rewritten (atomically, rows in
order); without one, rows stay as the run wrote them.

The records file is rewritten whole through a temporary file renamed into place, under the store's exclusive
lock, so a reader sees the old file or the new one. Do not run it while a benchmark appends to the same task:
an append blocked on the lock would land in the replaced file. It prints each record and the metrics that
moved (old → new); with ``--dry-run`` it prints the same and writes nothing. Re-running it changes nothing.

Why: a metrics fix changes the numbers of runs already on the leaderboard; re-scoring their saved
predictions updates them without re-training, and ``zoo leaderboard --check`` stays clean.
Errors (unknown task or benchmark, nothing to re-score, an unreadable or invalid predictions file or record) are
one line ``rescore_records: error: ...`` with exit code 2, and nothing is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from leaderboard.errors import RecordError
from leaderboard.predictions import predictions_file, read_predictions, write_predictions
from leaderboard.schema import Record, validate_record
from leaderboard.store import DEFAULT_DIR, encode_record, read_records, records_file, rewrite_lines
from tasks import get_task

DEFAULT_WHY = "the task's metrics changed (see CHANGELOG.md)"


class Rescored:
    """One record's re-scoring: the new record, its moved metrics, and rows whose per-example score moved."""

    def __init__(self, old: Record, new: Record, rows: list[dict[str, Any]] | None) -> None:
        self.old, self.new, self.rows = old, new, rows

    def moved(self) -> list[tuple[str, float | None, float | None]]:
        """(metric, old, new) for every metric that is not exactly equal on both sides."""
        old, new = self.old["metrics"], self.new["metrics"]
        return [(name, old.get(name), new.get(name)) for name in sorted(set(old) | set(new))
                if old.get(name) != new.get(name)]


def _rescored_rows(task: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The rows with recomputed per-example scores when the task has ``example_scores`` and any moved."""
    scorer: Callable[[list, list], list[float]] | None = getattr(task, "example_scores", None)
    if scorer is None:
        return None
    scores = [float(s) for s in scorer([r["prediction"] for r in rows], [r["reference"] for r in rows])]
    if scores == [r["score"] for r in rows]:
        return None
    return [{**row, "score": score} for row, score in zip(rows, scores, strict=True)]


def rescore(task_name: str, records_dir: Path, benchmark: str | None, why: str) -> tuple[list[Rescored], list[str]]:
    """(records that change, ids of selected records without a predictions file); ValueError on a user error."""
    task = get_task(task_name)
    if benchmark is not None and benchmark not in task.SPEC.benchmark_names:
        raise ValueError(f"task {task_name} has no benchmark {benchmark!r} "
                         f"(known: {', '.join(task.SPEC.benchmark_names)})")
    selected = [r for r in read_records(records_dir, task_name) if benchmark in (None, r["benchmark"])]
    if not selected:
        raise ValueError(f"no records of task {task_name}" + (f" on {benchmark}" if benchmark else "")
                         + f" in {records_dir}")
    changed, without = [], []
    version = task.SPEC.version
    for record in selected:
        path = predictions_file(record, records_dir)
        if path is None or not path.exists():
            without.append(record["id"])
            continue
        rows = read_predictions(path)
        metrics = task.score_predictions(rows)
        new_rows = _rescored_rows(task, rows)
        if metrics == record["metrics"] and record["task_version"] == version and new_rows is None:
            continue
        primary = record["primary_metric"]
        note = f"re-scored under task_version {version}: {why}; was {primary} {record['metrics'][primary]!r}"
        note += "; no metric moved." if metrics == record["metrics"] else "."
        new = {**record, "metrics": metrics, "task_version": version,
               "notes": f"{record['notes']} {note}" if record.get("notes") else note}
        validate_record(new)
        changed.append(Rescored(record, new, new_rows))
    return changed, without


def write(task_name: str, records_dir: Path, changed: list[Rescored]) -> None:
    """Rewrite the task's records file with the re-scored records (other lines byte for byte), then row files."""
    path = records_file(task_name, records_dir)

    def replace(lines: list[bytes]) -> list[bytes]:
        by_id = {item.new["id"]: item.new for item in changed}
        out = []
        for line in lines:
            record_id = json.loads(line).get("id") if line.strip() else None
            out.append(encode_record(by_id.pop(record_id)) if record_id in by_id else line)
        if by_id:
            raise RecordError(f"records {sorted(by_id)} vanished from {path} while re-scoring; nothing written")
        return out

    rewrite_lines(path, replace)
    for item in changed:
        if item.rows is not None:
            write_predictions(item.rows, records_dir, item.new["id"])


def _show(value: float | None) -> str:
    return "—" if value is None else f"{value:.6f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rescore_records", description=__doc__.split("\n\n")[0])
    parser.add_argument("task", help="the task whose records to re-score (e.g. med_report)")
    parser.add_argument("--benchmark", help="only this benchmark's records")
    parser.add_argument("--dry-run", action="store_true", help="print what would move; write nothing")
    parser.add_argument("--why", default=DEFAULT_WHY, help="the reason written into each record's notes")
    parser.add_argument("--records-dir", type=Path, default=DEFAULT_DIR, help="default leaderboard/records")
    args = parser.parse_args(argv)
    try:
        changed, without = rescore(args.task, args.records_dir, args.benchmark, args.why)
        if not args.dry_run:
            write(args.task, args.records_dir, changed)
    except (ValueError, RecordError, OSError) as error:
        print(f"rescore_records: error: {error}", file=sys.stderr)
        return 2
    for item in changed:
        print(f"{item.new['id']}: task_version {item.old['task_version']} → {item.new['task_version']}"
              + ("" if item.rows is None else "; per-example scores recomputed"))
        for name, old, new in item.moved():
            delta = "" if old is None or new is None else f" ({new - old:+.6f})"
            print(f"  {name}: {_show(old)} → {_show(new)}{delta}")
    for record_id in without:
        print(f"{record_id}: no predictions file; left as it is")
    verb = "would re-score" if args.dry_run else "re-scored"
    print(f"{verb} {len(changed)} record(s) of {args.task}; {len(without)} without predictions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
