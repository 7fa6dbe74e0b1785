"""Image captioning: image → caption.

* Input: ``image`` (B, 3, H, W); output: a generated caption per image (``target`` (B, T) for teacher forcing).
* Built-in benchmark ``shapes-captions``: rendered scenes of 2–6 shapes with five reference captions each
  (``tasks/generators/shapes_captions.py``), deterministic, cached as Arrow (images as PNG bytes).
  Training sees one (image, caption) pair per image per epoch, cycling through the references in a seeded
  order; evaluation generates one caption per image and scores it against all references.
* Real benchmarks: ``coco-karpathy`` / ``flickr30k`` (a folder with Karpathy's ``dataset_coco.json`` /
  ``dataset_flickr30k.json`` and the images, or a hub id), ``captions-folder`` (``captions.jsonl`` lines
  ``{"image": relative path, "captions": [...], "split": optional}`` beside the images).
* Primary metric: CIDEr-D, higher is better; also BLEU-1..4 and ROUGE-L (COCO definitions).

The recipes' measured figures and what was tried: docs/recipes/captioning.md.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from tasks.captioning.data import (KARPATHY_FILES, SHAPES_SEED, SHAPES_SIZES, CaptionCycle, EpochSampler,
                                   check_captions, generate_shapes, load_hub_captions, read_captions_folder,
                                   read_karpathy)
from tasks.core import seq2seq, seq2seq_task, vision
from tasks.core.contract import Benchmark, Optim, TaskSpec, optional_field
from tasks.core.data import data_source, fingerprint_files, generated_splits
from tasks.generators import shapes_captions
from tasks.metrics.caption import CaptionMetrics
from tasks.metrics.caption_scores import cider_d_scores
from tasks.metrics.text import coco_tokenize

SPEC = TaskSpec(
    name="captioning",
    version="1",
    description="image → caption (CIDEr-D, BLEU-1..4, ROUGE-L)",
    benchmarks=(
        Benchmark("shapes-captions", builtin=True, target=1.0),
        Benchmark("coco-karpathy", data_hint="a folder with Karpathy's dataset_coco.json and the COCO images "
                                             "(train2014/, val2014/), or a hub id", target=0.6),
        Benchmark("flickr30k", data_hint="a folder with Karpathy's dataset_flickr30k.json and images/, or a hub id",
                  target=0.4),
        Benchmark("captions-folder", data_hint='an image folder with captions.jsonl lines {"image": relative path, '
                                               '"captions": [...], "split": train|val|test (optional)}, or a hub id',
                  target=0.5),
    ),
    primary_metric="cider_d",
    higher_is_better=True,
    metrics=("cider_d", "bleu1", "bleu2", "bleu3", "bleu4", "rouge_l"),
    models=("zoo", "majority"),
)


@dataclass(frozen=True)
class Config:
    """Everything a captioning run depends on (saved in checkpoints and records)."""

    benchmark: str = "shapes-captions"
    data_dir: str | None = None  # real benchmarks: a local folder (see the module docstring) or "hub:OWNER/NAME"
    preset: str = "small"
    model: dict = field(default_factory=dict)  # zoo.ModelConfig overrides
    tokenizer: str = "word"  # "word" (lower-case vocabulary of the train captions), "bpe" (GPT-2) or "byte"
    image_size: int = 64
    patch_size: int = 8
    max_length: int = 32  # target tokens including bos/eos
    val_size: int = 500  # held out of train (seeded) when the source has no validation split
    decoding: seq2seq.Decoding = seq2seq.Decoding()
    optim: Optim = Optim()
    # weight of the seed design's auxiliary L_FF term (seq2seq.ff_loss) added to the LM loss; 0 = off, and left
    # out of records and config hashes while 0
    ff_weight: float = optional_field(0.0)

    def __post_init__(self) -> None:
        seq2seq.check_generation_config(self, SPEC.benchmark_names)
        if self.max_length < 3:
            raise ValueError(f"max_length: must be at least 3, got {self.max_length}")
        if not self.ff_weight >= 0:
            raise ValueError(f"ff_weight: must be >= 0, got {self.ff_weight}")


# ---------------------------------------------------------------- presets (recipes)
def tiny(benchmark: str = "shapes-captions", arch: str = "zoo") -> Config:
    """Seconds on a CPU: the tests' and the ``smoke`` recipe's preset."""
    return Config(benchmark=benchmark, preset="tiny", image_size=32, patch_size=8, max_length=16,
                  decoding=seq2seq.Decoding(num_beams=2, max_new_tokens=8),
                  optim=Optim(lr=3e-3, batch_size=16, max_epochs=1, max_steps=20))


BACKBONE = {"width": 128, "num_encoder_layers": 2, "num_decoder_layers": 2, "num_heads": 4, "dropout": 0.1}


def quick(benchmark: str = "shapes-captions", arch: str = "zoo") -> Config:
    """Under a minute on a 2-core CPU: 250 steps, the image read through the conv stem (``image_stem="conv"``)."""
    return Config(benchmark=benchmark, preset="small", model={**BACKBONE, "image_stem": "conv"},
                  decoding=seq2seq.Decoding(num_beams=2, max_new_tokens=24),
                  optim=Optim(lr=2e-3, batch_size=32, max_epochs=3, max_steps=250))


def standard(benchmark: str = "shapes-captions", arch: str = "zoo") -> Config:
    """The leaderboard recipe on CPU: at most about 20 minutes per seed with 2 cores."""
    model = {**BACKBONE, "width": 192, "num_encoder_layers": 4}
    return Config(benchmark=benchmark, preset="small", model=model,
                  image_size=64 if benchmark == "shapes-captions" else 128,
                  patch_size=8 if benchmark == "shapes-captions" else 16,
                  optim=Optim(lr=1e-3, batch_size=64, max_epochs=25))


def gpu(benchmark: str = "shapes-captions", arch: str = "zoo") -> Config:
    """Larger preset and longer schedule for a GPU (bf16-mixed)."""
    builtin = benchmark == "shapes-captions"
    return Config(benchmark=benchmark, preset="base", image_size=64 if builtin else 224,
                  patch_size=8 if builtin else 16, max_length=40,
                  optim=Optim(lr=3e-4, batch_size=128, max_epochs=40 if builtin else 20))


PRESETS = {"smoke": tiny, "quick": quick, "standard": standard, "gpu": gpu}


# ---------------------------------------------------------------- data
_check_captions = check_captions  # the name the own-data adapter and older code use


def load_splits(config: Config) -> tuple[dict[str, list[dict]], str]:
    """Split name → rows (``id``, ``image`` bytes or ``image_path``, ``captions``) and the data fingerprint.

    Real data is fingerprinted by its annotation file (the images are not hashed)."""
    if config.benchmark == "shapes-captions":
        return generated_splits("captioning-shapes", "shapes-captions", shapes_captions.GENERATOR_VERSION,
                                SHAPES_SEED, SHAPES_SIZES, generate_shapes)
    root = data_source(config.benchmark, config.data_dir, SPEC.benchmark(config.benchmark).data_hint)
    if isinstance(root, str):  # a hub id
        return load_hub_captions(root, config.val_size)
    annotation = root / KARPATHY_FILES.get(config.benchmark, "captions.jsonl")
    if config.benchmark == "captions-folder":
        rows = read_captions_folder(root)
    else:
        rows = read_karpathy(root, annotation.name)
    return seq2seq_task.by_split(rows, config.val_size), fingerprint_files([annotation])


def tokenizer_texts(train: list[dict]) -> list[str]:
    """The texts the tokenizer is built from: every train caption."""
    return [c for r in train for c in r["captions"]]


def build_tokenizer(kind: str, texts: list[str]) -> Any:
    """The tokenizer of ``kind`` (``word``: every word of ``texts``)."""
    return seq2seq_task.build_tokenizer(kind, texts, min_freq=1)


class DataModule(seq2seq_task.DataModule):
    """Batches carry ``image``, ``target``, ``target_mask``, ``reference`` (all captions), ``id``; training draws one
    (image, caption) pair per image per epoch (``CaptionCycle``)."""

    def load(self) -> tuple[dict[str, list[dict]], str]:
        return load_splits(self.config)

    def new_tokenizer(self, train: list[dict]) -> Any:
        return build_tokenizer(self.config.tokenizer, tokenizer_texts(train))

    def train_view(self, train: list[dict]) -> CaptionCycle:
        return CaptionCycle(train, self.seed)

    def target_text(self, example: Mapping[str, Any]) -> str:
        return example.get("caption", example["captions"][0])

    def reference(self, example: Mapping[str, Any]) -> list[str]:
        return list(example["captions"])

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        train = self.splits["train"]
        sampler = EpochSampler(len(train), self.seed)
        return torch.utils.data.DataLoader(train, batch_size=self.batch_size, sampler=sampler, collate_fn=self.collate,
                                           **self.loader_kwargs())


# ---------------------------------------------------------------- model
class Module(seq2seq_task.Module):
    """Caption generator on the shared backbone: image tokens → fusion encoder → text decoder."""

    CONFIG = Config
    INPUTS = ("image",)
    NUM_SHOWN = 4

    @staticmethod
    def new_metrics() -> CaptionMetrics:
        return CaptionMetrics()

    @staticmethod
    def update_metrics(metrics: CaptionMetrics, predictions: list[str], references: list[Any], ids: list[str]) -> None:
        metrics.update(predictions, references, ids=ids)

    @staticmethod
    def metric_values(metrics: CaptionMetrics) -> dict[str, float]:
        values = {name: float(value) for name, value in metrics.compute().items()}
        metrics.reset()
        return values

    def rescore_predictions(self) -> None:
        """Per-example CIDEr-D over the whole test corpus (its IDF is corpus-level)."""
        with self.metrics["test"].sync_context(should_sync=self.trainer.world_size > 1):
            records = dict(reversed(list(self.metrics["test"].records)))  # id -> (candidate, references), first wins
        scores = dict(zip(records, cider_d_scores([c for c, _ in records.values()], [r for _, r in records.values()])))
        for row in self.predictions:
            row["score"] = scores.get(row["id"], 0.0)

    def sample_line(self, sample: Mapping[str, str]) -> str:
        return f"[{sample['id']}] predicted: {sample['prediction']!r}\n    references: {sample['reference']}"


def score_predictions(rows: list[dict]) -> dict[str, float]:
    """The test metrics recomputed from prediction rows (``reference``: a caption or a list of captions)."""
    references = [[r["reference"]] if isinstance(r["reference"], str) else list(r["reference"]) for r in rows]
    return seq2seq_task.score_rows(Module, rows, references)


def majority_predictions(train_rows: list[dict], test_rows: list[dict]) -> list[dict]:
    """The most frequent train caption, predicted for every test image (the harness's ``--model majority``)."""
    counts = collections.Counter(c.strip().lower() for r in train_rows for c in r["captions"])
    caption = min(counts, key=lambda c: (-counts[c], c))
    scores = cider_d_scores([coco_tokenize(caption)] * len(test_rows),
                            [[coco_tokenize(c) for c in r["captions"]] for r in test_rows])
    return [{"id": str(r["id"]), "prediction": caption, "reference": list(r["captions"]), "score": float(score)}
            for r, score in zip(test_rows, scores)]


def majority_baseline(train_rows: list[dict], test_rows: list[dict]) -> dict[str, float]:
    """The metrics of ``majority_predictions``, scored by ``score_predictions``."""
    return score_predictions(majority_predictions(train_rows, test_rows))


def sample_input(example: Mapping[str, Any]) -> dict[str, str]:
    """Gallery input: the image as an inline PNG data URI."""
    return vision.sample_input(example)
