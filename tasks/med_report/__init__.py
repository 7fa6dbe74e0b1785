"""Radiology report generation: chest radiograph (+ indication) → findings report.

* Input: ``image`` (B, 3, H, W) and the indication as ``text`` (B, T) with ``text_mask``, fused in one
  encoder; output: a generated report (``target`` (B, T') for teacher forcing).
* Built-in benchmark ``chest-phantom``: procedurally drawn radiographs with known findings and reports
  written from them (``tasks/generators/chest_phantom.py``), deterministic, cached as Arrow (PNG bytes).
* Real benchmarks: ``iu-xray`` (R2Gen layout: ``annotation.json`` with train/val/test lists of
  ``{id, report, image_path: [...]}`` and ``images/``; the first image of a study is used) and
  ``mimic-cxr`` (a CSV with an image path, a report/findings and a split column; paths relative to the CSV).
* Primary metric: BLEU-4, higher is better; also BLEU-1..3, ROUGE-L, CIDEr-D and clinical efficacy over
  chest-radiograph findings (``ce_precision``/``ce_recall``/``ce_f1`` micro over the CheXpert-style labeler's
  findings, ``ce_f1/<finding>`` each). The labeler reads any text as a chest report, so ``Config.clinical``
  switches these metrics: on for the built-in data and every ``zoo bench`` benchmark, off by default when
  fine-tuning on your own data (``tasks/med_report/finetune.py``).

The recipes' measured figures and what was tried: docs/recipes/med_report.md.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tasks.core import seq2seq, seq2seq_task, vision
from tasks.core.contract import Benchmark, Optim, TaskSpec, optional_field
from tasks.core.data import data_source, fingerprint_files, generated_splits
from tasks.generators import chest_phantom
from tasks.med_report import clinical_rules
from tasks.med_report.clinical import ClinicalEfficacy
from tasks.med_report.data import (CSV_COLUMNS, PHANTOM_SEED, PHANTOM_SIZES, check_report, csv_path,
                                   generate_phantoms, read_iu_xray, read_report_csv)
from tasks.metrics.caption import CaptionMetrics
from tasks.metrics.caption_scores import rouge_l_scores
from tasks.metrics.text import coco_tokenize

LOG = logging.getLogger(__name__)

SPEC = TaskSpec(
    name="med_report",
    version="2",
    description="radiograph + indication → report (BLEU-4, ROUGE-L, clinical-efficacy F1)",
    benchmarks=(
        Benchmark("chest-phantom", builtin=True, target=0.3),
        Benchmark("iu-xray", data_hint="an R2Gen IU X-Ray folder: annotation.json (train/val/test lists of "
                                       "{id, report, image_path: [...]}) and images/", target=0.12),
        Benchmark("mimic-cxr", data_hint="a CSV (or a folder with one CSV) with columns image_path, report (or "
                                         "findings), split (train/validate/test); paths relative to the CSV",
                  target=0.08),
    ),
    primary_metric="bleu4",
    higher_is_better=True,
    metrics=("bleu4", "bleu1", "bleu2", "bleu3", "rouge_l", "cider_d", "ce_precision", "ce_recall", "ce_f1"),
    models=("zoo", "majority"),
)


@dataclass(frozen=True)
class Config:
    """Everything a med_report run depends on (saved in checkpoints and records)."""

    benchmark: str = "chest-phantom"
    data_dir: str | None = None  # iu-xray: the R2Gen folder; mimic-cxr: a CSV file or a folder with one CSV
    preset: str = "small"
    model: dict = field(default_factory=dict)  # zoo.ModelConfig overrides
    tokenizer: str = "word"  # "word" (lower-case vocabulary of train reports + indications), "bpe" or "byte"
    image_size: int = 128
    patch_size: int = 16
    use_indication: bool = True  # feed the indication text through the fusion encoder
    max_indication_length: int = 16
    max_length: int = 72  # report tokens including bos/eos
    val_size: int = 200  # held out of train (seeded) when the source has no validation split
    decoding: seq2seq.Decoding = seq2seq.Decoding(num_beams=3, max_new_tokens=70)
    optim: Optim = Optim()
    # the chest-radiograph clinical-efficacy metrics (ce_*): None = auto (on, except when fine-tuning on your own
    # data), True = always, False = never; left out of records and config hashes while None
    clinical: bool | None = optional_field(None)
    # weight of the seed design's auxiliary L_FF term (seq2seq.ff_loss) added to the LM loss; 0 = off, and left
    # out of records and config hashes while 0
    ff_weight: float = optional_field(0.0)

    def __post_init__(self) -> None:
        seq2seq.check_generation_config(self, SPEC.benchmark_names)
        if self.max_length < 3 or self.max_indication_length < 1:
            raise ValueError("max_length must be at least 3 and max_indication_length at least 1")
        if self.clinical is not None and not isinstance(self.clinical, bool):
            raise ValueError(f"clinical must be true, false or null (auto), got {self.clinical!r}")
        if not self.ff_weight >= 0:
            raise ValueError(f"ff_weight: must be >= 0, got {self.ff_weight}")


# ---------------------------------------------------------------- presets (recipes)
def tiny(benchmark: str = "chest-phantom", arch: str = "zoo") -> Config:
    """Seconds on a CPU: the tests' and the ``smoke`` recipe's preset."""
    return Config(benchmark=benchmark, preset="tiny", image_size=32, patch_size=8, max_length=24,
                  decoding=seq2seq.Decoding(num_beams=2, max_new_tokens=8),
                  optim=Optim(lr=3e-3, batch_size=16, max_epochs=1, max_steps=20))


BACKBONE = {"width": 128, "num_encoder_layers": 2, "num_decoder_layers": 2, "num_heads": 4, "dropout": 0.1}


def quick(benchmark: str = "chest-phantom", arch: str = "zoo") -> Config:
    """About 75 s on a 2-core CPU: 500 steps, the image read through the conv stem."""
    return Config(benchmark=benchmark, preset="small", model={**BACKBONE, "image_stem": "conv"}, image_size=64,
                  decoding=seq2seq.Decoding(num_beams=2, max_new_tokens=64),
                  optim=Optim(lr=2e-3, batch_size=32, max_epochs=6, max_steps=500))


def standard(benchmark: str = "chest-phantom", arch: str = "zoo") -> Config:
    """The leaderboard recipe on CPU: about 20 minutes per seed with 2 cores.

    On chest-phantom the image enters through the conv stem (``image_stem="conv"``: 4 stride-2 convs, 8 × 8 cells
    with their x/y centres) for 25 epochs; other benchmarks keep 16-px linear patches for 15 epochs.
    """
    phantom = benchmark == "chest-phantom"
    model = {**BACKBONE, "width": 192, "num_encoder_layers": 4, **({"image_stem": "conv"} if phantom else {})}
    return Config(benchmark=benchmark, preset="small", model=model, max_length=72 if phantom else 100,
                  optim=Optim(lr=1e-3, batch_size=32, max_epochs=25 if phantom else 15))


def gpu(benchmark: str = "chest-phantom", arch: str = "zoo") -> Config:
    """Larger preset and longer schedule for a GPU (bf16-mixed)."""
    return Config(benchmark=benchmark, preset="base", image_size=128 if benchmark == "chest-phantom" else 224,
                  max_length=72 if benchmark == "chest-phantom" else 128,
                  decoding=seq2seq.Decoding(num_beams=3, max_new_tokens=120),
                  optim=Optim(lr=3e-4, batch_size=64, max_epochs=40))


PRESETS = {"smoke": tiny, "quick": quick, "standard": standard, "gpu": gpu}


# ---------------------------------------------------------------- data
_report = check_report  # the name the own-data adapter and older code use


def load_splits(config: Config) -> tuple[dict[str, list[dict]], str]:
    """Split name → rows (``id``, ``image`` bytes or ``image_path``, ``indication``, ``report``) and the fingerprint.

    Real data is fingerprinted by its annotation file (the images are not hashed)."""
    if config.benchmark == "chest-phantom":
        return generated_splits("med_report-chest-phantom", "chest-phantom", chest_phantom.GENERATOR_VERSION,
                                PHANTOM_SEED, PHANTOM_SIZES, generate_phantoms)
    hint = SPEC.benchmark(config.benchmark).data_hint
    if config.benchmark == "mimic-cxr" and config.data_dir and Path(config.data_dir).is_file():
        root: str | Path = Path(config.data_dir)  # the CSV itself
    else:
        root = data_source(config.benchmark, config.data_dir, hint)
    if isinstance(root, str):
        raise ValueError(f"{config.benchmark}: reads a local copy, not a hub id (expected {hint})")
    if config.benchmark == "iu-xray":
        return read_iu_xray(root), fingerprint_files([root / "annotation.json"])
    path = csv_path(root)
    return read_report_csv(path, config.val_size), fingerprint_files([path])


def tokenizer_texts(train: list[dict]) -> list[str]:
    """The texts the tokenizer is built from: the train reports, then their indications."""
    return [r["report"] for r in train] + [r["indication"] for r in train]


def build_tokenizer(kind: str, texts: list[str]) -> Any:
    """The tokenizer of ``kind`` (``word``: the words of ``texts`` seen at least twice)."""
    return seq2seq_task.build_tokenizer(kind, texts, min_freq=2)


class DataModule(seq2seq_task.DataModule):
    """Batches carry ``image``, ``text``/``text_mask`` (indication), ``target``/``target_mask``, ``reference``, ``id``.
    """

    def load(self) -> tuple[dict[str, list[dict]], str]:
        return load_splits(self.config)

    def new_tokenizer(self, train: list[dict]) -> Any:
        return build_tokenizer(self.config.tokenizer, tokenizer_texts(train))

    def target_text(self, example: Mapping[str, Any]) -> str:
        return example["report"]

    def reference(self, example: Mapping[str, Any]) -> str:
        return example["report"]

    def extra_inputs(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        if not self.config.use_indication:
            return {}
        text, text_mask = self.tokenizer.batch_encode([e["indication"] for e in examples],
                                                      max_length=self.config.max_indication_length)
        if text.shape[1] == 0:  # an all-empty batch (IU X-Ray has no indications) is image-only
            return {}
        return {"text": text, "text_mask": text_mask}


# ---------------------------------------------------------------- model
CLINICAL_NOTE = ("zoo: clinical efficacy (ce_precision, ce_recall, ce_f1, ce_f1/<finding>) scores chest-radiograph "
                 "findings only (" + ", ".join(clinical_rules.LABELS) + "), read by a CheXpert-style labeler")


class Module(seq2seq_task.Module):
    """Report generator on the shared backbone: image | indication → fusion encoder → text decoder.

    The clinical-efficacy metrics are computed unless ``config.clinical`` is False (``use_clinical`` switches
    them; the fine-tuning ``Model`` turns them off for own data in auto mode)."""

    CONFIG = Config
    INPUTS = ("image", "text", "text_mask")
    NUM_SHOWN = 3

    def __init__(self, config: Any, tokenizer: Mapping[str, Any]) -> None:
        super().__init__(config, tokenizer)
        self.use_clinical(self.config.clinical is not False)

    def use_clinical(self, enabled: bool) -> None:
        """Compute the chest-radiograph clinical-efficacy metrics (``ce_*``) or leave them out of val and test."""
        self.clinical = enabled
        for metrics in self.metrics.values():
            if enabled and "clinical" not in metrics:
                metrics["clinical"] = ClinicalEfficacy()
            elif not enabled and "clinical" in metrics:
                del metrics["clinical"]

    def on_test_epoch_end(self) -> None:
        """The test metrics and samples, then (when computed) what the ``ce_*`` metrics measure."""
        super().on_test_epoch_end()
        if self.clinical and self.trainer.is_global_zero:
            LOG.info(CLINICAL_NOTE)

    @staticmethod
    def text_positions(config: Config) -> int:
        return max(config.max_length, config.max_indication_length, config.decoding.max_new_tokens + 1)

    @staticmethod
    def new_metrics() -> torch.nn.ModuleDict:
        return torch.nn.ModuleDict({"text": CaptionMetrics(), "clinical": ClinicalEfficacy()})

    @staticmethod
    def update_metrics(metrics: torch.nn.ModuleDict, predictions: list[str], references: list[str],
                       ids: list[str]) -> None:
        metrics["text"].update(predictions, [[r] for r in references], ids=ids)
        if "clinical" in metrics:
            metrics["clinical"].update(predictions, references, ids=ids)

    @staticmethod
    def metric_values(metrics: torch.nn.ModuleDict) -> dict[str, float]:
        values = {}
        for metric in metrics.values():
            values.update(metric.compute())
            metric.reset()
        return {name: float(value) for name, value in values.items()}

    def example_scores(self, predictions: list[str], references: list[str]) -> list[float]:
        return example_scores(predictions, references)

    def sample_line(self, sample: Mapping[str, str]) -> str:
        return f"[{sample['id']}] predicted: {sample['prediction']!r}\n    reference: {sample['reference']!r}"


def example_scores(predictions: list[str], references: list[str]) -> list[float]:
    """Each report's own ROUGE-L against its reference (the per-example score of the prediction rows)."""
    return rouge_l_scores([coco_tokenize(p) for p in predictions], [[coco_tokenize(r)] for r in references])


