"""Per-task adapters between your own data (``tasks/own_data.py``) and each task's DataModule and Module.

An adapter knows, for one task: the annotation file names of a folder, how a table row becomes a task example
(the same example dicts the task's own loaders produce), the built-in data, the data-dependent information that is
saved with a checkpoint (``info``: tokenizer, label set, answer vocabulary, feature statistics), how to hand
examples to the task's ``DataModule`` (reusing its collate and samplers), which files ``predict`` reads, and what a
prediction is.

| task | folder layout (fields; aliases) | predict inputs |
|---|---|---|
| sentiment | a table: ``text`` (sentence, review), ``label`` | tables (``text``) or ``.txt`` (one text a line) |
| captioning | ``captions.jsonl``: ``image``, ``captions`` (caption, text) | image files or folders |
| vqa | ``qa.jsonl``: ``image``, ``question``, ``answer``, optional ``group`` | a table of ``image``, ``question`` |
| med_report | ``reports.jsonl``/a CSV: ``image`` (image_path, path), ``report`` (findings), ``indication`` | images |
| asr | ``metadata.csv``: ``file_name``, ``transcription`` (text) | audio files or folders |
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import zoo
from tasks import asr_data, captioning, med_report, sentiment, seq2seq, vqa, vqa_data
from tasks.data import cache_dir, fingerprint_files, fingerprint_params
from tasks.inputs import check_label, require_text, resolve_inside, text_lines
from tasks.metrics.vqa_normalize import normalize_exact
from tasks.own_data import get_field, read_table

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
AUDIO_SUFFIXES = (".wav", ".flac", ".sph", ".ogg", ".mp3")
TEXT_SUFFIXES = (".txt", ".csv", ".tsv", ".jsonl", ".json", ".parquet")


def _row_id(row: Mapping[str, Any], columns: Mapping[str, str], fallback: str) -> str:
    value = get_field(row, "id", columns, required=False)
    return str(value) if value not in (None, "") else fallback


def _image(value: Any, root: Path, where: str) -> dict[str, Any]:
    """``{"image_path": file}`` for a path relative to ``root``, ``{"image": PNG bytes}`` for a hub image."""
    if isinstance(value, str):
        path = resolve_inside(root, value, where)
        if not path.is_file():
            raise ValueError(f"{where}: image file {path} not found")
        return {"image_path": str(path)}
    if hasattr(value, "convert"):  # a PIL image from the hub
        buffer = io.BytesIO()
        value.convert("RGB").save(buffer, format="PNG")
        return {"image": buffer.getvalue()}
    raise ValueError(f"{where}: image must be a file path, got {type(value).__name__}")


def _tokenizer(info: Mapping[str, Any]) -> Any:
    return zoo.tokenizer_from_dict(dict(info["tokenizer"]))


class Sentiment:
    annotation = ("data.csv", "data.jsonl", "data.parquet")
    predict_suffixes = TEXT_SUFFIXES

    def example(self, row: dict, root: Path, columns: dict, config: Any) -> dict:
        where = row["_where"]
        label = get_field(row, "label", columns, aliases=("labels", "sentiment"))
        return {"id": _row_id(row, columns, where), "label_name": require_text(str(label), where, "label"),
                "text": require_text(get_field(row, "text", columns, aliases=("sentence", "review")), where, "text")}

    def builtin(self, config: Any) -> dict:
        splits, _ = sentiment.load_splits(config)
        return {s: [{**r, "label_name": sentiment.LABELS[r["label"]]} for r in rows] for s, rows in splits.items()}

    def info(self, config: Any, train: Any) -> dict:
        names = sorted({r["label_name"] for r in train}, key=_label_key)
        tokenizer = sentiment.build_tokenizer(config.tokenizer, [r["text"] for r in train])
        return {"tokenizer": tokenizer.to_dict(), "labels": names}

    def install(self, dm: Any, splits: dict, info: dict) -> None:
        index = {name: i for i, name in enumerate(info["labels"])}
        dm.tokenizer = _tokenizer(info)
        dm.splits = {}
        for split, rows in splits.items():
            for r in rows:
                if split != "predict":
                    check_label(r["label_name"], index, f"{split} example {r['id']}")
            dm.splits[split] = [{"id": r["id"], "text": r["text"], "label": index.get(r["label_name"], 0)}
                                for r in rows]

    def predict_examples(self, files: list[Path], columns: dict, config: Any) -> list[dict]:
        rows = []
        for path in files:
            if path.suffix.lower() == ".txt":
                rows += [{"id": f"{path}:{n}", "text": line.strip(), "label_name": ""}
                         for n, line in text_lines(path) if line.strip()]
            else:
                rows += [{"id": _row_id(r, columns, r["_where"]), "label_name": "", "text": require_text(
                    get_field(r, "text", columns, aliases=("sentence", "review")), r["_where"], "text")}
                    for r in read_table(path)]
        return rows

    def predict(self, module: Any, batch: dict) -> list[dict]:
        probs = module.logits(batch).softmax(-1)  # (B, K)
        best = probs.argmax(-1).tolist()
        return [{"prediction": module.labels[k], "probability": round(float(p[k]), 6)} for k, p in zip(best, probs)]


def _label_key(name: str) -> tuple:
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


class Captioning:
    annotation = ("captions.jsonl",)
    predict_suffixes = IMAGE_SUFFIXES

    def example(self, row: dict, root: Path, columns: dict, config: Any) -> dict:
        where = row["_where"]
        image = get_field(row, "image", columns, aliases=("image_path", "file_name", "path"))
        captions = get_field(row, "captions", columns, aliases=("caption", "text", "sentences"))
        return {"id": _row_id(row, columns, str(image)), **_image(image, root, where),
                "captions": captioning._check_captions(captions, where)}

    def builtin(self, config: Any) -> dict:
        return captioning.load_splits(config)[0]

    def info(self, config: Any, train: Any) -> dict:
        texts = [c for r in train for c in r["captions"]]
        return {"tokenizer": captioning.build_tokenizer(config.tokenizer, texts).to_dict()}

    def install(self, dm: Any, splits: dict, info: dict) -> None:
        dm.tokenizer = _tokenizer(info)
        dm.splits = dict(splits)
        if "train" in splits:  # one (image, caption) pair an image an epoch, cycling through its captions
            dm.splits["train"] = captioning.CaptionCycle(splits["train"], dm.seed)

    def predict_examples(self, files: list[Path], columns: dict, config: Any) -> list[dict]:
        return [{"id": str(p), "image_path": str(p), "captions": [""]} for p in files]

    def predict(self, module: Any, batch: dict) -> list[dict]:
        inputs = seq2seq.modality_inputs(batch, ("image",))
        return [{"prediction": t} for t in seq2seq.generate_texts(module.net, inputs, module.tokenizer,
                                                                  module.config.decoding)]


class MedReport(Captioning):
    annotation = ("reports.jsonl", "reports.csv")
    aliases = med_report.CSV_COLUMNS  # the same column names as the task's MIMIC-CXR-style CSV reader

    def example(self, row: dict, root: Path, columns: dict, config: Any) -> dict:
        where = row["_where"]
        image = get_field(row, "image", columns, aliases=self.aliases["image_path"] + ("file_name",))
        report = get_field(row, "report", columns, aliases=self.aliases["report"])
        indication = get_field(row, "indication", columns, aliases=self.aliases["indication"], required=False)
        return {"id": _row_id(row, columns, str(image)), **_image(image, root, where),
                "indication": str(indication or "").strip(), "report": med_report._report(report, where)}

    def builtin(self, config: Any) -> dict:
        return med_report.load_splits(config)[0]

    def info(self, config: Any, train: Any) -> dict:
        texts = [r["report"] for r in train] + [r["indication"] for r in train]
        return {"tokenizer": med_report.build_tokenizer(config.tokenizer, texts).to_dict()}

    def install(self, dm: Any, splits: dict, info: dict) -> None:
        dm.tokenizer = _tokenizer(info)
        dm.splits = dict(splits)

    def predict_examples(self, files: list[Path], columns: dict, config: Any) -> list[dict]:
        return [{"id": str(p), "image_path": str(p), "indication": "", "report": ""} for p in files]

    def predict(self, module: Any, batch: dict) -> list[dict]:
        inputs = seq2seq.modality_inputs(batch, ("image", "text", "text_mask"))
        return [{"prediction": t} for t in seq2seq.generate_texts(module.net, inputs, module.tokenizer,
                                                                  module.config.decoding)]


class VQA:
    annotation = ("qa.jsonl", "questions.jsonl", "qa.csv")
    predict_suffixes = TEXT_SUFFIXES

    def example(self, row: dict, root: Path, columns: dict, config: Any, answer_required: bool = True) -> dict:
        where = row["_where"]
        image = get_field(row, "image", columns, aliases=("image_name", "image_path", "file_name"))
        answer = get_field(row, "answer", columns, required=answer_required)
        answer = normalize_exact(str(answer)) if answer is not None else ""
        if answer_required and not answer:
            raise ValueError(f"{where}: empty answer")
        group = get_field(row, "group", columns, aliases=("answer_type",), required=False)
        group = str(group).strip().lower() if group else ("closed" if answer in ("yes", "no") else "open")
        image = _image(image, root, where)
        return {"id": _row_id(row, columns, where), "image_source": image.get("image_path") or image["image"],
                "question": require_text(get_field(row, "question", columns), where, "question"), "encoding": None,
                "answer": answer, "answers": [answer], "group": group}

    def assemble(self, rows: list[dict], config: Any) -> vqa_data.Questions:
        """Rows → ``Questions`` with each image once (files decoded lazily, hub images now)."""
        sources = list(dict.fromkeys(r["image_source"] for r in rows))
        index = {source: i for i, source in enumerate(sources)}
        if all(isinstance(s, str) for s in sources):
            store = vqa_data.ImageStore(paths=[Path(s) for s in sources], size=config.image_size)
        else:
            store = vqa_data.ImageStore([vqa_data.load_image(io.BytesIO(s) if isinstance(s, bytes) else Path(s),
                                                             config.image_size) for s in sources])
        questions = [{k: v for k, v in r.items() if k != "image_source"} | {"image_index": index[r["image_source"]]}
                     for r in rows]
        return vqa_data.Questions(questions, store)

    def builtin(self, config: Any) -> dict:
        return vqa.load_splits(config)[0]

    def info(self, config: Any, train: Any) -> dict:
        rows = train.rows
        texts = [vqa.question_text(r, config.question_input) for r in rows]
        texts += [r["answer"] for r in rows] if config.answer_mode == "generate" else []
        return {"tokenizer": zoo.WordTokenizer.train(texts, min_freq=1).to_dict(),
                "answers": vqa.answer_vocabulary(rows, config.max_answers)}

    def install(self, dm: Any, splits: dict, info: dict) -> None:
        dm.tokenizer = _tokenizer(info)
        dm.set_answers(info["answers"])
        dm.splits = dict(splits)

    def predict_examples(self, files: list[Path], columns: dict, config: Any) -> vqa_data.Questions:
        rows = [self.example(r, p.parent, columns, config, answer_required=False) for p in files for r in read_table(p)]
        return self.assemble(rows, config)

    def predict(self, module: Any, batch: dict) -> list[dict]:
        return [{"prediction": answer} for answer in module.answer(batch)[1]]


class ASR:
    annotation = ("metadata.csv", "metadata.jsonl")
    predict_suffixes = AUDIO_SUFFIXES

    def example(self, row: dict, root: Path, columns: dict, config: Any) -> dict:
        where = row["_where"]
        audio = get_field(row, "file_name", columns, aliases=("audio", "path", "file"))
        text = require_text(get_field(row, "transcription", columns, aliases=("text", "transcript", "sentence")),
                     where, "transcription")
        source = resolve_inside(root, audio, where) if isinstance(audio, str) else _hub_audio(audio, where)
        if not Path(source).is_file():
            raise ValueError(f"{where}: audio file {source} not found")
        return {"id": f"own:{_row_id(row, columns, str(audio))}", "text": text, "source": str(source)}

    def assemble_all(self, splits: dict[str, list[dict]], config: Any) -> dict:
        """Featurized splits, cached under a key of the audio contents and of every split's rows (so another
        carving or an edited transcript is a new cache entry)."""
        files = sorted({Path(r["source"]) for rows in splits.values() for r in rows})
        return asr_data.featurize("own", fingerprint_params(audio=fingerprint_files(files), rows=splits), splits)

    def builtin(self, config: Any) -> dict:
        return asr_data.load_splits(config.benchmark, config.data_dir, config.val_size, config.builtin_size)[0]

    def info(self, config: Any, train: Any) -> dict:
        tokenizer = zoo.ByteTokenizer() if config.tokenizer == "char" else zoo.WhisperBPETokenizer()
        stats = asr_data.feature_stats(train) if config.feature_norm == "train" else None
        return {"tokenizer": tokenizer.to_dict(), "feature_stats": stats}

    def install(self, dm: Any, splits: dict, info: dict) -> None:
        dm.tokenizer = _tokenizer(info)
        dm.feature_stats = info["feature_stats"]
        dm.splits = {split: asr_data.Utterances(data, dm.config, dm.tokenizer) for split, data in splits.items()}

    def predict_examples(self, files: list[Path], columns: dict, config: Any) -> Any:
        rows = [{"id": str(p), "text": "", "source": str(p)} for p in files]
        return self.assemble_all({"predict": rows}, config)["predict"]

    def predict(self, module: Any, batch: dict) -> list[dict]:
        texts = seq2seq.generate_texts(module.net, module.inputs(batch), module.tokenizer, module.config.decoding)
        return [{"prediction": t} for t in texts]


def _hub_audio(value: Any, where: str) -> Path:
    """A hub audio cell (``{"path", "bytes"}``) as a local file under the zoo cache."""
    if isinstance(value, Mapping) and value.get("bytes"):
        path = cache_dir() / "hub-audio" / Path(str(value.get("path") or "audio.wav")).name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(value["bytes"])
        return path
    if isinstance(value, Mapping) and value.get("path"):
        return Path(value["path"])
    raise ValueError(f"{where}: audio must be a file name or a hub audio cell, got {type(value).__name__}")


ADAPTERS = {"sentiment": Sentiment(), "captioning": Captioning(), "vqa": VQA(), "med_report": MedReport(),
            "asr": ASR()}
