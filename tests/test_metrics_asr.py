"""tasks/asr/metric.py: WER/CER after whisper's normaliser, against hand-computed cases."""

from __future__ import annotations

import random

import pytest
import torch
from torchmetrics.functional.text import char_error_rate, word_error_rate

from tasks.asr.metric import (ASRMetrics, corpus_error_rates, corpus_rates, normalize_transcript, normalizer_name,
                              per_example)

REFERENCE = "the cat sat down"  # four words the normaliser leaves alone


@pytest.fixture()
def metric() -> ASRMetrics:
    return ASRMetrics()


@pytest.mark.parametrize(("prediction", "wer", "counts"), [
    ("the dog sat down", 0.25, {"substitutions": 1, "deletions": 0, "insertions": 0}),
    ("the cat sat down now", 0.25, {"substitutions": 0, "deletions": 0, "insertions": 1}),
    ("the cat down", 0.25, {"substitutions": 0, "deletions": 1, "insertions": 0}),
    ("", 1.0, {"substitutions": 0, "deletions": 4, "insertions": 0}),
    ("The CAT sat, down!", 0.0, {"substitutions": 0, "deletions": 0, "insertions": 0}),
])
def test_hand_computed_word_error_rates(metric: ASRMetrics, prediction: str, wer: float, counts: dict) -> None:
    metric.update([prediction], [REFERENCE])
    assert metric.compute()["wer"].item() == pytest.approx(wer)
    example = per_example(prediction, REFERENCE)
    assert {key: example[key] for key in counts} == counts
    assert example["wer"] == pytest.approx(wer) and example["ref_words"] == 4


def test_character_error_rate_counts_spaces_as_torchmetrics_does(metric: ASRMetrics) -> None:
    metric.update(["the cat sat dawn"], [REFERENCE])  # one character of 16
    assert metric.compute()["cer"].item() == pytest.approx(1 / 16)
    assert per_example("the cat sat dawn", REFERENCE)["char_edits"] == 1


def test_corpus_wer_is_total_edits_over_total_reference_words(metric: ASRMetrics) -> None:
    predictions = ["the dog", "a b c d e f g x"]  # one error in 2 words, one in 8
    references = ["the cat", "a b c d e f g h"]
    metric.update(predictions[:1], references[:1])
    metric.update(predictions[1:], references[1:])
    assert metric.compute()["wer"].item() == pytest.approx(2 / 10)  # not (1/2 + 1/8) / 2
    examples = [per_example(p, r) for p, r in zip(predictions, references)]
    assert corpus_rates(examples)["wer"] == pytest.approx(2 / 10)
    assert corpus_rates(examples)["cer"] == pytest.approx(metric.compute()["cer"].item())


def test_empty_references_are_skipped_with_a_warning(metric: ASRMetrics) -> None:
    with pytest.warns(UserWarning, match="skipped 2 example"):
        metric.update(["anything", "the dog sat down", "uh"], ["", REFERENCE, "um"])  # "um" normalises to ""
    assert metric.num_skipped == 2
    assert metric.compute()["wer"].item() == pytest.approx(0.25)
    assert per_example("anything", "")["wer"] is None
    metric.reset()
    with pytest.warns(UserWarning):
        metric.update(["x"], [""])
    with pytest.raises(ValueError, match="no example with a non-empty reference"):
        metric.compute()


def test_update_rejects_mismatched_batches(metric: ASRMetrics) -> None:
    with pytest.raises(ValueError, match="equal length"):
        metric.update(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="lists of strings"):
        metric.update("a b", "a b")


def test_whisper_normaliser_on_numbers_case_and_oh() -> None:
    assert normalize_transcript("Four ONE seven") == "417"  # a spoken digit run becomes one token
    assert normalize_transcript("4 1 7") == "4 one 7"  # whisper writes a lone 1 as "one"
    assert normalize_transcript("four oh seven") == normalize_transcript("four zero seven") == "407"
    assert normalize_transcript("oh") == normalize_transcript("zero") == "0"
    assert normalize_transcript("oh no") == "0 no"
    assert normalize_transcript("Stop, GO left!") == "stop go left"


