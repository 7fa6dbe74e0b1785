"""Speech recognition: audio → transcript.

* Input: ``audio`` (B, 80, F) whisper log-mel (100 frames per second) with ``audio_mask`` (B, F); output: the
  transcript's tokens (``target`` (B, T) with bos/eos, teacher-forced; beam search at test, greedy at validation).
* Built-in benchmark ``tts-digits``: digit strings and command words spoken offline by espeak-ng in noise,
  3000 / 200 / 300 utterances. Real: ``fsdd``, ``an4`` (local copies in their release layouts), ``librispeech``
  (a local LibriSpeech root or ``hub:openslr/librispeech_asr``). Loading, features and batching: ``data.py`` and
  ``sources.py`` beside this file.
* Models: ``zoo`` (the shared backbone) or ``whisper`` (openai-whisper's own model at the same size,
  ``whisper_reference.py``), both trained by the same loss and recipe; ``ctc_weight > 0`` adds a CTC head on the
  encoder's audio positions, owned by this task (decoding: ``ctc.py``). The model sees the log-mel normalised per
  mel bin with the train split's mean and std (``feature_norm="train"``; from scratch this learns far faster).
* Primary metric: WER, lower is better; also CER. Corpus-level (total edits / total reference words or
  characters) after the normaliser the config names: ``whisper-english+split-digits`` on tts-digits, fsdd and
  an4, ``whisper-english`` on librispeech. Whisper's normaliser writes a spoken digit run as one number
  ("four one seven" → "417"), which turns WER on digit strings into a string error rate; split-digits makes
  each spoken digit one word again ("4 1 7"), close to the word count of the raw transcripts that published
  AN4 word error rates use. LibriSpeech keeps whisper's normaliser as it is (the open ASR leaderboard's rule).
* Targets are the normalised transcripts, so the model learns to write the form that is scored. Prediction
  rows hold the normalised hypothesis and reference (whisper's normaliser is not idempotent: "0 s" → "0s"), so
  ``score_predictions`` recomputes the recorded numbers exactly; the gallery shows the released transcript.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

import zoo
from tasks.asr import data as asr_data
from tasks.asr import ctc
from tasks.core import seq2seq
from tasks.asr.whisper_reference import (WhisperASR, architecture, dimensions, init_whisper, init_zoo_audio,
                                         read_checkpoint)
from tasks.core.contract import (Benchmark, ConfigDataModule, Optim, TaskModule, TaskSpec, config_from_dict,
                                 config_to_dict, optional_field)
from tasks.asr.metric import corpus_error_rates, error_counts, normalize_transcript, normalizer_name
from tasks.metrics.gather import RecordMetric

SPEC = TaskSpec(
    name="asr",
    version="2",
    description="audio → transcript (WER, CER after whisper's English normaliser)",
    benchmarks=(
        Benchmark("tts-digits", builtin=True, target=0.1),
        Benchmark("fsdd", data_hint="the Free Spoken Digit Dataset release: recordings/{digit}_{speaker}_{index}.wav",
                  target=0.1),
        Benchmark("an4", data_hint="the CMU AN4 release: etc/an4_{train,test}.{fileids,transcription}, "
                                   "wav/<fileid>.sph", target=0.3),
        Benchmark("librispeech", data_hint="a LibriSpeech root (train-*/, dev-clean/, test-clean/ with "
                                           "{speaker}/{chapter}/*.flac + *.trans.txt) or hub:openslr/librispeech_asr",
                  target=0.3),
    ),
    primary_metric="wer",
    higher_is_better=False,
    metrics=("wer", "cer"),
    models=("zoo", "whisper"),
)
NORMALIZERS = (normalizer_name(False), normalizer_name(True))
# Per benchmark: an audio limit just above its longest utterance (docs/recipes/asr.md), a target limit in char
# tokens with bos/eos, and the normaliser. Config fields left at None take these.
BENCHMARK_DEFAULTS = {
    "tts-digits": {"max_audio_seconds": 5.0, "max_target_tokens": 24, "normalizer": NORMALIZERS[1]},
    "fsdd": {"max_audio_seconds": 2.3, "max_target_tokens": 8, "normalizer": NORMALIZERS[1]},
    "an4": {"max_audio_seconds": 8.0, "max_target_tokens": 64, "normalizer": NORMALIZERS[1]},
    "librispeech": {"max_audio_seconds": 35.0, "max_target_tokens": 600, "normalizer": NORMALIZERS[0]},
}
CTC_DECODINGS = ("attention", "ctc", "joint")
TASK_MODEL_FIELDS = ("num_mel_bins", "vocab_size", "num_classes", "text_input", "max_text_positions",
                     "max_audio_frames")
NUM_SAMPLES = 8
LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Config:
    """Everything an asr run depends on (saved in checkpoints and records).

    Fields left at None take the benchmark's ``BENCHMARK_DEFAULTS`` and are written back, so a record names
    the values used. ``on_long`` says what happens to audio longer than ``max_audio_seconds``: ``"error"`` (a
    one-line ``ValueError`` naming the file) or ``"truncate"`` (keep the first ``max_audio_seconds``; the
    transcript stays whole). ``ctc_weight`` > 0 adds ``ctc_weight`` × a CTC loss on the encoder's audio
    positions. ``ctc_decoding`` (needs the CTC head): ``"attention"`` decodes with the decoder's beam search,
    ``"ctc"`` with the CTC head alone (prefix beam search, ``decoding.num_beams`` wide; best path at validation),
    ``"joint"`` rescores the CTC n-best and the decoder's beam result by ``ctc_decoding_weight`` × CTC
    log-likelihood + (1 − ``ctc_decoding_weight``) × the decoder's log-probability (``ctc.py``).
    ``init_checkpoint``: a local whisper checkpoint to start from (the whisper model: every tensor that fits; the
    zoo: its audio stem and encoder); it needs ``feature_norm="none"``. The whisper model pads
    every utterance to ``max_audio_seconds`` (its encoder takes a fixed number of frames).
    """

    benchmark: str = "tts-digits"
    data_dir: str | None = None  # fsdd, an4, librispeech: a local folder; librispeech also hub:openslr/librispeech_asr
    arch: str = "zoo"  # "zoo" (shared backbone) or "whisper" (reference model)
    preset: str = "small"
    model: dict = field(default_factory=dict)  # zoo.ModelConfig overrides, e.g. {"width": 192}
    tokenizer: str = "char"  # "char" (bytes of the normalised text), "bpe" (whisper's GPT-2 BPE) or "word" (train words)
    max_audio_seconds: float | None = None
    on_long: str = "error"
    max_target_tokens: int | None = None  # decoder positions; a longer transcript is an error
    decoding: seq2seq.Decoding | None = None  # None: 3 beams up to max_target_tokens
    ctc_weight: float = 0.0
    ctc_decoding: str = "attention"  # "attention" (decoder beam search), "ctc" (CTC head) or "joint" (rescored)
    ctc_decoding_weight: float = 0.5  # "joint": score = w × log p_ctc + (1 - w) × log p_decoder
    feature_norm: str = "train"  # "train": per-mel-bin mean/std of the train split; "none": raw whisper log-mel
    spec_augment: bool = False  # training only: SpecAugment masks (2 of <= 15 mel bins, 2 of <= 10% of frames)
    time_stretch: float = 0.0  # training only: > 0 resamples each batch in time by a factor in [1 - s, 1 + s]
    normalizer: str | None = None
    val_size: int = 200  # carved from train (fixed seed) when the release has no validation split
    builtin_size: str = "full"  # tts-digits: "full" or "smoke" (a few dozen rows, for tests)
    init_checkpoint: str | None = None
    optim: Optim = Optim()
    # weight of the seed design's auxiliary L_FF term (seq2seq.ff_loss) added to the decoder's LM loss (not to
    # the CTC term); 0 = off, and left out of records and config hashes while 0
    ff_weight: float = optional_field(0.0)

    def __post_init__(self) -> None:
        if self.benchmark not in SPEC.benchmark_names:
            raise ValueError(f"benchmark: unknown {self.benchmark!r}; known: {', '.join(SPEC.benchmark_names)}")
        for name, value in BENCHMARK_DEFAULTS[self.benchmark].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.decoding is None:
            object.__setattr__(self, "decoding", seq2seq.Decoding(max_new_tokens=self.max_target_tokens))
        elif isinstance(self.decoding, Mapping):  # from a record or a checkpoint's hyper-parameters
            object.__setattr__(self, "decoding", seq2seq.Decoding(**self.decoding))
        choices = {"arch": ("zoo", "whisper"), "tokenizer": ("char", "bpe", "word"), "on_long": ("error", "truncate"),
                   "normalizer": NORMALIZERS, "builtin_size": tuple(asr_data.TTS_SIZES),
                   "feature_norm": ("train", "none"), "ctc_decoding": CTC_DECODINGS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}: must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if not self.max_audio_seconds > 0 or self.max_target_tokens < 3:
            raise ValueError("max_audio_seconds must be positive and max_target_tokens at least 3")
        if self.decoding.max_new_tokens > self.max_target_tokens:
            raise ValueError(f"decoding.max_new_tokens ({self.decoding.max_new_tokens}) must be at most "
                             f"max_target_tokens ({self.max_target_tokens})")
        if not 0.0 <= self.time_stretch < 1.0:
            raise ValueError(f"time_stretch: must be in [0, 1), got {self.time_stretch}")
        if not 0.0 <= self.ctc_weight:
            raise ValueError(f"ctc_weight: must be >= 0, got {self.ctc_weight}")
        if not self.ff_weight >= 0:
            raise ValueError(f"ff_weight: must be >= 0, got {self.ff_weight}")
        if self.ctc_decoding != "attention" and not self.ctc_weight:
            raise ValueError(f"ctc_decoding: {self.ctc_decoding!r} needs the CTC head (ctc_weight > 0)")
        controls = list(self.decoding.controls())
        if self.ctc_decoding == "ctc" and controls:
            raise ValueError(f"decoding.{controls[0]} applies to the decoder's search: ctc_decoding attention or joint")
        if not 0.0 <= self.ctc_decoding_weight <= 1.0:
            raise ValueError(f"ctc_decoding_weight: must be in [0, 1], got {self.ctc_decoding_weight}")
        if self.init_checkpoint and self.feature_norm != "none":
            raise ValueError("feature_norm: must be 'none' with init_checkpoint (whisper's weights expect raw log-mel)")
        if self.arch == "whisper" and self.model.get("audio_stride", 2) != 2:
            raise ValueError("model: audio_stride must be 2 for arch 'whisper' (its stem halves the frames)")
        reserved = sorted(set(self.model) & set(TASK_MODEL_FIELDS))
        if reserved:
            raise ValueError(f"model: {', '.join(reserved)} are set by the task, not overridable")

    @property
    def max_frames(self) -> int:
        """Longest log-mel input in frames (100 per second)."""
        return round(self.max_audio_seconds * asr_data.FRAMES_PER_SECOND)

    @property
    def split_digits(self) -> bool:
        return self.normalizer == NORMALIZERS[1]


# ---------------------------------------------------------------- presets (recipes)
def tiny(benchmark: str = "tts-digits", arch: str = "zoo") -> Config:
    """Seconds on a CPU: the tests' and the ``smoke`` recipe's preset (tts-digits at its smoke size)."""
    return Config(benchmark=benchmark, arch=arch, preset="tiny", builtin_size="smoke",
                  decoding=seq2seq.Decoding(num_beams=2, max_new_tokens=8),
                  optim=Optim(lr=3e-3, batch_size=8, max_epochs=1, max_steps=20))


QUICK_MODEL = {"width": 128, "num_heads": 4, "num_encoder_layers": 3, "num_decoder_layers": 1, "dropout": 0.0}
STANDARD_MODEL = {**QUICK_MODEL, "dropout": 0.1}


def quick(benchmark: str = "tts-digits", arch: str = "zoo") -> Config:
    """A first result in minutes on one CPU thread: the quick model (1M parameters) for 4 epochs with a CTC head;
    batch 16 at lr 1e-3 learns faster per second than 32 at 2e-3 (figures: docs/recipes/asr.md)."""
    return Config(benchmark=benchmark, arch=arch, preset="small", model=QUICK_MODEL, ctc_weight=0.5,
                  optim=Optim(lr=1e-3, batch_size=16, max_epochs=4, warmup_fraction=0.05))


def standard(benchmark: str = "tts-digits", arch: str = "zoo") -> Config:
    """The leaderboard recipe on CPU, at most about 20 minutes per seed on 2 cores: the quick model with dropout
    for 20 epochs of tts-digits, 40 of FSDD; AN4 has its own (``an4_standard``: the quick model falls far short
    there). LibriSpeech does not fit a CPU budget (one epoch here; use ``gpu``). Figures: docs/recipes/asr.md."""
    if benchmark == "an4":
        return an4_standard(arch)
    epochs = {"tts-digits": 20, "fsdd": 40, "librispeech": 1}[benchmark]
    return Config(benchmark=benchmark, arch=arch, preset="small", model=STANDARD_MODEL, ctc_weight=0.5,
                  optim=Optim(lr=1e-3, batch_size=16, max_epochs=epochs, warmup_fraction=0.05))


AN4_MODEL = {**STANDARD_MODEL, "width": 192, "num_encoder_layers": 6, "num_decoder_layers": 2, "audio_stride": 4}


def an4_standard(arch: str = "zoo") -> Config:
    """AN4's standard recipe: 4.2M parameters (width 192, 6 + 2 layers, the audio stem at 25 positions a second),
    speed perturbation (``time_stretch`` 0.1), 65 epochs of 848 utterances (100 held out as val, validated every
    5th epoch), joint CTC/attention decoding (8 beams, CTC weight 0.6); meant for both cores (what was tried and
    measured: docs/recipes/asr.md)."""
    model = AN4_MODEL if arch == "zoo" else {k: v for k, v in AN4_MODEL.items() if k != "audio_stride"}
    return Config(benchmark="an4", arch=arch, preset="small", model=model, ctc_weight=0.5, time_stretch=0.1,
                  ctc_decoding="joint", ctc_decoding_weight=0.6, val_size=100,
                  decoding=seq2seq.Decoding(num_beams=8, max_new_tokens=64),
                  optim=Optim(lr=1e-3, batch_size=16, max_epochs=65, warmup_fraction=0.05,
                              val_every_n_epochs=5))


def gpu(benchmark: str = "tts-digits", arch: str = "zoo") -> Config:
    """Larger preset (base: width 512, 8 + 6 layers) and longer schedule for a GPU (bf16-mixed)."""
    epochs = {"tts-digits": 40, "fsdd": 60, "an4": 120, "librispeech": 30}[benchmark]
    return Config(benchmark=benchmark, arch=arch, preset="base", ctc_weight=0.3, spec_augment=benchmark != "tts-digits",
                  optim=Optim(lr=5e-4, batch_size=64, max_epochs=epochs))


PRESETS = {"smoke": tiny, "quick": quick, "standard": standard, "gpu": gpu}


# ---------------------------------------------------------------- data
def build_tokenizer(config: Config, train_texts: Sequence[str]) -> Any:
    """The ``config.tokenizer`` tokenizer; ``word``: every word of the normalised train transcripts."""
    if config.tokenizer == "word":
        return zoo.WordTokenizer.train([normalize_transcript(t, config.split_digits) for t in train_texts])
    return zoo.ByteTokenizer() if config.tokenizer == "char" else zoo.WhisperBPETokenizer()


class DataModule(ConfigDataModule):
    """Builds the splits and the tokenizer; batches carry ``audio``, ``audio_mask``, ``target``, ``target_mask``,
    ``reference`` (normalised transcripts) and ``id``."""

    def __init__(self, config: Config, seed: int = 0, num_workers: int | None = 0) -> None:
        super().__init__(config, seed, num_workers)
        self.feature_stats: dict[str, list[float]] | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        c = self.config
        data, self.fingerprint = asr_data.load_splits(c.benchmark, c.data_dir, c.val_size, c.builtin_size)
        self.tokenizer = build_tokenizer(c, data["train"]["text"])
        self.splits = {split: asr_data.Utterances(rows, c, self.tokenizer) for split, rows in data.items()}
        if c.feature_norm == "train":
            self.feature_stats = asr_data.feature_stats(data["train"])

    def module_kwargs(self) -> dict[str, Any]:
        return {"feature_stats": self.feature_stats}

    def train_dataloader(self) -> DataLoader:
        train = self.splits["train"]
        sampler = asr_data.LengthGroupedSampler(train.data["num_frames"], self.batch_size, self.seed)
        return DataLoader(train, batch_size=self.batch_size, sampler=sampler, collate_fn=self.collate,
                          **self.loader_kwargs())

    def collate(self, examples: list[dict]) -> dict[str, Any]:
        return asr_data.collate(examples, self.tokenizer, self.config.max_target_tokens)


def sample_input(example: Mapping[str, Any]) -> dict[str, str]:
    """The gallery's input column: the transcript as released."""
    return {"transcript": example["text"]}


