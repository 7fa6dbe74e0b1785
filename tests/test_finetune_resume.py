"""``zoo fit`` killed with SIGKILL mid-epoch resumes with ``--ckpt_path last`` and ends exactly like an uninterrupted
fit: the same final weights, bit for bit, and the same ``zoo test`` metrics."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from benchmarks.cli import main
from tests.conftest import env_without_pytest
from tests.finetune_data import write_reviews

pytestmark = pytest.mark.usefixtures("one_thread")  # the killed subprocess runs on one thread too

ROOT = Path(__file__).resolve().parent.parent
STEPS = 2 * 81  # 2 epochs of 200 rows less the carved-out val and test (161 train rows), 2 a batch


def _args(data: Path, run_dir: Path) -> list[str]:
    return ["--config", str(ROOT / "configs" / "sentiment.yaml"), "--data.path", str(data),
            "--data.columns", "text=review,label=stars", "--data.max_examples", "null", "--data.batch_size", "2",
            "--model.backbone", "{width: 32, num_encoder_layers: 1}", "--trainer.max_epochs", "2",
            "--trainer.default_root_dir", str(run_dir), "--checkpoint.every_n_steps", "5",
            "--trainer.enable_progress_bar", "false", "--trainer.logger", "false"]


def _fit_killed_after_first_checkpoint(args: list[str], last: Path) -> None:
    """Start ``zoo fit`` in a child process, SIGKILL it as soon as ``last.ckpt`` appears (step 5 of 81 in epoch 0)."""
    code = "import sys; from benchmarks.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**env_without_pytest(), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", code, "fit", *args], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not last.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL, f"the fit ended before it was killed: {err[-3000:]}"


def _test_metrics(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """``zoo test --ckpt_path last``: Lightning's printed metric table."""
    capsys.readouterr()
    assert main(["test", *args, "--ckpt_path", "last"]) == 0
    out = capsys.readouterr().out
    assert "test/accuracy" in out, out
    return out.replace(args[args.index("--trainer.default_root_dir") + 1], "RUN")  # where the test rows went


def test_fit_killed_mid_epoch_resumes_with_ckpt_path_last(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_reviews(tmp_path / "reviews.csv", rows=200)
    killed, full = _args(data, tmp_path / "killed"), _args(data, tmp_path / "full")
    last = tmp_path / "killed" / "checkpoints" / "last.ckpt"
    _fit_killed_after_first_checkpoint(killed, last)
    saved = torch.load(last, weights_only=True)
    assert 0 < saved["global_step"] < STEPS
    assert saved["callbacks"]["LastCheckpoint"]["mid_epoch"], saved["global_step"]  # it resumes inside an epoch

    assert main(["fit", *killed, "--ckpt_path", "last"]) == 0
    assert main(["fit", *full]) == 0
    ours = torch.load(last, weights_only=True)
    theirs = torch.load(tmp_path / "full" / "checkpoints" / "last.ckpt", weights_only=True)
    assert ours["global_step"] == theirs["global_step"] == STEPS
    assert ours["state_dict"].keys() == theirs["state_dict"].keys()
    for name, value in ours["state_dict"].items():
        torch.testing.assert_close(value, theirs["state_dict"][name], rtol=0, atol=0, msg=name)
    assert _test_metrics(killed, capsys) == _test_metrics(full, capsys)
