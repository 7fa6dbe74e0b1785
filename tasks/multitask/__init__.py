"""Multi-task training: one ``zoo.MultimodalModel`` for every task, one set of backbone weights.

Each task keeps its own Config, DataModule, Module, loss and metrics (``tasks/<task>/``); this package builds them
so that their networks have the same structure, then ties the shared parts to one instance:

* one tokenizer for text in and out: by default a word vocabulary, the union of the tasks' own word vocabularies
  (each built from its train split by the task's own rule), or whisper's GPT-2 BPE (offline);
* one text embedder, image embedder (one image size and patch grid), fusion encoder and text decoder;
* what stays per task: a classification head (sentiment's labels, vqa's answers), asr's audio embedder and CTC head.

``MultiTaskModule`` trains on a mixture of the tasks' training sets: every step is one batch of one task, the task
drawn with probability proportional to (its train size) ** (1 / ``temperature``), its loss scaled by
``loss_weights``. Validation and test run per task (one dataloader each) and log ``val/<task>/<metric>``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

import zoo
import zoo.config
from tasks import get_task
from tasks.core.contract import Optim, TaskModule, batch_size_of, config_to_dict, warmup_cosine
from tasks.multitask.mixture import MixtureLoader, mixture  # noqa: F401  (the package API)

TASKS = ("sentiment", "captioning", "vqa", "med_report", "asr")
POSITIONS = 80  # text positions of the shared embedder and decoder: the longest task text (med_report's 72 tokens)
IMAGE = {"image_size": 64, "patch_size": 8}  # one image grid for captioning, vqa and med_report
# the shared backbone's size per recipe (its other ModelConfig fields: zoo's "small" preset)
BACKBONES = {
    "smoke": {"width": 32, "num_heads": 2, "num_encoder_layers": 1, "num_decoder_layers": 1},
    "quick": {"width": 128, "num_heads": 4, "num_encoder_layers": 2, "num_decoder_layers": 2},
    "standard": {"width": 192, "num_heads": 4, "num_encoder_layers": 3, "num_decoder_layers": 2},
    "gpu": {"width": 384, "num_heads": 6, "num_encoder_layers": 6, "num_decoder_layers": 4},
}
STRUCTURE = ("width", "num_heads", "num_encoder_layers", "num_decoder_layers", "mlp_ratio", "dropout",
             "image_stem", "text_conv_kernel", "tie_text_embeddings", "max_text_positions")
# ModelConfig fields a task's Module passes itself (they may not also come from its Config's ``model``)
OWN_FIELDS = {"sentiment": ("num_decoder_layers", "max_text_positions"), "vqa": ("max_text_positions",),
              "asr": ("max_text_positions",), "captioning": (), "med_report": ()}
SHARED_GROUPS = ("text", "image", "encoder", "decoder")  # MultimodalModel attributes tied across tasks


@dataclass(frozen=True)
class Config:
    """A multi-task run: which tasks, their recipe, the mixture and the shared backbone."""

    tasks: tuple[str, ...] = TASKS
    recipe: str = "smoke"  # each task's data and schedule preset (its built-in benchmark)
    backbone: dict = field(default_factory=dict)  # overrides of BACKBONES[recipe]
    tokenizer: str = "word"  # "word": the union of the tasks' train vocabularies; "bpe": whisper's GPT-2 BPE
    temperature: float = 2.0  # mixture: P(task) ∝ train size ** (1 / temperature); 1: by size, large: uniform
    loss_weights: dict = field(default_factory=dict)  # task → loss weight (default 1)
    optim: Optim = Optim(lr=2e-3, batch_size=32, max_epochs=1, max_steps=60)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", tuple(self.tasks))
        unknown = sorted(set(self.tasks) - set(TASKS)) + sorted(set(self.loss_weights) - set(self.tasks))
        if unknown or not self.tasks:
            raise ValueError(f"tasks: unknown or no task(s) {unknown} (known: {', '.join(TASKS)})")
        if self.recipe not in BACKBONES:
            raise ValueError(f"recipe: unknown {self.recipe!r} (known: {', '.join(BACKBONES)})")
        if self.tokenizer not in ("word", "bpe"):
            raise ValueError(f"tokenizer: must be 'word' or 'bpe', got {self.tokenizer!r}")
        if not self.temperature > 0:
            raise ValueError(f"temperature: must be > 0, got {self.temperature}")

    def shared_model(self) -> dict[str, Any]:
        """Every structural ModelConfig field of the one backbone."""
        full = zoo.config.config_to_dict(zoo.preset("small", **{**BACKBONES[self.recipe], **dict(self.backbone)},
                                                    image_stem="patch", text_conv_kernel=0,
                                                    max_text_positions=POSITIONS))
        return {name: full[name] for name in STRUCTURE}


# all tasks' steps together, and validation every n mixture epochs (once or twice a run); standard fits
# about 45 minutes a seed on 2 CPU cores (docs/recipes/multitask.md)
PRESET_STEPS = {"smoke": 60, "quick": 1500, "standard": 8000, "gpu": 40000}
VAL_EVERY = {"smoke": 1, "quick": 2, "standard": 6, "gpu": 2}


def preset(recipe: str, tasks: Sequence[str] = TASKS) -> Config:
    """The multi-task recipe of that name: the backbone of ``BACKBONES`` and a step budget for all tasks together."""
    batch = 16 if recipe == "smoke" else 32
    return Config(tasks=tuple(tasks), recipe=recipe, temperature=2.0 if recipe == "smoke" else 3.0,
                  optim=Optim(lr=3e-3 if recipe == "smoke" else 1e-3, batch_size=batch, max_epochs=1000,
                              max_steps=PRESET_STEPS[recipe], warmup_fraction=0.05,
                              val_every_n_epochs=VAL_EVERY[recipe]))


def task_config(config: Config, name: str) -> Any:
    """Task ``name``'s Config for this run: its recipe preset on its built-in benchmark, with the shared tokenizer,
    image grid, text lengths and backbone structure (``model``)."""
    task = get_task(name)
    base = task.PRESETS[config.recipe](task.SPEC.benchmarks[0].name, "zoo")
    shared = config.shared_model()
    if name == "vqa" and base.answer_mode == "classify":
        shared.pop("num_decoder_layers")
    model = {k: v for k, v in shared.items() if k not in OWN_FIELDS[name]}
    changes: dict[str, Any] = {"model": model, "optim": dataclasses.replace(base.optim,
                                                                            batch_size=config.optim.batch_size)}
    fields = {f.name for f in dataclasses.fields(base)}
    changes |= {k: v for k, v in IMAGE.items() if k in fields}
    if "tokenizer" in fields:
        changes["tokenizer"] = config.tokenizer
    lengths = {"sentiment": {"max_length": POSITIONS}, "vqa": {"max_question_length": POSITIONS},
               "asr": {"max_target_tokens": POSITIONS}}.get(name, {})
    changes |= lengths
    if name == "asr" and base.decoding.max_new_tokens > POSITIONS:
        changes["decoding"] = dataclasses.replace(base.decoding, max_new_tokens=POSITIONS)
    return dataclasses.replace(base, **changes)


def build(config: Config, seed: int = 0) -> tuple[dict[str, Any], dict[str, TaskModule], dict[str, Any]]:
    """Task Configs, DataModules (set up, all with the one tokenizer) and Modules whose shared groups are one
    instance."""
    configs, datamodules = {}, {}
    for name in config.tasks:
        task = get_task(name)
        configs[name] = task_config(config, name)
        dm = task.DataModule(configs[name], seed=seed, num_workers=0)
        dm.setup("fit")
        dm.batch_size = config.optim.batch_size
        datamodules[name] = dm
    tokenizer = shared_tokenizer(config, [dm.tokenizer for dm in datamodules.values()])
    modules = {}
    for name, dm in datamodules.items():
        dm.tokenizer = tokenizer  # every collate encodes with it (vqa's own is always a word vocabulary)
        modules[name] = get_task(name).Module(configs[name], tokenizer.to_dict(), **dm.module_kwargs())
    tie(modules)
    return configs, datamodules, modules


def shared_tokenizer(config: Config, own: Sequence[Any]) -> Any:
    """The run's one tokenizer: whisper's BPE, or the words of the tasks' own word vocabularies ``own`` in order
    (each vocabulary's words most frequent first, a word once, at its first place)."""
    if config.tokenizer == "bpe":
        return zoo.WhisperBPETokenizer()
    words: dict[str, None] = {}
    for tokenizer in own:
        if not isinstance(tokenizer, zoo.WordTokenizer):
            raise ValueError(f"tokenizer: a task built a {type(tokenizer).__name__}, not a word vocabulary")
        words |= dict.fromkeys(tokenizer.vocab)
    return zoo.WordTokenizer(list(words))


def tie(modules: Mapping[str, TaskModule]) -> None:
    """Make every module's ``SHARED_GROUPS`` one instance (the first module that has the group owns it); a group
    whose tensor shapes differ between tasks is a ``ValueError`` naming both tasks and the first tensor."""
    owners: dict[str, tuple[str, nn.Module]] = {}
    for name, module in modules.items():
        for group in SHARED_GROUPS:
            part = getattr(module.net, group, None)
            if part is None:
                continue
            if group not in owners:
                owners[group] = (name, part)
                continue
            owner, shared = owners[group]
            theirs, ours = shared.state_dict(), part.state_dict()
            for key in sorted(set(theirs) | set(ours)):
                if key not in theirs or key not in ours or theirs[key].shape != ours[key].shape:
                    raise ValueError(f"{group}.{key}: {owner} and {name} build it differently "
                                     f"({tuple(theirs[key].shape) if key in theirs else 'missing'} vs "
                                     f"{tuple(ours[key].shape) if key in ours else 'missing'})")
            setattr(module.net, group, shared)


class MultiTaskModule(pl.LightningModule):
    """The task Modules, sharing one backbone, trained as one: a step runs the drawn task's own ``step``."""

    def __init__(self, config: Config, modules: Mapping[str, TaskModule]) -> None:
        super().__init__()
        self.config = config
        self.tasks = nn.ModuleDict(dict(modules))
        self.order = list(modules)
        self._recalibrated_at = -1
        # plain data only, so the checkpoint loads with weights_only=True (tasks.core.checkpoints)
        self.save_hyperparameters({"task": "multitask", "config": config_to_dict(config),
                                   "tasks": {name: {k: v for k, v in dict(m.hparams).items()}
                                             for name, m in modules.items()}})

    def setup(self, stage: str) -> None:
        for module in self.tasks.values():  # the task Modules read the trainer (world size, rank) in their hooks
            module.trainer = self.trainer

    def num_parameters(self) -> int:
        """Parameters of the whole run, each shared tensor once."""
        return sum(p.numel() for p in self.parameters())

    def training_step(self, batch: tuple[str, Any], batch_idx: int) -> torch.Tensor:
        name, inner = batch
        loss = self.tasks[name].step(fit_images(inner), "train")
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite {name} training loss {loss.item()} at step {self.global_step}")
        self.log(f"train/{name}/loss", loss, batch_size=batch_size_of(inner))
        return loss * float(self.config.loss_weights.get(name, 1.0))

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        trainer = self.trainer
        if batch_idx + 1 == trainer.num_training_batches or 0 < trainer.max_steps <= trainer.global_step:
            self._recalibrate()  # before the epoch's validation, its checkpoint, and a test after fit

    def on_validation_epoch_start(self) -> None:
        if self._recalibrated_at != self.global_step:
            self._recalibrate()

    def _recalibrate(self) -> None:
        """Every task module's ``recalibrate_norms`` (``TaskModule``: statistics kept from the last inputs)."""
        for module in self.tasks.values():
            module.recalibrate_norms()
        self._recalibrated_at = self.global_step

    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self.tasks[self.order[dataloader_idx]].step(fit_images(batch), "val")

    def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self.tasks[self.order[dataloader_idx]].step(fit_images(batch), "test")

    def on_test_epoch_start(self) -> None:
        for module in self.tasks.values():
            module.predictions = []

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("val")

    def on_test_epoch_end(self) -> None:
        for module in self.tasks.values():
            if hasattr(module, "rescore_predictions"):
                module.rescore_predictions()
        self._log_metrics("test")

    def _log_metrics(self, stage: str) -> None:
        for name, module in self.tasks.items():
            for metric, value in module.compute_metrics(stage).items():
                self.log(f"{stage}/{name}/{metric}", float(value), add_dataloader_idx=False)

    def configure_optimizers(self) -> Any:
        """AdamW over every parameter once (no weight decay on norms and biases), warm-up then cosine decay."""
        optim = self.config.optim
        decay, no_decay = [], []
        for name, param in self.named_parameters():
            if param.requires_grad:
                (no_decay if param.ndim < 2 or "norm" in name or "bias" in name else decay).append(param)
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": optim.weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}], lr=optim.lr)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total, optim.warmup_fraction))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def fit_images(batch: Mapping[str, Any]) -> Mapping[str, Any]:
    """``batch`` with its images resized to the shared grid's size (vqa's scenes are drawn at their own size)."""
    images = batch.get("image")
    size = IMAGE["image_size"]
    if not isinstance(images, torch.Tensor) or images.shape[-2:] == (size, size):
        return batch
    resized = torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear", antialias=True,
                                              align_corners=False)
    return {**batch, "image": resized}


def train_sizes(datamodules: Mapping[str, Any]) -> dict[str, int]:
    """Training examples per task (what the mixture weighs)."""
    return {name: max(1, len(dm.splits["train"])) for name, dm in datamodules.items()}


def steps_per_task(probabilities: Mapping[str, float], steps: int) -> dict[str, int]:
    """The expected number of steps each task gets in ``steps``."""
    return {name: math.floor(p * steps + 0.5) for name, p in probabilities.items()}