# ---------------------------------------------------------------- metrics
def corpus_scores(pairs: Sequence[tuple[str, str]]) -> dict[str, float]:
    """Corpus WER and CER of normalised (hypothesis, reference) pairs, exact ratios of integer counts (edge spaces
    stripped); empty references are skipped."""
    try:
        return corpus_error_rates(pairs)
    except ValueError as error:
        raise ValueError(f"asr: {error}") from None


def example_wer(hypothesis: str, reference: str) -> float:
    """One example's WER; with an empty reference, 1.0 if anything was written, else 0.0."""
    if not reference.split():
        return float(bool(hypothesis.split()))
    word_edits, ref_words, _, _ = error_counts(hypothesis, reference)
    return word_edits / ref_words


class Transcripts(RecordMetric):
    """Corpus WER/CER over normalised (hypothesis, reference) records, each example id counted once (DDP)."""

    higher_is_better = False

    def update(self, ids: Sequence[Hashable], hypotheses: Sequence[str], references: Sequence[str]) -> None:
        self.add_records(list(zip(hypotheses, references, strict=True)), ids)

    def compute(self) -> dict[str, float]:
        return corpus_scores(self.synced_records())


def score_predictions(rows: list[dict]) -> dict[str, float]:
    """The test metrics recomputed from prediction rows (normalised ``prediction`` and ``reference``)."""
    return corpus_scores([(row["prediction"], row["reference"]) for row in rows])


