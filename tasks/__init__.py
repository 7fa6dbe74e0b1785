"""The tasks of the zoo and their one registry: task name → the package that holds it, imported on first use.

A task package (``tasks/<task>/``) exposes ``SPEC`` (with its benchmarks), ``Config``, presets (``PRESETS``),
``DataModule``, ``Module`` and ``score_predictions``; its ``finetune`` module holds the own-data adapter for
``zoo fit|validate|test|predict``. Adding a task is its folder plus one line in ``PACKAGES``; everything else
(``zoo bench``, ``zoo fit``, ``reproduce``, ``score``, ``perf``, the leaderboard) finds it through ``TASKS``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from types import ModuleType

PACKAGES: dict[str, str] = {
    "sentiment": "tasks.sentiment",
    "asr": "tasks.asr",
    "captioning": "tasks.captioning",
    "med_report": "tasks.med_report",
    "vqa": "tasks.vqa",
}


class Registry(Mapping[str, ModuleType]):
    """A read-only mapping of task name → task package that imports a package only when it is looked up."""

    def __init__(self, packages: Mapping[str, str]) -> None:
        self._packages = packages

    def __getitem__(self, name: str) -> ModuleType:
        return importlib.import_module(self._packages[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._packages)

    def __len__(self) -> int:
        return len(self._packages)


TASKS = Registry(PACKAGES)


def get_task(name: str) -> ModuleType:
    """The task package called ``name``; ``ValueError`` listing the known names otherwise."""
    if name not in PACKAGES:
        raise ValueError(f"unknown task {name!r} (known: {', '.join(sorted(PACKAGES))})")
    return TASKS[name]


def get_finetune(name: str) -> ModuleType:
    """The own-data adapter module of task ``name`` (``<package>.finetune``): ``Model``, ``Data``, ``ADAPTER``."""
    get_task(name)
    return importlib.import_module(f"{PACKAGES[name]}.finetune")
