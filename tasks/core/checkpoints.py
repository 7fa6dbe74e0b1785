"""Safe checkpoint loading: ``torch.load(weights_only=True)`` and one-line errors naming the file.

A zoo checkpoint is a Lightning checkpoint whose ``hyper_parameters`` are plain data (``config``: the task
Config as a dict, ``tokenizer``: a dict, optionally ``answers``/``labels`` lists and ``task``), so it loads without
unpickling any Python object. Every problem is a ``CheckpointError`` (a ``DataError``, so a ``ValueError``):

* not a torch file at all (random bytes, text, empty): "PATH: not a checkpoint (...)";
* a torch file that is truncated or corrupt: "PATH: not a readable torch checkpoint (...)";
* pickled Python objects (a checkpoint saved with whole objects, not only tensors and plain containers): refused,
  naming the first object's class; nothing in it is executed;
* another task's checkpoint: "PATH: a checkpoint of task 'A', not of task 'B'";
* another preset, config or tensor shapes: the field or parameter with both values.

``load_checkpoint`` checks the file and its task/preset; ``check_compatible`` compares its weights with a module;
``check_same_config`` compares its config with a run's (``zoo bench --resume``).
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from tasks.core.inputs import DataError


class CheckpointError(DataError):
    """A checkpoint that cannot be used here; the message names the file and what does not match."""


def _sniff(path: Path) -> None:
    """``CheckpointError`` "not a checkpoint" unless the file starts as ``torch.save`` writes: a zip archive, or
    (the legacy format) a pickle; other bytes would otherwise be misread as refused pickled objects."""
    with path.open("rb") as handle:
        head = handle.read(4)
    if head == b"PK\x03\x04" or (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5):
        return
    size = path.stat().st_size
    raise CheckpointError(f"{path}: not a checkpoint (" + ("an empty file" if not size else
                          f"{size} bytes that are neither a zip archive nor a pickle, the formats torch.save writes")
                          + "); give a .ckpt file that zoo bench or zoo fit wrote")


def _torch_load(path: Path) -> Any:
    _sniff(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        text = str(error)
        if "Weights only load failed" not in text:
            raise CheckpointError(f"{path}: not a readable torch checkpoint ({text.splitlines()[0]})") from None
        found = re.search(r"GLOBAL ([\w.]+)", text) or re.search(r"Unsupported (?:global|operand)[: ]+(\S+)", text)
        what = f" ({found.group(1)})" if found else ""
        raise CheckpointError(
            f"{path}: refused: the file holds pickled Python objects{what}, and checkpoints are loaded with "
            "torch.load(weights_only=True), which runs no pickled code; re-save it with tensors and plain "
            "dicts/lists only (e.g. torch.save(model.state_dict(), path)) if you trust its source") from None
    except Exception as error:  # torch raises many kinds (RuntimeError, EOFError, KeyError...) on a bad file
        detail = f"{type(error).__name__}: {str(error).splitlines()[0]}" if str(error) else type(error).__name__
        raise CheckpointError(f"{path}: not a readable torch checkpoint (truncated or corrupt; {detail})") from None


def checkpoint_task(checkpoint: Mapping[str, Any]) -> str | None:
    """The task a zoo checkpoint belongs to: ``hyper_parameters.task``, else the task whose benchmarks include
    its config's ``benchmark`` and whose Config has every field it saved; None if no task matches."""
    from tasks import TASKS  # deferred: task modules import this one's siblings

    hparams = checkpoint.get("hyper_parameters") or {}
    if isinstance(hparams.get("task"), str):
        return hparams["task"]
    config = hparams.get("config") or {}
    for name, task in TASKS.items():
        fields = set(task.Config.__dataclass_fields__)
        if config.get("benchmark") in task.SPEC.benchmark_names and set(config) <= fields:
            return name
    return None


def _describe(config: Mapping[str, Any]) -> str:
    overrides = config.get("model") or {}
    return f"preset {config.get('preset')!r}" + (f" with {dict(overrides)}" if overrides else "")


def load_checkpoint(path: str | Path, expected_task: str | None = None,
                    expected_preset: str | None = None) -> dict:
    """Load a zoo checkpoint with ``weights_only=True`` and check what it is.

    ``expected_task``: the checkpoint's task must be this one; ``expected_preset``: its config's ``preset`` must
    be this one. Returns the checkpoint dict (``state_dict``, ``hyper_parameters``, Lightning's loop state...).
    Raises ``CheckpointError`` naming the file and, for a mismatch, both tasks or both presets.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    checkpoint = _torch_load(path)
    hparams = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), Mapping) \
            or not isinstance(hparams, Mapping) or not isinstance(hparams.get("config"), Mapping):
        raise CheckpointError(f"{path}: not a zoo checkpoint (expected a Lightning checkpoint with state_dict and "
                              "hyper_parameters.config, as `zoo bench` and `zoo fit` write)")
    task = checkpoint_task(checkpoint)
    if expected_task is not None and task != expected_task:
        raise CheckpointError(f"{path}: a checkpoint of task {task or 'unknown'!r}, not of task {expected_task!r}")
    config = hparams["config"]
    if expected_preset is not None and config.get("preset") != expected_preset:
        raise CheckpointError(f"{path}: a checkpoint of {_describe(config)}, not of preset {expected_preset!r}")
    return checkpoint


def check_compatible(module: torch.nn.Module, checkpoint: Mapping[str, Any], path: str | Path) -> None:
    """``CheckpointError`` unless the checkpoint's ``state_dict`` has exactly ``module``'s parameter names and
    shapes; the message names the first differing parameter with both shapes and both presets."""
    ours = module.state_dict()
    theirs = checkpoint["state_dict"]
    config = checkpoint["hyper_parameters"]["config"]
    mine = getattr(getattr(module, "config", None), "__dict__", {})
    where = f"{path}: {_describe(config)} does not fit this model ({_describe(mine)})"
    for name, tensor in ours.items():
        if name not in theirs:
            raise CheckpointError(f"{where}: parameter {name!r} is missing")
        if tuple(theirs[name].shape) != tuple(tensor.shape):
            raise CheckpointError(f"{where}: parameter {name!r} has shape {tuple(theirs[name].shape)}, "
                                  f"the model expects {tuple(tensor.shape)}")
    extra = sorted(set(theirs) - set(ours))
    if extra:
        raise CheckpointError(f"{where}: unexpected parameter {extra[0]!r}")


def check_same_config(checkpoint: Mapping[str, Any], config: Mapping[str, Any], path: str | Path) -> None:
    """``CheckpointError`` naming the first top-level config field whose value differs (resuming a run with
    another config would silently mix two recipes)."""
    saved = checkpoint["hyper_parameters"]["config"]
    for name in sorted(set(saved) | set(config)):
        if saved.get(name) != config.get(name):
            raise CheckpointError(f"{path}: made with {name}={saved.get(name)!r}, this run has "
                                  f"{name}={config.get(name)!r}; resume with the same recipe and options")
