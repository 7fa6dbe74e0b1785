"""Medical report generation on your own data (``zoo fit|validate|test|predict --task med_report``).

``reports.jsonl`` or a CSV with ``image`` (image_path, path, dicom_path, file_name), ``report`` (findings, text) and
an optional ``indication``: the same column names as the task's MIMIC-CXR-style CSV reader. ``zoo predict`` reads
image files or folders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tasks import med_report
from tasks.core.adapter import IMAGE_SUFFIXES, Adapter, image_field, row_id, tokenizer_of
from tasks.core.finetune import FineTune
from tasks.core.own_data import get_field
from tasks.core.own_datamodule import OwnData


class MedReportAdapter(Adapter):
    annotation = ("reports.jsonl", "reports.csv")
    predict_suffixes = IMAGE_SUFFIXES
    predict_images = True
    aliases = med_report.CSV_COLUMNS

    def example(self, row: dict, root: Path, columns: dict, config: Any) -> dict:
        where = row["_where"]
        image = get_field(row, "image", columns, aliases=self.aliases["image_path"] + ("file_name",))
        report = get_field(row, "report", columns, aliases=self.aliases["report"])
        indication = get_field(row, "indication", columns, aliases=self.aliases["indication"], required=False)
        return {"id": row_id(row, columns, str(image)), **image_field(image, root, where),
                "indication": str(indication or "").strip(), "report": med_report.check_report(report, where)}

    def builtin(self, config: Any) -> dict:
        return med_report.load_splits(config)[0]

    def info(self, config: Any, train: Any) -> dict:
        texts = med_report.tokenizer_texts(train)
        return {"tokenizer": med_report.build_tokenizer(config.tokenizer, texts).to_dict()}

    def install(self, dm: Any, splits: dict, info: dict) -> None:
        dm.tokenizer = tokenizer_of(info)
        dm.splits = dict(splits)

    def predict_examples(self, files: list[Path], columns: dict, config: Any) -> list[dict]:
        return [{"id": str(p), "image_path": str(p), "indication": "", "report": ""} for p in files]

    def predict(self, module: Any, batch: dict) -> list[dict]:
        return [{"prediction": text} for text in module.generate(batch)]


ADAPTER = MedReportAdapter()


class Model(FineTune, med_report.Module):
    """Medical report generation: radiograph (+ indication) → report text."""

    TASK = "med_report"


class Data(OwnData):
    TASK = "med_report"
