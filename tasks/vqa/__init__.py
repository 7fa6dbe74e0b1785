"""Visual question answering: image + question → answer.

* Input: ``image`` (B, 3, H, W) float in [0, 1], the question as ``text`` (B, T) with ``text_mask``; output: logits over
  the train answer vocabulary (``answer_mode="classify"``, the backbone's classification head) or the answer
  decoded as text (``answer_mode="generate"``, the decoder). ``question_input="encoding"`` feeds Sort-of-CLEVR's
  11-dim question vector as special tokens (``bit0 bit6 bit8``) instead of the sentence.
* Built-in benchmark ``sort-of-clevr`` (``tasks/generators/sort_of_clevr.py``): 9,800 train / 200 test scenes,
  20 questions each; 200 train scenes are held out as val. Real: ``vqa-rad`` (OSF release, official split),
  ``vqa-rad-mevf`` (the same test questions, trained on ``mevf_split/``: MEVF's protocol, whose train file holds
  rephrasings of test questions), ``vqav2`` (official json layout or a hub id). Loaders in ``tasks/vqa/data.py``.
* The answer vocabulary is the train answers (most frequent first, at most ``max_answers``), saved in the checkpoint;
  a test answer outside it cannot be predicted and counts as wrong (it is still scored, never an error; a warning
  says how many val/test answers that is).
* Primary metric: accuracy (exact match after ``normalize_exact``), higher is better; per group relational /
  nonrelational (sort-of-clevr) or closed / open (vqa-rad, vqa-rad-mevf). On vqav2 ``accuracy`` is the VQA
  accuracy over the ten human answers (also reported as ``vqa_accuracy``), normalised as the current official
  script does (``tasks/vqa/metric.py`` compares it with the 2016 script and the normalise-always variant).
* Curriculum: the first ``nonrelational_warmup_epochs`` epochs (fractions allowed) sample non-relational questions
  only (``WarmupSampler``); without it the model answers from whole-image statistics (docs/sort-of-clevr.md).

* ``scene_batch=True`` (classify only): a batch is B images, each with all its questions packed in one sequence
  (``tasks/vqa/scenes.py``); the batch size counts images. ``image_stem="conv"`` in ``model`` gives the backbone a
  small CNN stem with x/y coordinates (one token per 15×15 cell of a 75-px scene); ``"coordconv"`` (the
  sort-of-clevr recipes) also gives its first conv each pixel's x/y, so a cell can say where its object lies.
* ``question_tokens="summary"`` (classify): each question enters the fusion encoder as one token, the mean of its
  embedded words, and is answered at that token (``Module.summary_logits``); ``"words"``: a fused token per word,
  the answer read from their mean (in scene batches and one-question batches alike; the image tokens are context).
* ``answer_options="question"`` (classify): a question allows only the answers it names (``tasks/vqa/options.py``:
  the options of an "or" question, else "yes"/"no" after a leading auxiliary verb); the prediction is the best
  allowed answer. Training is unchanged (cross-entropy over the whole vocabulary). ``"all"``: any answer.
"""

from __future__ import annotations

import base64
import io
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import zoo
from tasks.core import seq2seq
from tasks.core.contract import (Benchmark, ConfigDataModule, Optim, TaskModule, TaskSpec, config_from_dict,
                                 config_to_dict)
from tasks.core.data import data_source
from tasks.core.inputs import log_once
from tasks.vqa import data as vqa_data
from tasks.vqa import scenes as vqa_scenes
from tasks.vqa.metric import ExactMatchAccuracy, VQAAccuracy
from tasks.vqa.options import OptionIndex
from tasks.vqa.scoring import (GROUP_METRICS, example_score, majority_baseline, majority_predictions,  # noqa: F401
                               metric_names, reference_of, reference_text, score_predictions)
from zoo.model import segment_positions

LOG = logging.getLogger(__name__)

