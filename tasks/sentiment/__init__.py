"""Sentiment classification: text → label (negative / positive).

* Input: ``text`` (B, T) token ids with ``text_mask``; output: ``label`` (B,) logits over 2 classes.
* Built-in benchmark ``reviews``: a generated compositional review corpus (negation scope,
  intensifiers, contrastive clauses; ``tasks/generators/sentiment_corpus.py``), deterministic, cached as Arrow.
* Real benchmark ``sst2``: a local GLUE-layout folder (``train.tsv``, ``dev.tsv``; dev is the test split)
  or the hub id ``hub:stanfordnlp/sst2`` when online.
* Real benchmark ``imdb``: the Large Movie Review Dataset (``tasks/sentiment/imdb.py``: the aclImdb release, the
  50,000-review CSV split in half by a fixed seed, or ``hub:stanfordnlp/imdb``).
* Recipes and measured figures: ``docs/recipes/sentiment.md``.
* Models: the shared backbone (``arch="zoo"``) or the reference BiLSTM (``arch="bilstm"``).
* Primary metric: accuracy, higher is better; also macro-F1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

import zoo
from tasks.generators import sentiment_corpus
from tasks.core.contract import Benchmark, ConfigDataModule, Optim, TaskModule, TaskSpec, config_to_dict
from tasks.core.data import (data_source, fingerprint_files, fingerprint_params, generated_splits, hold_out,
                             load_hub, require_file)
from tasks.core.inputs import DataError, text_lines
from tasks.metrics.classification import ClassificationScores
from tasks.sentiment import imdb
from tasks.sentiment.bilstm import BiLSTMClassifier

SPEC = TaskSpec(
    name="sentiment",
    version="1",
    description="text → sentiment label (accuracy, macro-F1)",
    benchmarks=(
        Benchmark("reviews", builtin=True, target=0.9),
        Benchmark("sst2", split="dev", data_hint="a GLUE SST-2 folder (train.tsv, dev.tsv) or hub:stanfordnlp/sst2",
                  target=0.8),
        Benchmark("imdb", data_hint=imdb.DATA_HINT, target=0.85),
    ),
    primary_metric="accuracy",
    higher_is_better=True,
    metrics=("accuracy", "macro_f1"),
    models=("zoo", "bilstm"),
)
LABELS = ("negative", "positive")
REVIEWS_SIZES = {"train": 8000, "val": 1000, "test": 2000}
REVIEWS_SEED = 20261129  # the data seed: fixed, independent of the training seed


@dataclass(frozen=True)
class Config:
    """Everything a sentiment run depends on (saved in checkpoints and records)."""

    benchmark: str = "reviews"
    # sst2: a GLUE SST-2 folder or "hub:stanfordnlp/sst2"; imdb: an aclImdb folder, a folder with the review/sentiment
    # CSV (no split: split in half by a fixed seed, which the record's notes say) or "hub:stanfordnlp/imdb"
    data_dir: str | None = None
    arch: str = "zoo"  # "zoo" (shared backbone) or "bilstm" (reference model)
    preset: str = "small"
    model: dict = field(default_factory=dict)  # zoo.ModelConfig overrides, e.g. {"dropout": 0.2}
    tokenizer: str = "word"  # "word" (vocabulary of the train split), "byte" or "bpe"
    max_length: int = 64  # tokens; a longer text is truncated to its first max_length tokens
    val_size: int = 1000  # held out of train (seeded) when the source has no validation split
    optim: Optim = Optim()

    def __post_init__(self) -> None:
        if self.benchmark not in SPEC.benchmark_names:
            raise ValueError(f"benchmark: unknown {self.benchmark!r}; known: {', '.join(SPEC.benchmark_names)}")
        if self.arch not in ("zoo", "bilstm"):
            raise ValueError(f"arch: must be 'zoo' or 'bilstm', got {self.arch!r}")
        if self.tokenizer not in ("word", "byte", "bpe"):
            raise ValueError(f"tokenizer: must be 'word', 'byte' or 'bpe', got {self.tokenizer!r}")
        if self.max_length < 2:
            raise ValueError(f"max_length: must be at least 2, got {self.max_length}")


# ---------------------------------------------------------------- presets (recipes)
def _max_length(benchmark: str, max_length: int = 64) -> int:
    """Tokens per text: imdb's reviews are cut to ``imdb.MAX_TOKENS`` as in its source design."""
    return imdb.MAX_TOKENS if benchmark == "imdb" else max_length


def tiny(benchmark: str = "reviews", arch: str = "zoo") -> Config:
    """Seconds on a CPU: the tests' and the ``smoke`` recipe's preset."""
    return Config(benchmark=benchmark, arch=arch, preset="tiny", model={"num_encoder_layers": 1},
                  max_length=_max_length(benchmark), optim=Optim(lr=3e-3, batch_size=32, max_epochs=1, max_steps=20))


BACKBONE = {"width": 128, "num_encoder_layers": 2, "num_heads": 4, "dropout": 0.1, "text_conv_kernel": 3}


