"""scripts/rescore_records.py: a record whose metrics no longer match its predictions is re-scored in place (same
id, the task's current version, a note saying what moved); a second run changes nothing; errors are one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from leaderboard.store import read_records
from tasks import sentiment

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "rescore_records.py"
RECORD_ID = "sentiment-reviews-standard-bilstm-s0-20261130T180502Z-e8ed28"


def _rescore(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True)


def _one_record_store(tmp_path: Path) -> Path:
    """A records folder holding one committed sentiment record (metrics changed by hand) and its predictions."""
    records = tmp_path / "records"
    (records / "predictions").mkdir(parents=True)
    committed = [r for r in read_records(ROOT / "leaderboard" / "records") if r["id"] == RECORD_ID]
    record = {**committed[0], "metrics": {"accuracy": 0.5, "macro_f1": 0.5}}
    (records / "sentiment.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    shutil.copy(ROOT / "leaderboard" / "records" / "predictions" / f"{RECORD_ID}.jsonl", records / "predictions")
    return records


def test_a_stale_record_is_rescored_in_place_once(tmp_path: Path) -> None:
    records = _one_record_store(tmp_path)
    first = _rescore("sentiment", "--records-dir", str(records), "--why", "a test")
    assert first.returncode == 0, first.stderr
    [record] = read_records(records)
    committed = [r for r in read_records(ROOT / "leaderboard" / "records") if r["id"] == RECORD_ID][0]
    assert record["id"] == RECORD_ID and record["metrics"] == committed["metrics"] != {"accuracy": 0.5}
    assert record["task_version"] == sentiment.SPEC.version
    assert "re-scored under task_version" in record["notes"] and "a test" in record["notes"]
    before = (records / "sentiment.jsonl").read_bytes()
    second = _rescore("sentiment", "--records-dir", str(records))
    assert second.returncode == 0 and (records / "sentiment.jsonl").read_bytes() == before


def test_a_dry_run_writes_nothing_and_an_unknown_task_is_one_line(tmp_path: Path) -> None:
    records = _one_record_store(tmp_path)
    before = (records / "sentiment.jsonl").read_bytes()
    assert _rescore("sentiment", "--records-dir", str(records), "--dry-run").returncode == 0
    assert (records / "sentiment.jsonl").read_bytes() == before
    unknown = _rescore("no_such_task", "--records-dir", str(records))
    assert unknown.returncode == 2 and len(unknown.stderr.strip().splitlines()) == 1
    assert unknown.stderr.startswith("rescore_records: error:")
