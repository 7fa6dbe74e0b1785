"""DDP on CPU (gloo, 2 processes): evaluation counts every test example exactly once.

Lightning's ``DistributedSampler`` pads an uneven eval set with repeats; the tasks' metrics de-duplicate by example
id. The test sets here have an odd size, so a repeat would show. One process trains a smoke run; ``--resume``
then evaluates the same final weights with ``--devices 2 --strategy ddp`` and must give the same metrics and
predictions. A DDP run from scratch must write one record whose metrics recompute exactly from its predictions.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tasks import get_task
from tests.conftest import env_without_pytest

pytestmark = pytest.mark.slow  # about a minute on 2 cores: each run starts 1-2 Python processes

GOOD = ["a charming and moving film", "sharp , funny and warm", "a gem", "truly wonderful acting", "great fun"]
BAD = ["a dull , lifeless mess", "boring and far too long", "falls flat", "the plot is a disaster", "tedious"]
COLOURS = {"red": (220, 30, 30), "blue": (30, 80, 220), "green": (30, 160, 60)}


def _glue_folder(root: Path) -> tuple[str, int]:
    """An SST-2 folder: 1,200 train rows (the smoke recipe holds out 1,000 for val) and 23 dev (test) rows."""
    rng = random.Random(0)
    train = [f"{rng.choice(GOOD)} {rng.choice(GOOD)}\t1" for _ in range(600)]
    train += [f"{rng.choice(BAD)} {rng.choice(BAD)}\t0" for _ in range(600)]
    rng.shuffle(train)
    dev = [f"{rng.choice(GOOD)} and {rng.choice(BAD)}\t{rng.randint(0, 1)}" for _ in range(11)]
    dev += [f"{rng.choice(GOOD)}\t1" for _ in range(6)] + [f"{rng.choice(BAD)}\t0" for _ in range(6)]
    root.mkdir()
    (root / "train.tsv").write_text("sentence\tlabel\n" + "\n".join(train) + "\n")
    (root / "dev.tsv").write_text("sentence\tlabel\n" + "\n".join(dev) + "\n")
    return "sst2", len(dev)


def _captions_folder(root: Path) -> tuple[str, int]:
    """A captions folder: 30 train, 3 val and 7 test images of one colour each, two captions per image."""
    lines = []
    for index, split in enumerate(["train"] * 30 + ["val"] * 3 + ["test"] * 7):
        colour = list(COLOURS)[index % 3]
        (root / "img").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 32), COLOURS[colour]).save(root / "img" / f"{index}.png")
        lines.append({"image": f"img/{index}.png", "split": split,
                      "captions": [f"a {colour} picture", f"the image is all {colour}"]})
    (root / "captions.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return "captions-folder", 7


FOLDERS = {"sentiment": _glue_folder, "captioning": _captions_folder}


def _bench(task: str, benchmark: str, data: Path, records: Path, runs: Path, *extra: str) -> None:
    argv = [sys.executable, "-m", "benchmarks.cli", "bench", task, "--benchmark", benchmark, "--recipe", "smoke",
            "--data-dir", str(data), "--records-dir", str(records), "--runs-dir", str(runs), "--accelerator", "cpu",
            "--no-progress", *extra]
    done = subprocess.run(argv, env={**env_without_pytest(), "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=600, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-3000:]


def _record_and_rows(records: Path) -> tuple[dict, list[dict]]:
    (line,) = [line for path in records.glob("*.jsonl") for line in path.read_text().splitlines()]
    record = json.loads(line)
    rows = [json.loads(row) for row in (records / record["predictions"]).read_text().splitlines()]
    return record, rows


@pytest.mark.parametrize("task", sorted(FOLDERS))
def test_two_processes_evaluate_like_one(task: str, tmp_path: Path) -> None:
    benchmark, num_test = FOLDERS[task](tmp_path / "data")
    _bench(task, benchmark, tmp_path / "data", tmp_path / "one", tmp_path / "runs-one")
    shutil.copytree(tmp_path / "runs-one", tmp_path / "runs-two")  # the trained run, evaluated again on 2 processes
    (finished,) = (tmp_path / "runs-two").rglob("record_id")
    finished.unlink()  # unfinished again: --resume continues only unfinished runs
    _bench(task, benchmark, tmp_path / "data", tmp_path / "two", tmp_path / "runs-two",
           "--resume", "--devices", "2", "--strategy", "ddp")
    (one, one_rows), (two, two_rows) = _record_and_rows(tmp_path / "one"), _record_and_rows(tmp_path / "two")
    assert two["device"]["count"] == 2 and two["steps"] == one["steps"]
    assert len(two_rows) == len({r["id"] for r in two_rows}) == num_test == two["num_test_examples"]
    assert sorted((r["id"], str(r["prediction"])) for r in two_rows) == \
        sorted((r["id"], str(r["prediction"])) for r in one_rows)
    assert one["metrics"].keys() == two["metrics"].keys()
    for name, value in one["metrics"].items():
        assert two["metrics"][name] == pytest.approx(value, abs=1e-6), name


def test_ddp_training_run_counts_each_test_example_once(tmp_path: Path) -> None:
    benchmark, num_test = _glue_folder(tmp_path / "data")
    _bench("sentiment", benchmark, tmp_path / "data", tmp_path / "records", tmp_path / "runs",
           "--devices", "2", "--strategy", "ddp", "--checkpoint-every", "3")
    record, rows = _record_and_rows(tmp_path / "records")
    assert len(rows) == len({r["id"] for r in rows}) == num_test
    rescored = get_task("sentiment").score_predictions(rows)
    assert rescored == pytest.approx(record["metrics"], abs=1e-6)
