"""Shared fixtures: every test runs offline with a private zoo cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def offline_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide ZOO_CACHE (generated sets are built once per session); hubs are off."""
    cache = tmp_path_factory.mktemp("zoo-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZOO_CACHE", str(cache))
        patch.setenv("HF_DATASETS_OFFLINE", "1")
        patch.setenv("HF_HUB_OFFLINE", "1")
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