def quick(benchmark: str = "reviews", arch: str = "zoo") -> Config:
    """About a minute on a 2-core CPU; clearly learns."""
    return Config(benchmark=benchmark, arch=arch, preset="small", model=BACKBONE, max_length=_max_length(benchmark),
                  optim=Optim(lr=1e-3, batch_size=64, max_epochs=4, max_steps=400))


# epochs over 8k generated reviews, 67k SST-2 phrases, 24k IMDB reviews (timings: docs/recipes/sentiment.md)
STANDARD_EPOCHS = {"reviews": 10, "sst2": 2, "imdb": 3}


def standard(benchmark: str = "reviews", arch: str = "zoo") -> Config:
    """The leaderboard recipe on CPU: the small backbone with a kernel-3 text conv, AdamW 1e-3 with warm-up and
    cosine decay, epochs per benchmark (``STANDARD_EPOCHS``); the BiLSTM reference gets the same."""
    return Config(benchmark=benchmark, arch=arch, preset="small", model=BACKBONE, max_length=_max_length(benchmark),
                  optim=Optim(lr=1e-3, batch_size=64, max_epochs=STANDARD_EPOCHS.get(benchmark, 10)))


def gpu(benchmark: str = "reviews", arch: str = "zoo") -> Config:
    """Larger preset and longer schedule for a GPU (bf16-mixed)."""
    return Config(benchmark=benchmark, arch=arch, preset="base", max_length=_max_length(benchmark, 128),
                  optim=Optim(lr=3e-4, batch_size=128, max_epochs=10))


PRESETS = {"smoke": tiny, "quick": quick, "standard": standard, "gpu": gpu}


# ---------------------------------------------------------------- data
def _generate_reviews() -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    seen: set[str] = set()
    for offset, (split, size) in enumerate(REVIEWS_SIZES.items()):
        candidates = sentiment_corpus.generate_reviews(size * 2, seed=REVIEWS_SEED + offset)
        fresh = [r for r in candidates if r["text"] not in seen][:size]  # splits never share a text
        seen.update(r["text"] for r in fresh)
        rows[split] = [{"id": f"{split}-{i}", "text": r["text"], "label": r["label"]} for i, r in enumerate(fresh)]
    return rows


def read_glue_tsv(path: Path) -> list[dict]:
    """Rows of a GLUE SST-2 ``sentence\\tlabel`` file (UTF-8). A missing column, a row without two fields, an empty
    sentence, a label other than 0/1 or non-UTF-8 bytes raise ``DataError`` naming file and line (and field)."""
    rows = []
    lines = text_lines(require_file(path, "GLUE SST-2 TSV with columns sentence, label"))
    header = next(lines, (1, ""))[1].split("\t")
    if header[:2] != ["sentence", "label"]:
        raise DataError(f"{path}:1: expected header 'sentence<TAB>label' (columns sentence, label), got {header!r}")
    for line_no, line in lines:
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip():
            raise DataError(f"{path}:{line_no}: expected a non-empty sentence and a label")
        if parts[1] not in ("0", "1"):
            raise DataError(f"{path}:{line_no}: label must be 0 or 1, got {parts[1]!r}")
        rows.append({"id": f"{path.stem}-{line_no}", "text": parts[0].strip(), "label": int(parts[1])})
    return rows


def load_splits(config: Config) -> tuple[dict[str, list[dict]], str]:
    """Split name → rows (``id``, ``text``, ``label``) and the data fingerprint."""
    rows, fingerprint, _ = load_data(config)
    return rows, fingerprint


def load_data(config: Config) -> tuple[dict[str, list[dict]], str, str]:
    """``load_splits`` and a note for the record (how the splits were made where the source has none; else "")."""
    if config.benchmark == "reviews":
        rows, fp = generated_splits("sentiment-reviews", "reviews", sentiment_corpus.GENERATOR_VERSION, REVIEWS_SEED,
                                    REVIEWS_SIZES, _generate_reviews)
        return rows, fp, ""
    source = data_source(config.benchmark, config.data_dir, SPEC.benchmark(config.benchmark).data_hint)
    note = ""
    if config.benchmark == "imdb":
        if isinstance(source, str):
            splits, fp = imdb.load_from_hub(source)
        else:
            splits, fp, note = imdb.load_local(source)
        train, test = splits["train"], splits["test"]
    elif isinstance(source, str):
        train, test, fp = _load_hub_sst2(source)
    else:
        train, test = read_glue_tsv(source / "train.tsv"), read_glue_tsv(source / "dev.tsv")
        fp = fingerprint_files([source / "train.tsv", source / "dev.tsv"])
    train, val = hold_out(train, config.val_size)
    return {"train": train, "val": val, "test": test}, fp, note


def _load_hub_sst2(hub_id: str) -> tuple[list[dict], list[dict], str]:
    ds = load_hub(hub_id)
    def rows(split: str) -> list[dict]:
        return [{"id": f"{split}-{i}", "text": r["sentence"].strip(), "label": int(r["label"])}
                for i, r in enumerate(ds[split])]
    return rows("train"), rows("validation"), fingerprint_params(hub=hub_id, fp=ds["train"]._fingerprint)


