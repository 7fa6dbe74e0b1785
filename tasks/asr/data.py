"""Data of the ``asr`` task: the four benchmarks as ``datasets.Dataset`` splits of log-mel features.

Every split has the columns ``id`` (``"<benchmark>:<native id>"``), ``text`` (the transcript as released),
``source`` (the audio file, or the generator's utterance id), ``features`` (whisper's 80-bin log-mel,
(M, F) float16 bytes, C order) and ``num_frames`` (F, 100 per second). Features are computed once and cached
under ``$ZOO_CACHE/datasets`` (float16 halves the cache; its step, about 1e-3 of the values' range, is far
below what the model resolves), keyed by the data fingerprint and ``FEATURE_VERSION``:

* ``tts-digits`` (built in): ``tasks.generators.tts_digits`` with a fixed data seed per split, sizes
  ``TTS_SIZES["full"]`` (``"smoke"``: a few dozen rows, for tests); fingerprint of generator version, seed and
  sizes; cached by ``tasks.core.data.cached_generated`` with the features in the set (the audio is not kept).
* ``fsdd``, ``an4``, ``librispeech`` folders: rows from ``tasks.asr.sources`` (release layouts), fingerprinted
  by the names and contents of their audio and transcript files, featurized with ``.map(batched=True)``.
  Validation, where the release has none, is carved from train by ``sources.hold_out`` (fixed seed).
* ``hub:openslr/librispeech_asr`` (only when asked, online): train.100 / validation / test of "clean",
  decoded by soundfile (no torchcodec).

A bad audio file raises the one-line ``ValueError`` of ``tasks.core.audio`` naming it. ``Utterances`` serves a split
to the model (normalised transcript, lengths checked up front); ``LengthGroupedSampler`` batches similar lengths.

Shapes: M mel bins, F frames.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Sampler

from tasks.asr import sources as asr_sources
from tasks.core import seq2seq
from tasks.core.audio import load_audio, log_mel_features
from tasks.core.data import cache_dir, cached_generated, data_source, fingerprint_files, fingerprint_params, load_hub
from tasks.generators import tts_digits
from tasks.asr.metric import normalize_transcript

FEATURE_VERSION = "1"  # bump when the features change: it is part of every cache key
NUM_MEL_BINS = 80
FRAMES_PER_SECOND = 100
TTS_SEED = 20261201  # the data seed of tts-digits: fixed, independent of the training seed
TTS_SIZES = {"full": {"train": 3000, "val": 200, "test": 300}, "smoke": {"train": 48, "val": 8, "test": 12}}


# ---------------------------------------------------------------- features
def features_row(mel: torch.Tensor) -> dict[str, Any]:
    """The ``features`` (float16 bytes) and ``num_frames`` columns of a log-mel (M, F)."""
    return {"features": mel.to(torch.float16).numpy().tobytes(), "num_frames": int(mel.shape[1])}


def decode_features(row: dict[str, Any]) -> torch.Tensor:
    """A row's log-mel (M, F) float32."""
    values = np.frombuffer(row["features"], dtype=np.float16).reshape(NUM_MEL_BINS, row["num_frames"])
    return torch.from_numpy(values.astype(np.float32))


def feature_stats(data: datasets.Dataset, max_rows: int = 5000) -> dict[str, list[float]]:
    """Per-mel-bin mean and standard deviation over the real frames of the first ``max_rows`` rows."""
    total = torch.zeros(NUM_MEL_BINS, dtype=torch.float64)
    squares = torch.zeros(NUM_MEL_BINS, dtype=torch.float64)
    frames = 0
    for row in data.select(range(min(max_rows, len(data)))):
        mel = decode_features(row).double()  # (M, F)
        total += mel.sum(1)
        squares += mel.pow(2).sum(1)
        frames += mel.shape[1]
    mean = total / max(frames, 1)
    std = (squares / max(frames, 1) - mean.pow(2)).clamp(min=1e-6).sqrt()
    return {"mean": mean.tolist(), "std": std.tolist()}


