"""Data of the ``asr`` task: the four benchmarks as ``datasets.Dataset`` splits of log-mel features.

Every split has the columns ``id`` (``"<benchmark>:<native id>"``), ``text`` (the transcript as released),
``source`` (the audio file, or the generator's utterance id), ``features`` (whisper's 80-bin log-mel,
(M, F) float16 bytes, C order) and ``num_frames`` (F, 100 per second). Features are computed once and cached
under ``$ZOO_CACHE/datasets`` (float16 halves the cache; the step, about 1e-3 of the values' range, is far
below what the model resolves), keyed by the data fingerprint and ``FEATURE_VERSION``:

* ``tts-digits`` (built in): ``tasks.generators.tts_digits``, a fixed data seed per split, sizes
  ``TTS_SIZES["full"]`` (``"smoke"``: a few dozen rows for tests); fingerprint of generator version, seed,
  sizes; cached by ``tasks.data.cached_generated`` with the features in the set (the audio is not kept).
* ``fsdd``: ``recordings/{digit}_{speaker}_{index}.wav`` (8 kHz, resampled); official split: index 0–4 test,
  the rest train; transcript: the digit's word.
* ``an4``: ``etc/an4_{train,test}.transcription`` (``[<s>] WORDS [</s>] (utt-id)``) with the ids resolved
  through ``etc/an4_{train,test}.fileids`` to ``wav/<fileid>.sph`` (NIST SPHERE).
* ``librispeech``: a LibriSpeech root holding ``train-*/``, ``dev-clean/`` and ``test-clean/``, each
  ``{speaker}/{chapter}/{speaker}-{chapter}.trans.txt`` + ``*.flac``; or ``hub:openslr/librispeech_asr`` when
  online (train.100 / validation / test of the "clean" config).

Real sets are fingerprinted by the names and contents of their audio and transcript files; a validation
split, when the release has none, is carved from train with the fixed seed ``VAL_SEED``. A bad audio file
raises the one-line ``ValueError`` of ``tasks.audio`` naming it; a bad transcript line names file and line.
"""

from __future__ import annotations

import random
import re
import tempfile
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch

from tasks.audio import load_audio, log_mel_features
from tasks.data import cache_dir, cached_generated, fingerprint_files, fingerprint_params, require_file
from tasks.generators import tts_digits

FEATURE_VERSION = "1"  # bump when the features change: it is part of every cache key
NUM_MEL_BINS = 80
FRAMES_PER_SECOND = 100
TTS_SEED = 20261201  # the data seed of tts-digits: fixed, independent of the training seed
TTS_SIZES = {"full": {"train": 3000, "val": 200, "test": 300}, "smoke": {"train": 48, "val": 8, "test": 12}}
VAL_SEED = 0
FSDD_NAME = re.compile(r"(\d)_([A-Za-z]+)_(\d+)\.wav")
FSDD_TEST_INDICES = range(0, 5)
AN4_LINE = re.compile(r"^(?:<s>)?\s*(.*?)\s*(?:</s>)?\s*\(([^()\s]+)\)$")
DIGIT_WORDS = tts_digits.DIGITS


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


# ---------------------------------------------------------------- real sets: rows (id, text, source)
def _root(data_dir: str, what: str) -> Path:
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: data dir not found (expected {what})")
    return root


def _existing(audio: Path, named_in: object) -> Path:
    if not audio.is_file():
        raise ValueError(f"{audio}: no such audio file (named in {named_in})")
    return audio


def fsdd_rows(data_dir: str) -> tuple[dict[str, list[dict]], list[Path]]:
    """FSDD's official split (index 0–4 test, the rest train) and the files read."""
    folder = _root(data_dir, "an FSDD folder with recordings/{digit}_{speaker}_{index}.wav") / "recordings"
    files = sorted(folder.glob("*.wav"))
    if not files:
        raise FileNotFoundError(f"{folder}: no .wav recordings (expected {{digit}}_{{speaker}}_{{index}}.wav)")
    rows: dict[str, list[dict]] = {"train": [], "test": []}
    for path in files:
        match = FSDD_NAME.fullmatch(path.name)
        if match is None:
            raise ValueError(f"{path}: name does not follow {{digit}}_{{speaker}}_{{index}}.wav")
        split = "test" if int(match.group(3)) in FSDD_TEST_INDICES else "train"
        rows[split].append({"id": f"fsdd:{path.stem}", "text": DIGIT_WORDS[int(match.group(1))],
                            "source": str(path)})
    return rows, files


def read_an4_transcription(path: Path) -> list[tuple[str, str]]:
    """``(utt-id, words)`` of an AN4 transcription file; a malformed line raises naming file and line."""
    pairs = []
    for line_no, line in enumerate(require_file(path, "AN4 transcription").read_text().splitlines(), start=1):
        if not line.strip():
            continue
        match = AN4_LINE.match(line.strip())
        if match is None or not match.group(1):
            raise ValueError(f"{path}:{line_no}: expected '[<s>] WORDS [</s>] (utterance-id)', got {line!r}")
        pairs.append((match.group(2), match.group(1)))
    return pairs