def build_tokenizer(kind: str, train_texts: list[str], max_size: int | None = None) -> Any:
    """The ``kind`` tokenizer; a word vocabulary is the train split's words (at most ``max_size`` ids)."""
    if kind == "word":
        return zoo.WordTokenizer.train(train_texts, min_freq=1, max_size=max_size)
    return zoo.ByteTokenizer() if kind == "byte" else zoo.WhisperBPETokenizer()


def vocab_cap(config: Config) -> int | None:
    """The word vocabulary's size limit: imdb's is ``imdb.VOCAB_SIZE`` as in its source design; none elsewhere."""
    return imdb.VOCAB_SIZE if config.benchmark == "imdb" else None


class DataModule(ConfigDataModule):
    """Builds the splits and the tokenizer; batches carry ``text``, ``text_mask``, ``label``, ``id``. ``notes``:
    how the splits were made where the source has none (for the record; "" otherwise)."""

    notes = ""

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        rows, self.fingerprint, self.notes = load_data(self.config)
        self.tokenizer = build_tokenizer(self.config.tokenizer, [r["text"] for r in rows["train"]],
                                         max_size=vocab_cap(self.config))
        self.splits = rows

    def collate(self, examples: list[dict]) -> dict[str, Any]:
        ids, mask = self.tokenizer.batch_encode([e["text"] for e in examples], max_length=self.config.max_length)
        return {"text": ids, "text_mask": mask, "label": torch.tensor([e["label"] for e in examples]),
                "id": [e["id"] for e in examples]}


# ---------------------------------------------------------------- model
class Module(TaskModule):
    """Sentiment classifier on the shared backbone or the reference BiLSTM."""

    def __init__(self, config: Config | Mapping[str, Any], tokenizer: Mapping[str, Any],
                 labels: Sequence[str] = LABELS) -> None:
        if isinstance(config, Mapping):
            from tasks.core.contract import config_from_dict
            config = config_from_dict(Config, config)
        super().__init__(config)
        if len(labels) < 2:
            raise ValueError(f"labels: a classifier needs at least 2 labels, got {list(labels)}")
        self.save_hyperparameters({"config": config_to_dict(config), "tokenizer": dict(tokenizer),
                                   "labels": list(labels)})
        self.labels = tuple(labels)  # class index -> name (LABELS on the benchmarks; a fine-tune's own set)
        self.tokenizer = zoo.tokenizer_from_dict(dict(tokenizer))
        if config.arch == "zoo":
            overrides = {"dropout": 0.1, **config.model}
            self.model_config = zoo.preset(config.preset, vocab_size=self.tokenizer.vocab_size,
                                           num_classes=len(self.labels), num_decoder_layers=0,
                                           max_text_positions=config.max_length, **overrides)
            self.net = zoo.MultimodalModel(self.model_config)
        else:
            self.net = BiLSTMClassifier(self.tokenizer.vocab_size, len(self.labels), pad_id=self.tokenizer.pad_id)
        # id-aware: an example that the distributed sampler repeats to even out the ranks counts once
        self.metrics = torch.nn.ModuleDict({stage: ClassificationScores(len(self.labels)) for stage in ("val", "test")})

    def logits(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """(B, K) class logits (K = len(labels))."""
        if isinstance(self.net, BiLSTMClassifier):
            return self.net(batch["text"], batch["text_mask"])
        return self.net.classify({"text": batch["text"], "text_mask": batch["text_mask"]})

    def step(self, batch: Mapping[str, Any], stage: str) -> torch.Tensor:
        logits = self.logits(batch)
        loss = F.cross_entropy(logits, batch["label"])
        if stage != "train":
            predicted = logits.argmax(-1)
            self.metrics[stage].update(predicted, batch["label"], ids=batch["id"])
            if stage == "test":
                self.add_predictions(batch["id"], [self.labels[i] for i in predicted.tolist()],
                                     [self.labels[i] for i in batch["label"].tolist()],
                                     (predicted == batch["label"]).float().tolist())
        return loss

    def compute_metrics(self, stage: str) -> dict[str, float]:
        values = {name: float(value) for name, value in self.metrics[stage].compute().items()}
        self.metrics[stage].reset()
        return values


def score_predictions(rows: list[dict]) -> dict[str, float]:
    """The test metrics recomputed from prediction rows (``prediction``/``reference`` label names)."""
    index = {name: i for i, name in enumerate(LABELS)}
    try:
        predicted = torch.tensor([index[r["prediction"]] for r in rows])
        target = torch.tensor([index[r["reference"]] for r in rows])
    except KeyError as error:
        raise ValueError(f"prediction row has an unknown label {error}; known: {', '.join(LABELS)}") from None
    return {"accuracy": float(MulticlassAccuracy(len(LABELS), average="micro")(predicted, target)),
            "macro_f1": float(MulticlassF1Score(len(LABELS), average="macro")(predicted, target))}