def _mel_of(waveform: torch.Tensor, source: str) -> torch.Tensor:
    try:
        return log_mel_features(waveform, NUM_MEL_BINS)  # (M, F)
    except ValueError as error:  # e.g. shorter than one 25 ms window
        raise ValueError(f"{source}: {error}") from None


def _featurize_batch(batch: dict[str, list]) -> dict[str, list]:
    columns: dict[str, list] = {"features": [], "num_frames": []}
    for source in batch["source"]:
        row = features_row(_mel_of(load_audio(source), source))
        columns["features"].append(row["features"])
        columns["num_frames"].append(row["num_frames"])
    return columns


def featurize(name: str, fingerprint: str, rows: dict[str, list[dict]]) -> dict[str, datasets.Dataset]:
    """Split → rows (``id``, ``text``, ``source`` path) as datasets with features, cached on disk.

    ``.map(batched=True)`` writes each split to ``<cache>/datasets/asr-<name>-<key>/<split>.arrow`` (written
    aside and renamed into place by ``datasets``); a later call with the same key reads it back.
    """
    key = fingerprint_params(data=fingerprint, features=FEATURE_VERSION, mels=NUM_MEL_BINS)
    folder = cache_dir() / "datasets" / f"asr-{name}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    return {split: datasets.Dataset.from_list(items).map(
                _featurize_batch, batched=True, batch_size=32, writer_batch_size=256,
                cache_file_name=str(folder / f"{split}.arrow"), new_fingerprint=f"{key}-{split}")
            for split, items in rows.items()}


# ---------------------------------------------------------------- tts-digits (built in)
def tts_digits_splits(size: str) -> tuple[dict[str, datasets.Dataset], str]:
    """The generated set at ``size`` ("full" or "smoke") and its fingerprint."""
    sizes = TTS_SIZES[size]
    fp = fingerprint_params(generator="tts-digits", version=tts_digits.GENERATOR_VERSION, seed=TTS_SEED,
                            sizes=sizes, features=FEATURE_VERSION, mels=NUM_MEL_BINS)

    def build() -> dict[str, list[dict]]:
        rows: dict[str, list[dict]] = {}
        for offset, (split, count) in enumerate(sizes.items()):  # one data seed per split
            rows[split] = []
            for index in range(count):
                utt = tts_digits.make_utterance(TTS_SEED + offset, index)
                mel = _mel_of(torch.from_numpy(utt["audio"]), utt["id"])
                rows[split].append({"id": f"tts-digits:{split}-{index:05d}", "text": utt["text"],
                                    "source": utt["id"], **features_row(mel), "voice": utt["voice"],
                                    "snr_db": utt["snr_db"], "noise": utt["noise"]})
        return rows

    built = cached_generated("asr-tts-digits", fp, build)
    return {split: built[split] for split in sizes}, fp


def _hub_librispeech(hub_id: str) -> tuple[dict[str, datasets.Dataset], str]:
    """``openslr/librispeech_asr`` ("clean": train.100, validation, test), decoded by soundfile, not torchcodec."""
    ds = load_hub(hub_id, "clean").cast_column("audio", datasets.Audio(decode=False))
    fp = fingerprint_params(hub=hub_id, train=ds["train.100"]._fingerprint, test=ds["test"]._fingerprint)

    def featurize_hub(batch: dict[str, list]) -> dict[str, list]:
        out: dict[str, list] = {"id": [], "text": [], "source": [], "features": [], "num_frames": []}
        for utt_id, text, audio in zip(batch["id"], batch["text"], batch["audio"], strict=True):
            with tempfile.NamedTemporaryFile(suffix=Path(audio.get("path") or "a.flac").suffix) as handle:
                handle.write(audio["bytes"])
                handle.flush()
                try:
                    mel = _mel_of(load_audio(handle.name), handle.name)
                except ValueError as error:
                    raise ValueError(f"{hub_id} row {utt_id}: {error}") from None
            for column, value in {"id": f"librispeech:{utt_id}", "text": text, "source": f"{hub_id}/{utt_id}",
                                  **features_row(mel)}.items():
                out[column].append(value)
        return out

    splits = {"train": "train.100", "val": "validation", "test": "test"}
    return {ours: ds[theirs].map(featurize_hub, batched=True, batch_size=32, remove_columns=ds[theirs].column_names)
            for ours, theirs in splits.items()}, fp


