"""Behaviour of the leaderboard package: schema, append-only store, rendering."""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from leaderboard import (
    OPTIONAL_FIELDS,
    REQUIRED_FIELDS,
    RecordError,
    append_record,
    config_hash,
    find_record,
    read_records,
    references_for,
    render_markdown,
    render_table_text,
    validate_record,
    write_readme,
)
from tests.records import example_record

WRITERS = 8
RECORDS_PER_WRITER = 20


@pytest.fixture
def record() -> dict:
    """A valid record with every optional field set."""
    return example_record(
        time_to_target_seconds=None,
        time_to_target_step=400,
        predictions="runs/x/predictions.jsonl",
        notes="fixture – ünïcode survives",
        samples=[{"id": "3", "prediction": "positive", "reference": "negative"}],
        model="zoo-small←captioning@0123ab",
        init_from={"task": "captioning", "checkpoint": "captioning/shapes-captions/smoke/zoo-tiny-s0/run/last.ckpt",
                   "sha256": "0123ab" + "0" * 58, "loaded": ["encoder"],
                   "not_loaded": {"head": "re-initialised: a captioning checkpoint"}, "record": "captioning-run-1"},
    )


@pytest.fixture
def records_dir(tmp_path: Path) -> Path:
    """An empty (not yet created) records directory."""
    return tmp_path / "records"


# ------------------------------------------------------------------------ schema


def test_valid_record_validates(record: dict) -> None:
    validate_record(record)
    assert set(record) == set(REQUIRED_FIELDS) | set(OPTIONAL_FIELDS)


MISSING = object()  # an override that deletes the field
SAMPLE = {"id": "1", "prediction": "a", "reference": "b"}

# name -> (field overrides, the field the error must name)
BROKEN: dict[str, tuple[dict, str]] = {
    "missing key": ({"seed": MISSING}, "seed"),
    "missing nested key": ({"device": {"count": 1, "name": "x"}}, "device.kind"),
    "wrong type str": ({"seed": "0"}, "seed"),
    "bool for int": ({"steps": True}, "steps"),
    "int for bool": ({"higher_is_better": 1}, "higher_is_better"),
    "negative steps": ({"steps": -1}, "steps"),
    "negative parameters": ({"num_parameters": -1}, "num_parameters"),
    "device count 0": ({"device": {"kind": "cpu", "count": 0, "name": "x"}}, "device.count"),
    "NaN metric": ({"metrics": {"accuracy": math.nan}}, "metrics.accuracy"),
    "inf metric": ({"metrics": {"accuracy": 0.5, "loss": math.inf}}, "metrics.loss"),
    "string metric": ({"metrics": {"accuracy": "0.5"}}, "metrics.accuracy"),
    "empty metrics": ({"metrics": {}}, "metrics"),
    "primary not in metrics": ({"primary_metric": "f1"}, "primary_metric"),
    "unknown key": ({"learning_rate": 0.1}, "learning_rate"),
    "bad recipe": ({"recipe": "huge"}, "recipe"),
    "bad hex": ({"config_hash": "xyz"}, "config_hash"),
    "created_at without Z": ({"created_at": "2026-11-29T13:12:05"}, "created_at"),
    "created_at offset": ({"created_at": "2026-11-29T13:12:05+01:00"}, "created_at"),
    "created_at garbage": ({"created_at": "yesterdayZ"}, "created_at"),
    "too many samples": ({"samples": [SAMPLE] * 21}, "samples"),
    "sample key": ({"samples": [{**SAMPLE, "extra": 1}]}, "samples[0].extra"),
    "task unsafe as file name": ({"task": "../x"}, "task"),
}


@pytest.mark.parametrize(("overrides", "field"), BROKEN.values(), ids=BROKEN.keys())
def test_broken_record_names_field(record: dict, overrides: dict, field: str) -> None:
    record.update(overrides)
    broken = {key: value for key, value in record.items() if value is not MISSING}
    with pytest.raises(RecordError) as caught:
        validate_record(broken)
    assert caught.value.field == field
    assert repr(field) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_record_error_is_value_error_and_pickles() -> None:
    error = RecordError("bad", field="seed", path="a.jsonl", line=3)
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, ValueError)
    assert (copy.field, copy.line, str(copy)) == ("seed", 3, "a.jsonl:3: field 'seed': bad")