def an4_rows(data_dir: str) -> tuple[dict[str, list[dict]], list[Path]]:
    """AN4 train (948) and test (the transcribed utterances) and the files read."""
    root = _root(data_dir, "an AN4 folder with etc/ and wav/")
    rows: dict[str, list[dict]] = {}
    files: list[Path] = []
    for split in ("train", "test"):
        fileids_path = root / "etc" / f"an4_{split}.fileids"
        fileids = [line.strip() for line in require_file(fileids_path, "AN4 file ids").read_text().splitlines()]
        by_id = {Path(fileid).name: fileid for fileid in fileids if fileid}
        transcription = root / "etc" / f"an4_{split}.transcription"
        rows[split] = []
        for utt_id, words in read_an4_transcription(transcription):
            if utt_id not in by_id:
                raise ValueError(f"{transcription}: utterance {utt_id!r} is not listed in {fileids_path}")
            audio = _existing(root / "wav" / f"{by_id[utt_id]}.sph", transcription)
            rows[split].append({"id": f"an4:{utt_id}", "text": words, "source": str(audio)})
            files.append(audio)
        files += [fileids_path, transcription]
    return rows, files


def _librispeech_folder(folder: Path) -> tuple[list[dict], list[Path]]:
    rows: list[dict] = []
    files: list[Path] = []
    for transcript in sorted(folder.glob("*/*/*.trans.txt")):
        files.append(transcript)
        for line_no, line in enumerate(transcript.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            utt_id, _, words = line.strip().partition(" ")
            if not words.strip():
                raise ValueError(f"{transcript}:{line_no}: expected 'UTTERANCE-ID WORDS', got {line!r}")
            audio = _existing(transcript.parent / f"{utt_id}.flac", f"{transcript}:{line_no}")
            rows.append({"id": f"librispeech:{utt_id}", "text": words.strip(), "source": str(audio)})
            files.append(audio)
    if not rows:
        raise FileNotFoundError(f"{folder}: no {{speaker}}/{{chapter}}/*.trans.txt transcripts")
    return rows, files


def librispeech_rows(data_dir: str) -> tuple[dict[str, list[dict]], list[Path]]:
    """Train (every ``train-*`` folder), val (``dev-clean``, if present) and test (``test-clean``)."""
    root = _root(data_dir, "a LibriSpeech root with train-*/, dev-clean/, test-clean/")
    parts = {"train": sorted(p for p in root.glob("train-*") if p.is_dir()), "val": [root / "dev-clean"],
             "test": [root / "test-clean"]}
    if not parts["train"] or not parts["test"][0].is_dir():
        raise FileNotFoundError(f"{root}: expected train-*/ and test-clean/ folders (LibriSpeech layout)")
    rows: dict[str, list[dict]] = {}
    files: list[Path] = []
    for split, folders in parts.items():
        for folder in (f for f in folders if f.is_dir()):
            found, read = _librispeech_folder(folder)
            rows.setdefault(split, []).extend(found)
            files += read
    return rows, files


def hold_out(rows: list[dict], size: int) -> tuple[list[int], list[int]]:
    """Indices (train, val) with ``size`` rows drawn for validation by the fixed ``VAL_SEED``."""
    if not 0 < size < len(rows):
        raise ValueError(f"val_size: must be in [1, {len(rows) - 1}] to carve validation from "
                         f"{len(rows)} training rows, got {size}")
    order = list(range(len(rows)))
    random.Random(VAL_SEED).shuffle(order)
    held = set(order[:size])
    return [i for i in range(len(rows)) if i not in held], sorted(held)


def _hub_librispeech(hub_id: str) -> tuple[dict[str, datasets.Dataset], str]:
    """``openslr/librispeech_asr`` ("clean": train.100, validation, test), decoded by soundfile, not torchcodec."""
    ds = datasets.load_dataset(hub_id, "clean").cast_column("audio", datasets.Audio(decode=False))
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
    if not data_dir:
        raise ValueError(f"{benchmark} needs a data dir (--data-dir)")
    if data_dir.startswith("hub:"):
        if benchmark != "librispeech":
            raise ValueError(f"{benchmark}: hub ids are supported for librispeech only; give a local folder")
        return _hub_librispeech(data_dir[4:])
    rows, files = {"fsdd": fsdd_rows, "an4": an4_rows, "librispeech": librispeech_rows}[benchmark](data_dir)
    fp = fingerprint_files(files)
    built = featurize(benchmark, fp, rows)
    if "val" not in built:
        train_indices, val_indices = hold_out(rows["train"], val_size)
        built["val"] = built["train"].select(val_indices)
        built["train"] = built["train"].select(train_indices)
    return {split: built[split] for split in ("train", "val", "test")}, fp
