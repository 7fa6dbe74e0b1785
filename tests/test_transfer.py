"""Transfer on the leaderboard: ``zoo bench TASK --init-from CKPT|RECORD_ID`` loads another run's weights group by
group, the record names its start and is a row of its own, ``zoo reproduce`` finds the start again; a start that
fits nothing or cannot be found is a one-line error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from benchmarks.cli import main
from benchmarks.run import Start, resolve_start
from leaderboard.errors import RecordError
from leaderboard.render import render_markdown, render_table_text
from leaderboard.schema import validate_record
from leaderboard.store import read_records
from tasks import TASKS
from tasks.core.checkpoints import load_checkpoint
from tasks.core.transfer import file_sha256, load_groups, module_data
from tests.runs import two_step_run

BYTE = {"tokenizer": "byte"}  # captioning and sentiment then share the text embedder's tokenizer


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("zoo: error: ") and len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """(records dir, runs dir, record) of a two-step captioning smoke run with the byte tokenizer."""
    root = tmp_path_factory.mktemp("source")
    record = two_step_run("captioning", root / "records", root / "runs", overrides=BYTE)
    return root / "records", root / "runs", record


@pytest.fixture(scope="module")
def transfer(source: tuple[Path, Path, dict]) -> tuple[Path, dict, dict]:
    """(records dir, transfer record, scratch record): sentiment from the captioning record via ``zoo bench``
    (smoke recipe, word tokenizer), and the same recipe from scratch, beside the captioning record."""
    records, runs, start = source
    common = ["--recipe", "smoke", "--records-dir", str(records), "--runs-dir", str(runs), "--no-progress"]
    assert main(["bench", "sentiment", *common, "--init-from", start["id"]]) == 0
    assert main(["bench", "sentiment", *common]) == 0
    scratch, made = sorted(read_records(records, task="sentiment"), key=lambda r: "init_from" in r)
    return records, made, scratch


def test_bench_from_a_captioning_record_loads_what_fits_and_names_its_start(
        source: tuple[Path, Path, dict], transfer: tuple[Path, dict, dict]) -> None:
    _, _, start = source
    _, made, scratch = transfer
    entry = made["init_from"]
    assert entry["task"] == "captioning" and entry["record"] == start["id"]
    assert entry["loaded"] == ["encoder"]  # the word tokenizer of sentiment is not captioning's byte tokenizer
    assert entry["not_loaded"] == {"text": "different tokenizer", "head": "re-initialised: a captioning checkpoint"}
    assert entry["checkpoint"].startswith("captioning/shapes-captions/smoke/zoo-tiny-s0/")  # relative to the runs dir
    assert made["model"] == f"zoo-tiny←captioning@{entry['sha256'][:6]}" and scratch["model"] == "zoo-tiny"
    assert made["id"].startswith(f"sentiment-reviews-smoke-zoo-tiny-from-captioning-{entry['sha256'][:6]}-s0-")
    assert made["config_hash"] == scratch["config_hash"]  # the same recipe: only the start differs
    validate_record(made)


def test_the_leaderboard_shows_a_transfer_row_of_its_own(transfer: tuple[Path, dict, dict],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    records, made, scratch = transfer
    lines = render_table_text([made, scratch]).splitlines()
    rows = [line for line in lines if line.startswith("sentiment")]
    assert len(rows) == 2  # not averaged into one row of n=2
    assert any(made["model"] in row and "  1  " in row for row in rows)
    assert any(" zoo-tiny " in row for row in rows)
    assert f"| {made['model']} |" in render_markdown([made, scratch])
    assert main(["score", str(records / made["predictions"])]) == 0  # zoo score works on a transfer record
    assert "exactly the recorded metrics" in capsys.readouterr().out


def test_a_start_whose_tokenizer_fits_also_loads_the_text_embedder(source: tuple[Path, Path, dict],
                                                                   tmp_path: Path) -> None:
    records, runs, start = source
    record = two_step_run("sentiment", tmp_path / "records", tmp_path / "runs", overrides={**BYTE, "max_length": 16},
                          init_from=resolve_start(start["id"], [records], runs))
    assert record["init_from"]["loaded"] == ["text", "encoder"]
    assert record["init_from"]["not_loaded"] == {"head": "re-initialised: a captioning checkpoint"}


def test_a_same_task_checkpoint_loads_every_group_exactly(transfer: tuple[Path, dict, dict], source: tuple,
                                                          tmp_path: Path) -> None:
    runs = source[1]
    path = next(runs.glob("sentiment/reviews/smoke/zoo-tiny-s0/*/checkpoints/last.ckpt"))
    checkpoint = load_checkpoint(path)
    hparams = checkpoint["hyper_parameters"]
    torch.manual_seed(123)  # another init than the checkpoint's
    module = TASKS["sentiment"].Module(hparams["config"], hparams["tokenizer"], labels=hparams["labels"])
    tokenizer, classes = module_data(module)
    report = load_groups(module, path, "sentiment", tokenizer, classes)
    assert report == {"task": "sentiment", "loaded": ["text", "encoder", "head"], "not_loaded": {}}
    ours = module.state_dict()
    assert set(ours) == set(checkpoint["state_dict"])
    assert all(torch.equal(ours[name], tensor) for name, tensor in checkpoint["state_dict"].items())
    record = two_step_run("sentiment", tmp_path / "records", tmp_path / "runs", init_from=resolve_start(
        str(path), [], tmp_path / "runs"))
    assert record["init_from"]["loaded"] == ["text", "encoder", "head"] and record["init_from"]["not_loaded"] == {}
    assert record["init_from"]["checkpoint"] == "last.ckpt" and "record" not in record["init_from"]


def test_a_start_that_fits_nothing_is_a_one_line_error_and_writes_nothing(
        source: tuple[Path, Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, runs, start = source
    path = next(runs.glob("captioning/*/smoke/*/*/checkpoints/last.ckpt"))
    out, scratch_runs = tmp_path / "records", tmp_path / "runs"
    code = main(["bench", "sentiment", "--recipe", "quick", "--init-from", str(path), "--records-dir", str(out),
                 "--runs-dir", str(scratch_runs), "--no-progress"])  # quick: width 128, the checkpoint's 32
    assert code == 2
    err = _one_line_error(capsys)
    assert f"--init-from {path}: nothing of the captioning checkpoint fits this sentiment model" in err
    assert "text (different tokenizer)" in err and "encoder (net.encoder." in err
    assert not out.exists() or not any(out.rglob("*"))
    assert not scratch_runs.exists() or not any(scratch_runs.rglob("*.ckpt"))


@pytest.mark.parametrize("spec,expected", [
    ("no-such-record", "--init-from no-such-record: neither a checkpoint file nor the id of a record in"),
    ("missing/last.ckpt", "--init-from missing/last.ckpt: checkpoint file not found"),
])
def test_an_unknown_start_is_a_one_line_error(spec: str, expected: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "sentiment", "--recipe", "smoke", "--init-from", spec, "--records-dir",
                 str(tmp_path / "records"), "--runs-dir", str(tmp_path / "runs")])
    assert code == 2 and expected in _one_line_error(capsys)


def test_a_record_start_needs_its_run_folder(source: tuple[Path, Path, dict], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    records, _, start = source
    code = main(["bench", "sentiment", "--recipe", "smoke", "--init-from", start["id"], "--records-dir",
                 str(records), "--runs-dir", str(tmp_path / "elsewhere")])
    assert code == 2
    err = _one_line_error(capsys)
    assert f"--init-from {start['id']}: the record's run folder" in err and "give the checkpoint file" in err


def test_reproduce_a_transfer_record_finds_its_start(source: tuple[Path, Path, dict],
                                                     transfer: tuple[Path, dict, dict],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    _, runs, _ = source
    out, made, _ = transfer
    before = _snapshot(out)
    assert main(["reproduce", made["id"], "--records-dir", str(out), "--runs-dir", str(runs)]) == 0
    text = capsys.readouterr().out
    assert f"start: captioning checkpoint {made['init_from']['checkpoint']}" in text and "loaded encoder" in text
    assert "tolerance: exact (0.0)" in text and text.rstrip().splitlines()[-1].startswith("verdict: reproduced")
    assert _snapshot(out) == before


def test_reproduce_without_its_start_is_a_one_line_error(source: tuple[Path, Path, dict],
                                                         transfer: tuple[Path, dict, dict], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    _, runs, _ = source
    out, made, scratch = transfer
    entry = made["init_from"]
    argv = ["reproduce", made["id"], "--records-dir", str(out)]
    assert main([*argv, "--runs-dir", str(tmp_path / "empty")]) == 2
    err = _one_line_error(capsys)
    assert f"cannot reproduce {made['id']}: its start, the captioning checkpoint {entry['checkpoint']}" in err
    assert f"sha256 {entry['sha256'][:12]}" in err and "give it with --init-from CKPT" in err
    other = next(runs.glob("sentiment/reviews/smoke/zoo-tiny-s0/*/checkpoints/last.ckpt"))  # another file
    assert main([*argv, "--runs-dir", str(tmp_path / "empty"), "--init-from", str(other)]) == 2
    assert f"{other} is another file" in _one_line_error(capsys)
    assert main(["reproduce", scratch["id"], "--records-dir", str(out), "--init-from", str(other)]) == 2
    assert "--init-from is only for a transfer record" in _one_line_error(capsys)


def test_reproduce_takes_the_start_again_with_init_from(source: tuple[Path, Path, dict],
                                                        transfer: tuple[Path, dict, dict], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import reproduce as reproduce_module

    _, runs, _ = source
    out, made, _ = transfer
    copy = tmp_path / "start.ckpt"
    shutil.copy(runs / made["init_from"]["checkpoint"], copy)
    seen: list[Start | None] = []
    monkeypatch.setattr(reproduce_module, "run_benchmark", lambda options: seen.append(options.init_from) or 1 / 0)
    with pytest.raises(ZeroDivisionError):  # the start was found: the rerun would begin here
        reproduce_module.reproduce(made["id"], out, init_from=str(copy), runs_dir=tmp_path / "empty")
    assert seen == [Start(copy, file_sha256(copy), made["init_from"]["record"])]


def test_the_schema_checks_the_start(transfer: tuple[Path, dict, dict]) -> None:
    _, made, scratch = transfer
    bad = [
        ({**scratch, "model": made["model"]}, "field 'model': names a start"),
        ({**made, "model": "zoo-tiny"}, "field 'model': must be 'zoo-tiny←captioning@"),
        ({**made, "init_from": {**made["init_from"], "loaded": []}},
         "field 'init_from.loaded': must be a non-empty list"),
        ({**made, "init_from": {**made["init_from"], "sha256": "abc"}}, "field 'init_from.sha256': must be 64 hex"),
        ({**made, "init_from": {**made["init_from"], "checkpoint": "/abs/last.ckpt"}}, "'init_from.checkpoint'"),
        ({**made, "init_from": {**made["init_from"], "colour": 1}}, "field 'init_from.colour': unknown key"),
    ]
    for record, expected in bad:
        with pytest.raises(RecordError) as error:
            validate_record(record)
        assert expected in str(error.value)


def test_a_multitask_checkpoint_starts_a_task_from_its_part(source: tuple[Path, Path, dict],
                                                             transfer: tuple[Path, dict, dict], tmp_path: Path) -> None:
    runs = source[1]
    parts = {name: load_checkpoint(next(runs.glob(f"{name}/*/smoke/zoo-tiny-s0/*/checkpoints/last.ckpt")))
             for name in ("captioning", "sentiment")}  # a multi-task checkpoint's layout: tasks.<name>.<key>
    state = {f"tasks.{name}.{key}": tensor
             for name, part in parts.items() for key, tensor in part["state_dict"].items()}
    hparams = {"task": "multitask", "config": {"recipe": "smoke"},
               "tasks": {name: part["hyper_parameters"] for name, part in parts.items()}}
    path = tmp_path / "multitask.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": hparams}, path)
    sentiment = parts["sentiment"]["hyper_parameters"]
    module = TASKS["sentiment"].Module(sentiment["config"], sentiment["tokenizer"], labels=sentiment["labels"])
    report = load_groups(module, path, "sentiment", *module_data(module))
    assert report == {"task": "multitask", "loaded": ["text", "encoder", "head"], "not_loaded": {}}
    assert all(torch.equal(module.state_dict()[k], v) for k, v in parts["sentiment"]["state_dict"].items())
    record = two_step_run("sentiment", tmp_path / "records", tmp_path / "runs",
                          init_from=resolve_start(str(path), [], tmp_path / "runs"))
    assert record["model"].startswith("zoo-tiny←multitask@") and record["init_from"]["task"] == "multitask"


def test_a_record_finds_its_run_folder_also_in_a_multitask_run(tmp_path: Path) -> None:
    from benchmarks.run_folders import finished_run

    one, other = tmp_path / "a" / "20260101T000000Z-aaaaaa", tmp_path / "b" / "20260101T000000Z-bbbbbb"
    for folder, text in ((one, "rec-1\n"), (other, "rec-2,rec-3\n")):
        folder.mkdir(parents=True)
        (folder / "record_id").write_text(text)
    folders = [tmp_path / "a", tmp_path / "b", tmp_path / "missing"]
    assert finished_run(folders, "rec-1") == one and finished_run(folders, "rec-3") == other
    assert finished_run(folders, "rec") is None
