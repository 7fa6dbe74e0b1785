"""Tasks of the zoo: one module per task, each with ``Config``, presets, ``DataModule``, ``Module``, ``SPEC``.

The registry is a literal dict; ``get_task`` turns an unknown name into a one-line ``ValueError``.
"""

from __future__ import annotations

from types import ModuleType

from tasks import asr, captioning, med_report, sentiment, vqa

TASKS: dict[str, ModuleType] = {
    "sentiment": sentiment,
    "asr": asr,
    "captioning": captioning,
    "med_report": med_report,
    "vqa": vqa,
}


def get_task(name: str) -> ModuleType:
    """The task module called ``name``; ``ValueError`` listing the known names otherwise."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r} (known: {', '.join(sorted(TASKS))})")
    return TASKS[name]