def score_predictions(rows: list[dict]) -> dict[str, float]:
    """The test metrics recomputed from prediction rows (``prediction``/``reference`` report strings)."""
    return seq2seq_task.score_rows(Module, rows, [r["reference"] for r in rows])


def majority_predictions(train_rows: list[dict], test_rows: list[dict]) -> list[dict]:
    """The most frequent train report, predicted for every test film (the harness's ``--model majority``)."""
    counts = collections.Counter(r["report"] for r in train_rows)
    report = min(counts, key=lambda text: (-counts[text], text))
    scores = example_scores([report] * len(test_rows), [r["report"] for r in test_rows])
    return [{"id": str(r["id"]), "prediction": report, "reference": r["report"], "score": float(score)}
            for r, score in zip(test_rows, scores)]


def majority_baseline(train_rows: list[dict], test_rows: list[dict]) -> dict[str, float]:
    """The metrics of ``majority_predictions``, scored by ``score_predictions``."""
    return score_predictions(majority_predictions(train_rows, test_rows))


def sample_input(example: Mapping[str, Any]) -> dict[str, str]:
    """Gallery input: the film as an inline PNG data URI and the indication."""
    shown = vision.sample_input(example)
    if example.get("indication"):
        shown["text"] = f"Indication: {example['indication']}"
    return shown
