"""Issue 24, points 4 and 5: outputs and the store are checked before any training (one line, exit 2), a failed
first append leaves no empty file, and the migration makes committed records' data_dir portable."""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path

import pytest

from benchmarks import run as run_module
from benchmarks.cli import main
from leaderboard import store
from leaderboard.schema import config_hash
from leaderboard.store import append_record, read_records
from tests.records import example_record

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import migrate_data_dirs  # noqa: E402


def _refuse_training(*args: object, **kwargs: object) -> None:
    raise AssertionError("the run trained although its outputs cannot be written")


@pytest.fixture()
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_module, "_train_and_test", _refuse_training)


def _bench(records: Path, runs: Path) -> list[str]:
    return ["bench", "sentiment", "--recipe", "smoke", "--no-progress", "--records-dir", str(records),
            "--runs-dir", str(runs)]


def _one_line_error(capsys: pytest.CaptureFixture[str], *parts: str) -> None:
    err = capsys.readouterr().err
    assert err.startswith("zoo: error: ") and len(err.splitlines()) == 1, err
    for part in parts:
        assert part in err, err


def test_records_dir_that_is_a_file_fails_before_training(tmp_path: Path, no_training: None,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    records = tmp_path / "records"
    records.write_text("not a folder\n")
    assert main(_bench(records, tmp_path / "runs")) == 2
    _one_line_error(capsys, f"records dir {records} is a file")
    assert not (tmp_path / "runs").exists()


def test_unwritable_records_and_runs_dirs_fail_before_training(tmp_path: Path, no_training: None,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert main(_bench(blocker / "records", tmp_path / "runs")) == 2
    _one_line_error(capsys, f"records dir {blocker / 'records'} cannot be created: {blocker} is a file")
    assert main(_bench(tmp_path / "records", blocker / "runs")) == 2
    _one_line_error(capsys, f"runs dir {blocker / 'runs'} cannot be created")
    assert not (tmp_path / "records").exists()


def test_read_only_records_dir_fails_before_training(tmp_path: Path, no_training: None,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    records = tmp_path / "records"
    records.mkdir()
    records.chmod(0o555)
    try:
        if os.access(records, os.W_OK):
            pytest.skip("chmod does not stop writes here (root)")
        assert main(_bench(records, tmp_path / "runs")) == 2
        _one_line_error(capsys, f"records dir {records} is not writable")
    finally:
        records.chmod(0o755)


def test_a_corrupt_store_fails_before_training(tmp_path: Path, no_training: None,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    records = tmp_path / "records"
    records.mkdir()
    (records / "vqa.jsonl").write_text("{not json\n")
    assert main(_bench(records, tmp_path / "runs")) == 2
    _one_line_error(capsys, str(records / "vqa.jsonl"), "line 1")


def test_a_failed_first_append_leaves_no_empty_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(fd: int, line: bytes, restore_size: int) -> None:
        os.ftruncate(fd, restore_size)
        raise OSError(errno.ENOSPC, "No space left on device")

    good = example_record(id="first")
    append_record(good, tmp_path / "kept")
    before = (tmp_path / "kept" / "sentiment.jsonl").read_bytes()
    monkeypatch.setattr(store, "_write_line", disk_full)
    with pytest.raises(OSError, match="No space"):
        append_record(example_record(id="lost"), tmp_path / "new")
    assert not (tmp_path / "new" / "sentiment.jsonl").exists()
    with pytest.raises(OSError, match="No space"):
        append_record(example_record(id="second"), tmp_path / "kept")
    assert (tmp_path / "kept" / "sentiment.jsonl").read_bytes() == before


def test_migration_makes_data_dirs_portable_and_keeps_ids_and_metrics(tmp_path: Path) -> None:
    root = str(tmp_path / "data")  # the data root of the machine that made the record
    config = {**example_record()["config"], "data_dir": f"{root}/sst2"}
    machine = example_record(id="real", benchmark="sst2", config=config, config_hash="0" * 16)
    generated = example_record(id="generated")
    records = tmp_path / "records"
    records.mkdir()
    path = records / "sentiment.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (machine, generated)))
    assert migrate_data_dirs.main(["--records-dir", str(records), "--data-root", root]) == 0
    real, same = read_records(records)
    assert (real["id"], real["metrics"]) == (machine["id"], machine["metrics"])
    assert real["config"]["data_dir"] == "sst2" and real["config_hash"] == config_hash(real["config"])
    assert f"{root}/sst2" in real["notes"] and same == generated
    once = path.read_bytes()
    migrate_data_dirs.main(["--records-dir", str(records)])
    assert path.read_bytes() == once  # a second run changes nothing


def test_committed_records_hold_no_machine_paths() -> None:
    for record in read_records(store.PUBLISHED_DIR):
        data_dir = record["config"].get("data_dir")
        assert not data_dir or not Path(data_dir).is_absolute(), record["id"]
        assert record["config_hash"] == config_hash(record["config"]), record["id"]


PREMOVE_SENTIMENT = Path(__file__).resolve().parent / "fixtures" / "premove" / "sentiment.ckpt"


def _predict(tmp_path: Path, output: Path) -> list[str]:
    texts = tmp_path / "texts.txt"
    texts.write_text("a fine film\nthe plot was dull\n", encoding="utf-8")
    return ["predict", "--task", "sentiment", "--ckpt_path", str(PREMOVE_SENTIMENT), "--data.predict", str(texts),
            "--output", str(output), "--trainer.enable_progress_bar", "false", "--trainer.logger", "false",
            "--trainer.default_root_dir", str(tmp_path / "run")]


def test_predict_output_under_a_file_fails_before_predicting(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file\n")
    assert main(_predict(tmp_path, blocker / "predictions.jsonl")) == 2
    _one_line_error(capsys, "--output folder", str(blocker))


def test_a_failed_predictions_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    def full_disk(self: Path, *args: object, **kwargs: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    output = tmp_path / "out" / "predictions.jsonl"
    argv = _predict(tmp_path, output)
    monkeypatch.setattr(Path, "write_text", full_disk)
    assert main(argv) == 2
    _one_line_error(capsys, str(output), os.strerror(errno.ENOSPC))
    assert not output.exists() and list(output.parent.iterdir()) == []
