"""Readers of the asr task's real datasets in their release layouts: rows ``{id, text, source}`` per split.

* ``fsdd``: ``recordings/{digit}_{speaker}_{index}.wav``; official split: index 0–4 test, the rest train;
  the transcript is the digit's word ("zero" … "nine").
* ``an4``: ``etc/an4_{train,test}.transcription`` lines ``[<s>] WORDS [</s>] (utt-id)`` (the test file has no
  tags), each id resolved through ``etc/an4_{train,test}.fileids`` to ``wav/<fileid>.sph``.
* ``librispeech``: a LibriSpeech root with ``train-*/`` (all of them), ``dev-clean/`` (validation, optional)
  and ``test-clean/``, each ``{speaker}/{chapter}/{speaker}-{chapter}.trans.txt`` beside ``<utt-id>.flac``.

Each reader takes a data dir that exists (``data.load_splits`` checks it by ``tasks.core.data.data_source``,
naming the benchmark's ``LAYOUTS`` entry) and also returns every file it read (audio and transcripts), for the
content fingerprint. A missing audio file, a malformed or non-UTF-8 transcript line or a listed path outside the
data folder raises a one-line ``ValueError`` (``DataError``) naming the file (and line).
"""

from __future__ import annotations

import re
from pathlib import Path

from tasks.core.data import hold_out_indices, require_file
from tasks.generators.tts_digits import DIGITS
from tasks.core.inputs import read_text, resolve_inside

VAL_SEED = 0  # validation carved from train: a fixed draw, independent of the training seed
FSDD_NAME = re.compile(r"(\d)_([A-Za-z]+)_(\d+)\.wav")
FSDD_TEST_INDICES = range(0, 5)
AN4_LINE = re.compile(r"^(?:<s>)?\s*(.*?)\s*(?:</s>)?\s*\(([^()\s]+)\)$")
LAYOUTS = {  # what each reader expects its data dir to hold (the release layout), for error messages
    "fsdd": "an FSDD folder with recordings/{digit}_{speaker}_{index}.wav",
    "an4": "an AN4 folder with etc/ and wav/",
    "librispeech": "a LibriSpeech root with train-*/, dev-clean/, test-clean/",
}


def _existing(audio: Path, named_in: object) -> Path:
    if not audio.is_file():
        raise ValueError(f"{audio}: no such audio file (named in {named_in})")
    return audio


def fsdd_rows(root: Path) -> tuple[dict[str, list[dict]], list[Path]]:
    """FSDD's official split (index 0–4 test, the rest train) and the files read."""
    folder = root / "recordings"
    files = sorted(folder.glob("*.wav"))
    if not files:
        raise FileNotFoundError(f"{folder}: no .wav recordings (expected {{digit}}_{{speaker}}_{{index}}.wav)")
    rows: dict[str, list[dict]] = {"train": [], "test": []}
    for path in files:
        match = FSDD_NAME.fullmatch(path.name)
        if match is None:
            raise ValueError(f"{path}: name does not follow {{digit}}_{{speaker}}_{{index}}.wav")
        split = "test" if int(match.group(3)) in FSDD_TEST_INDICES else "train"
        rows[split].append({"id": f"fsdd:{path.stem}", "text": DIGITS[int(match.group(1))],
                            "source": str(path)})
    return rows, files


def read_an4_transcription(path: Path) -> list[tuple[str, str]]:
    """``(utt-id, words)`` of an AN4 transcription file; a malformed line raises naming file and line."""
    pairs = []
    for line_no, line in enumerate(read_text(require_file(path, "AN4 transcription")).splitlines(), start=1):
        if not line.strip():
            continue
        match = AN4_LINE.match(line.strip())
        if match is None or not match.group(1):
            raise ValueError(f"{path}:{line_no}: expected '[<s>] WORDS [</s>] (utterance-id)', got {line!r}")
        pairs.append((match.group(2), match.group(1)))
    return pairs


def an4_rows(root: Path) -> tuple[dict[str, list[dict]], list[Path]]:
    """AN4 train (948) and test (the transcribed utterances) and the files read."""
    rows: dict[str, list[dict]] = {}
    files: list[Path] = []
    for split in ("train", "test"):
        fileids_path = root / "etc" / f"an4_{split}.fileids"
        fileids = [line.strip() for line in read_text(require_file(fileids_path, "AN4 file ids")).splitlines()]
        by_id = {Path(fileid).name: fileid for fileid in fileids if fileid}
        transcription = root / "etc" / f"an4_{split}.transcription"
        rows[split] = []
        for utt_id, words in read_an4_transcription(transcription):
            if utt_id not in by_id:
                raise ValueError(f"{transcription}: utterance {utt_id!r} is not listed in {fileids_path}")
            audio = _existing(resolve_inside(root / "wav", f"{by_id[utt_id]}.sph", f"{fileids_path}: file id"),
                              transcription)
            rows[split].append({"id": f"an4:{utt_id}", "text": words, "source": str(audio)})
            files.append(audio)
        files += [fileids_path, transcription]
    return rows, files


def _librispeech_folder(folder: Path) -> tuple[list[dict], list[Path]]:
    rows: list[dict] = []
    files: list[Path] = []
    for transcript in sorted(folder.glob("*/*/*.trans.txt")):
        files.append(transcript)
        for line_no, line in enumerate(read_text(transcript).splitlines(), start=1):
            if not line.strip():
                continue
            utt_id, _, words = line.strip().partition(" ")
            if not words.strip():
                raise ValueError(f"{transcript}:{line_no}: expected 'UTTERANCE-ID WORDS', got {line!r}")
            audio = _existing(resolve_inside(transcript.parent, f"{utt_id}.flac", f"{transcript}:{line_no}"),
                              f"{transcript}:{line_no}")
            rows.append({"id": f"librispeech:{utt_id}", "text": words.strip(), "source": str(audio)})
            files.append(audio)
    if not rows:
        raise FileNotFoundError(f"{folder}: no {{speaker}}/{{chapter}}/*.trans.txt transcripts")
    return rows, files


def librispeech_rows(root: Path) -> tuple[dict[str, list[dict]], list[Path]]:
    """Train (every ``train-*`` folder), val (``dev-clean``, if present) and test (``test-clean``)."""
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
    return hold_out_indices(len(rows), size, VAL_SEED)
