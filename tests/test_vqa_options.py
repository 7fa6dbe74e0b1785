"""vqa ``answer_options="question"``: the answers a question allows (the options of an "or" question, else yes/no
after an auxiliary verb), the mask in plain and scene batches and through ``zoo fit`` / ``zoo predict``, and that
the prediction never leaves the allowed set while the loss stays over the whole vocabulary."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

from tasks import vqa
from tasks.vqa import scenes as vqa_scenes
from tasks.vqa.options import OptionIndex
from tests.test_vqa import write_rad_release

VOCABULARY = ["yes", "no", "mri", "ct", "ct scan", "abscess", "left", "on the left", "right", "right side", "both",
              "t2 weighted", "flair", "mass", "lung", "or"]


@pytest.mark.parametrize(("question", "allowed"), [
    ("Is there a pneumothorax?", {"yes", "no"}),
    ("Does the liver show an enhancing mass?", {"yes", "no"}),
    ("Is this an MRI or a CT scan?", {"mri", "ct", "ct scan"}),  # after "or" and its article
    ("Is the lesion on the LEFT or right side?", {"left", "on the left", "right", "right side"}),
    ("Which side, left or right?", {"left", "right"}),
    ("Are the opacities on the left, right, or both sides?", {"left", "on the left", "right", "both"}),
    ("Is this a T1 weighted, T2 weighted, or FLAIR image?", {"t2 weighted", "flair"}),
    ("Is the mass, in the lung, left or right?", {"left", "right"}),  # commas that list no options
    ("Is this an abscess or a tumour?", {"abscess"}),  # one option in the vocabulary: the only one predictable
    ("Is it hypoinflation or hyperinflation?", {"yes", "no"}),  # no option in the vocabulary
    ("What modality is this?", None),
    ("Which side is the abscess on?", None),  # no "or": the answers it names are not options
    ("Isthere a mass?", None),
])
def test_allowed_answers_come_from_the_question(question: str, allowed: set[str] | None) -> None:
    found = OptionIndex(VOCABULARY).allowed(question)
    assert (None if found is None else {VOCABULARY[i] for i in found}) == allowed


def test_a_vocabulary_without_yes_and_no_restricts_nothing_for_closed_questions() -> None:
    assert OptionIndex(["left", "right", "yes"]).allowed("Is it on the left?") is None
    assert OptionIndex(["left", "right"]).allowed("Is it on the left or right?") == [0, 1]


def test_mask_rows_follow_the_questions() -> None:
    mask = OptionIndex(VOCABULARY).mask(["Is there a mass?", "What organ is this?"])
    assert mask.shape == (2, len(VOCABULARY)) and mask.dtype == torch.bool
    assert mask[0].nonzero().squeeze(1).tolist() == [0, 1] and bool(mask[1].all())


QUESTIONS = [  # (image, question, answer, answer_type, phrase_type)
    ("a.png", "Is there a fracture?", "yes", "CLOSED", "freeform"),
    ("a.png", "Which organ is shown?", "left lung", "OPEN", "freeform"),
    ("b.png", "Is the heart enlarged?", "mild", "CLOSED", "freeform"),  # a closed answer outside yes/no
    ("b.png", "Is this a CT or an MRI?", "ct", "CLOSED", "freeform"),
    ("b.png", "What modality is this?", "mri", "OPEN", "freeform"),
    ("c.png", "Is there effusion?", "no", "CLOSED", "freeform"),
    ("c.png", "Is the lung collapsed?", "no", "CLOSED", "test_freeform"),
    ("a.png", "Is this an MRI or a CT?", "mri", "CLOSED", "test_para"),
    ("c.png", "Which organ is this?", "left lung", "OPEN", "test_freeform"),
]


@pytest.fixture()
def datamodule(tmp_path: Path) -> vqa.DataModule:
    root = write_rad_release(tmp_path / "vqa_rad", QUESTIONS)
    config = dataclasses.replace(vqa.tiny("vqa-rad"), data_dir=str(root), image_size=30, val_fraction=0.2,
                                 answer_options="question")
    module = vqa.DataModule(config)
    module.setup("fit")
    return module


ANSWERS = ["left lung", "yes", "no", "mri", "ct", "mild"]
LOGITS = torch.tensor([10.0, 1.0, 2.0, 3.0, 4.0, 5.0])  # "left lung" first, then the later the higher


def fixed_answers(datamodule: vqa.DataModule, monkeypatch: pytest.MonkeyPatch,
                  answer_options: str = "question") -> vqa.Module:
    """A module over ``ANSWERS`` whose head always gives ``LOGITS``; the datamodule labels with the same list."""
    config = dataclasses.replace(datamodule.config, answer_options=answer_options)
    datamodule.config = config
    datamodule.set_answers(ANSWERS)
    module = vqa.Module(config, datamodule.tokenizer.to_dict(), answers=ANSWERS)
    project = module.net.project
    monkeypatch.setattr(module.net, "project", lambda pooled: project(pooled) * 0.0 + LOGITS)
    return module


def examples(datamodule: vqa.DataModule, questions: list[str]) -> list[dict]:
    found = {}
    for split in ("train", "val", "test"):
        data = datamodule.splits[split]
        found.update({row["question"]: data[i] for i, row in enumerate(data.rows)})
    return [found[q] for q in questions]


def test_prediction_stays_inside_the_allowed_answers(datamodule: vqa.DataModule,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    questions = ["Is the lung collapsed?", "Is this an MRI or a CT?", "Which organ is this?"]
    module = fixed_answers(datamodule, monkeypatch).eval()
    batch = datamodule.collate(examples(datamodule, questions))
    assert batch["answer_mask"].tolist() == [[False, True, True, False, False, False],
                                             [False, False, False, True, True, False], [True] * 6]
    assert module.answer(batch)[1] == ["no", "ct", "left lung"]
    plain = fixed_answers(datamodule, monkeypatch, "all").eval()
    assert plain.answer(datamodule.collate(examples(datamodule, questions)))[1] == ["left lung"] * 3


def test_the_loss_is_over_the_whole_vocabulary(datamodule: vqa.DataModule, monkeypatch: pytest.MonkeyPatch) -> None:
    module = fixed_answers(datamodule, monkeypatch).train()
    batch = datamodule.collate(examples(datamodule, ["Is the heart enlarged?"]))  # answer "mild"
    assert batch["label"].tolist() == [ANSWERS.index("mild")] and batch["answer_mask"][0].tolist() == [
        False, True, True, False, False, False]
    loss, predicted = module.answer(batch)
    expected = torch.nn.functional.cross_entropy(LOGITS.unsqueeze(0), batch["label"])
    assert math.isclose(loss.item(), expected.item(), rel_tol=1e-6) and predicted == ["no"]


def test_scene_batches_carry_one_mask_row_per_question() -> None:
    datamodule = vqa.DataModule(dataclasses.replace(vqa.tiny(), scene_batch=True, answer_options="question"))
    datamodule.setup("fit")
    scenes = vqa_scenes.Scenes(datamodule.splits["train"])
    chosen = [scenes[0], scenes[1]]
    batch = datamodule.collate_scenes(chosen)
    questions = [q["question"] for e in chosen for q in e["questions"]]
    assert torch.equal(batch["answer_mask"], datamodule.options.mask(questions))
    assert len(questions) == len(batch["label"]) == len(batch["answer_mask"])
    yes_no = sorted(datamodule.answers.index(a) for a in ("yes", "no"))
    for question, row in zip(questions, batch["answer_mask"]):
        assert row.nonzero().squeeze(1).tolist() == (yes_no if question.startswith("Is ") else
                                                     list(range(len(datamodule.answers))))


def test_answer_options_need_the_classifier() -> None:
    with pytest.raises(ValueError, match="answer_options: 'question' needs answer_mode 'classify'"):
        vqa.Config(answer_mode="generate", answer_options="question")
    with pytest.raises(ValueError, match="answer_options"):
        vqa.Config(answer_options="some")


def test_fine_tuning_on_own_data_restricts_the_predictions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks.cli import main
    from tasks.core.checkpoints import load_checkpoint
    from tests.finetune_data import write_qa

    masks = []  # the answer masks the module met, in training and in predict
    answer = vqa.Module.answer
    monkeypatch.setattr(vqa.Module, "answer", lambda self, batch: masks.append(batch.get("answer_mask")) or
                        answer(self, batch))

    data = write_qa(tmp_path / "qa")  # "is it a square?" (yes / no) and "what colour is the shape?" per image
    configs = Path(__file__).resolve().parent.parent / "configs"
    quiet = ["--trainer.enable_progress_bar", "false", "--trainer.logger", "false"]
    assert main(["fit", "--config", str(configs / "vqa.yaml"), "--data.path", str(data), "--trainer.max_steps", "2",
                 "--model.options.answer_options", "question", "--trainer.default_root_dir", str(tmp_path / "run"),
                 *quiet]) == 0
    checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"
    saved = load_checkpoint(checkpoint, expected_task="vqa")["hyper_parameters"]["config"]
    assert saved["answer_options"] == "question"
    out = tmp_path / "predictions.jsonl"
    assert main(["predict", "--task", "vqa", "--ckpt_path", str(checkpoint), "--data.predict", str(data / "qa.jsonl"),
                 "--output", str(out), *quiet]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 24 and {r["prediction"] for r in rows[1::2]} <= {"yes", "no"}
    assert masks and all(m is not None for m in masks)
    assert [len(m.nonzero()) == 2 for m in masks[-1]][:4] == [False, True, False, True]  # yes / no for "is it ..."
