"""The image-to-text task (captioning, med_report) built from the ``seq2seq`` pieces: one ``DataModule`` and one
``Module`` that a task configures, plus the data helpers they share.

A task subclasses both once: the DataModule says where its rows come from, which texts build the tokenizer, which
text is the target and which the reference; the Module names its Config class, the batch keys its encoder reads,
its metrics and how a test sample reads in the log.
Shapes: B batch, T target tokens (with bos/eos), C channels, H x W image.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch

import zoo
from tasks.core import seq2seq, vision
from tasks.core.contract import ConfigDataModule, TaskModule, config_from_dict, config_to_dict
from tasks.core.data import hold_out

LOG = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")


def by_split(rows: list[dict], val_size: int) -> dict[str, list[dict]]:
    """Rows grouped by their ``split`` (popped); rows without one go to train, and when no row is val,
    ``min(val_size, len(train) // 5)`` train rows are held out as val (``hold_out``, seed 0)."""
    splits: dict[str, list[dict]] = {split: [] for split in SPLITS}
    for row in rows:
        splits[row.pop("split", None) or "train"].append(row)
    if not splits["val"]:
        splits["train"], splits["val"] = hold_out(splits["train"], min(val_size, len(splits["train"]) // 5))
    for split, items in splits.items():
        if not items:
            raise ValueError(f"the data has no {split} examples (give rows a 'split' field)")
    return splits


def build_tokenizer(kind: str, texts: list[str], min_freq: int) -> Any:
    """A ``word`` vocabulary of ``texts`` (lower-cased, words seen at least ``min_freq`` times), GPT-2 ``bpe`` or
    ``byte``."""
    if kind == "word":
        return zoo.WordTokenizer.train(texts, min_freq=min_freq, lowercase=True)
    return zoo.WhisperBPETokenizer() if kind == "bpe" else zoo.ByteTokenizer()


def logged(values: Mapping[str, Any]) -> dict[str, float]:
    """Metric values as the harness records them (Lightning logs Python floats as float32 tensors)."""
    return {name: float(torch.tensor(float(value), dtype=torch.float32)) for name, value in values.items()}


class DataModule(ConfigDataModule):
    """Builds the splits and the tokenizer; batches carry ``image`` (B, C, H, W), ``target``/``target_mask`` (B, T),
    ``reference`` and ``id``, plus what ``extra_inputs`` adds."""

    def load(self) -> tuple[dict[str, list[dict]], str]:
        """Split name → rows, and the data fingerprint."""
        raise NotImplementedError

    def new_tokenizer(self, train: Sequence[dict]) -> Any:
        """The tokenizer built from the train rows."""
        raise NotImplementedError

    def target_text(self, example: Mapping[str, Any]) -> str:
        """The text the decoder learns for ``example``."""
        raise NotImplementedError

    def reference(self, example: Mapping[str, Any]) -> Any:
        """What a prediction for ``example`` is scored against (a text or a list of texts)."""
        raise NotImplementedError

    def train_view(self, train: list[dict]) -> Any:
        """The train split as the train loader reads it (the rows themselves by default)."""
        return train

    def extra_inputs(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        """Encoder inputs besides the image (none by default)."""
        return {}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        rows, self.fingerprint = self.load()
        self.tokenizer = self.new_tokenizer(rows["train"])
        self.splits = {**rows, "train": self.train_view(rows["train"])}

    def collate(self, examples: list[dict]) -> dict[str, Any]:
        texts = [self.target_text(e) for e in examples]
        target, target_mask = seq2seq.encode_targets(self.tokenizer, texts, self.config.max_length)
        batch = {"image": vision.batch_images(examples, self.config.image_size), "target": target,
                 "target_mask": target_mask, "reference": [self.reference(e) for e in examples],
                 "id": [str(e["id"]) for e in examples]}
        return {**batch, **self.extra_inputs(examples)}


class Module(TaskModule):
    """Text generator on the shared backbone: the ``INPUTS`` of a batch → fusion encoder → text decoder.

    Checkpoints hold ``net.*`` and save ``config`` and ``tokenizer`` as hyper-parameters; validation decodes
    greedily, test with the Config's ``decoding``."""

    CONFIG: type  # the task's Config class (rebuilt from a checkpoint's dict)
    INPUTS: tuple[str, ...] = ("image",)  # the batch keys the encoder reads
    NUM_SHOWN = 4  # test samples logged after a test

    def __init__(self, config: Any, tokenizer: Mapping[str, Any]) -> None:
        if isinstance(config, Mapping):
            config = config_from_dict(self.CONFIG, config)
        super().__init__(config)
        self.save_hyperparameters({"config": config_to_dict(config), "tokenizer": dict(tokenizer)})
        self.tokenizer = zoo.tokenizer_from_dict(dict(tokenizer))
        self.model_config = zoo.preset(config.preset, **{
            "image_size": config.image_size, "patch_size": config.patch_size, "vocab_size": self.tokenizer.vocab_size,
            "num_classes": 0, "max_text_positions": self.text_positions(config), **config.model})
        self.net = zoo.MultimodalModel(self.model_config)
        self.metrics = torch.nn.ModuleDict({stage: self.new_metrics() for stage in ("val", "test")})
        self.samples: list[dict] = []

    # ------------------------------------------------------------ what a task configures
    @staticmethod
    def text_positions(config: Any) -> int:
        """Text positions the backbone needs: the longest target, or a generated text and its bos."""
        return max(config.max_length, config.decoding.max_new_tokens + 1)

    @staticmethod
    def new_metrics() -> torch.nn.Module:
        """The metric accumulators of one stage."""
        raise NotImplementedError

    @staticmethod
    def update_metrics(metrics: Any, predictions: list[str], references: list[Any], ids: list[str]) -> None:
        """Add a batch of generated texts and their references to ``metrics``."""
        raise NotImplementedError

    @staticmethod
    def metric_values(metrics: Any) -> dict[str, float]:
        """The values accumulated in ``metrics`` (as floats); resets them."""
        raise NotImplementedError

    def example_scores(self, predictions: list[str], references: list[Any]) -> list[float]:
        """Each test prediction's own score (0.0 by default: ``rescore_predictions`` fills it in)."""
        return [0.0] * len(predictions)

    def rescore_predictions(self) -> None:
        """Set the ``score`` of the test prediction rows once the whole test set is seen (nothing by default)."""

    def sample_line(self, sample: Mapping[str, str]) -> str:
        """How one test sample (``id``, ``prediction``, ``reference``) reads in the log."""
        raise NotImplementedError

    # ------------------------------------------------------------ shared
    def generate(self, batch: Mapping[str, Any], decoding: seq2seq.Decoding | None = None) -> list[str]:
        """The generated texts of a batch (with the Config's decoding unless ``decoding`` is given)."""
        inputs = seq2seq.modality_inputs(batch, self.INPUTS)
        return seq2seq.generate_texts(self.net, inputs, self.tokenizer, decoding or self.config.decoding)

    def step(self, batch: Mapping[str, Any], stage: str) -> torch.Tensor:
        inputs = seq2seq.modality_inputs(batch, self.INPUTS)
        loss = seq2seq.lm_loss(self.net, inputs, batch["target"], batch["target_mask"], self.config.ff_weight)
        if stage != "train":
            greedy = dataclasses.replace(self.config.decoding, num_beams=1)
            predictions = seq2seq.generate_texts(self.net, inputs, self.tokenizer,
                                                 self.config.decoding if stage == "test" else greedy)
            self.update_metrics(self.metrics[stage], predictions, batch["reference"], batch["id"])
            if stage == "test":
                self.add_predictions(batch["id"], predictions, batch["reference"],
                                     self.example_scores(predictions, batch["reference"]))
        return loss

    def on_test_epoch_end(self) -> None:
        """Score the prediction rows, log the metrics, then log the first samples."""
        self.rescore_predictions()
        rows = self.predictions
        self.samples = seq2seq.sample_rows([r["id"] for r in rows], [r["prediction"] for r in rows],
                                           [r["reference"] for r in rows])
        super().on_test_epoch_end()
        if self.trainer.is_global_zero:
            for sample in self.samples[:self.NUM_SHOWN]:
                LOG.info(self.sample_line(sample))

    def compute_metrics(self, stage: str) -> dict[str, float]:
        return self.metric_values(self.metrics[stage])


def score_rows(module: type[Module], rows: list[dict], references: list[Any]) -> dict[str, float]:
    """The metrics of ``module``'s task over prediction rows (``references`` in batch form), as recorded."""
    metrics = module.new_metrics()
    module.update_metrics(metrics, [r["prediction"] for r in rows], references, [r["id"] for r in rows])
    return logged(module.metric_values(metrics))