def load_splits(benchmark: str, data_dir: str | None, val_size: int,
                builtin_size: str = "full") -> tuple[dict[str, datasets.Dataset], str]:
    """Split name (train, val, test) → featurized dataset, and the data fingerprint."""
    if benchmark == "tts-digits":
        return tts_digits_splits(builtin_size)
    source = data_source(benchmark, data_dir, asr_sources.LAYOUTS[benchmark])
    if isinstance(source, str):  # a hub id
        if benchmark != "librispeech":
            raise ValueError(f"{benchmark}: hub ids are supported for librispeech only; give a local folder")
        return _hub_librispeech(source)
    readers = {"fsdd": asr_sources.fsdd_rows, "an4": asr_sources.an4_rows, "librispeech": asr_sources.librispeech_rows}
    rows, files = readers[benchmark](source)
    fp = fingerprint_files(files)
    built = featurize(benchmark, fp, rows)
    if "val" not in built:
        train_indices, val_indices = asr_sources.hold_out(rows["train"], val_size)
        built["val"] = built["train"].select(val_indices)
        built["train"] = built["train"].select(train_indices)
    return {split: built[split] for split in ("train", "val", "test")}, fp


# ---------------------------------------------------------------- splits as model inputs
class Utterances(Dataset):
    """One split: featurized rows with their normalised transcript; lengths checked once, up front."""

    def __init__(self, data: datasets.Dataset, config: Any, tokenizer: Any) -> None:
        self.data, self.max_frames = data, config.max_frames
        self.targets = [normalize_transcript(text, config.split_digits) for text in data["text"]]
        sources = list(data["source"])
        for source, frames in zip(sources, data["num_frames"], strict=True):
            if frames > self.max_frames and config.on_long == "error":
                raise ValueError(f"{source}: audio is {frames / FRAMES_PER_SECOND:.2f} s long, more than "
                                 f"max_audio_seconds={config.max_audio_seconds} (on_long='truncate' cuts it)")
        for source, target in zip(sources, self.targets, strict=True):
            if len(tokenizer.encode(target)) + 2 > config.max_target_tokens:
                raise ValueError(f"{source}: transcript {target!r} needs more than max_target_tokens="
                                 f"{config.max_target_tokens} tokens with bos and eos")

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.data[int(index)]
        return {"id": row["id"], "text": row["text"], "target_text": self.targets[index],
                "mel": decode_features(row)[:, : self.max_frames]}  # (M, F)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self[i] for i in range(len(self)))


class LengthGroupedSampler(Sampler[int]):
    """A seeded shuffle in which every run of ``batch_size`` indices has similar audio lengths (less padding).

    Each epoch: permute (seed, epoch), sort windows of ``GROUP_BATCHES`` batches by length, cut them into
    batches and permute the batches. ``set_epoch`` (called by Lightning) makes the order a function of
    (seed, epoch), so a resumed run sees the same batches as an uninterrupted one.
    """

    GROUP_BATCHES = 32

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int) -> None:
        self.lengths, self.batch_size, self.seed, self.epoch = torch.tensor(list(lengths)), batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator)
        window = self.batch_size * self.GROUP_BATCHES
        groups = [chunk[self.lengths[chunk].argsort(stable=True)] for chunk in order.split(window)]
        batches = torch.cat(groups).split(self.batch_size)
        return (int(i) for b in torch.randperm(len(batches), generator=generator) for i in batches[b])


