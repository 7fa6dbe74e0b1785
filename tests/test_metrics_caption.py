"""Caption metrics: parity with pycocoevalcap 1.2 (CIDEr-D, BLEU-1..4, ROUGE-L) and coco tokenisation."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from pycocoevalcap.bleu.bleu import Bleu as CocoBleu
from pycocoevalcap.cider.cider import Cider as CocoCider
from pycocoevalcap.rouge.rouge import Rouge as CocoRouge

import tasks.metrics
from tasks.metrics import Bleu, CaptionMetrics, CiderD, RougeL, coco_tokenize


@dataclass(frozen=True)
class CaptionCorpus:
    """Candidates and references for a few images, plus the pycocoevalcap view of the same tokens."""

    predictions: tuple[str, ...]
    references: tuple[tuple[str, ...], ...]

    def coco_inputs(self) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
        """(gts, res) for pycocoevalcap: space-joined ``coco_tokenize`` output, keyed by image index."""
        gts = {i: [" ".join(coco_tokenize(r)) for r in refs] for i, refs in enumerate(self.references)}
        res = {i: [" ".join(coco_tokenize(p))] for i, p in enumerate(self.predictions)}
        return gts, res

    def coco_scores(self) -> dict[str, float | list[float]]:
        """pycocoevalcap's CIDEr (mean and per image), BLEU-1..4 and ROUGE-L on this corpus."""
        gts, res = self.coco_inputs()
        cider, cider_per_image = CocoCider().compute_score(gts, res)
        bleu, _ = CocoBleu(4).compute_score(gts, res, verbose=0)
        rouge, _ = CocoRouge().compute_score(gts, res)
        scores: dict[str, float | list[float]] = {"cider_d": float(cider), "rouge_l": float(rouge)}
        scores.update({f"bleu{k + 1}": float(value) for k, value in enumerate(bleu)})
        scores["cider_d_per_image"] = [float(v) for v in cider_per_image]
        return scores

    def replace(self, image: int, prediction: str | None = None, references: tuple[str, ...] | None = None):
        """A copy with image ``image``'s prediction and/or references replaced."""
        predictions = list(self.predictions)
        all_refs = list(self.references)
        if prediction is not None:
            predictions[image] = prediction
        if references is not None:
            all_refs[image] = references
        return dataclasses.replace(self, predictions=tuple(predictions), references=tuple(all_refs))


@pytest.fixture()
def corpus() -> CaptionCorpus:
    """Eight images with five references each; candidates of varied quality, length and punctuation."""
    return CaptionCorpus(
        predictions=(
            "A man riding a horse on a beach.",
            "two dogs playing in the snow",
            "A plate of food with broccoli, rice and chicken.",
            "a tall building with a clock",
            "A cat laying on a laptop's keyboard.",
            "a red bus driving down the street",
            "People flying kites in a park!",
            "a kitchen",
        ),
        references=(
            ("A man rides a horse along the beach.", "A person on horseback at the shore.",
             "Man riding a brown horse on sand.", "A horse and rider on a beach.",
             "Someone riding a horse by the ocean."),
            ("Two dogs play in the snow.", "A pair of dogs running through snow.", "Dogs playing outside in winter.",
             "Two puppies frolic in the snow.", "Two dogs are playing in snow."),
            ("A plate with broccoli and rice.", "Food on a white plate, including broccoli.",
             "A dish of vegetables and meat.", "Broccoli and chicken on a plate.", "A plate of healthy food."),
            ("A clock tower in a city.", "A tall clock tower.", "The clock on the tower shows noon.",
             "A big clock on a building.", "Clock tower against a blue sky."),
            ("A cat sitting on a laptop keyboard.", "A cat lies on a laptop.", "The cat's on the computer.",
             "Cat sitting on a keyboard.", "A kitten on a laptop."),
            ("A red double-decker bus on the street.", "A bus driving down a city street.", "Red bus on the road.",
             "A red bus in traffic.", "A public bus drives by."),
            ("People fly kites in a park.", "Kites flying over a grassy field.", "Several people flying kites.",
             "A group of kids with kites.", "Kites in the sky above a park."),
            ("A kitchen with a stove and a fridge.", "A small kitchen.", "Kitchen with white cabinets.",
             "An empty kitchen.", "A modern kitchen interior."),
        ),
    )  # fmt: skip


def ours(corpus: CaptionCorpus) -> dict[str, float]:
    """Our CaptionMetrics on the raw (untokenised) captions, as floats."""
    metric = CaptionMetrics()
    metric.update(list(corpus.predictions), [list(refs) for refs in corpus.references])
    return {name: value.item() for name, value in metric.compute().items()}


def assert_parity(corpus: CaptionCorpus) -> None:
    """CIDEr-D to 1e-6 (mean and per image), BLEU-1..4 and ROUGE-L to 1e-9 against pycocoevalcap."""
    reference = corpus.coco_scores()
    values = ours(corpus)
    assert values["cider_d"] == pytest.approx(reference["cider_d"], abs=1e-6)
    for k in range(1, 5):
        assert values[f"bleu{k}"] == pytest.approx(reference[f"bleu{k}"], abs=1e-9, rel=0)
    assert values["rouge_l"] == pytest.approx(reference["rouge_l"], abs=1e-9, rel=0)
    metric = CiderD()
    metric.update(list(corpus.predictions), [list(refs) for refs in corpus.references])
    assert metric.per_example() == pytest.approx(reference["cider_d_per_image"], abs=1e-6)


def test_scores_equal_pycocoevalcap(corpus: CaptionCorpus) -> None:
    assert_parity(corpus)
    assert 0.3 < ours(corpus)["cider_d"] < 3.0  # a corpus where the scores are far from degenerate


