"""Medical report generation on your own data (``zoo fit|validate|test|predict --task med_report``).

``reports.jsonl`` or a CSV with ``image`` (image_path, path, dicom_path, file_name), ``report`` (findings, text) and
an optional ``indication``: the same column names as the task's MIMIC-CXR-style CSV reader. ``zoo predict`` reads
image files or folders (no indication), or tables of ``image`` and an optional ``indication`` (the training rows'
column names and ``--data.columns``; image paths relative to the table's folder), one prediction a row.

The clinical-efficacy metrics (``ce_*``) label chest-radiograph findings, so on your own data they are computed only
with ``--model.options "{clinical: true}"`` (``Config.clinical``; saved in the checkpoint); the built-in data keeps
them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tasks import med_report
from tasks.core import sizing
from tasks.core.adapter import IMAGE_SUFFIXES, Adapter, image_field, row_id, tokenizer_of
from tasks.core.finetune import FineTune
from tasks.core.own_data import TABLE_SUFFIXES, check_unique_ids, get_field, read_table
from tasks.core.own_datamodule import OwnData

LOG = logging.getLogger(__name__)
CLINICAL_SKIPPED = ("zoo: clinical-efficacy metrics (ce_*) skipped: they label chest-radiograph findings; add "
                    "--model.options \"{clinical: true}\" (zoo fit or zoo test) if your images are chest radiographs")
IMAGE_ALIASES = med_report.CSV_COLUMNS["image_path"] + ("file_name",)


class MedReportAdapter(Adapter):
    annotation = ("reports.jsonl", "reports.csv")
    predict_suffixes = IMAGE_SUFFIXES
    predict_images = True
    aliases = med_report.CSV_COLUMNS

    def example(self, row: dict, root: Path, columns: dict, config: Any) -> dict:
        inputs = self.inputs(row, root, columns)
        report = get_field(row, "report", columns, aliases=self.aliases["report"])
        return {**inputs, "report": med_report.check_report(report, row["_where"])}

    def inputs(self, row: dict, root: Path, columns: dict) -> dict:
        """A row's ``id``, image (relative to ``root``) and indication (empty when the row has none)."""
        where = row["_where"]
        image = get_field(row, "image", columns, aliases=IMAGE_ALIASES)
        indication = get_field(row, "indication", columns, aliases=self.aliases["indication"], required=False)
        return {"id": row_id(row, columns, str(image)), **image_field(image, root, where),
                "indication": str(indication or "").strip()}

    def builtin(self, config: Any) -> dict:
        return med_report.load_splits(config)[0]

    def info(self, config: Any, train: Any) -> dict:
        texts = med_report.tokenizer_texts(train)
        return {"tokenizer": med_report.build_tokenizer(config.tokenizer, texts).to_dict()}

    def own_data_options(self, config: Any, train: Any, tokenizer: Any) -> dict:
        """Images at ``sizing.IMAGE_SIZE``; reports and indications as long as 95% of the train ones; reports
        decoded without repeating a phrase (``sizing.NO_LOOPS``)."""
        length = sizing.percentile_length(tokenizer, [r["report"] for r in train], extra=2, floor=8, ceiling=256)
        indications = [r["indication"] for r in train if r["indication"]]
        options = {**sizing.image_options(config), "max_length": length,
                   "decoding": {"max_new_tokens": length - 1, **sizing.NO_LOOPS}}
        if indications:
            options["max_indication_length"] = sizing.percentile_length(tokenizer, indications, extra=0, floor=4,
                                                                        ceiling=128)
        return options

    def install(self, dm: Any, splits: dict, info: dict) -> None:
        dm.tokenizer = tokenizer_of(info)
        dm.splits = dict(splits)

    def predict_examples(self, files: list[Path], columns: dict, config: Any) -> list[dict]:
        """One example per image file (no indication) and per table row (``image``, optional ``indication``); two
        table rows with one ``id`` are an error (the predictions keep one row per id)."""
        examples, from_tables, wheres = [], [], []
        for path in files:
            if path.suffix.lower() in TABLE_SUFFIXES:
                table = read_table(path)
                rows = [{**self.inputs(row, path.parent, columns), "report": ""} for row in table]
                from_tables += rows
                wheres += [row["_where"] for row in table]
                examples += rows
            else:
                examples.append({"id": str(path), "image_path": str(path), "indication": "", "report": ""})
        check_unique_ids(from_tables, wheres, "predict")
        return examples

    def predict(self, module: Any, batch: dict) -> list[dict]:
        return [{"prediction": text} for text in module.generate(batch)]


ADAPTER = MedReportAdapter()


class Model(FineTune, med_report.Module):
    """Medical report generation: radiograph (+ indication) → report text.

    zoo predict reads image files or folders (no indication), or tables of image and an optional indication
    (paths relative to the table). The clinical-efficacy metrics (ce_*) label chest-radiograph findings: on your
    own data they are computed only when the model is built with --model.options "{clinical: true}"."""

    TASK = "med_report"

    def setup(self, stage: str) -> None:
        """With ``clinical`` unset (auto), a model of your own data leaves out the chest-finding metrics and says so
        once per run (checkpoints older than the data's ``source`` count as built-in data)."""
        super().setup(stage)
        if (stage != "predict" and self.clinical and self.config.clinical is None
                and self.data_info.get("source", "builtin") == "own"):
            self.use_clinical(False)
            if self.global_rank == 0:
                LOG.info(CLINICAL_SKIPPED)


class Data(OwnData):
    TASK = "med_report"