SPEC = TaskSpec(
    name="vqa",
    version="1",
    description="image + question → answer (accuracy; relational/non-relational, closed/open; VQA accuracy)",
    benchmarks=(
        Benchmark("sort-of-clevr", builtin=True, target=0.9),
        Benchmark("vqa-rad", data_hint="the VQA-RAD OSF folder ('VQA_RAD Dataset Public.json', 'VQA_RAD Image "
                                       "Folder/'), official split, or hub:flaviagiammarino/vqa-rad", target=0.5),
        Benchmark("vqa-rad-mevf", data_hint="the VQA-RAD OSF folder with mevf_split/ (trainset.json, testset.json): "
                                            "MEVF's protocol, same test questions; its train file holds templated "
                                            "rephrasings of 284 of them", target=0.5),
        Benchmark("vqav2", split="val", data_hint="a folder with the official VQAv2 questions/annotations json and "
                                                  "train2014/, val2014/ images, or a hub id such as "
                                                  "hub:HuggingFaceM4/VQAv2", target=0.5),
    ),
    primary_metric="accuracy",
    higher_is_better=True,
    metrics=("accuracy", "relational_accuracy", "nonrelational_accuracy", "closed_accuracy", "open_accuracy",
             "vqa_accuracy"),
    models=("zoo", "majority"),
)
RAD_BENCHMARKS = ("vqa-rad", "vqa-rad-mevf")  # the OSF folder, official split / mevf_split/


@dataclass(frozen=True)
class Config:
    """Everything a vqa run depends on (saved in checkpoints and records)."""

    RETIRED_FIELDS: ClassVar[dict[str, tuple[Any, str]]] = {  # in records and checkpoints made before vqa-rad-mevf
        "rad_split": ("official", "mevf_split is the benchmark vqa-rad-mevf")}

    benchmark: str = "sort-of-clevr"
    data_dir: str | None = None  # vqa-rad(-mevf): the OSF folder; vqav2: the json layout or "hub:OWNER/NAME"
    answer_mode: str = "classify"  # "classify" (answer vocabulary) or "generate" (decoder)
    question_input: str = "text"  # "text" (the sentence) or "encoding" (sort-of-clevr's 11-dim vector)
    question_tokens: str = "words"  # classify: "words" (a fused token per word) or "summary" (one per question)
    answer_options: str = "all"  # classify: "all" (any vocabulary answer) or "question" (tasks/vqa/options.py)
    preset: str = "small"
    model: dict = field(default_factory=dict)  # zoo.ModelConfig overrides
    image_size: int = 75
    patch_size: int = 15
    max_question_length: int = 32
    max_answers: int = 3129  # answer vocabulary cap (VQAv2's usual 3,129)
    max_answer_length: int = 8  # generate: answer tokens (with bos/eos) in training, new tokens in decoding
    num_beams: int = 1
    nonrelational_warmup_epochs: float = 0.0
    scene_batch: bool = False  # one sequence per image with all its questions (classify only)
    max_images: dict = field(default_factory=dict)  # sort-of-clevr: scenes per split, e.g. {"train": 8}
    val_fraction: float = 0.1  # real sets: share of train questions held out (seeded)
    optim: Optim = Optim()

    def __post_init__(self) -> None:
        choices = {"benchmark": SPEC.benchmark_names,
                   "answer_mode": ("classify", "generate"), "question_input": ("text", "encoding"),
                   "question_tokens": ("words", "summary"), "answer_options": ("all", "question")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}: must be one of {', '.join(allowed)}; got {getattr(self, name)!r}")
        if self.question_input == "encoding" and self.benchmark != "sort-of-clevr":
            raise ValueError("question_input: 'encoding' exists only for sort-of-clevr")
        if self.image_size < 1 or self.image_size % self.patch_size:
            raise ValueError(f"image_size ({self.image_size}) must be a positive multiple of patch_size "
                             f"({self.patch_size})")
        for name in ("max_question_length", "max_answers", "max_answer_length", "num_beams"):
            if getattr(self, name) < (3 if name == "max_answer_length" else 1):
                raise ValueError(f"{name}: too small ({getattr(self, name)})")
        if self.scene_batch and self.answer_mode != "classify":
            raise ValueError("scene_batch: needs answer_mode 'classify'")
        if self.question_tokens == "summary" and self.answer_mode != "classify":
            raise ValueError("question_tokens: 'summary' needs answer_mode 'classify'")
        if self.answer_options == "question" and self.answer_mode != "classify":
            raise ValueError("answer_options: 'question' needs answer_mode 'classify'")
        if self.nonrelational_warmup_epochs < 0:
            raise ValueError(f"nonrelational_warmup_epochs: must be >= 0, got {self.nonrelational_warmup_epochs}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction: must be in (0, 1), got {self.val_fraction}")


