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
from pathlib import Path
from typing import Any

import torch

import zoo
from tasks import TASKS, get_finetune
from tasks.core import pretrained
from tasks.core.contract import config_to_dict, warmup_cosine

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
    """The task Config: the ``preset`` recipe, then ``options`` (Config fields; a dict for a nested one such as
    ``optim`` or ``decoding`` changes only the keys it names), ``backbone`` (``zoo.ModelConfig`` overrides merged
    into ``Config.model``) and ``lr``."""
    module = TASKS[task]
    if preset not in module.PRESETS:
        raise ValueError(f"model.preset: unknown {preset!r} for {task} (known: {', '.join(module.PRESETS)})")
    config = module.PRESETS[preset]()
    changes = dict(options or {})
    unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(config)})
    if unknown:
        raise ValueError(f"model.options: unknown {task} Config field(s) {', '.join(unknown)}")
    for name, value in list(changes.items()):  # a nested Config (optim, decoding): the preset's, these keys changed
        current = getattr(config, name)
        if isinstance(value, Mapping) and dataclasses.is_dataclass(current):
            changes[name] = dataclasses.replace(current, **value)
    if lr is not None:
        changes["optim"] = dataclasses.replace(changes.get("optim", config.optim), lr=lr)
    if backbone:
        changes["model"] = {**config.model, **dict(changes.get("model") or {}), **dict(backbone)}
    if audio_checkpoint:  # loaded by FineTune (tasks.core.pretrained); whisper's weights expect raw log-mel
        if task != "asr":
            raise ValueError(f"model.audio_checkpoint: task {task} has no audio input")
        changes["feature_norm"] = whisper_feature_norm(changes.get("feature_norm"), "model.audio_checkpoint")
    return dataclasses.replace(config, **changes)


def whisper_feature_norm(given: str | None, flag: str) -> str:
    """``none`` (whisper's weights expect raw log-mel): options' ``feature_norm`` may be unset or none."""
    if given not in (None, "none"):
        raise ValueError(f"{flag}: whisper weights expect raw log-mel; drop options feature_norm: {given} "
                         "(it becomes none)")
    return "none"


