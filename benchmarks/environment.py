"""What a record says about where and with what it ran: versions, git state, device, peak memory."""

from __future__ import annotations

import platform
import resource
import subprocess
from importlib import metadata
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTIONS = {
    "torch": "torch", "lightning": "lightning", "torchmetrics": "torchmetrics", "datasets": "datasets",
    "timm": "timm", "whisper": "openai-whisper", "numpy": "numpy", "zoo": "multimodal-task-zoo",
}


def package_versions() -> dict[str, str]:
    """Versions of Python and of every package that can change a number."""
    versions = {"python": platform.python_version()}
    for key, dist in DISTRIBUTIONS.items():
        try:
            versions[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[key] = "not installed"
    return versions


def git_state(root: Path = REPO_ROOT) -> tuple[str, bool]:
    """(commit, dirty) of the checkout the code runs from; ("unknown", False) outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
    return commit, bool(status.strip())


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info(accelerator: str, count: int) -> dict:
    """{"kind", "count", "name"} for the device a run trained on."""
    if accelerator == "cuda" and torch.cuda.is_available():
        return {"kind": "cuda", "count": count, "name": torch.cuda.get_device_name(0)}
    return {"kind": "cpu", "count": count, "name": f"{cpu_name()} ({torch.get_num_threads()} threads)"}


def peak_memory_mb(accelerator: str) -> float:
    """Peak accelerator memory allocated (CUDA), else this process's peak resident set size."""
    if accelerator == "cuda" and torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