# ---------------------------------------------------------------- presets (recipes)
def tiny(benchmark: str = "sort-of-clevr", arch: str = "zoo") -> Config:
    """Seconds on a CPU: the tests' and the ``smoke`` recipe's preset (8 train scenes)."""
    return Config(benchmark=benchmark, preset="tiny", model={"num_encoder_layers": 1},
                  max_images={"train": 8, "val": 2, "test": 2}, nonrelational_warmup_epochs=0.5,
                  optim=Optim(lr=3e-3, batch_size=16, max_epochs=1, max_steps=20))


BACKBONE = {"width": 128, "num_heads": 4, "num_encoder_layers": 4, "dropout": 0.0}
# sort-of-clevr: 2 layers over 25 conv-stem cells whose first conv also sees pixel x/y
SCENE_BACKBONE = {**BACKBONE, "num_encoder_layers": 2, "image_stem": "coordconv", "init": "xavier"}


def quick(benchmark: str = "sort-of-clevr", arch: str = "zoo") -> Config:
    """About a minute and a half on a CPU: the standard recipe's model on 3,000 scenes for 10 epochs (470 steps of 64
    scenes); the first 8 epochs are non-relational only, since the colour binding has to form before the relational
    questions can use it (it does within a few hundred steps). Measured figures: docs/recipes/vqa.md."""
    if benchmark != "sort-of-clevr":
        return Config(benchmark=benchmark, preset="small", model={**BACKBONE, "width": 64, "num_encoder_layers": 2},
                      image_size=120, patch_size=15, optim=Optim(lr=1e-3, batch_size=32, max_epochs=3))
    return Config(benchmark=benchmark, preset="small", model=SCENE_BACKBONE, scene_batch=True,
                  question_tokens="summary", max_images={"train": 3000, "val": 50, "test": 200},
                  nonrelational_warmup_epochs=8.0, optim=Optim(lr=1e-3, batch_size=64, max_epochs=10,
                                                               warmup_fraction=0.02))


