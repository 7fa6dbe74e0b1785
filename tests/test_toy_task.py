"""A new task is its package plus one registry line: a toy task written here (``toytask``: does a text contain the
word "good"?) runs through every ``zoo`` command — bench, score, reproduce, leaderboard, fit, predict."""

from __future__ import annotations

import csv
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import tasks
from benchmarks.cli import main
from leaderboard import validate_record
from leaderboard.store import read_records
from tasks.core.checkpoints import load_checkpoint

TOY_INIT = '''
"""Toy task: text → does it contain the word "good"? (labels no / yes)."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

import zoo
from tasks.core.contract import Benchmark, ConfigDataModule, Optim, TaskModule, TaskSpec, config_from_dict
from tasks.core.data import fingerprint_params
from tasks.metrics.classification import ClassificationScores

SPEC = TaskSpec(name="toy", version="1", description="text → contains 'good'? (accuracy, macro-F1)",
                benchmarks=(Benchmark("words", builtin=True, target=0.9),), primary_metric="accuracy",
                higher_is_better=True, metrics=("accuracy", "macro_f1"))
LABELS = ("no", "yes")
WORDS = ("the", "film", "was", "plot", "very", "bad", "music", "actor", "long", "fine")
SIZES = {"train": 160, "val": 32, "test": 48}


@dataclass(frozen=True)
class Config:
    benchmark: str = "words"
    data_dir: str | None = None
    preset: str = "tiny"
    model: dict = field(default_factory=lambda: {"width": 16, "num_encoder_layers": 1, "num_heads": 2})
    max_length: int = 8
    optim: Optim = Optim(lr=3e-3, batch_size=16, max_epochs=1, max_steps=6)


def tiny(benchmark: str = "words", arch: str = "zoo") -> Config:
    return Config(benchmark=benchmark)


def quick(benchmark: str = "words", arch: str = "zoo") -> Config:
    return Config(benchmark=benchmark, optim=Optim(lr=3e-3, batch_size=16, max_epochs=2))


PRESETS = {"smoke": tiny, "quick": quick, "standard": quick, "gpu": quick}


def generate() -> dict[str, list[dict]]:
    rng = random.Random(7)
    splits = {}
    for split, size in SIZES.items():
        rows = []
        for i in range(size):
            words = rng.choices(WORDS, k=5)
            if i % 2:
                words[rng.randrange(5)] = "good"
            rows.append({"id": f"{split}-{i}", "text": " ".join(words), "label": int("good" in words)})
        splits[split] = rows
    return splits


class DataModule(ConfigDataModule):
    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        self.splits = generate()
        self.fingerprint = fingerprint_params(generator="toy", seed=7, sizes=SIZES)
        self.tokenizer = zoo.WordTokenizer.train([r["text"] for r in self.splits["train"]], min_freq=1)

    def collate(self, examples: list[dict]) -> dict[str, Any]:
        ids, mask = self.tokenizer.batch_encode([e["text"] for e in examples], max_length=self.config.max_length)
        return {"text": ids, "text_mask": mask, "label": torch.tensor([e["label"] for e in examples]),
                "id": [e["id"] for e in examples]}


class Module(TaskModule):
    def __init__(self, config: Config | Mapping[str, Any], tokenizer: Mapping[str, Any],
                 labels: Sequence[str] = LABELS) -> None:
        config = config_from_dict(Config, config) if isinstance(config, Mapping) else config
        super().__init__(config)
        self.save_hyperparameters({"config": dataclasses.asdict(config), "tokenizer": dict(tokenizer),
                                   "labels": list(labels)})
        self.labels = tuple(labels)
        self.tokenizer = zoo.tokenizer_from_dict(dict(tokenizer))
        self.net = zoo.MultimodalModel(zoo.preset(config.preset, vocab_size=self.tokenizer.vocab_size,
                                                  num_classes=len(labels), num_decoder_layers=0,
                                                  max_text_positions=config.max_length, **config.model))
        self.metrics = torch.nn.ModuleDict({s: ClassificationScores(len(labels)) for s in ("val", "test")})

    def logits(self, batch: Mapping[str, Any]) -> torch.Tensor:
        return self.net.classify({"text": batch["text"], "text_mask": batch["text_mask"]})

    def step(self, batch: Mapping[str, Any], stage: str) -> torch.Tensor:
        logits = self.logits(batch)
        if stage != "train":
            predicted = logits.argmax(-1)
            self.metrics[stage].update(predicted, batch["label"], ids=batch["id"])
            if stage == "test":
                self.add_predictions(batch["id"], [self.labels[i] for i in predicted.tolist()],
                                     [self.labels[i] for i in batch["label"].tolist()],
                                     (predicted == batch["label"]).float().tolist())
        return F.cross_entropy(logits, batch["label"])

    def compute_metrics(self, stage: str) -> dict[str, float]:
        values = {name: float(value) for name, value in self.metrics[stage].compute().items()}
        self.metrics[stage].reset()
        return values


def score_predictions(rows: list[dict]) -> dict[str, float]:
    predicted = torch.tensor([LABELS.index(r["prediction"]) for r in rows])
    target = torch.tensor([LABELS.index(r["reference"]) for r in rows])
    return {"accuracy": float(MulticlassAccuracy(2, average="micro")(predicted, target)),
            "macro_f1": float(MulticlassF1Score(2, average="macro")(predicted, target))}
'''

