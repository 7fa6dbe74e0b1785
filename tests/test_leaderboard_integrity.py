"""Predictions files beside records: written atomically with the record (or not at all), read strictly,
checked by ``zoo leaderboard --check`` (every problem named, none skipped), and bootstrapped into the
95% interval of single-seed rows."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks import run as run_module
from benchmarks.cli import main
from leaderboard import RecordError, render_markdown
from leaderboard.predictions import read_predictions, write_predictions
from leaderboard.store import read_records
from leaderboard.uncertainty import bootstrap_interval, single_seed_intervals
from tests.records import example_record
from tests.runs import two_step_run

ROWS = [{"id": f"t{i}", "prediction": "positive", "reference": "positive" if i % 4 else "negative",
         "score": 1.0 if i % 4 else 0.0} for i in range(40)]  # accuracy 0.75


def test_predictions_round_trip_and_leave_no_temporary_file(tmp_path: Path) -> None:
    path = write_predictions(ROWS, tmp_path, "run-1")
    assert path == tmp_path / "predictions" / "run-1.jsonl"
    assert read_predictions(path) == ROWS
    assert [p.name for p in path.parent.iterdir()] == ["run-1.jsonl"]


@pytest.mark.parametrize("line,problem", [
    ("not json", "not valid JSON"),
    ('{"id": "t0", "prediction": "a", "reference": "b", "score": 1.0}', "duplicate id 't0', first at line 1"),
    ('{"id": "t9", "prediction": "a", "reference": "b"}', "missing key 'score'"),
    ('{"id": "t9", "prediction": "a", "reference": "b", "score": NaN}', "score must be a finite number"),
    ("", "not valid JSON"),
])
def test_a_bad_row_is_named_by_file_and_line(tmp_path: Path, line: str, problem: str) -> None:
    path = write_predictions(ROWS[:2], tmp_path, "run-1")
    with path.open("a") as handle:
        handle.write(line + "\n" + json.dumps(ROWS[3]) + "\n")
    with pytest.raises(RecordError) as caught:
        read_predictions(path)
    assert str(caught.value).startswith(f"{path}:3: ") and problem in str(caught.value)


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    """A records dir with one two-step smoke run (record + predictions file)."""
    two_step_run("sentiment", tmp_path / "records", tmp_path / "runs")
    return tmp_path / "records"


def test_a_run_writes_predictions_that_its_record_references(run_dir: Path) -> None:
    (record,) = read_records(run_dir)
    rows = read_predictions(run_dir / record["predictions"])
    assert record["predictions"] == f"predictions/{record['id']}.jsonl"
    assert len(rows) == record["num_test_examples"]
    assert math.fsum(row["score"] for row in rows) / len(rows) == pytest.approx(record["metrics"]["accuracy"])
    assert [(s["id"], s["prediction"]) for s in record["samples"]] == [(r["id"], r["prediction"]) for r in rows[:8]]
    assert all(sample["input"]["text"] for sample in record["samples"])


def test_a_failed_append_removes_the_predictions_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(record: dict, directory: Path) -> Path:
        raise RecordError("disk says no")

    monkeypatch.setattr(run_module, "append_record", refuse)
    with pytest.raises(RecordError, match="disk says no"):
        two_step_run("sentiment", tmp_path / "records", tmp_path / "runs")
    assert list((tmp_path / "records" / "predictions").iterdir()) == []


def _check(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["leaderboard", "--check", "--records-dir", str(run_dir)])
    return code, capsys.readouterr().out.splitlines()


def test_check_passes_a_clean_store(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _check(run_dir, capsys)
    assert code == 0 and lines == [f"checked 1 valid record(s) and 1 predictions file(s) in {run_dir}: no problems"]


def test_check_reports_every_problem_with_its_place(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (record,) = read_records(run_dir)
    records_file, predictions = run_dir / "sentiment.jsonl", run_dir / record["predictions"]
    rows = predictions.read_text().splitlines()
    flipped = json.loads(rows[1])
    flipped["prediction"] = "negative" if flipped["prediction"] == "positive" else "positive"
    (run_dir / "predictions" / "third.jsonl").write_text("\n".join([rows[0], json.dumps(flipped), *rows[2:]]) + "\n")
    predictions.write_text("\n".join([rows[0], rows[1], rows[0], *rows[3:]]) + "\n")
    second = {**record, "id": "second", "predictions": "predictions/second.jsonl"}
    third = {**record, "id": "third", "predictions": "predictions/third.jsonl", "samples": []}
    with records_file.open("a") as handle:
        handle.write('{"id": "broken", \n' + json.dumps(second) + "\n" + json.dumps(third) + "\n")
    (run_dir / "predictions" / "orphan.jsonl").write_text("")
    code, lines = _check(run_dir, capsys)
    assert code == 1
    expected = [
        f"{records_file}:2: corrupt line, not valid JSON",
        f"{predictions}:3: duplicate id 'test-0', first at line 1",
        f"{records_file}:3: predictions file {run_dir / 'predictions' / 'second.jsonl'} unreadable",
        f"{records_file}:4: metrics differ from predictions/third.jsonl: accuracy: recomputed",
        f"{run_dir / 'predictions' / 'orphan.jsonl'}: no record references this predictions file",
    ]
    for text in expected:
        assert any(line.startswith(text) for line in lines), text
    assert lines[-1].endswith(f"{len(lines) - 1} problem(s)")


def test_check_counts_rows_against_the_record(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (record,) = read_records(run_dir)
    predictions = run_dir / record["predictions"]
    predictions.write_text("".join(predictions.read_text().splitlines(keepends=True)[:-1]))
    code, lines = _check(run_dir, capsys)
    assert code == 1
    assert f"{predictions}: {record['num_test_examples'] - 1} rows, but record" in lines[0]


# ---------------------------------------------------------------- bootstrap interval


def test_bootstrap_is_deterministic_and_brackets_the_mean() -> None:
    scores = [row["score"] for row in ROWS] * 25  # 1000 examples, mean 0.75
    low, high = bootstrap_interval(scores)
    assert (low, high) == bootstrap_interval(scores)
    assert low < 0.75 < high and high - low < 0.07  # about ±1.96 * sqrt(.75 * .25 / 1000) = ±0.027
    assert bootstrap_interval([1.0] * 50) == (1.0, 1.0)


def test_only_single_seed_rows_get_an_interval(tmp_path: Path) -> None:
    write_predictions(ROWS, tmp_path, "alone")
    records = [example_record(id="alone", model="solo", metrics={"accuracy": 0.75}, num_test_examples=40,
                              predictions="predictions/alone.jsonl")]
    records += [example_record(id=f"pair-{seed}", model="pair", seed=seed) for seed in (0, 1)]
    intervals = single_seed_intervals(records, tmp_path)
    assert set(intervals) == {"alone"}
    markdown = render_markdown(records, intervals=intervals)
    solo = next(line for line in markdown.splitlines() if "| solo |" in line)
    low, high = intervals["alone"]
    assert f"| 75.0 ± n/a | [{low * 100:.1f}, {high * 100:.1f}] |" in solo
    assert "| — |" in next(line for line in markdown.splitlines() if "| pair |" in line)
    assert "bootstrap interval of the mean per-example test score" in markdown