# ---------------------------------------------------------------- model
class _Encoded:
    """A model whose encoder output is already computed: ``decoder_logits`` for ``seq2seq.lm_loss``."""

    def __init__(self, net: nn.Module, memory: torch.Tensor, memory_mask: torch.Tensor) -> None:
        self.net, self.memory, self.memory_mask = net, memory, memory_mask

    def decoder_logits(self, inputs: Mapping[str, torch.Tensor], target_in: torch.Tensor) -> torch.Tensor:
        return self.net.decode(target_in, self.memory, self.memory_mask)  # (B, T, V)


class Module(TaskModule):
    """Speech recogniser on the shared backbone or whisper's model; LM loss (+ CTC), beam-search transcripts."""

    def __init__(self, config: Config | Mapping[str, Any], tokenizer: Mapping[str, Any],
                 feature_stats: Mapping[str, Sequence[float]] | None = None) -> None:
        if isinstance(config, Mapping):
            config = config_from_dict(Config, config)
        super().__init__(config)
        if (feature_stats is None) != (config.feature_norm == "none"):
            raise ValueError("feature_stats (per-bin mean, std of the train split) are needed exactly when "
                             f"feature_norm='train'; feature_norm={config.feature_norm!r}")
        self.save_hyperparameters({"config": config_to_dict(config), "tokenizer": dict(tokenizer),
                                   "feature_stats": None if feature_stats is None else dict(feature_stats)})
        self.tokenizer = zoo.tokenizer_from_dict(dict(tokenizer))
        # text_input=False: the encoder reads no text, so no unused text embedder (DDP needs every parameter to
        # train); the decoder keeps its own token embedding
        self.model_config = zoo.preset(
            config.preset, num_mel_bins=asr_data.NUM_MEL_BINS, vocab_size=self.tokenizer.vocab_size, num_classes=0,
            text_input=False, max_text_positions=config.max_target_tokens, max_audio_frames=config.max_frames,
            **config.model)
        if config.arch == "zoo":
            self.net = zoo.MultimodalModel(self.model_config)
        else:
            self.net = WhisperASR(dimensions(self.model_config))
        if config.init_checkpoint:  # a local whisper file (``zoo fit`` loads its own: tasks.core.pretrained)
            if config.arch == "whisper":
                dims, _ = read_checkpoint(config.init_checkpoint)
                wanted = architecture(dims, config.init_checkpoint) if dims else {}
                have = {name: getattr(self.model_config, name) for name in wanted}
                if have != wanted:
                    raise ValueError(f"{config.init_checkpoint}: whisper dimensions {wanted}, this model {have}; set "
                                     "them in model")
            report = (init_zoo_audio if config.arch == "zoo" else init_whisper)(self.net, config.init_checkpoint)
            LOG.info(f"asr: initialised {len(report['loaded'])} tensors from {config.init_checkpoint} "
                     f"({len(report['skipped'])} left out)")
        self.ctc_head = nn.Linear(self.model_config.width, self.tokenizer.vocab_size) if config.ctc_weight else None
        stats = feature_stats or {"mean": [0.0] * asr_data.NUM_MEL_BINS, "std": [1.0] * asr_data.NUM_MEL_BINS}
        self.register_buffer("feature_mean", torch.tensor(stats["mean"], dtype=torch.float32)[:, None])  # (M, 1)
        self.register_buffer("feature_std", torch.tensor(stats["std"], dtype=torch.float32)[:, None])  # (M, 1)
        self.metrics = nn.ModuleDict({stage: Transcripts() for stage in ("val", "test")})
        self.samples: list[dict] = []

    def loss(self, inputs: Mapping[str, torch.Tensor], target: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
        """Next-token cross-entropy (+ ``ff_weight`` × L_FF), plus ``ctc_weight`` × CTC on the encoder output when
        the head exists."""
        if self.ctc_head is None:
            return seq2seq.lm_loss(self.net, inputs, target, target_mask, self.config.ff_weight)
        memory, memory_mask = self.net.encode(inputs)  # (B, N, D), (B, N)
        lm = seq2seq.lm_loss(_Encoded(self.net, memory, memory_mask), inputs, target, target_mask,
                             self.config.ff_weight)
        log_probs = F.log_softmax(self.ctc_head(memory).float(), dim=-1).transpose(0, 1)  # (N, B, V)
        body = target[:, 1:]  # (B, T-1) without bos
        body_mask = target_mask[:, 1:] & (body != self.tokenizer.eos_id)
        ctc = F.ctc_loss(log_probs, body[body_mask], memory_mask.sum(1), body_mask.sum(1),
                         blank=self.tokenizer.pad_id, zero_infinity=True)
        return lm + self.config.ctc_weight * ctc

    def inputs(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """The model inputs: log-mel normalised per bin (padding stays 0) and its mask."""
        inputs = seq2seq.modality_inputs(batch, ("audio", "audio_mask"))
        audio = (inputs["audio"] - self.feature_mean) / self.feature_std  # (B, M, F)
        return {**inputs, "audio": audio * inputs["audio_mask"][:, None, :]}

    def step(self, batch: Mapping[str, Any], stage: str) -> torch.Tensor:
        inputs = self.inputs(batch)
        if stage == "train" and self.config.time_stretch:
            inputs["audio"], inputs["audio_mask"] = asr_data.time_stretch(
                inputs["audio"], inputs["audio_mask"], self.config.time_stretch, self.config.max_frames)
        if stage == "train" and self.config.spec_augment:
            inputs["audio"] = asr_data.spec_augment(inputs["audio"], inputs["audio_mask"])
        loss = self.loss(inputs, batch["target"], batch["target_mask"])
        if stage != "train":
            decoding = self.config.decoding if stage == "test" else dataclasses.replace(self.config.decoding,
                                                                                         num_beams=1)
            texts = self.transcribe(inputs, decoding)
            hyps = [normalize_transcript(text, self.config.split_digits) for text in texts]
            self.metrics[stage].update(batch["id"], hyps, batch["reference"])
            if stage == "test":
                self.add_predictions(batch["id"], hyps, batch["reference"],
                                     [example_wer(h, r) for h, r in zip(hyps, batch["reference"], strict=True)])
                room = NUM_SAMPLES - len(self.samples)
                self.samples += seq2seq.sample_rows(batch["id"], hyps, batch["reference"], limit=room)
        return loss

    def transcribe(self, inputs: Mapping[str, torch.Tensor], decoding: seq2seq.Decoding) -> list[str]:
        """Transcripts of a batch by ``config.ctc_decoding`` (see ``Config``), ``decoding.num_beams`` wide; the
        decoding's repetition controls and sampling act on the decoder's search (attention, and the decoder's own
        candidate in joint; the CTC n-best and the rescoring are left as they are)."""
        if self.config.ctc_decoding == "attention":
            return seq2seq.generate_texts(self.net, inputs, self.tokenizer, decoding)
        memory, memory_mask = self.net.encode(inputs)  # (B, N, D), (B, N)
        log_probs = F.log_softmax(self.ctc_head(memory).float(), dim=-1)  # (B, N, V)
        lengths, blank = memory_mask.sum(1), self.tokenizer.pad_id
        if decoding.num_beams == 1:
            nbest = [[ids] for ids in ctc.best_path(log_probs, lengths, blank)]
        else:
            nbest = [[ids for ids, _ in ctc.prefix_beam_search(row[:n], blank, decoding.num_beams)]
                     for row, n in zip(log_probs, lengths.tolist(), strict=True)]
        if self.config.ctc_decoding == "ctc":
            return [self.tokenizer.decode(candidates[0]) for candidates in nbest]
        generated = self.net.generate(inputs, bos_id=self.tokenizer.bos_id, eos_id=self.tokenizer.eos_id,
                                      pad_id=self.tokenizer.pad_id, max_new_tokens=decoding.max_new_tokens,
                                      num_beams=decoding.num_beams, length_penalty=decoding.length_penalty,
                                      **decoding.controls())
        return [self.tokenizer.decode(ids) for ids in self.joint_best(memory, memory_mask, log_probs, nbest,
                                                                     generated.tolist())]

    def joint_best(self, memory: torch.Tensor, memory_mask: torch.Tensor, log_probs: torch.Tensor,
                   nbest: list[list[list[int]]], generated: list[list[int]]) -> list[list[int]]:
        """For each utterance, the candidate (its CTC n-best and the decoder's own result) with the highest
        ``w`` × log p_ctc + (1 − ``w``) × log p_decoder (teacher-forced, eos included)."""
        eos, pad, bos = self.tokenizer.eos_id, self.tokenizer.pad_id, self.tokenizer.bos_id
        rows, candidates = [], []
        for b, (ctc_ids, own) in enumerate(zip(nbest, generated, strict=True)):
            own = own[:own.index(eos)] if eos in own else [t for t in own if t != pad]
            unique = list(dict.fromkeys(tuple(ids[:self.config.max_target_tokens - 2]) for ids in [*ctc_ids, own]))
            rows += [b] * len(unique)
            candidates += [list(ids) for ids in unique]
        index = torch.tensor(rows, device=memory.device)
        ctc_score = ctc.sequence_log_likelihood(log_probs[index], memory_mask[index].sum(1), pad, candidates)
        ctc_score = ctc_score.clamp(min=-1e30)  # impossible in these frames: last, and 0 × score stays 0
        length = max(len(ids) for ids in candidates) + 1
        target_in = torch.full((len(candidates), length), pad, dtype=torch.long, device=memory.device)
        target_out = torch.full_like(target_in, pad)
        for i, ids in enumerate(candidates):
            target_in[i, :len(ids) + 1] = torch.tensor([bos, *ids], dtype=torch.long)
            target_out[i, :len(ids) + 1] = torch.tensor([*ids, eos], dtype=torch.long)
        logits = self.net.decode(target_in, memory[index], memory_mask[index]).float()  # (C, L, V)
        token_lp = logits.log_softmax(-1).gather(-1, target_out.unsqueeze(-1)).squeeze(-1)  # (C, L)
        decoder_score = (token_lp * (target_out != pad)).sum(1)  # candidates hold no pad (it is the CTC blank)
        weight = self.config.ctc_decoding_weight
        score = (weight * ctc_score + (1.0 - weight) * decoder_score).tolist()
        best: dict[int, tuple[float, list[int]]] = {}
        for b, value, ids in zip(rows, score, candidates, strict=True):
            if b not in best or value > best[b][0]:
                best[b] = (value, ids)
        return [best[b][1] for b in range(len(nbest))]

    def compute_metrics(self, stage: str) -> dict[str, float]:
        values = self.metrics[stage].compute()
        self.metrics[stage].reset()
        return values

    def on_test_epoch_start(self) -> None:
        super().on_test_epoch_start()
        self.samples = []

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        if self.trainer.is_global_zero:
            LOG.info(f"asr test samples ({self.config.normalizer}; prediction | reference):")
            for row in self.samples:
                LOG.info(f"  {row['id']}: {row['prediction']!r} | {row['reference']!r}")
