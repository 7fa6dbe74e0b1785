"""Shared fixtures: every test runs offline with a private zoo cache.

The Hugging Face switches are read when ``datasets`` and ``huggingface_hub`` are imported, so they are set here,
before any test module imports them, and forced to "1" whatever the caller's environment says."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"
for _module, _names in (("huggingface_hub.constants", ("HF_HUB_OFFLINE",)),
                        ("datasets.config", ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))):
    if _module in sys.modules:  # imported before this file (by a plugin): it has read the switches already
        for _name in _names:
            setattr(sys.modules[_module], _name, True)


@pytest.fixture(scope="session", autouse=True)
def offline_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide ZOO_CACHE (generated sets are built once per session)."""
    cache = tmp_path_factory.mktemp("zoo-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZOO_CACHE", str(cache))
        yield cache


@pytest.fixture()
def records_dir(tmp_path: Path) -> Path:
    """An empty leaderboard records folder for one test."""
    path = tmp_path / "records"
    path.mkdir()
    return path


def env_without_pytest() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}


@pytest.fixture()
def one_thread():
    """torch on one intra-op thread for the test, as the ``OMP_NUM_THREADS=1`` subprocesses it compares with:
    bit-exact comparisons across processes need the same reduction order, which the thread count changes."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