def _dims(dims: Mapping[str, int]) -> str:
    return (f"width {dims['width']}, {dims['num_heads']} heads, {dims['num_encoder_layers']} + "
            f"{dims['num_decoder_layers']} layers")


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
            init_from: where the weights start (default: from scratch): a zoo checkpoint (same task: every
                weight that fits; another task: the shared backbone, heads re-initialised); whisper:NAME or a
                whisper checkpoint file (asr: the whole model with arch whisper, built at the file's dimensions;
                the audio stem and encoder with arch zoo; feature_norm becomes none); timm:NAME or a timm ViT
                file, .safetensors or .pth (the patch embedding, positions and blocks into the ViT image embedder
                and the encoder where shapes fit). Names download when online (else an error naming the file to
                pass); logs which tensors were loaded and which were not, and why (tasks.core.pretrained).
            image_checkpoint: a local timm ViT file for the image embedder only (patch embedding and positions).
            audio_checkpoint: a local whisper checkpoint file, as init_from (asr; feature_norm becomes none).
            data_info: filled in by zoo from the training data or the checkpoint: the tokenizer, labels,
                answers or feature statistics as JSON (a string, so no YAML round trip changes a vocabulary).
        """
        if not data_info:
            raise ValueError("model.data_info is filled in from the training data or the checkpoint; leave it unset")
        info = json.loads(data_info)
        source = pretrained.resolve(init_from) if init_from else None
        audio = pretrained.read_file(audio_checkpoint, "model.audio_checkpoint") if audio_checkpoint else None
        if audio is not None and audio.kind != "whisper":
            raise ValueError(f"model.audio_checkpoint {audio_checkpoint}: not a whisper checkpoint "
                             "(give other weights as model.init_from)")
        whisper = [s for s in (source, audio) if s is not None and s.kind == "whisper"]
        if len(whisper) > 1:
            raise ValueError("model.init_from and model.audio_checkpoint both name whisper weights; give one")
        if whisper:
            options, backbone, info = self._for_whisper(whisper[0], preset, backbone, options, lr, info)
        same_task = source is not None and source.kind == "zoo" and self._for_zoo_start(source.file, backbone,
                                                                                         options, info)
        if same_task:
            options, backbone, info = same_task
        config = build_config(self.TASK, preset, backbone, options, lr, audio_checkpoint)
        super().__init__(config, info["tokenizer"], **{k: v for k, v in info.items() if k not in INFO_ONLY})
        self.hparams.clear()  # the task Module saved its own; keep this class's init arguments only
        self.save_hyperparameters()
        if whisper or same_task:  # what the start changed, so a checkpoint rebuilds the same model without it
            self.hparams.update(options=options, backbone=backbone, data_info=json.dumps(info))
        self.data_info, self.head_lr = info, head_lr
        self.init_report: dict[str, Any] = {}
        if source is not None and source.kind == "zoo":
            self.init_report = self.load_backbone(init_from)
        elif source is not None and source.kind == "whisper":
            self.init_report = pretrained.load_whisper(self, source)
        elif source is not None:
            self.init_report = pretrained.load_timm(self._vit_net("model.init_from", init_from), source)
        if audio is not None:
            self.init_report["audio_checkpoint"] = pretrained.load_whisper(self, audio, "model.audio_checkpoint")
        if image_checkpoint:
            image = pretrained.read_file(image_checkpoint, "model.image_checkpoint")
            if image.kind != "timm":
                raise ValueError(f"model.image_checkpoint {image_checkpoint}: not a timm ViT state dict")
            self.init_report["image_checkpoint"] = pretrained.load_timm(
                self._vit_net("model.image_checkpoint", image_checkpoint), image, blocks=False,
                flag="model.image_checkpoint")
        self.freeze_groups([freeze] if isinstance(freeze, str) else list(freeze or []))

    # ------------------------------------------------------------ starting points
    def _for_whisper(self, source: pretrained.Source, preset: str, backbone: dict[str, Any] | None,
                     options: dict[str, Any] | None, lr: float | None,
                     info: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]]:
        """options, backbone and data_info for whisper weights: ``feature_norm: none`` (no feature statistics),
        and for ``arch: whisper`` the model built at the file's dimensions; both logged."""
        if self.TASK != "asr":
            raise ValueError(f"model.init_from {source.spec}: whisper weights fit the asr task, not {self.TASK}")
        from tasks.asr.whisper_reference import ARCH_DIMS, architecture

        options = dict(options or {})
        config = build_config(self.TASK, preset, backbone, options, lr, None)
        options["feature_norm"] = whisper_feature_norm(options.get("feature_norm"), f"model.init_from {source.spec}")
        if config.feature_norm != "none":
            LOG.info(f"zoo: feature_norm none: whisper weights ({source.spec}) expect raw log-mel")
        info = {**info, "feature_stats": None} if "feature_stats" in info else info
        if config.arch == "whisper" and source.dims:
            wanted = architecture(source.dims, f"model.init_from {source.label}")
            configured = zoo.preset(config.preset, **config.model)
            have = {name: getattr(configured, name) for name in ARCH_DIMS}
            if have != wanted:
                LOG.info(f"zoo: the whisper model is built at the dimensions of {source.label}: "
                         f"{_dims(wanted)} (configured: {_dims(have)})")
                backbone = {**(backbone or {}), **wanted}
        return options, backbone, info

    def _for_zoo_start(self, path: Path, backbone: dict[str, Any] | None, options: dict[str, Any] | None,
                       info: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None:
        """options, backbone and data_info for a zoo checkpoint of this task (a multi-task run's part for it): the
        start's backbone structure, image grid and text lengths, and a word vocabulary that begins with the start's
        words (``tasks.core.transfer``), so every group it has fits; logged. None for another task's checkpoint."""
        from tasks.core.transfer import extend_vocabulary, start_settings  # deferred: transfer imports this module

        settings, start_tokenizer = start_settings(path, self.TASK)
        if not settings:
            return None
        backbone = {**dict(backbone or {}), **dict(settings.get("model") or {})}
        options = {**dict(options or {}), **{k: v for k, v in settings.items() if k not in ("model", "tokenizer")}}
        own = zoo.tokenizer_from_dict(info["tokenizer"])
        tokenizer = extend_vocabulary(own, start_tokenizer)
        words = f"vocabulary of {tokenizer.vocab_size}, the start's words first" if tokenizer is not own else \
            "this data's tokenizer (not a word vocabulary like the start's)"
        LOG.info(f"zoo: built at the structure of {path}: backbone {backbone}; "
                 f"{', '.join(f'{k} {v}' for k, v in options.items() if k in settings) or 'no other sizes'}; {words}")
        return options, backbone, {**info, "tokenizer": tokenizer.to_dict()}

    def _vit_net(self, flag: str, value: str) -> Any:
        """The backbone whose ViT image embedder takes timm weights; a ValueError when there is none."""
        net = getattr(self, "net", None)
        if not hasattr(getattr(net, "image", None), "timm_updates"):
            raise ValueError(f"{flag} {value}: this {self.TASK} model has no ViT image embedder (timm weights need "
                             "a task with images and image_stem: patch)")
        return net

    def load_backbone(self, path: str) -> dict[str, Any]:
        """Copy the weights of a zoo checkpoint group by group; returns and logs what was and was not loaded.

        A group loads when every one of its tensors exists with the same shape, for text/decoder the tokenizers
        are equal and for the head the label sets (answer vocabularies) are; another task's head is never loaded
        (``tasks.core.transfer.load_groups``, shared with ``zoo bench --init-from``)."""
        from tasks.core.transfer import load_groups  # deferred: transfer imports this module's groups

        classes = [self.data_info.get(k) for k in ("labels", "answers")]
        return load_groups(self, path, self.TASK, self.data_info["tokenizer"], classes)

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
