"""VQA task: the VQA-RAD loader on a fixture in the OSF layout, both answer modes through the harness,
rescoring with groups, unknown answers, the curriculum sampler and the majority baseline."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.run import RunOptions, run_benchmark
from leaderboard.predictions import read_predictions
from tasks import vqa
from tasks.vqa import data as vqa_data
from tasks.core.contract import Optim, config_from_dict, config_to_dict

RAD_ITEMS = [  # (image, question, answer as released, answer_type as released, phrase_type)
    ("synpic 1.jpg", "Is there a fracture?", "Yes ", "CLOSED", "freeform"),
    ("synpic 1.jpg", "Is a bone broken?", "yes", "CLOSED ", "para"),
    ("synpic2.jpg", "Which organ is shown?", "Left Lung", "OPEN", "freeform"),
    ("synpic2.jpg", "Is the heart enlarged?", 1, "CLOSED", "freeform"),
    ("synpic3.png", "What plane is this?", "Axial", "OPEN", "freeform"),
    ("synpic3.png", "Is there effusion?", "no", "CLOSED", "freeform"),
    ("synpic2.jpg", "Is the lung collapsed?", "No", "CLOSED", "test_freeform"),
    ("synpic3.png", "Which organ is this?", "left lung", "OPEN", "test_para"),
    ("synpic 1.jpg", "What modality is used?", "CT", "OPEN", "test_freeform"),
]


def write_rad_release(root: Path, items: list[tuple]) -> Path:
    """A tiny VQA-RAD release of ``items`` (image, question, answer, answer_type, phrase_type): the json and an
    image folder, names with spaces as in the real one."""
    images = root / vqa_data.RAD_IMAGES
    images.mkdir(parents=True)
    for seed, name in enumerate(sorted({item[0] for item in items})):
        pixels = np.random.default_rng(seed).integers(0, 255, (40, 50, 3), dtype=np.uint8)
        Image.fromarray(pixels).convert("L").save(images / name)  # grey, like a radiograph
    rows = [{"qid": str(i), "image_name": img, "question": q, "answer": a, "answer_type": t, "phrase_type": p,
             "image_organ": "CHEST"} for i, (img, q, a, t, p) in enumerate(items)]
    (root / vqa_data.RAD_JSON).write_text(json.dumps(rows))
    return root


@pytest.fixture()
def rad_folder(tmp_path: Path) -> Path:
    return write_rad_release(tmp_path / "vqa_rad", RAD_ITEMS)


def test_vqa_rad_loads_with_the_official_split_and_normalised_answers(rad_folder: Path) -> None:
    config = vqa.Config(benchmark="vqa-rad", data_dir=str(rad_folder), image_size=30, patch_size=15,
                        val_fraction=0.2)
    splits, fingerprint = vqa.load_splits(config)
    test = splits["test"]
    assert [r["question"] for r in test.rows] == [item[1] for item in RAD_ITEMS[6:]]
    assert [(r["answer"], r["group"]) for r in test.rows] == [("no", "closed"), ("left lung", "open"), ("ct", "open")]
    assert len(splits["train"]) + len(splits["val"]) == 6 and len(splits["val"]) == 1
    train_answers = {r["answer"] for s in ("train", "val") for r in splits[s].rows}
    assert train_answers == {"yes", "left lung", "1", "axial", "no"}
    assert {r["group"] for r in splits["train"].rows} <= {"closed", "open"}
    assert test[2]["image"].shape == (30, 30, 3) and test[2]["image"].dtype == np.uint8
    assert len(fingerprint) == 16


def test_vqa_rad_mevf_trains_on_mevf_split_and_tests_on_its_testset(rad_folder: Path) -> None:
    released = json.loads((rad_folder / vqa_data.RAD_JSON).read_text())
    mevf = rad_folder / "mevf_split"
    mevf.mkdir()
    frame = {**released[0], "question": "Is there a fracture in the image?", "phrase_type": "frame"}
    (mevf / "trainset.json").write_text(json.dumps(released[:6] + [frame]))
    (mevf / "testset.json").write_text(json.dumps(released[6:]))
    config = vqa.Config(benchmark="vqa-rad-mevf", data_dir=str(rad_folder), image_size=30, val_fraction=0.2)
    splits, fingerprint = vqa.load_splits(config)
    trained = [r["question"] for s in ("train", "val") for r in splits[s].rows]
    assert sorted(trained) == sorted([item[1] for item in RAD_ITEMS[:6]] + [frame["question"]])
    assert [r["question"] for r in splits["test"].rows] == [item[1] for item in RAD_ITEMS[6:]]
    assert fingerprint != vqa.load_splits(dataclasses.replace(config, benchmark="vqa-rad"))[1]
    with pytest.raises(ValueError, match="vqa-rad-mevf: reads mevf_split"):
        vqa.load_splits(dataclasses.replace(config, data_dir="hub:flaviagiammarino/vqa-rad"))


def test_configs_recorded_with_the_retired_rad_split_still_load() -> None:
    data = config_to_dict(vqa.Config(benchmark="vqa-rad"))
    assert config_from_dict(vqa.Config, {**data, "rad_split": "official"}) == vqa.Config(benchmark="vqa-rad")
    with pytest.raises(ValueError, match="rad_split: retired .*'mevf'.*vqa-rad-mevf"):
        config_from_dict(vqa.Config, {**data, "rad_split": "mevf"})
    with pytest.raises(ValueError, match="unknown config field"):
        config_from_dict(vqa.Config, {**data, "rad_splits": "official"})


def test_vqa_rad_missing_image_is_named(rad_folder: Path) -> None:
    (rad_folder / vqa_data.RAD_IMAGES / "synpic 1.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="synpic 1.jpg"):
        vqa.load_splits(vqa.Config(benchmark="vqa-rad", data_dir=str(rad_folder)))


@pytest.mark.parametrize("answer_mode", ["classify", "generate"])
def test_vqa_rad_runs_in_both_answer_modes(rad_folder: Path, records_dir: Path, tmp_path: Path,
                                           answer_mode: str) -> None:
    record = run_benchmark(RunOptions(
        task="vqa", benchmark="vqa-rad", recipe="smoke", data_dir=str(rad_folder), records_dir=records_dir,
        runs_dir=tmp_path / "runs", progress_bar=False,
        overrides={"answer_mode": answer_mode, "image_size": 30, "val_fraction": 0.2,
                   "optim": Optim(batch_size=4, max_epochs=1, max_steps=2)}))
    assert record["config"]["answer_mode"] == answer_mode
    assert set(record["metrics"]) == {"accuracy", "closed_accuracy", "open_accuracy"}
    rows = read_predictions(records_dir / record["predictions"])
    assert vqa.score_predictions(rows) == record["metrics"]
    assert rows[0]["reference"] == {"answer": "no", "group": "closed"}
    assert record["samples"][0]["input"]["image"].startswith("data:image/png;base64,")


@pytest.mark.parametrize("question_input", ["text", "encoding"])
def test_sort_of_clevr_rescores_with_groups(question_input: str, records_dir: Path, tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    record = run_benchmark(RunOptions(task="vqa", recipe="smoke", records_dir=records_dir, runs_dir=tmp_path / "runs",
                                      progress_bar=False, overrides={"question_input": question_input}))
    samples = [r.getMessage() for r in caplog.records if r.name == "tasks.vqa"]
    assert samples[0].startswith("  test-00000-q00: predicted ") and ", reference " in samples[0]
    assert set(record["metrics"]) == {"accuracy", "relational_accuracy", "nonrelational_accuracy"}
    rows = read_predictions(records_dir / record["predictions"])
    assert {r["reference"]["group"] for r in rows} == {"relational", "nonrelational"}
    assert vqa.score_predictions(rows) == record["metrics"]
    relational = [r["score"] for r in rows if r["reference"]["group"] == "relational"]
    assert math.isclose(record["metrics"]["relational_accuracy"], sum(relational) / len(relational), rel_tol=1e-6)


def test_unknown_test_answer_counts_as_wrong_not_an_error() -> None:
    rows = [{"id": "a", "prediction": "yes", "reference": {"answer": "yes", "group": "closed"}, "score": 1.0},
            {"id": "b", "prediction": "yes", "reference": {"answer": "never seen", "group": "open"}, "score": 0.0}]
    assert vqa.score_predictions(rows) == {"accuracy": 0.5, "closed_accuracy": 1.0, "open_accuracy": 0.0}


def test_unknown_test_answer_gets_no_label(rad_folder: Path) -> None:
    datamodule = vqa.DataModule(vqa.Config(benchmark="vqa-rad", data_dir=str(rad_folder), image_size=30))
    datamodule.setup("fit")
    test = datamodule.splits["test"]
    batch = datamodule.collate([test[i] for i in range(len(test))])
    assert "ct" not in datamodule.answers
    assert batch["label"].tolist()[2] == -100 and batch["label"].tolist()[0] == datamodule.answers.index("no")


def test_vqa_accuracy_rows_rescore_with_ten_answers() -> None:
    answers = ["2"] * 3 + ["3"] * 7
    rows = [{"id": "q1", "prediction": "two", "reference": {"answers": answers, "group": "number"}, "score": 0.9}]
    assert vqa.score_predictions(rows) == {"vqa_accuracy": pytest.approx(0.9, abs=1e-6),
                                           "accuracy": pytest.approx(0.9, abs=1e-6)}


def test_majority_baseline_per_group_and_per_question() -> None:
    def row(i: int, question: str, answer: str, group: str) -> dict:
        return {"id": str(i), "question": question, "answer": answer, "answers": [answer], "group": group}
    train = [row(0, "is it big?", "no", "closed"), row(1, "is it red?", "yes", "closed"),
             row(2, "is it red?", "yes", "closed"), row(3, "what organ?", "lung", "open"),
             row(4, "what plane?", "axial", "open"), row(5, "what plane?", "axial", "open")]
    test = [row(6, "is it big?", "no", "closed"), row(7, "is it red?", "yes", "closed"),
            row(8, "what organ?", "lung", "open"), row(9, "what else?", "liver", "open")]
    assert vqa.majority_baseline(train, test) == {"accuracy": 0.25, "closed_accuracy": 0.5, "open_accuracy": 0.0}
    assert vqa.majority_baseline(train, test, by="question") == {
        "accuracy": 0.75, "closed_accuracy": 1.0, "open_accuracy": 0.5}


def test_warmup_sampler_draws_only_warmup_indices_first() -> None:
    warm = [0, 2, 4]
    sampler = vqa_data.WarmupSampler(size=10, warmup_indices=warm, warmup_epochs=1.5, seed=0)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    sampler.set_epoch(2)
    third = list(sampler)
    assert set(first) <= set(warm) and set(second[:5]) <= set(warm)
    assert sorted(second[5:]) != [] and sorted(third) == list(range(10))
    assert len(first) == len(second) == len(third) == 10


def test_warmup_sampler_replays_an_epoch_and_advances_without_set_epoch() -> None:
    sampler = vqa_data.WarmupSampler(size=8, warmup_indices=[1, 3], warmup_epochs=0.5, seed=2)
    first, second = list(sampler), list(sampler)  # no set_epoch: the second pass is epoch 1
    assert set(first[:4]) <= {1, 3} and sorted(second) == list(range(8)) and first != second
    sampler.set_epoch(0)
    assert list(sampler) == first == sampler.order(0)


@pytest.mark.parametrize(("num_rows", "fraction", "num_held"), [(1, 0.5, 0), (2, 0.02, 1), (50, 0.1, 5),
                                                                 (101, 0.02, 2)])
def test_hold_out_takes_a_seeded_fraction_and_at_least_one_row(num_rows: int, fraction: float,
                                                                num_held: int) -> None:
    rows = [{"id": i} for i in range(num_rows)]
    kept, held = vqa_data.hold_out(rows, fraction, seed=4)
    assert len(held) == num_held and sorted(kept + held, key=lambda r: r["id"]) == rows
    assert (kept, held) == vqa_data.hold_out(rows, fraction, seed=4)
    assert [r["id"] for r in held] == sorted(r["id"] for r in held)


@pytest.mark.parametrize("benchmark", ["vqa-rad", "vqa-rad-mevf", "vqav2"])
def test_a_missing_data_dir_names_the_release_layout(benchmark: str, tmp_path: Path) -> None:
    hint = vqa.SPEC.benchmark(benchmark).data_hint
    with pytest.raises(ValueError, match=f"{benchmark} needs a data dir") as error:
        vqa.load_splits(vqa.Config(benchmark=benchmark))
    assert hint in str(error.value)
    with pytest.raises(FileNotFoundError, match="data dir not found"):
        vqa.load_splits(vqa.Config(benchmark=benchmark, data_dir=str(tmp_path / "absent")))


def test_answer_vocabulary_is_saved_with_the_module() -> None:
    datamodule = vqa.DataModule(vqa.tiny())
    datamodule.setup("fit")
    module = vqa.Module(vqa.tiny(), datamodule.tokenizer.to_dict(), **datamodule.module_kwargs())
    assert module.hparams["answers"] == datamodule.answers
    assert set(datamodule.answers) <= set(vqa_data.clevr.ANSWERS)


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="answer_mode"):
        vqa.Config(answer_mode="extract")
    with pytest.raises(ValueError, match="encoding"):
        vqa.Config(benchmark="vqa-rad", question_input="encoding")
    with pytest.raises(ValueError, match="patch_size"):
        vqa.Config(image_size=70, patch_size=15)
