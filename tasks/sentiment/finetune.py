"""Sentiment on your own data (``zoo fit|validate|test|predict --task sentiment``).

A table with ``text`` (aliases sentence, review) and ``label`` (labels, sentiment); the label set is the train
split's. ``zoo predict`` reads tables (``text``) or ``.txt`` files (one text a line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tasks import sentiment
from tasks.core import sizing
from tasks.core.adapter import TEXT_SUFFIXES, Adapter, row_id, tokenizer_of
from tasks.core.finetune import FineTune
from tasks.core.inputs import check_label, require_label, require_text, text_lines
from tasks.core.own_data import get_field, read_table
from tasks.core.own_datamodule import OwnData


class SentimentAdapter(Adapter):
    annotation = ("data.csv", "data.jsonl", "data.parquet")
    predict_suffixes = TEXT_SUFFIXES

    def example(self, row: dict, root: Path, columns: dict, config: Any) -> dict:
        where = row["_where"]
        label = get_field(row, "label", columns, aliases=("labels", "sentiment"))
        return {"id": row_id(row, columns, where), "label_name": require_label(label, where),
                "text": require_text(get_field(row, "text", columns, aliases=("sentence", "review")), where, "text")}

    def builtin(self, config: Any) -> dict:
        splits, _ = sentiment.load_splits(config)
        labels = sentiment.LABELS
        return {s: [{**r, "label_name": labels[r["label"]]} for r in rows] for s, rows in splits.items()}

    def info(self, config: Any, train: Any) -> dict:
        names = sorted({r["label_name"] for r in train}, key=_label_key)
        tokenizer = sentiment.build_tokenizer(config.tokenizer, [r["text"] for r in train],
                                              max_size=sentiment.vocab_cap(config))
        return {"tokenizer": tokenizer.to_dict(), "labels": names}

    def own_data_options(self, config: Any, train: Any, tokenizer: Any) -> dict:
        """Texts as long as 95% of the train texts."""
        return {"max_length": sizing.percentile_length(tokenizer, [r["text"] for r in train], extra=0, floor=16,
                                                       ceiling=256)}

    def install(self, dm: Any, splits: dict, info: dict) -> None:
        index = {name: i for i, name in enumerate(info["labels"])}
        dm.tokenizer = tokenizer_of(info)
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
                rows += [{"id": row_id(r, columns, r["_where"]), "label_name": "", "text": require_text(
                    get_field(r, "text", columns, aliases=("sentence", "review")), r["_where"], "text")}
                    for r in read_table(path)]
        return rows

    def predict(self, module: Any, batch: dict) -> list[dict]:
        probs = module.logits(batch).softmax(-1)  # (B, K)
        best = probs.argmax(-1).tolist()
        return [{"prediction": module.labels[k], "probability": round(float(p[k]), 6)} for k, p in zip(best, probs)]


def _label_key(name: str) -> tuple:
    """Numeric labels in numeric order, then the others alphabetically."""
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


ADAPTER = SentimentAdapter()


class Model(FineTune, sentiment.Module):
    """Sentiment classification: text → label (the labels of the training data)."""

    TASK = "sentiment"


class Data(OwnData):
    TASK = "sentiment"
