"""Interrupted runs: SIGTERM and Ctrl-C (SIGINT) stop ``zoo bench``, ``zoo fit`` and ``zoo reproduce`` with exit
status 143 and 130, one line saying where the run stopped and how to continue it, no record and no verdict; after
SIGTERM, ``last.ckpt`` holds the step the run stopped at, and ``--resume`` from it ends exactly like an uninterrupted
run. The signals come from outside once a checkpoint file appears, or, where the moment matters (start-up, a given
step), from the process itself."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from benchmarks.cli import main as zoo_main
from leaderboard.store import read_records
from tests.conftest import env_without_pytest
from tests.finetune_data import write_reviews
from tests.runs import two_step_run
from tests.test_resume import _assert_same_run, _records

pytestmark = pytest.mark.usefixtures("one_thread")  # the interrupted subprocess runs on one thread too

ROOT = Path(__file__).resolve().parent.parent
SELF_SIGNAL = """import os, sys
from tasks.core.contract import TaskModule
from benchmarks.cli import main
signum, step = int(sys.argv[1]), int(sys.argv[2])
original = TaskModule.training_step
def training_step(self, batch, batch_idx):
    if self.global_step == step:  # once: the step is not repeated
        os.kill(os.getpid(), signum)
    return original(self, batch, batch_idx)
TaskModule.training_step = training_step
import benchmarks.definitions as definitions
check_recipe = definitions.check_recipe
def check(recipe):  # step -1: the signal arrives during start-up, before any data or model is built
    if step < 0:
        os.kill(os.getpid(), signum)
    return check_recipe(recipe)
definitions.check_recipe = check
sys.exit(main(sys.argv[3:]))
"""


def _env() -> dict[str, str]:
    return {**env_without_pytest(), "OMP_NUM_THREADS": "1"}


def _bench_argv(root: Path) -> list[str]:
    return ["bench", "sentiment", "--recipe", "smoke", "--records-dir", str(root / "records"),
            "--runs-dir", str(root / "runs"), "--checkpoint-every", "5", "--no-progress"]


def _signal_after_checkpoint(argv: list[str], watch: Path, signum: int) -> tuple[int, str]:
    """Run ``zoo ARGV`` in a child, send it ``signum`` as soon as a ``last.ckpt`` appears under ``watch``;
    return its exit status and stderr."""
    code = "import sys; from benchmarks.cli import main; sys.exit(main(sys.argv[1:]))"
    child = subprocess.Popen([sys.executable, "-c", code, *argv], cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not any(watch.rglob("last.ckpt")) and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert child.poll() is None, "the run ended before it was interrupted"
        child.send_signal(signum)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.returncode, err


def _self_signal(signum: int, step: int, argv: list[str]) -> subprocess.CompletedProcess:
    """Run ``zoo ARGV`` in a child that sends itself ``signum`` when training reaches ``step`` (-1: at start-up)."""
    return subprocess.run([sys.executable, "-c", SELF_SIGNAL, str(signum), str(step), *argv], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=600)


def _one_line(err: str) -> str:
    """The single ``zoo: interrupted`` line of ``err``, which shows no traceback and no Lightning signal line."""
    assert "Traceback" not in err and "Received SIGTERM" not in err, err[-3000:]
    (line,) = [line for line in err.splitlines() if "interrupted" in line.lower()]
    return line


def test_sigterm_stops_bench_with_143_after_saving_the_step_and_resume_ends_like_a_whole_run(tmp_path: Path) -> None:
    killed, full = tmp_path / "killed", tmp_path / "full"
    status, err = _signal_after_checkpoint(_bench_argv(killed), killed / "runs", signal.SIGTERM)
    assert status == 143, err[-3000:]
    match = re.fullmatch(r"zoo: interrupted by SIGTERM at step (\d+) \(training\); last checkpoint: step (\d+), "
                         r"(\S+last\.ckpt); no record written; run the same command with --resume to continue",
                         _one_line(err))
    assert match, err[-3000:]
    step, saved, path = int(match[1]), int(match[2]), Path(match[3])
    assert step == saved >= 5 and torch.load(path, weights_only=True)["global_step"] == step  # no step is lost
    assert _records(killed) == []
    assert zoo_main([*_bench_argv(killed), "--resume"]) == 0
    assert zoo_main(_bench_argv(full)) == 0
    _assert_same_run(killed, full)


def test_ctrl_c_stops_bench_with_130_and_one_line(tmp_path: Path) -> None:
    status, err = _signal_after_checkpoint(_bench_argv(tmp_path), tmp_path / "runs", signal.SIGINT)
    assert status == 130, err[-3000:]
    line = _one_line(err)
    assert re.fullmatch(r"zoo: interrupted by SIGINT at step \d+ \(training\); last checkpoint: step \d+, \S+; "
                        r"no record written; run the same command with --resume to continue", line), line
    assert _records(tmp_path) == []
    (last,) = (tmp_path / "runs").rglob("last.ckpt")
    assert torch.load(last, weights_only=True)["global_step"] % 5 == 0  # the periodic checkpoint, whole


@pytest.mark.parametrize("signum,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_during_start_up_is_one_line(signum: int, status: int, tmp_path: Path) -> None:
    done = _self_signal(signum, -1, _bench_argv(tmp_path))
    assert done.returncode == status, done.stderr[-3000:]
    assert _one_line(done.stderr) == (f"zoo: interrupted by {signal.Signals(signum).name} before training started; "
                                      "no record written; run the same command to continue")
    assert not (tmp_path / "records").exists()


def test_sigterm_stops_fit_with_143_and_names_ckpt_path_last(tmp_path: Path) -> None:
    data = write_reviews(tmp_path / "reviews.csv", rows=200)
    argv = ["fit", "--config", str(ROOT / "configs" / "sentiment.yaml"), "--data.path", str(data),
            "--data.columns", "text=review,label=stars", "--data.batch_size", "2",
            "--model.backbone", "{width: 32, num_encoder_layers: 1}", "--trainer.max_epochs", "2",
            "--trainer.default_root_dir", str(tmp_path / "run"), "--checkpoint.every_n_steps", "5",
            "--trainer.enable_progress_bar", "false", "--trainer.logger", "false"]
    status, err = _signal_after_checkpoint(argv, tmp_path / "run", signal.SIGTERM)
    assert status == 143, err[-3000:]
    match = re.fullmatch(r"zoo: interrupted by SIGTERM at step (\d+) \(training\); last checkpoint: step (\d+), \S+; "
                         r"run the same command with --ckpt_path last to continue", _one_line(err))
    assert match and match[1] == match[2], err[-3000:]
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == int(match[1])


def test_sigterm_during_reproduce_is_no_verdict(tmp_path: Path) -> None:
    record = two_step_run("sentiment", tmp_path / "records", tmp_path / "runs")
    done = _self_signal(signal.SIGTERM, 0, ["reproduce", record["id"], "--records-dir", str(tmp_path / "records")])
    assert done.returncode == 143, done.stderr[-3000:]
    assert "verdict" not in done.stdout
    assert _one_line(done.stderr) == ("zoo: interrupted by SIGTERM at step 1 (training) of the rerun: no verdict; "
                                      "run the same command again")
    assert read_records(tmp_path / "records") == [record]