def standard(benchmark: str = "sort-of-clevr", arch: str = "zoo") -> Config:
    """The leaderboard recipe on CPU, aimed at ≥ 90% relational / ≥ 98% non-relational on sort-of-clevr.

    Sort-of-CLEVR (spec: docs/sort-of-clevr.md); why each value, in a line (figures, and what was tried and not
    taken: docs/recipes/vqa.md):

    * ``SCENE_BACKBONE``, 2 layers: 40 epochs of it fit the design's 20 minutes a seed on two threads.
    * ``image_stem="coordconv"``: "closest" between objects in neighbouring cells needs where in its cell each lies.
    * ``init="xavier"``: keeps the attention logits of a small model away from zero, so a token can pick one object.
    * ``question_tokens="summary"``: pooling the words before fusion keeps the one word that carries the binding.
    * ``nonrelational_warmup_epochs=4``: without the warm-up the model answers from whole-image statistics.
    * ``scene_batch=True``, 64 scenes (1,280 questions) a step: each image is encoded once for its 20 questions.
    * 40 epochs (6,000 steps): with 30, each seed learnt only a part of the relational questions.

    Other benchmarks: width 128, 4 layers over 64 patches of a 120-px image, 20 epochs at learning rate 5e-4. On
    VQA-RAD (``vqa-rad``, ``vqa-rad-mevf``):

    * ``answer_options="question"``: a classifier over the whole vocabulary does not learn the "or" questions' options.
    * ``val_fraction=0.02``: with 1,797 train questions every one held out costs closed accuracy.
    * learning rate 1e-3 and 40 epochs: the model fits its train questions harder, which raised closed accuracy.
    """
    if benchmark != "sort-of-clevr":
        rad = benchmark in RAD_BENCHMARKS
        return Config(benchmark=benchmark, preset="small", model=BACKBONE, image_size=120, patch_size=15,
                      answer_options="question" if rad else "all", val_fraction=0.02 if rad else 0.1,
                      optim=Optim(lr=1e-3 if rad else 5e-4, batch_size=32, max_epochs=40 if rad else 20))
    return Config(benchmark=benchmark, preset="small", model=SCENE_BACKBONE, scene_batch=True,
                  question_tokens="summary", nonrelational_warmup_epochs=4.0,
                  optim=Optim(lr=1e-3, batch_size=64, max_epochs=40, warmup_fraction=0.02))


def gpu(benchmark: str = "sort-of-clevr", arch: str = "zoo") -> Config:
    """Larger preset and longer schedule for a GPU (bf16-mixed)."""
    big = benchmark != "sort-of-clevr"
    return Config(benchmark=benchmark, preset="base", image_size=224 if big else 75, patch_size=16 if big else 15,
                  nonrelational_warmup_epochs=0.0 if big else 1.5,
                  optim=Optim(lr=3e-4, batch_size=256, max_epochs=20, warmup_fraction=0.05))


PRESETS = {"smoke": tiny, "quick": quick, "standard": standard, "gpu": gpu}


# ---------------------------------------------------------------- data
def load_splits(config: Config) -> tuple[dict[str, vqa_data.Questions], str]:
    """Split name → ``Questions`` (train, val, test) and the data fingerprint."""
    if config.benchmark == "sort-of-clevr":
        return vqa_data.load_clevr(config.max_images)
    root = data_source(config.benchmark, config.data_dir, SPEC.benchmark(config.benchmark).data_hint)
    if isinstance(root, str):  # a hub id
        if config.benchmark == "vqa-rad-mevf":
            raise ValueError("vqa-rad-mevf: reads mevf_split/ from a local VQA-RAD folder, not from the hub")
        splits, fp = vqa_data.hub_splits(root, config.image_size, rad=config.benchmark == "vqa-rad")
        train, val = vqa_data.hold_out(splits["train"].rows, config.val_fraction)
        images = splits["train"].images
        return {"train": vqa_data.Questions(train, images), "val": vqa_data.Questions(val, images),
                "test": splits["test"]}, fp
    if config.benchmark in RAD_BENCHMARKS:
        rows, fp = vqa_data.rad_splits(root, mevf=config.benchmark == "vqa-rad-mevf")
        folder = root / vqa_data.RAD_IMAGES
    else:
        names = ("train2014", "val2014")
        rows = {"train": vqa_data.vqav2_local_rows(root, names[0]), "test": vqa_data.vqav2_local_rows(root, names[1])}
        fp = vqa_data.fingerprint_files([root / f"v2_mscoco_{n}_annotations.json" for n in names])
        folder = root
    train, val = vqa_data.hold_out(rows["train"], config.val_fraction)
    splits = {"train": train, "val": val, "test": rows["test"]}
    return {s: vqa_data.attach_images(r, folder, config.image_size) for s, r in splits.items()}, fp


def answer_vocabulary(rows: list[dict], max_answers: int) -> list[str]:
    """Train answers, most frequent first (ties alphabetical), at most ``max_answers``."""
    counts = Counter(r["answer"] for r in rows)
    return sorted(counts, key=lambda a: (-counts[a], a))[:max_answers]


