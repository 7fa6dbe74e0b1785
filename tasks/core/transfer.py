"""Start a task model from another zoo checkpoint, parameter group by parameter group.

Used by ``zoo fit --model.init_from CKPT`` (``FineTune.load_backbone``) and ``zoo bench --init-from`` (any task
``Module``: the groups are named by state-dict prefixes, ``tasks.core.finetune.GROUPS``). A group loads only as a
whole: when every one of its tensors exists in the checkpoint with the same shape, for the token-indexed groups
(text embedder, decoder) the tokenizers are equal, and for the head the label sets (answer vocabularies) are;
another task's head and buffers (``other``) are never loaded. What was and was not loaded is logged and returned,
so a caller can refuse a start that loaded nothing. A multi-task run's checkpoint (``tasks.multitask``: one task
Module per task under ``tasks.<name>.``, the backbone shared) is read through the part of the same task, else its
first part.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

import zoo
from tasks.core.checkpoints import checkpoint_task, load_checkpoint
from tasks.core.contract import config_to_dict
from tasks.core.finetune import TOKENIZER_GROUPS, build_config, group_of

LOG = logging.getLogger(__name__)
BUFFERS = "other"  # state-dict keys outside every parameter group (e.g. the asr feature statistics)


def file_sha256(path: str | Path) -> str:
    """The hex sha256 of a file's bytes (read in chunks); what a record names its start checkpoint by."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def checkpoint_data(checkpoint: Mapping[str, Any]) -> tuple[Any, list[Any]]:
    """The tokenizer (a dict) and ``[labels, answers]`` a zoo checkpoint was trained with: from ``data_info``
    (``zoo fit``) or the hyper-parameters themselves (``zoo bench``); None where it has none."""
    hparams = checkpoint["hyper_parameters"]
    info = json.loads(hparams.get("data_info") or "{}")
    return info.get("tokenizer", hparams.get("tokenizer")), [info.get(k, hparams.get(k)) for k in ("labels", "answers")]


def checkpoint_part(checkpoint: Mapping[str, Any], task: str) -> tuple[str, dict[str, torch.Tensor], Any, list[Any]]:
    """(the task whose weights these are, its state dict, tokenizer, [labels, answers]) of a zoo checkpoint, for a
    model of ``task``: a multi-task checkpoint (``hyper_parameters.tasks``) gives its ``task`` part, else its first."""
    hparams = checkpoint["hyper_parameters"]
    parts = hparams.get("tasks")
    if isinstance(parts, Mapping) and parts and all(isinstance(p, Mapping) for p in parts.values()):
        name = task if task in parts else next(iter(parts))
        prefix = f"tasks.{name}."
        state = {k[len(prefix):]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}
        return name, state, parts[name].get("tokenizer"), [parts[name].get(k) for k in ("labels", "answers")]
    tokenizer, classes = checkpoint_data(checkpoint)
    return checkpoint_task(checkpoint) or "unknown", dict(checkpoint["state_dict"]), tokenizer, classes


def load_groups(module: torch.nn.Module, checkpoint_path: str | Path, task: str, tokenizer: Any,
                classes: Sequence[Any]) -> dict[str, Any]:
    """Copy the groups of the zoo checkpoint at ``checkpoint_path`` that fit ``module`` (a model of ``task`` with
    this ``tokenizer`` dict and ``classes`` = ``[labels, answers]``); log and return what was and was not loaded.

    Returns ``{"task": the checkpoint's task, "loaded": [groups], "not_loaded": {group: reason}}``. A checkpoint
    that is not a zoo checkpoint is a ``CheckpointError`` naming the file; a start that fits nowhere loads nothing
    (the caller decides whether that is an error)."""
    checkpoint = load_checkpoint(checkpoint_path)
    source_task = checkpoint_task(checkpoint) or "unknown"
    part, theirs, source_tokenizer, source_classes = checkpoint_part(checkpoint, task)
    ours = module.state_dict()
    by_group: dict[str, list[str]] = {}
    for name in ours:
        by_group.setdefault(group_of(name), []).append(name)
    loaded: list[str] = []
    skipped: dict[str, str] = {}
    updates: dict[str, torch.Tensor] = {}
    rows = extended_rows(source_tokenizer, tokenizer)  # (start vocabulary, ours) when ours extends the start's
    for group, names in by_group.items():
        fitted = {n: fit_rows(theirs[n], ours[n], rows) for n in names if n in theirs}
        if part != task and group in ("head", BUFFERS):
            skipped[group] = f"re-initialised: a {part} checkpoint" if part == source_task else \
                f"re-initialised: the {source_task} checkpoint's {part} part"
        elif group in TOKENIZER_GROUPS and source_tokenizer != tokenizer and rows is None:
            skipped[group] = "different tokenizer"
        elif group == "head" and list(source_classes) != list(classes):
            skipped[group] = "re-initialised: a different label set or answer vocabulary"
        elif any(fitted.get(n) is None for n in names):
            bad = next(n for n in names if fitted.get(n) is None)
            skipped[group] = (f"{bad} not in the checkpoint" if bad not in theirs else
                              f"{bad} is {tuple(theirs[bad].shape)} there, {tuple(ours[bad].shape)} here")
        else:
            loaded.append(group)
            updates |= fitted
    module.load_state_dict(updates, strict=False)
    reasons = "; ".join(f"{g} ({why})" for g, why in skipped.items()) or "none"
    what = f"{source_task} checkpoint" + ("" if part == source_task else f", its {part} part")
    LOG.info(f"zoo: init from {checkpoint_path} ({what}): loaded {', '.join(loaded) or 'nothing'}; "
             f"not loaded: {reasons}")
    return {"task": source_task, "loaded": loaded, "not_loaded": skipped}