TOY_FINETUNE = '''
"""The toy task on your data: a table with ``text`` and ``label``; ``zoo predict`` reads ``.txt`` files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import toytask
import zoo
from tasks.core.adapter import Adapter, row_id, tokenizer_of
from tasks.core.finetune import FineTune
from tasks.core.inputs import check_label, require_text, text_lines
from tasks.core.own_data import get_field
from tasks.core.own_datamodule import OwnData


class ToyAdapter(Adapter):
    annotation = ("data.csv",)
    predict_suffixes = (".txt",)

    def example(self, row: dict, root: Path, columns: dict, config: Any) -> dict:
        where = row["_where"]
        return {"id": row_id(row, columns, where), "text": require_text(get_field(row, "text", columns), where, "text"),
                "label_name": require_text(str(get_field(row, "label", columns)), where, "label")}

    def builtin(self, config: Any) -> dict:
        return {s: [{**r, "label_name": toytask.LABELS[r["label"]]} for r in rows]
                for s, rows in toytask.generate().items()}

    def info(self, config: Any, train: Any) -> dict:
        texts = [r["text"] for r in train]
        return {"tokenizer": zoo.WordTokenizer.train(texts, min_freq=1).to_dict(),
                "labels": sorted({r["label_name"] for r in train})}

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
        return [{"id": f"{path.name}:{n}", "text": line.strip(), "label_name": ""}
                for path in files for n, line in text_lines(path) if line.strip()]

    def predict(self, module: Any, batch: dict) -> list[dict]:
        return [{"prediction": module.labels[k]} for k in module.logits(batch).argmax(-1).tolist()]


ADAPTER = ToyAdapter()


class Model(FineTune, toytask.Module):
    """Toy classification: does the text contain "good"?"""

    TASK = "toy"


class Data(OwnData):
    TASK = "toy"
'''
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.logger", "false"]


@pytest.fixture()
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The toy package on ``sys.path`` and in the registry (its one line); forgotten afterwards."""
    package = tmp_path / "toytask"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent(TOY_INIT))
    (package / "finetune.py").write_text(textwrap.dedent(TOY_FINETUNE))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(tasks.PACKAGES, "toy", "toytask")
    yield
    for name in [n for n in sys.modules if n == "toytask" or n.startswith("toytask.")]:
        del sys.modules[name]


def test_bench_score_reproduce_and_leaderboard(toy: None, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    records_dir, runs_dir, pages = tmp_path / "records", tmp_path / "runs", tmp_path / "pages"
    assert main(["bench", "toy", "--recipe", "smoke", "--records-dir", str(records_dir), "--runs-dir", str(runs_dir),
                 "--no-progress"]) == 0
    (record,) = read_records(records_dir)
    validate_record(record)
    assert (record["task"], record["benchmark"], record["recipe"], record["model"]) == ("toy", "words", "smoke",
                                                                                          "zoo-tiny")
    assert record["steps"] == 6 and record["num_test_examples"] == 48 and set(record["metrics"]) == {
        "accuracy", "macro_f1"}
    predictions = records_dir / record["predictions"]
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert len(rows) == 48 and {r["reference"] for r in rows} == {"no", "yes"}
    capsys.readouterr()

    assert main(["score", str(predictions)]) == 0  # recomputed metrics exactly equal the record's
    assert f"record {record['id']}" in capsys.readouterr().out

    assert main(["reproduce", record["id"], "--records-dir", str(records_dir)]) == 0
    out = capsys.readouterr().out
    assert "verdict: reproduced" in out and "predictions: 48 of 48 recorded test predictions identical" in out
    assert len(read_records(records_dir)) == 1  # the rerun went to a temporary records dir

    assert main(["leaderboard", "--records-dir", str(records_dir), "--out", str(pages / "README.md"),
                 "--html-out", str(pages / "index.html")]) == 0
    assert "toy" in (pages / "README.md").read_text() and "toy" in (pages / "index.html").read_text()
    assert main(["leaderboard", "--check", "--records-dir", str(records_dir)]) == 0

    [checkpoint] = (runs_dir / "toy" / "words" / "smoke" / "zoo-tiny-s0").glob("*/checkpoints/last.ckpt")
    logger = {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": str(tmp_path / "test")}}
    assert main(["test", "--task", "toy", "--ckpt_path", str(checkpoint), "--trainer.logger", json.dumps(logger),
                 "--trainer.default_root_dir", str(tmp_path / "test"),
                 "--trainer.enable_progress_bar", "false"]) == 0  # the bench checkpoint on the built-in data
    (row,) = csv.DictReader((tmp_path / "test" / "lightning_logs" / "version_0" / "metrics.csv").open())
    assert {k: float(row[f"test/{k}"]) for k in record["metrics"]} == record["metrics"]


def test_fit_then_predict_on_own_data(toy: None, tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("text,label\n" + "".join(f"{'a good' if i % 2 else 'a bad'} film {i},{'yes' if i % 2 else 'no'}\n"
                                            for i in range(30)))
    run = tmp_path / "run"
    assert main(["fit", "--task", "toy", "--data.path", str(data), "--trainer.max_steps", "2",
                 "--trainer.default_root_dir", str(run), *QUIET]) == 0
    assert load_checkpoint(run / "checkpoints" / "last.ckpt", expected_task="toy")["hyper_parameters"]["task"] == "toy"
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("a good film\na bad film\n\nthe plot\n")
    out = tmp_path / "predictions.jsonl"
    assert main(["predict", "--task", "toy", "--ckpt_path", "last", "--trainer.default_root_dir", str(run),
                 "--data.predict", str(inputs), "--output", str(out), *QUIET]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["inputs.txt:1", "inputs.txt:2", "inputs.txt:4"]
    assert all(r["prediction"] in ("no", "yes") for r in rows)