def log_unknown_answers(splits: Mapping[str, Any], answers: list[str], source: str) -> None:
    """Warn once per split (``zoo.inputs``) how many val/test answers are outside the train answer vocabulary:
    they get label -100 (no loss) and count as wrong."""
    known = set(answers)
    for split in ("val", "test"):
        rows = splits[split].rows if split in splits else []
        outside = sum(r["answer"] not in known for r in rows)
        if outside:
            log_once(f"vqa-unknown-answers:{source}:{split}",
                     f"{source} {split}: {outside} of {len(rows)} answers are not in the train answer vocabulary "
                     f"({len(answers)} answers); they get label -100 (no loss) and count as wrong")


def question_text(example: Mapping[str, Any], question_input: str) -> str:
    """What the text embedder reads: the sentence, or the 11-dim encoding as tokens ``bit<i>``."""
    if question_input == "encoding":
        return " ".join(f"bit{i}" for i, bit in enumerate(example["encoding"]) if bit)
    return example["question"]


class DataModule(ConfigDataModule):
    """Builds the splits, the answer vocabulary and the tokenizer; batches carry ``image``, ``text``, ``text_mask``,
    ``label`` (classify; -100 for an answer outside the vocabulary) or ``target``/``target_mask`` (generate),
    ``reference`` (dicts of answer(s) and group) and ``id``."""

    def __init__(self, config: Config, seed: int = 0, num_workers: int | None = 0) -> None:
        super().__init__(config, seed, num_workers)
        self.answers: list[str] = []
        self._index: dict[str, int] = {}
        self.options: OptionIndex | None = None  # answer_options="question": the answers each question allows

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        self.splits, self.fingerprint = load_splits(self.config)
        train = self.splits["train"].rows
        self.set_answers(answer_vocabulary(train, self.config.max_answers))
        texts = [question_text(r, self.config.question_input) for r in train]
        if self.config.answer_mode == "generate":
            texts += [r["answer"] for r in train]
        self.tokenizer = zoo.WordTokenizer.train(texts, min_freq=1)
        log_unknown_answers(self.splits, self.answers, self.config.data_dir or self.config.benchmark)

    def set_answers(self, answers: list[str]) -> None:
        """The answer vocabulary the labels (and ``answer_options``' masks) index."""
        self.answers = list(answers)
        self._index = {a: i for i, a in enumerate(self.answers)}
        self.options = OptionIndex(self.answers) if self.config.answer_options == "question" else None

    def module_kwargs(self) -> dict[str, Any]:
        return {"answers": list(self.answers)}

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        if self.config.scene_batch:
            scenes = vqa_scenes.Scenes(self.splits["train"])
            sampler = vqa_scenes.SceneSampler(len(scenes), self.config.nonrelational_warmup_epochs, self.seed)
            return self._scene_loader(scenes, sampler)
        rows = self.splits["train"].rows
        warmup = [i for i, r in enumerate(rows) if r["group"] == "nonrelational"]
        sampler = vqa_data.WarmupSampler(len(rows), warmup, self.config.nonrelational_warmup_epochs, self.seed)
        return torch.utils.data.DataLoader(self.splits["train"], batch_size=self.batch_size, sampler=sampler,
                                           collate_fn=self.collate, **self.loader_kwargs())

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        if self.config.scene_batch:
            return self._scene_loader(vqa_scenes.Scenes(self.splits["val"]))
        return super().val_dataloader()

    def test_dataloader(self) -> torch.utils.data.DataLoader:
        if self.config.scene_batch:
            return self._scene_loader(vqa_scenes.Scenes(self.splits["test"]))
        return super().test_dataloader()

    def _scene_loader(self, scenes: vqa_scenes.Scenes, sampler: Any = None) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(scenes, batch_size=self.batch_size, sampler=sampler,
                                           collate_fn=self.collate_scenes, **self.loader_kwargs())

    def collate_scenes(self, examples: list[dict]) -> dict[str, Any]:
        batch = vqa_scenes.collate_scenes(
            examples, lambda texts: self.tokenizer.batch_encode(texts, max_length=self.config.max_question_length),
            lambda q: question_text(q, self.config.question_input), lambda q: self._index.get(q["answer"], -100),
            reference_of)
        if self.options is not None:
            batch["answer_mask"] = self.options.mask(
                [question_text(q, self.config.question_input) for e in examples for q in e["questions"]])
        return batch

    def collate(self, examples: list[dict]) -> dict[str, Any]:
        images = torch.from_numpy(np.stack([e["image"] for e in examples]))  # (B, H, W, 3) uint8
        texts = [question_text(e, self.config.question_input) for e in examples]
        ids, mask = self.tokenizer.batch_encode(texts, max_length=self.config.max_question_length)
        batch = {"image": images.permute(0, 3, 1, 2).float().div(255.0),  # (B, 3, H, W)
                 "text": ids, "text_mask": mask,
                 "reference": [reference_of(e) for e in examples], "id": [e["id"] for e in examples]}
        if self.config.answer_mode == "classify":
            batch["label"] = torch.tensor([self._index.get(e["answer"], -100) for e in examples])
            if self.options is not None:
                batch["answer_mask"] = self.options.mask(texts)
        else:
            batch["target"], batch["target_mask"] = seq2seq.encode_targets(
                self.tokenizer, [e["answer"] for e in examples], self.config.max_answer_length)
        return batch