def test_config_hash_stable_under_key_order() -> None:
    first = {"lr": 0.001, "model": {"layers": 2, "name": "zoo"}, "seed": 0}
    second = {"seed": 0, "model": {"name": "zoo", "layers": 2}, "lr": 0.001}
    canonical = json.dumps(first, sort_keys=True, separators=(",", ":")).encode()
    assert config_hash(first) == config_hash(second)
    assert config_hash(first) == hashlib.sha256(canonical).hexdigest()[:16]
    assert config_hash(first) != config_hash({**first, "lr": 0.002})
    assert config_hash(first) != config_hash({**first, "model": {"layers": 3, "name": "zoo"}})


# ------------------------------------------------------------------------- store


def test_append_then_read_round_trips(record: dict, records_dir: Path) -> None:
    other = example_record(id="asr-an4-1", task="asr", benchmark="an4", split="test")
    path = append_record(record, records_dir)
    append_record(other, records_dir)
    assert path == records_dir / "sentiment.jsonl"
    assert path.read_text(encoding="utf-8").count("\n") == 1
    assert read_records(records_dir) == [other, record]  # files in name order
    assert read_records(records_dir, task="sentiment") == [record]
    assert find_record("asr-an4-1", records_dir) == other
    with pytest.raises(RecordError, match="no record"):
        find_record("missing", records_dir)


def test_invalid_record_is_not_written(record: dict, records_dir: Path) -> None:
    path = append_record(record, records_dir)
    before = path.read_bytes()
    with pytest.raises(RecordError) as caught:
        append_record(example_record(id="second", metrics={"accuracy": math.nan}), records_dir)
    assert caught.value.field == "metrics.accuracy"
    assert path.read_bytes() == before
    with pytest.raises(RecordError):
        append_record(example_record(id="third", task="asr", seed="0"), records_dir)
    assert not (records_dir / "asr.jsonl").exists()


def test_duplicate_id_refused(record: dict, records_dir: Path) -> None:
    path = append_record(record, records_dir)
    before = path.read_bytes()
    with pytest.raises(RecordError, match="duplicate id") as caught:
        append_record(example_record(seed=1), records_dir)
    assert caught.value.field == "id"
    with pytest.raises(RecordError, match="duplicate id"):  # same id, another task's file
        append_record(example_record(task="asr"), records_dir)
    assert path.read_bytes() == before
    assert not (records_dir / "asr.jsonl").exists()


def _append_many(directory: str, worker: int, barrier: multiprocessing.synchronize.Barrier) -> None:
    """Worker process: append RECORDS_PER_WRITER records as soon as all writers are ready."""
    barrier.wait()
    for index in range(RECORDS_PER_WRITER):
        append_record(example_record(id=f"w{worker}-r{index}", seed=index), Path(directory))


