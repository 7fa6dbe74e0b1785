"""On a CUDA device (skipped without one): every task trains in bf16-mixed through the harness and its record names
the GPU; ``zoo perf`` reports CUDA memory and the bf16 model FLOPs utilisation.

Run them on a GPU machine with ``python -m pytest tests -m requires_cuda``. No timing is asserted.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from benchmarks.cli import main
from tasks import TASKS
from tests.runs import two_step_run

pytestmark = [pytest.mark.requires_cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.mark.parametrize("task", sorted(TASKS))
def test_two_bf16_steps_on_cuda_give_a_record_of_the_gpu(task: str, records_dir: Path, tmp_path: Path) -> None:
    record = two_step_run(task, records_dir, tmp_path / "runs", accelerator="cuda", precision="bf16-mixed")
    assert record["device"]["kind"] == "cuda" and record["device"]["count"] == 1
    assert record["device"]["name"] == torch.cuda.get_device_name(0)
    assert record["precision"] == "bf16-mixed"
    assert math.isfinite(record["metrics"][record["primary_metric"]])
    assert record["peak_memory_mb"] > 0 and record["train_samples_per_second"] > 0


def test_perf_on_cuda_reports_gpu_memory_and_mfu(tmp_path: Path) -> None:
    out = tmp_path / "perf.json"
    assert main(["perf", "--quick", "--preset", "tiny", "--device", "cuda", "--tasks", "sentiment",
                 "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["memory"]["cuda_peak_allocated_mb"] > 0
    assert result["mfu"]["achieved_tflops"] > 0 and 0 < result["mfu"]["mfu"] < 1
