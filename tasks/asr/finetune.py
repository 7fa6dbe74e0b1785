"""Speech recognition on your own data (``zoo fit|validate|test|predict --task asr``).

``metadata.csv`` (or ``metadata.jsonl``) with ``file_name`` (audio, path, file) and ``transcription`` (text,
transcript, sentence) beside the audio files. ``zoo predict`` reads audio files or folders.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tasks import asr
from tasks.asr import data as asr_data
from tasks.core import seq2seq
from tasks.core.adapter import AUDIO_SUFFIXES, Adapter, row_id, tokenizer_of
from tasks.core.data import cache_dir, fingerprint_files, fingerprint_params
from tasks.core.finetune import FineTune
from tasks.core.inputs import require_text, resolve_inside
from tasks.core.own_data import get_field
from tasks.core.own_datamodule import OwnData


class ASRAdapter(Adapter):
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
        return {"id": f"own:{row_id(row, columns, str(audio))}", "text": text, "source": str(source)}

    def assemble(self, splits: dict[str, list[dict]], config: Any) -> dict:
        """Featurized splits, cached under a key of the audio contents and of every split's rows (so another
        carving or an edited transcript is a new cache entry)."""
        files = sorted({Path(r["source"]) for rows in splits.values() for r in rows})
        return asr_data.featurize("own", fingerprint_params(audio=fingerprint_files(files), rows=splits), splits)

    def builtin(self, config: Any) -> dict:
        return asr_data.load_splits(config.benchmark, config.data_dir, config.val_size, config.builtin_size)[0]

    def info(self, config: Any, train: Any) -> dict:
        tokenizer = asr.build_tokenizer(config, train["text"])
        stats = asr_data.feature_stats(train) if config.feature_norm == "train" else None
        return {"tokenizer": tokenizer.to_dict(), "feature_stats": stats}

    def install(self, dm: Any, splits: dict, info: dict) -> None:
        dm.tokenizer = tokenizer_of(info)
        dm.feature_stats = info["feature_stats"]
        dm.splits = {split: asr_data.Utterances(data, dm.config, dm.tokenizer) for split, data in splits.items()}

    def predict_examples(self, files: list[Path], columns: dict, config: Any) -> Any:
        rows = [{"id": str(p), "text": "", "source": str(p)} for p in files]
        return self.assemble({"predict": rows}, config)["predict"]

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


ADAPTER = ASRAdapter()


class Model(FineTune, asr.Module):
    """Speech recognition (audio → transcript).

    Audio is decoded with soundfile (WAV, FLAC, NIST SPHERE), resampled to 16 kHz and mixed to mono; an unreadable,
    empty or NaN/inf file is a one-line error naming it. Audio longer than max_audio_seconds (5 s unless
    options set it, e.g. {max_audio_seconds: 30}) is not chunked: it is an error naming the file, or with options
    {on_long: truncate} only its first max_audio_seconds are used (the transcript stays whole).
    """

    TASK = "asr"


class Data(OwnData):
    TASK = "asr"
