"""VQA accuracy against the official formula, the official answer normalisation, exact match per group."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tasks.vqa.metric import NORMALIZATIONS, ExactMatchAccuracy, VQAAccuracy, vqa_accuracy
from tasks.vqa.normalize import normalize_exact, normalize_vqa_answer


@dataclass(frozen=True)
class HumanAnswers:
    """Ten annotator answers of which ``num_matching`` say ``answer`` and the rest say ``other``."""

    answer: str
    other: str
    num_matching: int

    def answers(self) -> list[str]:
        return [self.answer] * self.num_matching + [self.other] * (10 - self.num_matching)


def official_loop(prediction: str, answers: list[str]) -> float:
    """The evaluation loop of the official script: leave each human answer out in turn, min(1, matches / 3)."""
    accuracies = []
    for left_out in range(len(answers)):
        others = [a for i, a in enumerate(answers) if i != left_out]
        accuracies.append(min(1.0, sum(a == prediction for a in others) / 3))
    return sum(accuracies) / len(accuracies)


# By hand, with k of 10 humans agreeing: k subsets leave out an agreeing answer (k - 1 remain), 10 - k leave out
# another one (k remain).
BY_HAND = {
    0: 0.0,  # no subset has a match
    1: (1 * 0 + 9 * (1 / 3)) / 10,  # = 0.3
    2: (2 * (1 / 3) + 8 * (2 / 3)) / 10,  # = 0.6
    3: (3 * (2 / 3) + 7 * 1) / 10,  # = 0.9: three agreeing humans are not yet full credit once averaged
    4: (4 * 1 + 6 * 1) / 10,  # = 1.0
    10: 1.0,
}


@pytest.mark.parametrize("num_matching", sorted(BY_HAND))
def test_vqa_accuracy_equals_the_official_formula(num_matching: int) -> None:
    humans = HumanAnswers("2", "3", num_matching)
    assert vqa_accuracy("2", humans.answers()) == pytest.approx(BY_HAND[num_matching])
    assert vqa_accuracy("two", humans.answers(), "always") == pytest.approx(BY_HAND[num_matching])
    assert vqa_accuracy("2", humans.answers()) == pytest.approx(official_loop("2", humans.answers()))


def test_named_hand_values() -> None:
    assert BY_HAND[2] == pytest.approx(0.6) and BY_HAND[3] == pytest.approx(0.9)


def test_fewer_answers_use_the_same_leave_one_out_average() -> None:
    answers = ["red", "red", "blue", "blue", "green"]
    # 2 subsets leave out a "red" (1 match: 1/3), 3 leave out another answer (2 matches: 2/3).
    assert vqa_accuracy("Red", answers) == pytest.approx((2 * (1 / 3) + 3 * (2 / 3)) / 5)
    assert vqa_accuracy("red", ["red"]) == 1.0 and vqa_accuracy("blue", ["red"]) == 0.0
    with pytest.raises(ValueError, match="answers"):
        vqa_accuracy("red", [])


@pytest.mark.parametrize(
    "raw,normalised",
    [
        ("Two", "2"),
        ("a dog.", "dog"),
        ("isnt", "isn't"),
        ("yes!", "yes"),
        ("1,000", "1000"),  # a comma between digits: all punctuation is deleted, not spaced
        ("1,000 (approx)", "1000 approx"),
        ("red,blue", "red blue"),  # otherwise punctuation that touches no space becomes a space
        ("left - right", "left right"),  # punctuation next to a space is deleted
        ("2.5", "2.5"),  # a period before a digit stays
        ("The  Ten\tcats", "10 cats"),
        ("none", "0"),
        ("couldnt've", "couldn't've"),
        ("its", "its"),  # also an ordinary word: not turned into "it's"
        ("An apple", "apple"),
    ],
)
def test_official_normalisation(raw: str, normalised: str) -> None:
    assert normalize_vqa_answer(raw) == normalised


@pytest.mark.parametrize(
    "raw,normalised", [("  Yes. ", "yes"), ("Left   Lung!", "left lung"), ("t-cell", "t-cell"), ("2.5", "2.5")]
)
def test_exact_normalisation(raw: str, normalised: str) -> None:
    assert normalize_exact(raw) == normalised


@dataclass(frozen=True)
class GroupedBatch:
    """Predictions and targets of a closed-vocabulary set with a question type per example."""

    predictions: tuple[str, ...] = ("Yes.", "no", "left lung", "2", "Right", "cube")
    targets: tuple[str, ...] = ("yes", "yes", "Left Lung", "2", "left", "cube")
    groups: tuple[str, ...] = ("closed", "closed", "open", "open", "open", "relational")


def test_exact_match_accuracy_per_group() -> None:
    batch = GroupedBatch()
    metric = ExactMatchAccuracy()
    metric.update(list(batch.predictions[:4]), list(batch.targets[:4]), list(batch.groups[:4]))
    metric.update(list(batch.predictions[4:]), list(batch.targets[4:]), list(batch.groups[4:]))
    values = {name: value.item() for name, value in metric.compute().items()}
    assert values == pytest.approx(
        {"accuracy": 4 / 6, "accuracy/closed": 1 / 2, "accuracy/open": 2 / 3, "accuracy/relational": 1.0}
    )
    assert metric.per_example() == [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]


def test_vqa_accuracy_metric_per_group() -> None:
    metric = VQAAccuracy()
    yes_no = HumanAnswers("yes", "no", 2)
    number = HumanAnswers("3", "4", 10)
    answers = [yes_no.answers(), number.answers(), yes_no.answers()]
    metric.update(["Yes", "3", "no"], answers, ["yes/no", "number", "yes/no"])  # ten "3": compared as they are
    values = {name: value.item() for name, value in metric.compute().items()}
    expected = {
        "vqa_accuracy": (BY_HAND[2] + 1.0 + 1.0) / 3,
        "vqa_accuracy/number": 1.0,
        "vqa_accuracy/yes/no": (BY_HAND[2] + 1.0) / 2,  # "no" is given by 8 of 10 humans
    }
    assert values == pytest.approx(expected)


@pytest.mark.parametrize(
    "targets,groups,field",
    [
        (["yes"], None, "targets"),
        (["yes", "no"], ["a"], "groups"),
        (["yes", "no"], ["a", ""], r"groups\[1\]"),
        (["yes", 1], None, r"targets\[1\]"),
    ],
)
def test_malformed_input_names_the_field(targets: list, groups: list | None, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ExactMatchAccuracy().update(["yes", "no"], targets, groups)


def test_vqa_metric_rejects_an_empty_answer_list() -> None:
    with pytest.raises(ValueError, match=r"answers\[1\]"):
        VQAAccuracy().update(["yes", "no"], [["yes"], []])


@pytest.mark.parametrize(
    "prediction,humans,official,official_2016,always",
    [
        ("Yes.", ["yes"] * 10, 0.0, 1.0, 1.0),  # unanimous humans: the current script compares strings as they are
        ("  yes\n", ["yes"] * 10, 1.0, 1.0, 1.0),  # outer whitespace is stripped by every version
        ("Yes.", ["yes"] * 9 + ["no"], 1.0, 1.0, 1.0),  # humans disagree: both sides normalised
        ("two", ["2"] * 9 + ["3"], 1.0, 1.0, 1.0),
        ("two", ["2"] * 10, 0.0, 1.0, 1.0),
        ("2", ["Two"] * 9 + ["3"], 1.0, 0.0, 1.0),  # 2016: the humans' number words are never rewritten
        ("dog", ["a dog!"] * 4 + ["cat"] * 6, 1.0, 0.0, 1.0),  # 2016: punctuation only ("a dog "), no articles
        ("red", ["red ", "red"] + ["blue"] * 8, 0.6, 0.3, 0.6),  # 2016: the humans' spaces are kept ("red ")
    ],
)
def test_normalization_policies_follow_each_script(prediction: str, humans: list[str], official: float,
                                                   official_2016: float, always: float) -> None:
    assert vqa_accuracy(prediction, humans) == pytest.approx(official)  # the default is the current script
    assert vqa_accuracy(prediction, humans, "official") == pytest.approx(official)
    assert vqa_accuracy(prediction, humans, "official-2016") == pytest.approx(official_2016)
    assert vqa_accuracy(prediction, humans, "always") == pytest.approx(always)


def test_the_metric_takes_the_policy_by_name() -> None:
    humans = [["yes"] * 10]
    default, always = VQAAccuracy(), VQAAccuracy(normalization="always")
    for metric in (default, always):
        metric.update(["Yes."], humans)
    assert default.compute()["vqa_accuracy"].item() == 0.0 and always.compute()["vqa_accuracy"].item() == 1.0
    assert NORMALIZATIONS == ("official", "official-2016", "always")
    with pytest.raises(ValueError, match="normalization: must be one of official, official-2016, always"):
        VQAAccuracy(normalization="lenient")
    with pytest.raises(ValueError, match=r"answers\[1\] must be a string"):
        vqa_accuracy("yes", ["yes", 3])