# ---------------------------------------------------------------- model
class Module(TaskModule):
    """VQA on the shared backbone: classification over the answer vocabulary, or answers decoded as text."""

    def __init__(self, config: Config | Mapping[str, Any], tokenizer: Mapping[str, Any], answers: list[str]) -> None:
        if isinstance(config, Mapping):
            config = config_from_dict(Config, config)
        super().__init__(config)
        self.save_hyperparameters({"config": config_to_dict(config), "tokenizer": dict(tokenizer),
                                   "answers": list(answers)})
        self.tokenizer = zoo.tokenizer_from_dict(dict(tokenizer))
        self.answers = list(answers)
        classify = config.answer_mode == "classify"
        overrides = {"dropout": 0.1, **({"num_decoder_layers": 0} if classify else {}), **config.model}
        self.model_config = zoo.preset(config.preset, vocab_size=self.tokenizer.vocab_size,
                                       num_classes=len(self.answers) if classify else 0,
                                       image_size=config.image_size, patch_size=config.patch_size,
                                       max_text_positions=max(config.max_question_length, config.max_answer_length),
                                       **overrides)
        self.net = zoo.MultimodalModel(self.model_config)
        self.decoding = seq2seq.Decoding(num_beams=config.num_beams, max_new_tokens=config.max_answer_length)
        metric = VQAAccuracy if config.benchmark == "vqav2" else ExactMatchAccuracy
        self.metrics = torch.nn.ModuleDict({stage: metric() for stage in ("val", "test")})
        self.samples: list[dict] = []

    def answer(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, list[str]]:
        """Loss and the predicted answers (normalised strings) of a batch."""
        inputs = seq2seq.modality_inputs(batch, ("image", "text", "text_mask"))
        if self.config.answer_mode == "generate":
            loss = seq2seq.lm_loss(self.net, inputs, batch["target"], batch["target_mask"])
            predicted = (seq2seq.generate_texts(self.net, inputs, self.tokenizer, self.decoding)
                         if not self.training else [])
            return loss, predicted
        if self.config.question_tokens == "summary":
            logits = self.summary_logits(batch)
        else:  # "words": the mean of each question's fused word tokens (never the image tokens)
            scene = "text_segments" in batch  # scene batch: B images, N questions
            fused, _ = self.net.encode({**inputs, "text_segments": batch["text_segments"]} if scene else inputs)
            text = fused[:, -batch["text"].shape[1]:]  # (B, T, D): text comes last
            segments = batch["text_segments"] if scene else batch["text_mask"].long()
            pooled = vqa_scenes.pool_segments(text, segments, batch["questions_per_row"] if scene else 1)
            logits = self.net.project(pooled[batch["slot"]] if scene else pooled)  # (N, K)
        known = batch["label"] >= 0
        loss = F.cross_entropy(logits, batch["label"], ignore_index=-100) if known.any() else logits.sum() * 0.0
        if "answer_mask" in batch:  # answer_options="question": the best of the answers the question allows
            logits = logits.masked_fill(~batch["answer_mask"], float("-inf"))
        return loss, [self.answers[i] for i in logits.argmax(-1).tolist()]

    def summary_logits(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """``question_tokens="summary"``: each question enters the fusion encoder as one token, the mean of its
        embedded words, and its answer is read at that token -> logits (N, K). The mean is a bag of words (the
        position embeddings add the same sum whatever the order) unless ``text_conv_kernel`` mixes neighbours.

        The question's query to the image is then one hop, as when the colour is a question's only token; read
        out of a sentence's fused words, the colour word is diluted by the rest (docs/recipes/vqa.md).
        """
        segments = batch.get("text_segments")
        if segments is None:  # one question per image
            segments, per_row = batch["text_mask"].long(), 1
        else:
            per_row = batch["questions_per_row"]
        words, _ = self.net.embed("text", batch["text"], batch["text_mask"],
                                  positions=segment_positions(segments))  # (B, T, D)
        b = words.shape[0]
        summary = vqa_scenes.pool_segments(words, segments, per_row).reshape(b, per_row, -1)  # (B, Q, D)
        present = F.one_hot(segments, per_row + 1)[..., 1:].sum(dim=1) > 0  # (B, Q)
        image, image_mask = self.net.embed("image", batch["image"])  # (B, P, D)
        ids = torch.arange(1, per_row + 1, device=present.device).expand(b, -1) * present  # (B, Q)
        fused, _ = self.net.fuse([("image", image, image_mask), ("text", summary, present)],
                                 torch.cat([ids.new_zeros(b, image.shape[1]), ids], dim=1))
        questions = fused[:, image.shape[1]:].reshape(b * per_row, -1)  # (B × Q, D)
        slots = batch["slot"] if "slot" in batch else torch.arange(b, device=questions.device)
        return self.net.project(questions[slots])  # (N, K)

    def step(self, batch: Mapping[str, Any], stage: str) -> torch.Tensor:
        loss, predicted = self.answer(batch)
        if stage == "train":
            return loss
        references, groups = batch["reference"], [r["group"] for r in batch["reference"]]
        if isinstance(self.metrics[stage], VQAAccuracy):
            self.metrics[stage].update(predicted, [r["answers"] for r in references], groups, ids=batch["id"])
        else:
            self.metrics[stage].update(predicted, [r["answer"] for r in references], groups, ids=batch["id"])
        if stage == "test":
            self.add_predictions(batch["id"], predicted, references, [example_score(p, r)
                                                                       for p, r in zip(predicted, references)])
        return loss

    def on_test_epoch_end(self) -> None:
        first = self.predictions[:8]
        self.samples = seq2seq.sample_rows([r["id"] for r in first], [r["prediction"] for r in first],
                                           [reference_text(r["reference"]) for r in first])
        for row in self.samples:
            LOG.info(f"  {row['id']}: predicted {row['prediction']!r}, reference {row['reference']!r}")
        super().on_test_epoch_end()

    def compute_metrics(self, stage: str) -> dict[str, float]:
        values = metric_names(self.metrics[stage].compute())
        self.metrics[stage].reset()
        return values


def sample_input(example: Mapping[str, Any]) -> dict[str, str]:
    """The gallery's view of a test example: the image as a PNG data URI and the question."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(example["image"], dtype=np.uint8)).save(buffer, format="PNG")
    return {"image": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"),
            "text": example["question"]}