def collate(examples: list[dict], tokenizer: Any, max_target_tokens: int) -> dict[str, Any]:
    """Utterances → a batch: ``audio`` (B, M, F) zero-padded, ``audio_mask`` (B, F), ``target``/``target_mask``
    (B, T) with bos/eos, ``reference`` (normalised transcripts) and ``id``."""
    mels = [e["mel"] for e in examples]
    audio = torch.zeros(len(mels), NUM_MEL_BINS, max(m.shape[1] for m in mels))  # (B, M, F)
    audio_mask = torch.zeros(len(mels), audio.shape[2], dtype=torch.bool)  # (B, F)
    for row, mel in enumerate(mels):
        audio[row, :, : mel.shape[1]] = mel
        audio_mask[row, : mel.shape[1]] = True
    references = [e["target_text"] for e in examples]
    target, target_mask = seq2seq.encode_targets(tokenizer, references, max_target_tokens)
    return {"audio": audio, "audio_mask": audio_mask, "target": target, "target_mask": target_mask,
            "reference": references, "id": [e["id"] for e in examples]}


def spec_augment(audio: torch.Tensor, mask: torch.Tensor, num_masks: int = 2, max_bins: int = 15,
                 max_frames: int = 20, max_frame_share: float = 0.1) -> torch.Tensor:
    """SpecAugment (Park et al. 2019) without time warping: per example, ``num_masks`` bands of up to
    ``max_bins`` mel bins and ``num_masks`` spans of up to ``max_frames`` frames (and ``max_frame_share`` of its
    length) set to 0, the per-bin mean of normalised features. audio (B, M, F), mask (B, F) -> (B, M, F).
    Draws from torch's global generator (seeded by the run)."""
    b, m, f = audio.shape
    lengths = mask.sum(1, keepdim=True).float()  # (B, 1)
    bins, frames = torch.arange(m, device=audio.device), torch.arange(f, device=audio.device)
    keep = torch.ones(b, m, f, dtype=torch.bool, device=audio.device)
    for _ in range(num_masks):
        width = torch.randint(0, max_bins + 1, (b, 1), device=audio.device)  # (B, 1)
        start = (torch.rand(b, 1, device=audio.device) * (m - width + 1)).long()
        keep &= ~((bins >= start) & (bins < start + width))[:, :, None]  # (B, M, 1)
        span = (torch.rand(b, 1, device=audio.device) * (lengths * max_frame_share).clamp(max=max_frames)).long()
        begin = (torch.rand(b, 1, device=audio.device) * (lengths - span + 1)).long()
        keep &= ~((frames >= begin) & (frames < begin + span))[:, None, :]  # (B, 1, F)
    return audio * keep


def time_stretch(audio: torch.Tensor, mask: torch.Tensor, max_change: float,
                 max_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Speed perturbation on log-mel frames: the whole batch resampled in time (linear interpolation) by a factor
    drawn from [1 − ``max_change``, 1 + ``max_change``] (tempo changes, the mel bins, i.e. the pitch, do not), at
    most ``max_frames`` frames. audio (B, M, F), mask (B, F) -> (B, M, F'), (B, F'); padding stays 0. Draws from
    torch's global generator (seeded by the run)."""
    factor = 1.0 + (2.0 * float(torch.rand(())) - 1.0) * max_change
    frames = max(1, min(max_frames, round(audio.shape[2] * factor)))
    stretched = F.interpolate(audio, size=frames, mode="linear", align_corners=False)  # (B, M, F')
    lengths = (mask.sum(1).float() * frames / audio.shape[2]).round().clamp(min=1).long()  # (B,)
    keep = torch.arange(frames, device=audio.device)[None, :] < lengths[:, None]  # (B, F')
    return stretched * keep[:, None, :], keep