def test_split_digits_makes_spelled_and_written_digits_agree() -> None:
    assert normalize_transcript("Four ONE seven", split_digits=True) == "4 1 7"
    assert normalize_transcript("4 1 7", split_digits=True) == "4 1 7"
    assert normalizer_name(True) == "whisper-english+split-digits" and normalizer_name() == "whisper-english"
    digits = ASRMetrics(split_digits=True)
    strings = ASRMetrics()
    for metric in (digits, strings):
        metric.update(["four one six two", "4 1 7"], ["four one seven two", "Four ONE seven"])
    assert digits.compute()["wer"].item() == pytest.approx(1 / 7)  # one wrong digit of seven
    assert strings.compute()["wer"].item() == pytest.approx(4 / 2)  # "4162" for "4172"; "4 one 7" for "417"
    assert digits.normalizer_name == "whisper-english+split-digits"


def test_word_edits_match_torchmetrics_on_random_pairs() -> None:
    rng = random.Random(0)
    words = ["go", "stop", "left", "right", "up", "down", "yes", "no"]
    for _ in range(50):
        reference = " ".join(rng.choices(words, k=rng.randint(1, 8)))
        prediction = " ".join(rng.choices(words, k=rng.randint(0, 9)))
        example = per_example(prediction, reference)
        expected = word_error_rate(prediction, reference).item() * example["ref_words"]
        assert example["word_edits"] == round(expected)
        assert example["substitutions"] + example["deletions"] + example["insertions"] == example["word_edits"]
        assert example["ref_words"] - example["deletions"] + example["insertions"] == example["hyp_words"]


def test_forward_returns_batch_scores_and_accumulates(metric: ASRMetrics) -> None:
    batch = metric(["the dog sat down"], [REFERENCE])
    torch.testing.assert_close(batch["wer"], torch.tensor(0.25, dtype=torch.float64))
    metric(["the cat sat down"], [REFERENCE])
    assert metric.compute()["wer"].item() == pytest.approx(1 / 8)


def test_an_edge_space_left_by_the_normaliser_is_not_a_character_error(metric: ASRMetrics) -> None:
    assert normalize_transcript("about 50 %") == "about 50"  # whisper's normaliser alone gives "about 50 "
    metric.update(["about 50"], ["about 50 %"])
    assert metric.compute()["cer"].item() == 0.0
    assert per_example("about 50", "about 50 %")["cer"] == 0.0
    assert corpus_error_rates([("about 50", " about 50 ")]) == {"wer": 0.0, "cer": 0.0}  # rows written before


def test_rates_are_exact_ratios_in_float64(metric: ASRMetrics) -> None:
    metric.update(["a b c"], ["a b c d e f g"])  # 4 of 7 words, 8 of 13 characters
    metric.update(["x"], ["y"])  # 1 of 1, 1 of 1
    scores = metric.compute()
    assert scores["wer"].dtype == scores["cer"].dtype == torch.float64
    assert scores["wer"].item() == 5 / 8 and scores["cer"].item() == 9 / 14
    metric.reset()
    metric.update(["a b c"], ["a b c d e f g"])
    assert metric.compute()["wer"].item() == 4 / 7  # float32 gives 0.5714285969734192
    assert corpus_error_rates([("a b c", "a b c d e f g")]) == {"wer": 4 / 7, "cer": 8 / 13}


def test_task_scores_are_exact_ratios() -> None:
    from tasks import asr

    rows = [{"id": "a", "prediction": "a b c", "reference": "a b c d e f g", "score": 4 / 7}]
    assert asr.score_predictions(rows) == {"wer": 4 / 7, "cer": 8 / 13}
    assert asr.example_wer("a b c", "a b c d e f g") == 4 / 7


def test_counts_match_torchmetrics_on_random_strings() -> None:
    rng = random.Random(1)
    letters = "ab c"
    pairs = [("".join(rng.choices(letters, k=rng.randint(0, 12))).strip(),
              "".join(rng.choices(letters, k=rng.randint(1, 12))).strip() or "a") for _ in range(100)]
    hyps, refs = [h for h, _ in pairs], [r for _, r in pairs]
    rates = corpus_error_rates(pairs)
    assert rates["cer"] == pytest.approx(char_error_rate(hyps, refs).item(), rel=1e-6)
    assert rates["wer"] == pytest.approx(word_error_rate(hyps, refs).item(), rel=1e-6)
