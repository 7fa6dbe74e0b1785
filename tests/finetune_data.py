"""Small data folders in the generic own-data layouts, written by the fine-tuning tests (no network, seconds)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import soundfile
from PIL import Image, ImageDraw

COLOURS = {"red": (220, 40, 40), "blue": (40, 60, 220)}
POSITIVE = ("a great film", "truly wonderful acting", "i loved it", "excellent and moving", "a delight")
NEGATIVE = ("a dull film", "truly awful acting", "i hated it", "boring and slow", "a mess")


def write_reviews(path: Path, rows: int = 40, split_column: bool = False) -> Path:
    """A CSV with columns ``review`` and ``stars`` (``1`` or ``5``), optionally a ``split`` column."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review", "stars", *(["split"] if split_column else [])])
        for i in range(rows):
            good = i % 2 == 0
            text = (POSITIVE if good else NEGATIVE)[i // 2 % 5] + f" number {i}"
            split = ["train", "train", "train", "val", "test"][i % 5]
            writer.writerow([text, "5" if good else "1", *([split] if split_column else [])])
    return path


def _image(path: Path, colour: str, square: bool) -> None:
    image = Image.new("RGB", (40, 40), (235, 235, 235))
    draw = ImageDraw.Draw(image)
    (draw.rectangle if square else draw.ellipse)((8, 8, 32, 32), fill=COLOURS[colour])
    image.save(path)


def _scenes(folder: Path, count: int) -> list[tuple[str, str, bool]]:
    folder.mkdir(parents=True, exist_ok=True)
    scenes = []
    for i in range(count):
        colour, square = ("red", "blue")[i % 2], i % 3 == 0
        name = f"img{i:02d}.png"
        _image(folder / name, colour, square)
        scenes.append((name, colour, square))
    return scenes


def write_captions(folder: Path, count: int = 12) -> Path:
    """``captions.jsonl`` (``image``, ``captions``; no split: val/test are carved) beside PNG images."""
    lines = [{"image": name, "captions": [f"a {colour} {'square' if square else 'circle'}",
                                          f"one {colour} shape"]} for name, colour, square in _scenes(folder, count)]
    (folder / "captions.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return folder


def write_qa(folder: Path, count: int = 12) -> Path:
    """``qa.jsonl`` (``image``, ``question``, ``answer``) beside PNG images; two questions an image."""
    lines = []
    for name, colour, square in _scenes(folder, count):
        lines.append({"image": name, "question": "what colour is the shape?", "answer": colour})
        lines.append({"image": name, "question": "is it a square?", "answer": "yes" if square else "no"})
    (folder / "qa.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return folder


def write_reports(folder: Path, count: int = 12) -> Path:
    """``reports.jsonl`` (``image``, ``report``, ``indication``) beside PNG images."""
    lines = [{"image": name, "indication": "cough", "report": "no acute findings." if colour == "red" else
              "small left pleural effusion."} for name, colour, _ in _scenes(folder, count)]
    (folder / "reports.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return folder


def write_tone(path: Path, hz: float, seconds: float = 0.5, rate: int = 16000) -> None:
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(int(hz)).normal(0, 0.01, t.shape)
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * hz * t) + noise).astype(np.float32), rate)


def write_speech(folder: Path, count: int = 12) -> Path:
    """``metadata.csv`` (``file_name``, ``transcription``) beside 16 kHz WAV files (tones standing in for words)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "metadata.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file_name", "transcription"])
        for i in range(count):
            word = ("one", "two")[i % 2]
            write_tone(folder / f"utt{i:02d}.wav", 300.0 + 400.0 * (i % 2) + i)
            writer.writerow([f"utt{i:02d}.wav", word])
    return folder


WRITERS = {"sentiment": lambda root: write_reviews(root / "reviews.csv"), "captioning": write_captions,
           "vqa": write_qa, "med_report": write_reports, "asr": write_speech}
