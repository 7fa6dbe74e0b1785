"""Benchmarks as the harness sees them: each task's ``SPEC.benchmarks`` (a benchmark is a task × a dataset; a recipe
is the task's preset of that name). ``builtin`` benchmarks are generated offline; the others read a local copy
(``--data-dir``) or a hub id (``--data-dir hub:OWNER/NAME``)."""

from __future__ import annotations

from tasks import get_task
from tasks.core.contract import RECIPES, Benchmark

__all__ = ["Benchmark", "check_recipe", "get_benchmark"]


def get_benchmark(task: str, name: str | None) -> Benchmark:
    """The benchmark ``name`` of ``task`` (its built-in one when ``name`` is None), from the task's SPEC."""
    return get_task(task).SPEC.benchmark(name)


def check_recipe(name: str) -> str:
    """``name`` if it is a recipe; ``ValueError`` listing the recipes otherwise."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r} (known: {', '.join(RECIPES)})")
    return name
