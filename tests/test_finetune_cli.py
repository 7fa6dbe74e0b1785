"""`zoo fit | test | predict` as a user on their own data meets them: evaluation settings given with --ckpt_path
take effect (others are an error), sizes measured from the data, --print_config showing the result, per-example
test predictions, where a fit left its files, and lines that start on a line of their own."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import pytest
import yaml
from tqdm.std import tqdm

from benchmarks.cli import main
from benchmarks.console import say
from benchmarks.errors import report
from tasks.core.checkpoints import load_checkpoint
from tests.finetune_data import write_captions

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.logger", "false"]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A captioning folder and the run folder of 3 fit steps on it with the shipped config."""
    root = tmp_path_factory.mktemp("captions")
    data, run = write_captions(root / "data"), root / "run"
    assert main(["fit", "--config", str(CONFIGS / "captioning.yaml"), "--data.path", str(data),
                 "--trainer.max_steps", "3", "--trainer.default_root_dir", str(run), *QUIET]) == 0
    return data, run


def _test(data: Path, run: Path, *extra: str) -> int:
    return main(["test", "--config", str(CONFIGS / "captioning.yaml"), "--data.path", str(data), "--ckpt_path",
                 str(run / "checkpoints" / "last.ckpt"), *QUIET, *extra])


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_sizes_are_measured_from_the_data_and_saved(fitted: tuple[Path, Path]) -> None:
    _, run = fitted
    options = load_checkpoint(run / "checkpoints" / "last.ckpt")["hyper_parameters"]["options"]
    assert options["image_size"] == 128 and options["patch_size"] == 16  # not the smoke preset's 32 / 8
    assert 8 <= options["max_length"] <= 64 and options["decoding"]["max_new_tokens"] == options["max_length"] - 1
    assert options["decoding"]["no_repeat_ngram_size"] == 3


def test_flags_win_over_measured_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_captions(tmp_path / "data")
    assert main(["fit", "--config", str(CONFIGS / "captioning.yaml"), "--data.path", str(data), "--print_config",
                 "--model.options", "{image_size: 64, decoding: {num_beams: 1}}"]) == 0
    printed = capsys.readouterr()
    config = yaml.safe_load(printed.out)  # stdout holds the YAML alone: the data's lines went to stderr
    options = config["model"]["options"]
    assert options["image_size"] == 64 and options["patch_size"] == 16
    assert options["decoding"]["num_beams"] == 1 and options["decoding"]["no_repeat_ngram_size"] == 3
    assert config["model"]["lr"] is not None and "sized from your train split" in printed.err


def test_fit_says_where_its_files_are(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert main(["fit", "--config", str(CONFIGS / "sentiment.yaml"), "--data.max_examples", "64",
                 "--trainer.max_steps", "2", "--trainer.default_root_dir", str(run),
                 "--trainer.enable_progress_bar", "false"]) == 0
    out = capsys.readouterr().out
    assert f"zoo: fit done: checkpoint {run}/checkpoints/last.ckpt; config {run}/config.yaml" in out
    assert (run / "config.yaml").is_file() and not list(run.glob("lightning_logs/*/config.yaml"))


def test_evaluation_settings_take_effect_with_a_checkpoint(fitted: tuple[Path, Path], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    data, run = fitted
    assert _test(data, run, "--output", str(tmp_path / "default.jsonl")) == 0
    capsys.readouterr()
    assert _test(data, run, "--output", str(tmp_path / "short.jsonl"), "--model.options",
                 "{decoding: {max_new_tokens: 1, num_beams: 1}}") == 0
    out = capsys.readouterr().out
    assert "changed here: decoding" in out and "max_new_tokens" in out
    default, short = _rows(tmp_path / "default.jsonl"), _rows(tmp_path / "short.jsonl")
    assert [r["id"] for r in default] == [r["id"] for r in short] and default
    assert all(len(r["prediction"].split()) <= 1 for r in short)
    assert any(len(r["prediction"].split()) > 1 for r in default)


@pytest.mark.parametrize(("flag", "value", "names"), [
    ("--model.options", "{image_size: 64}", "--model.options image_size"),
    ("--model.backbone", "{width: 48}", "--model.backbone width"),
    ("--model.preset", "quick", "--model.preset quick"),
])
def test_model_settings_that_cannot_change_are_an_error(fitted: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
                                                         flag: str, value: str, names: str) -> None:
    data, run = fitted
    assert _test(data, run, flag, value) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"zoo: error: {names}")


def test_training_settings_at_test_are_said_to_be_unused(fitted: tuple[Path, Path], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    data, run = fitted
    assert _test(data, run, "--model.lr", "0.5", "--output", str(tmp_path / "p.jsonl")) == 0
    assert "zoo: --model.lr: training settings, not used by test" in capsys.readouterr().err


def test_test_writes_every_example_and_no_needless_warnings(fitted: tuple[Path, Path], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    data, run = fitted
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _test(data, run) == 0
    rows = _rows(run / "test_predictions.jsonl")
    assert rows and {"id", "prediction", "reference", "score"} <= set(rows[0])
    assert f"zoo: wrote {len(rows)} test predictions to {run}/test_predictions.jsonl" in capsys.readouterr().out
    shown = [str(w.message) for w in caught]
    assert not [m for m in shown if "tensorboardX" in m or "callbacks used to create the checkpoint" in m]


def test_messages_start_on_their_own_line_under_a_progress_bar() -> None:
    stream = io.StringIO()
    bar = tqdm(total=10, file=stream, mininterval=0)
    bar.update(3)
    say("zoo: wrote 3 predictions to p.jsonl", stream)
    assert "\rzoo: wrote 3" in stream.getvalue() or "\nzoo: wrote 3" in stream.getvalue()
    bar.update(1)  # the bar redraws below the message
    errors = io.StringIO()
    import sys

    previous, sys.stderr = sys.stderr, errors
    try:
        assert report(ValueError("bad row")) == 2
    finally:
        sys.stderr = previous
    assert errors.getvalue() == "zoo: error: bad row\n" and stream.getvalue().endswith("\r")
    assert bar.disable or bar not in getattr(tqdm, "_instances", [])