def test_concurrent_writers_leave_only_whole_lines(records_dir: Path) -> None:
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    barrier = context.Barrier(WRITERS)
    workers = [
        context.Process(target=_append_many, args=(str(records_dir), worker, barrier))
        for worker in range(WRITERS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0] * WRITERS
    lines = (records_dir / "sentiment.jsonl").read_bytes().split(b"\n")
    assert lines.pop() == b""
    ids = {json.loads(line)["id"] for line in lines}
    assert len(lines) == len(ids) == WRITERS * RECORDS_PER_WRITER
    assert len(read_records(records_dir)) == WRITERS * RECORDS_PER_WRITER


@pytest.mark.parametrize(
    ("bad_line", "field"),
    [
        ('{"id": "third", "task": ', None),
        (json.dumps(example_record(id="third", steps=-5)), "steps"),
    ],
    ids=["not JSON", "invalid record"],
)
def test_bad_line_raises_with_file_and_line(
    record: dict, records_dir: Path, bad_line: str, field: str | None
) -> None:
    path = append_record(record, records_dir)
    append_record(example_record(id="second"), records_dir)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(bad_line + "\n")
    with pytest.raises(RecordError) as caught:
        read_records(records_dir)
    assert (caught.value.line, caught.value.field) == (3, field)
    assert str(caught.value).startswith(f"{path}:3: ")
    if field is None:  # appending to a corrupt file is refused too
        with pytest.raises(RecordError, match=":3:"):
            append_record(example_record(id="fourth"), records_dir)


# ------------------------------------------------------------------------ render


@pytest.fixture
def sentiment_records() -> list[dict]:
    """Three seeds of zoo-small (80/82/84%), one of bilstm (90%), one worse model."""
    runs = [("zoo-small", 0, 0.80), ("zoo-small", 1, 0.82), ("zoo-small", 2, 0.84),
            ("bilstm", 0, 0.90), ("majority", 0, 0.509)]
    return [
        example_record(id=f"{model}-s{seed}", model=model, seed=seed,
                    metrics={"accuracy": accuracy, "loss": 0.123456 + seed})
        for model, seed, accuracy in runs
    ]


def _row_of(markdown: str, text: str) -> int:
    """Index of the first table line containing `text`."""
    lines = markdown.splitlines()
    return next(i for i, line in enumerate(lines) if line.startswith("|") and text in line)


def test_render_mean_std_and_order(sentiment_records: list[dict]) -> None:
    markdown = render_markdown(sentiment_records)
    zoo = markdown.splitlines()[_row_of(markdown, "zoo-small")]
    assert "| 3 | 82.0 ± 2.0 |" in zoo  # n, mean ± sample std (ddof=1) in percent
    assert "1.123" in zoo  # mean loss over seeds 0.1235, 1.123, 2.123 with 4 digits
    assert "| 90.0 ± n/a |" in markdown.splitlines()[_row_of(markdown, "bilstm")]
    order = [_row_of(markdown, model) for model in ("bilstm", "zoo-small", "majority")]
    assert order == sorted(order)
    assert markdown.splitlines()[order[0]].startswith("| 1 | bilstm")
    assert "accuracy: higher is better" in markdown


def test_render_references_after_measured_rows(sentiment_records: list[dict]) -> None:
    markdown = render_markdown(sentiment_records)
    last_measured = _row_of(markdown, "majority")
    marker = _row_of(markdown, "published reference results")
    bert = _row_of(markdown, "*BERT-base*")
    assert last_measured < marker < bert
    assert markdown.splitlines()[bert].startswith("| — | *BERT-base*")  # no rank
    assert "| 92.3 |" in markdown.splitlines()[bert]
    assert "GLUE paper" in markdown
    assert "Kim 2014" not in markdown  # test-split references stay out of the dev table


def test_render_lower_is_better() -> None:
    records = [
        example_record(id=f"asr-{model}", task="asr", benchmark="an4", split="test", model=model,
                    metrics={"wer": wer, "cer": wer / 2}, primary_metric="wer",
                    higher_is_better=False)
        for model, wer in (("worse", 0.40), ("better", 0.20))
    ]
    markdown = render_markdown(records)
    assert _row_of(markdown, "better") < _row_of(markdown, "worse") < _row_of(markdown, "ESPnet")
    assert "wer: lower is better" in markdown
    espnet = markdown.splitlines()[_row_of(markdown, "ESPnet")]
    assert "| 7.4 | — | 3.6 |" in espnet  # a published result has no 95% interval


def test_render_text_and_readme(sentiment_records: list[dict], records_dir: Path) -> None:
    text = render_table_text(sentiment_records)
    assert text.splitlines()[1].split()[:4] == ["sentiment", "sst2/dev", "bilstm", "standard"]
    assert "82.0 ± 2.0" in text
    for item in sentiment_records:
        append_record(item, records_dir)
    out = records_dir.parent / "README.md"
    markdown = write_readme(records_dir, out)
    assert out.read_text(encoding="utf-8") == markdown
    assert "do not edit" in markdown.lower() and "zoo leaderboard" in markdown
    assert "82.0 ± 2.0" in markdown


def test_references_for_matches_loosely() -> None:
    assert {ref.model for ref in references_for("vqa", "vqa_rad_mevf")} == {"MEVF+SAN", "MEVF+BAN"}
    assert references_for("vqa", "vqa-rad") == []  # MEVF trained on mevf_split, which rephrases test questions
    an4 = references_for("asr", "an4")
    assert [dict(ref.metrics) for ref in an4] == [{"wer": 0.074, "cer": 0.036}]
    assert references_for("sentiment", "imdb") == []


def test_package_does_not_import_torch() -> None:
    code = "import sys, leaderboard; print(sorted(m for m in sys.modules if 'torch' in m))"
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert result.stdout.strip() == "[]"