EDGE_CASES: dict[str, Callable[[CaptionCorpus], CaptionCorpus]] = {
    "empty_prediction": lambda c: c.replace(3, prediction=""),
    "punctuation_only_prediction": lambda c: c.replace(3, prediction=" ... !"),
    "prediction_equal_to_a_reference": lambda c: c.replace(0, prediction=c.references[0][2]),
    "single_reference": lambda c: c.replace(2, references=c.references[2][:1]),
    "all_single_references": lambda c: dataclasses.replace(c, references=tuple(r[:1] for r in c.references)),
    "two_images": lambda c: dataclasses.replace(c, predictions=c.predictions[:2], references=c.references[:2]),
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_cases_equal_pycocoevalcap(corpus: CaptionCorpus, case: str) -> None:
    assert_parity(EDGE_CASES[case](corpus))


def cider_per_image(corpus: CaptionCorpus) -> list[float]:
    """Our per-image CIDEr-D on ``corpus``."""
    metric = CiderD()
    metric.update(list(corpus.predictions), [list(refs) for refs in corpus.references])
    return metric.per_example()


def test_empty_prediction_scores_zero_and_a_copied_reference_raises_the_score(corpus: CaptionCorpus) -> None:
    before = cider_per_image(corpus)
    after = cider_per_image(corpus.replace(3, prediction="").replace(0, prediction=corpus.references[0][2]))
    assert before[3] > 0.0 and after[3] == 0.0
    assert after[0] > before[0]
    assert after[1:3] == before[1:3]  # the document frequencies come from the references only


def test_three_updates_equal_one(corpus: CaptionCorpus) -> None:
    predictions, references = list(corpus.predictions), [list(r) for r in corpus.references]
    for make in (CaptionMetrics, CiderD, Bleu, RougeL):
        whole, parts = make(), make()
        whole.update(predictions, references)
        for start, stop in ((0, 3), (3, 5), (5, 8)):
            parts.update(predictions[start:stop], references[start:stop])
        assert parts.compute() == whole.compute(), make.__name__


def test_separate_metrics_equal_the_combined_one(corpus: CaptionCorpus) -> None:
    predictions, references = list(corpus.predictions), [list(r) for r in corpus.references]
    combined = ours(corpus)
    separate = {}
    for metric in (CiderD(), Bleu(), RougeL()):
        metric.update(predictions, references)
        value = metric.compute()
        separate.update(value if isinstance(value, dict) else {type(metric).__name__: value})
    assert separate["CiderD"].item() == combined["cider_d"]
    assert separate["RougeL"].item() == combined["rouge_l"]
    assert [separate[f"bleu{k}"].item() for k in range(1, 5)] == [combined[f"bleu{k}"] for k in range(1, 5)]


def test_pretokenised_input_with_tokenize_off_gives_the_same_scores(corpus: CaptionCorpus) -> None:
    gts, res = corpus.coco_inputs()
    raw, pretokenised = CaptionMetrics(), CaptionMetrics(tokenize=False)
    raw.update(list(corpus.predictions), [list(r) for r in corpus.references])
    pretokenised.update([res[i][0] for i in range(8)], [gts[i] for i in range(8)])
    assert raw.compute() == pretokenised.compute()


@pytest.mark.parametrize(
    "predictions,references,field",
    [
        (["a cat"], [["a cat"], ["a dog"]], "references"),
        (["a cat"], [[]], r"references\[0\]"),
        (["a cat"], ["a cat"], r"references\[0\]"),
        ([None], [["a cat"]], r"predictions\[0\]"),
        ("a cat", [["a cat"]], "predictions"),
    ],
)
def test_malformed_input_names_the_field(predictions: list, references: list, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        CaptionMetrics().update(predictions, references)


@pytest.mark.parametrize(
    "text,tokens",
    [
        ("A Man riding a horse.", ["a", "man", "riding", "a", "horse"]),
        ("Two dogs, playing; in the snow!", ["two", "dogs", "playing", "in", "the", "snow"]),
        ("The dog's ball isn't red?", ["the", "dog", "'s", "ball", "is", "n't", "red"]),
        ('He said "hello" -- then left...', ["he", "said", "hello", "then", "left"]),
        ("A cat (black) on a {mat} [sic]", ["a", "cat", "black", "on", "a", "mat", "sic"]),
        ("1,000 people at 10:30 pay $5.50 - 50%", ["1,000", "people", "at", "10:30", "pay", "$", "5.50", "50", "%"]),
        ("A black-and-white photo of the U.S. flag.", ["a", "black-and-white", "photo", "of", "the", "u.s.", "flag"]),
        ("The players' bench: `cannot` win", ["the", "players", "bench", "can", "not", "win"]),
        ("\u201cSmiling\u201d girl\u2019s kite\nflying", ["smiling", "girl", "'s", "kite", "flying"]),
        (" . , ? ! ", []),
    ],
)
def test_coco_tokenize(text: str, tokens: list[str]) -> None:
    assert coco_tokenize(text) == tokens


def test_coco_tokenize_is_idempotent_on_its_output(corpus: CaptionCorpus) -> None:
    for caption in (*corpus.predictions, *(r for refs in corpus.references for r in refs)):
        tokens = coco_tokenize(caption)
        assert coco_tokenize(" ".join(tokens)) == tokens


def test_package_does_not_import_pycocoevalcap() -> None:
    for source in Path(tasks.metrics.__file__).parent.glob("*.py"):
        text = source.read_text()
        assert "import pycocoevalcap" not in text and "from pycocoevalcap" not in text, source.name
