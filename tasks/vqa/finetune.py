"""Visual question answering on your own data (``zoo fit|validate|test|predict --task vqa``).

``qa.jsonl`` (or ``questions.jsonl``, ``qa.csv``) with ``image`` (image_name, image_path, file_name), ``question``,
``answer`` and an optional ``group`` (answer_type; else closed for yes/no answers, open otherwise). ``zoo predict``
reads a table of ``image``, ``question``.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import zoo
from tasks import vqa
from tasks.core.adapter import TEXT_SUFFIXES, Adapter, image_field, row_id, tokenizer_of
from tasks.core.finetune import FineTune
from tasks.core.inputs import require_text
from tasks.core.own_data import get_field, read_table
from tasks.core.own_datamodule import OwnData
from tasks.vqa import data as vqa_data
from tasks.vqa.normalize import normalize_exact


class VQAAdapter(Adapter):
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
        image = image_field(image, root, where)
        return {"id": row_id(row, columns, where), "image_source": image.get("image_path") or image["image"],
                "question": require_text(get_field(row, "question", columns), where, "question"), "encoding": None,
                "answer": answer, "answers": [answer], "group": group}

    def questions(self, rows: list[dict], config: Any) -> vqa_data.Questions:
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

    def assemble(self, splits: dict[str, list[dict]], config: Any) -> dict[str, Any]:
        return {split: self.questions(rows, config) for split, rows in splits.items()}

    def builtin(self, config: Any) -> dict:
        return vqa.load_splits(config)[0]

    def info(self, config: Any, train: Any) -> dict:
        rows = train.rows
        texts = [vqa.question_text(r, config.question_input) for r in rows]
        texts += [r["answer"] for r in rows] if config.answer_mode == "generate" else []
        return {"tokenizer": zoo.WordTokenizer.train(texts, min_freq=1).to_dict(),
                "answers": vqa.answer_vocabulary(rows, config.max_answers)}

    def install(self, dm: Any, splits: dict, info: dict) -> None:
        dm.tokenizer = tokenizer_of(info)
        dm.set_answers(info["answers"])
        dm.splits = dict(splits)

    def check_eval(self, dm: Any, splits: dict, sources: Mapping[str, str]) -> None:
        """Answers outside the checkpoint's vocabulary get label -100 and count as wrong: say how many."""
        for split in [s for s in ("val", "test") if s in splits]:
            vqa.log_unknown_answers({split: splits[split]}, dm.answers, sources[split])

    def predict_examples(self, files: list[Path], columns: dict, config: Any) -> vqa_data.Questions:
        rows = [self.example(r, p.parent, columns, config, answer_required=False) for p in files for r in read_table(p)]
        return self.questions(rows, config)

    def predict(self, module: Any, batch: dict) -> list[dict]:
        return [{"prediction": answer} for answer in module.answer(batch)[1]]


ADAPTER = VQAAdapter()


class Model(FineTune, vqa.Module):
    """Visual question answering: image + question → answer."""

    TASK = "vqa"


class Data(OwnData):
    TASK = "vqa"
