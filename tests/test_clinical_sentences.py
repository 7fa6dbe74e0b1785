"""The findings labeler on hand-written report sentences: one test per rule class of issue 25, and a labeled set.

The set (``tests/fixtures/clinical_sentences.tsv``, 175 sentences) gives per-finding precision and recall of each
label; the test prints them (``pytest -s``) and holds them to a floor so a rule change that loses ground fails.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tasks.med_report.clinical import label_report
from tasks.med_report.clinical_rules import FINDINGS

SET_PATH = Path(__file__).parent / "fixtures" / "clinical_sentences.tsv"
_FINDING_CODES = {"c": "cardiomegaly", "e": "pleural_effusion", "n": "nodule", "p": "pneumothorax",
                  "o": "consolidation"}
_LABEL_CODES = {"+": "positive", "-": "negative", "?": "uncertain"}
KINDS = ("positive", "negative", "uncertain")
# The floor of every per-finding precision and recall of the positive label (what clinical F1 counts), and of
# every per-finding precision and recall of the negative and uncertain labels.
POSITIVE_FLOOR = 0.95
OTHER_FLOOR = 0.85


def _parse_labels(text: str) -> dict[str, str]:
    """``"c+ e-"`` → every finding's label ("absent" for those not listed)."""
    labels = dict.fromkeys(FINDINGS, "absent")
    for code in [] if text == "-" else text.split():
        labels[_FINDING_CODES[code[0]]] = _LABEL_CODES[code[1:]]
    return labels


def load_set(path: Path = SET_PATH) -> list[tuple[str, str, dict[str, str]]]:
    """(class, sentence, labels) for every line of the labeled set."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            kind, sentence, labels = line.split("\t")
            rows.append((kind, sentence, _parse_labels(labels)))
    return rows


def scores(rows: list[tuple[str, str, dict[str, str]]],
           labeler: Callable[[str], dict[str, str]]) -> dict[tuple[str, str], tuple[float, float, int]]:
    """(finding, label) → (precision, recall, reference count); a ratio with nothing to count is 1."""
    counts = {(f, k): [0, 0, 0] for f in FINDINGS for k in KINDS}  # true positives, predicted, reference
    for _, sentence, expected in rows:
        predicted = labeler(sentence)
        for finding in FINDINGS:
            for kind in KINDS:
                hit_predicted, hit_expected = predicted[finding] == kind, expected[finding] == kind
                counts[finding, kind][0] += hit_predicted and hit_expected
                counts[finding, kind][1] += hit_predicted
                counts[finding, kind][2] += hit_expected
    return {key: (tp / predicted if predicted else 1.0, tp / reference if reference else 1.0, reference)
            for key, (tp, predicted, reference) in counts.items()}


def table(results: dict[tuple[str, str], tuple[float, float, int]]) -> str:
    """Per-finding precision / recall (and reference count) of each label, one line per finding."""
    lines = ["finding".ljust(17) + "".join(f"{kind + ' P/R (n)':>24}" for kind in KINDS)]
    for finding in FINDINGS:
        cells = [f"{p:.3f}/{r:.3f} ({n})" for p, r, n in (results[finding, kind] for kind in KINDS)]
        lines.append(finding.ljust(17) + "".join(f"{cell:>24}" for cell in cells))
    return "\n".join(lines)


def test_the_labeled_set_covers_every_class_and_label() -> None:
    rows = load_set()
    assert len(rows) >= 150
    assert {kind for kind, _, _ in rows} == {"plain", *map(str, range(1, 9))}
    for finding in FINDINGS:
        assert {labels[finding] for _, _, labels in rows} == {*KINDS, "absent"}, finding


def test_per_finding_precision_and_recall_on_the_labeled_set() -> None:
    results = scores(load_set(), label_report)
    report = table(results)
    print("\n" + report)
    low = [f"{finding} {kind}: P {p:.3f} R {r:.3f}" for (finding, kind), (p, r, _) in results.items()
           if min(p, r) < (POSITIVE_FLOOR if kind == "positive" else OTHER_FLOOR)]
    assert not low, "below the floor: " + "; ".join(low) + "\n" + report


# One test per rule class of issue 25: class → {sentence: the labels of the findings it mentions}; every other
# finding must be "absent". The sentences are not the issue's.
CLASSES: dict[int, dict[str, str]] = {
    1: {  # an uncertainty word after a certain finding qualifies what follows it, not the finding before it.
        "Marked cardiomegaly and possible small pericardial effusion.": "c+",
        "Moderate right effusion with probable loculation.": "e+",
        "Spiculated nodule in the left upper lobe worrisome for malignancy.": "n+",
        "Right middle lobe infiltrate, possibly aspiration.": "o+",
        "A small left pneumothorax is questionable.": "p?",
    },
    2: {  # interstitial, linear, scarring, atelectatic opacities are not consolidation; airspace ones are.
        "Coarse reticular opacities at both bases.": "-",
        "Band-like opacity in the lingula consistent with scar.": "-",
        "Hazy opacities at the right base likely representing atelectasis.": "-",
        "Ill-defined airspace opacities in the right upper lobe.": "o+",
    },
    3: {  # a negation stops at "with", "which", ";", "but", or at a new finding with its own modifier.
        "No pneumothorax, large left pleural effusion.": "p- e+",
        "No effusion and moderate enlargement of the cardiac silhouette.": "e- c+",
        "No consolidation; tiny nodule at the right base.": "o- n+",
        "No pneumothorax, consolidation, or effusion.": "p- o- e-",
    },
    4: {  # "rule out" and "can not" / "cannot" exclude are uncertain, not positive or negative.
        "Can not rule out a tiny left apical pneumothorax.": "p?",
        "Cannot exclude a right middle lobe infiltrate.": "o?",
        "A small nodule could not be ruled out.": "n?",
    },
    5: {  # resolution negates, partial resolution does not; a finding seen on only one view is reported.
        "Resolved right lower lobe infiltrate.": "o-",
        "Incompletely resolved right pneumothorax.": "p+",
        "Nodule on the lateral radiograph, not visualized on the frontal view.": "n+",
        "The nodule is not seen on today's radiograph.": "n-",
    },
    6: {  # heart-size wordings of cardiomegaly.
        "The heart is mildly to moderately large.": "c+",
        "Stable marked heart enlargement.": "c+",
        "The cardiac silhouette remains moderately enlarged.": "c+",
    },
    7: {  # normal wordings are negative.
        "The heart is not markedly enlarged.": "c-",
        "Heart size and pulmonary vasculature are normal.": "c-",
        "Cardio mediastinal contours are within normal limits.": "c-",
        "Pleural spaces are normal.": "e- p-",
        "The lungs are well expanded and clear.": "o-",
    },
    8: {  # mass effect is not a mass.
        "Mild mass effect on the trachea.": "-",
        "A right hilar mass without mass effect.": "n+",
    },
}


@pytest.mark.parametrize("kind,sentence", [pytest.param(kind, sentence, id=f"class{kind}-{sentence}")
                                           for kind, sentences in CLASSES.items() for sentence in sentences])
def test_rule_classes(kind: int, sentence: str) -> None:
    labels = label_report(sentence)
    assert {finding: labels[finding] for finding in FINDINGS} == _parse_labels(CLASSES[kind][sentence])