def extended_rows(start: Any, ours: Any) -> tuple[int, int] | None:
    """(start vocabulary size, ours) when both are word vocabularies and ours begins with the start's words in their
    ids (``extend_vocabulary``) and is larger; else None."""
    if not (isinstance(start, Mapping) and isinstance(ours, Mapping)) or \
            not start.get("kind") == ours.get("kind") == "word":
        return None
    theirs, mine = list(start["vocab"]), list(ours["vocab"])
    if len(mine) <= len(theirs) or mine[: len(theirs)] != theirs or start.get("lowercase") != ours.get("lowercase"):
        return None
    return len(theirs), len(mine)


def fit_rows(theirs: torch.Tensor, ours: torch.Tensor, rows: tuple[int, int] | None) -> torch.Tensor | None:
    """The start's tensor as this model's: itself when the shapes are equal; for a token-indexed tensor of an
    extended vocabulary (``rows``), ours with the start's rows in their ids (the new words keep their fresh init);
    None when it does not fit."""
    if theirs.shape == ours.shape:
        return theirs
    if rows is None or theirs.ndim != ours.ndim or theirs.ndim == 0 or theirs.shape[1:] != ours.shape[1:] or \
            (theirs.shape[0], ours.shape[0]) != rows:
        return None
    fitted = ours.detach().clone()
    fitted[: rows[0]] = theirs
    return fitted


def module_data(module: torch.nn.Module) -> tuple[Any, list[Any]]:
    """The tokenizer dict and ``[labels, answers]`` of a task ``Module``, from its saved hyper-parameters."""
    hparams = getattr(module, "hparams", {})
    return hparams.get("tokenizer"), [hparams.get(k) for k in ("labels", "answers")]


def loaded_weights(report: Mapping[str, Any]) -> list[str]:
    """The parameter groups a start really loaded (buffers alone are no transfer)."""
    return [group for group in report["loaded"] if group != BUFFERS]


ADOPTED = ("model", "image_size", "patch_size", "tokenizer")  # Config fields a transfer run takes from its start
# text lengths a task Module turns into its text positions (taken only when the start's ``model`` does not set them)
LENGTHS = ("max_length", "max_question_length", "max_answer_length", "max_target_tokens")


def start_settings(checkpoint_path: str | Path, task: str) -> tuple[dict[str, Any], Any]:
    """(the ``ADOPTED`` Config fields and the ``LENGTHS`` that set its text positions, the tokenizer dict) of the
    zoo checkpoint at ``checkpoint_path`` when it holds a ``task`` model (a ``task`` checkpoint, or a multi-task
    one's ``task`` part); ``({}, None)`` otherwise: another task's structure is not taken."""
    checkpoint = load_checkpoint(checkpoint_path)
    part, _, tokenizer, _ = checkpoint_part(checkpoint, task)
    if part != task:
        return {}, None
    hparams = checkpoint["hyper_parameters"]
    parts = hparams.get("tasks")
    own = parts[task] if isinstance(parts, Mapping) and task in parts else hparams
    config = own.get("config")
    if config is None and "preset" in own:  # a ``zoo fit`` checkpoint keeps what its Config was built from
        config = config_to_dict(build_config(task, own["preset"], own.get("backbone"), own.get("options"),
                                             own.get("lr"), None))
    config = config or {}
    names = ADOPTED + (() if "max_text_positions" in (config.get("model") or {}) else LENGTHS)
    return {name: config[name] for name in names if name in config}, tokenizer


def adopt_start(config: Any, settings: Mapping[str, Any]) -> Any:
    """``config`` with its start's backbone structure (``model``), image grid, text lengths and tokenizer kind, so
    that every group the start has fits this model; fields this task's Config does not have are left out."""
    fields = {f.name for f in dataclasses.fields(config)}
    changes = {name: value for name, value in settings.items() if name in fields and name != "model"}
    if "model" in settings and "model" in fields:
        changes["model"] = {**dict(config.model), **dict(settings["model"])}
    try:
        return dataclasses.replace(config, **changes)
    except ValueError as error:
        raise ValueError(f"--init-from: this task's Config cannot take the start's settings: {error}") from None


def extend_vocabulary(own: Any, start: Mapping[str, Any] | None) -> Any:
    """When both are word vocabularies: the start's words in their ids, then ``own``'s other words (so the start's
    token-indexed rows load, ``load_groups``); else ``own`` unchanged."""
    if not isinstance(own, zoo.WordTokenizer) or not start or start.get("kind") != "word":
        return own
    words = dict.fromkeys(start["vocab"]) | dict.fromkeys(own.vocab)
    return zoo.WordTokenizer(list(words), lowercase=bool(start.get("lowercase", True)))
