"""The fine-tuning LightningModules of ``zoo fit|validate|test|predict``: each task's ``Module`` with simple typed
init arguments (what ``LightningCLI`` parses), starting points, freezing, a head learning rate and ``predict_step``.

``FineTune`` is a mixin placed before the task's ``Module``: it builds the task ``Config`` from a recipe preset plus
overrides, takes the data-dependent ``data_info`` (tokenizer, label set, answer vocabulary, feature statistics;
from the training data, or from the checkpoint in ``validate``/``test``/``predict``) and saves its own init
arguments as hyper-parameters, so a checkpoint rebuilds the same model with the same tokenizer and labels.
The checkpoint's ``hyper_parameters`` also name the ``task`` and its full ``config`` (``tasks.core.checkpoints``).

Parameter groups (for ``freeze``, ``init_from`` and ``head_lr``): ``text``, ``image``, ``audio`` (the embedders;
``embedders`` is all three), ``encoder`` (the fusion encoder), ``decoder``, ``head`` (the classification head and
the asr CTC head). ``head_lr`` applies to ``decoder`` and ``head``: the output side of every task.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from typing import Any

import torch

from tasks import TASKS, get_finetune
from tasks.core.contract import Optim, config_to_dict, warmup_cosine
from tasks.core.checkpoints import checkpoint_task, load_checkpoint

GROUPS = {"text": ("net.text.",), "image": ("net.image.",), "audio": ("net.audio.",),
          "encoder": ("net.encoder.", "net.whisper.encoder.", "net.embedding.", "net.second."),
          "decoder": ("net.decoder.", "net.whisper.decoder."), "head": ("net.head.", "ctc_head.", "net.classifier.")}
ALIASES = {"embedders": ("text", "image", "audio")}
TOKENIZER_GROUPS = ("text", "decoder")  # their tensors are indexed by token ids
OUTPUT_GROUPS = ("decoder", "head")
INFO_ONLY = ("task", "source", "tokenizer")  # data_info keys that are no task Module argument
LOG = logging.getLogger(__name__)


def group_of(name: str) -> str:
    """The parameter group of a state-dict key (``other`` for buffers such as the asr feature statistics)."""
    return next((group for group, prefixes in GROUPS.items() if name.startswith(prefixes)), "other")


def build_config(task: str, preset: str, backbone: Mapping[str, Any] | None, options: Mapping[str, Any] | None,
                 lr: float | None, audio_checkpoint: str | None) -> Any:
    """The task Config: the ``preset`` recipe, then ``options`` (Config fields; ``optim`` as a dict), ``backbone``
    (``zoo.ModelConfig`` overrides merged into ``Config.model``) and ``lr``."""
    module = TASKS[task]
    if preset not in module.PRESETS:
        raise ValueError(f"model.preset: unknown {preset!r} for {task} (known: {', '.join(module.PRESETS)})")
    config = module.PRESETS[preset]()
    changes = dict(options or {})
    unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(config)})
    if unknown:
        raise ValueError(f"model.options: unknown {task} Config field(s) {', '.join(unknown)}")
    optim = {**dataclasses.asdict(config.optim), **dict(changes.pop("optim", None) or {})}
    if lr is not None:
        optim["lr"] = lr
    changes["optim"] = Optim(**optim)
    if backbone:
        changes["model"] = {**config.model, **dict(changes.get("model") or {}), **dict(backbone)}
    if audio_checkpoint:
        if task != "asr":
            raise ValueError(f"model.audio_checkpoint: task {task} has no audio input")
        changes["init_checkpoint"] = audio_checkpoint
    return dataclasses.replace(config, **changes)


class FineTune:
    """Mixin placed before a task's ``Module`` (``tasks/<task>/finetune.py``: ``Model``); subclasses set ``TASK``."""

    TASK = ""

    def __init__(self, preset: str = "smoke", backbone: dict[str, Any] | None = None,
                 options: dict[str, Any] | None = None, lr: float | None = None, head_lr: float | None = None,
                 freeze: str | list[str] | None = None, init_from: str | None = None,
                 image_checkpoint: str | None = None,
                 audio_checkpoint: str | None = None, data_info: str | None = None) -> None:
        """A task model to fine-tune.

        Args:
            preset: the task's recipe preset the Config starts from: smoke (tiny backbone), quick, standard, gpu.
            backbone: backbone size overrides (zoo.ModelConfig fields), e.g. {width: 64, num_encoder_layers: 2}.
            options: other task Config fields, e.g. {max_length: 64, tokenizer: byte, decoding: {num_beams: 1}}.
            lr: learning rate of the backbone (default: the preset's); AdamW, warm-up then cosine decay.
            head_lr: learning rate of the output side (decoder and heads); default: lr.
            freeze: parameter groups not trained: text, image, audio, embedders, encoder, decoder, head
                (a list, or names separated by commas: embedders,encoder).
            init_from: a zoo checkpoint to start from (same task: every weight that fits; another task: the
                shared backbone, heads re-initialised); prints which groups were loaded and which were not.
            image_checkpoint: a local timm ViT checkpoint file for the image patch embedding.
            audio_checkpoint: a local whisper checkpoint file for the audio stem and encoder (asr; needs
                options {feature_norm: none}).
            data_info: filled in by zoo from the training data or the checkpoint: the tokenizer, labels,
                answers or feature statistics as JSON (a string, so no YAML round trip changes a vocabulary).
        """
        if not data_info:
            raise ValueError("model.data_info is filled in from the training data or the checkpoint; leave it unset")
        config = build_config(self.TASK, preset, backbone, options, lr, audio_checkpoint)
        info = json.loads(data_info)
        super().__init__(config, info["tokenizer"], **{k: v for k, v in info.items() if k not in INFO_ONLY})
        self.hparams.clear()  # the task Module saved its own; keep this class's init arguments only
        self.save_hyperparameters()
        self.data_info, self.head_lr = info, head_lr
        self.init_report: dict[str, Any] = {}
        if init_from:
            self.init_report = self.load_backbone(init_from)
        if image_checkpoint:
            if getattr(self.net, "image", None) is None or not hasattr(self.net.image, "load_timm_checkpoint"):
                raise ValueError(f"model.image_checkpoint: this {self.TASK} model has no ViT image embedder")
            report = self.net.image.load_timm_checkpoint(image_checkpoint)
            LOG.info(f"zoo: image tower from {image_checkpoint}: loaded {', '.join(report['loaded']) or 'nothing'}")
        self.freeze_groups([freeze] if isinstance(freeze, str) else list(freeze or []))

    # ------------------------------------------------------------ starting points
    def load_backbone(self, path: str) -> dict[str, Any]:
        """Copy the weights of a zoo checkpoint group by group; returns and logs what was and was not loaded.

        A group loads when every one of its tensors exists with the same shape, for text/decoder the tokenizers
        are equal and for the head the label sets (answer vocabularies) are; another task's head is never loaded."""
        checkpoint = load_checkpoint(path)
        hparams = checkpoint["hyper_parameters"]
        source_task = checkpoint_task(checkpoint) or "unknown"
        info = json.loads(hparams.get("data_info") or "{}")
        source_tokenizer = info.get("tokenizer", hparams.get("tokenizer"))
        source_classes = [info.get(k, hparams.get(k)) for k in ("labels", "answers")]
        classes = [self.data_info.get(k) for k in ("labels", "answers")]
        theirs = dict(checkpoint["state_dict"])
        ours = self.state_dict()
        by_group: dict[str, list[str]] = {}
        for name in ours:
            by_group.setdefault(group_of(name), []).append(name)
        loaded, skipped, updates = [], {}, {}
        for group, names in by_group.items():
            if source_task != self.TASK and group in ("head", "other"):
                skipped[group] = f"re-initialised: a {source_task} checkpoint"
            elif group in TOKENIZER_GROUPS and source_tokenizer != self.data_info["tokenizer"]:
                skipped[group] = "different tokenizer"
            elif group == "head" and source_classes != classes:
                skipped[group] = "re-initialised: a different label set or answer vocabulary"
            elif any(n not in theirs or theirs[n].shape != ours[n].shape for n in names):
                bad = next(n for n in names if n not in theirs or theirs[n].shape != ours[n].shape)
                skipped[group] = (f"{bad} not in the checkpoint" if bad not in theirs else
                                  f"{bad} is {tuple(theirs[bad].shape)} there, {tuple(ours[bad].shape)} here")
            else:
                loaded.append(group)
                updates |= {n: theirs[n] for n in names}
        self.load_state_dict(updates, strict=False)
        reasons = "; ".join(f"{g} ({why})" for g, why in skipped.items()) or "none"
        LOG.info(f"zoo: init from {path} ({source_task} checkpoint): loaded {', '.join(loaded) or 'nothing'}; "
                 f"not loaded: {reasons}")
        return {"task": source_task, "loaded": loaded, "not_loaded": skipped}

    def freeze_groups(self, groups: list[str]) -> None:
        """Stop training the named parameter groups (``requires_grad=False``; left out of the optimizer)."""
        present = sorted({group_of(n) for n, _ in self.named_parameters()} - {"other"})
        for name in [part.strip() for group in groups for part in group.split(",") if part.strip()]:
            if name not in GROUPS and name not in ALIASES:
                raise ValueError(f"model.freeze: unknown group {name!r} (known: {', '.join([*GROUPS, *ALIASES])})")
            expanded = ALIASES.get(name, (name,))
            params = [p for n, p in self.named_parameters() if group_of(n) in expanded]
            if not params:
                raise ValueError(f"model.freeze: this {self.TASK} model has no {name!r} parameters "
                                 f"(it has: {', '.join(present)})")
            for param in params:
                param.requires_grad_(False)

    # ------------------------------------------------------------ training
    def configure_optimizers(self) -> Any:
        """AdamW with the backbone at ``config.optim.lr`` and the output side at ``head_lr``; no weight decay on
        norms and biases; linear warm-up then cosine decay over the run's steps."""
        optim = self.config.optim
        groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
        for name, param in self.named_parameters():
            if param.requires_grad:
                decay = not (param.ndim < 2 or "norm" in name or "bias" in name)
                groups.setdefault((group_of(name) in OUTPUT_GROUPS, decay), []).append(param)
        head_lr = self.head_lr if self.head_lr is not None else optim.lr
        optimizer = torch.optim.AdamW([{"params": params, "lr": head_lr if head else optim.lr,
                                        "weight_decay": optim.weight_decay if decay else 0.0}
                                       for (head, decay), params in groups.items()], lr=optim.lr)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total, optim.warmup_fraction))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Name the task and its full Config in the checkpoint (``tasks.core.checkpoints`` reads them)."""
        checkpoint["hyper_parameters"] = {**checkpoint.get("hyper_parameters", {}), "task": self.TASK,
                                          "config": config_to_dict(self.config)}

    def predict_step(self, batch: Mapping[str, Any], batch_idx: int) -> list[dict]:
        """One row per input: ``id`` and ``prediction`` (sentiment also ``probability``)."""
        rows = get_finetune(self.TASK).ADAPTER.predict(self, batch)
        return [{"id": str(i), **row} for i, row in zip(batch["id"], rows, strict=True)]
