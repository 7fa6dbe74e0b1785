"""Rule-based report labeler (sentences → finding labels, side/lobe) and clinical-efficacy P/R/F1 by hand."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tasks.med_report.clinical import ClinicalEfficacy, label_report, report_attributes
from tasks.med_report.clinical_rules import FINDINGS, LABELS

# sentence → the labels of the findings it mentions (every other finding must be "absent").
SENTENCES: dict[str, dict[str, str]] = {
    "No evidence of pneumothorax.": {"pneumothorax": "negative"},
    "Heart size is enlarged.": {"cardiomegaly": "positive"},
    "Small left pleural effusion.": {"pleural_effusion": "positive"},
    "No pleural effusion or pneumothorax.": {"pleural_effusion": "negative", "pneumothorax": "negative"},
    "Possible right lower lobe consolidation.": {"consolidation": "uncertain"},
    "The heart is normal in size.": {"cardiomegaly": "negative"},
    "Cardiomegaly has resolved.": {"cardiomegaly": "negative"},
    "There is a 1 cm nodule in the right upper lobe.": {"nodule": "positive"},
    "No focal consolidation, but there is a small right effusion.": {
        "consolidation": "negative",
        "pleural_effusion": "positive",
    },
    "Pneumothorax cannot be excluded.": {"pneumothorax": "uncertain"},
    "Enlarged cardiac silhouette.": {"cardiomegaly": "positive"},
    "Bilateral pleural effusions are present.": {"pleural_effusion": "positive"},
    "The lungs are free of consolidation.": {"consolidation": "negative"},
    "Lungs are clear of airspace disease.": {"consolidation": "negative"},
    # The opacity is certain; "may represent" hedges the pneumonia (not a finding here), as in CheXpert.
    "Patchy opacity in the left lower lobe may represent pneumonia.": {"consolidation": "positive"},
    "No interval change in the small left pleural effusion.": {"pleural_effusion": "positive"},
    "Nodular opacity in the right upper lobe.": {"nodule": "positive"},
    "There is a 2.5 cm mass in the left upper lobe.": {"nodule": "positive"},
    "Findings suggest a small right pneumothorax.": {"pneumothorax": "uncertain"},
    "Questionable left apical pneumothorax.": {"pneumothorax": "uncertain"},
    "Negative for pneumothorax.": {"pneumothorax": "negative"},
    "Collapsed lung on the right.": {"pneumothorax": "positive"},
    "Without pleural effusion.": {"pleural_effusion": "negative"},
    "The heart is not enlarged.": {"cardiomegaly": "negative"},
    "Costophrenic angles are sharp.": {"pleural_effusion": "negative"},
    "Likely atelectasis, no pneumothorax.": {"pneumothorax": "negative"},
    "Heart size is within normal limits; small pericardial effusion.": {"cardiomegaly": "negative"},
    "The effusion has resolved and there is a new right upper lobe consolidation.": {
        "pleural_effusion": "negative",
        "consolidation": "positive",
    },
    "Mild cardiomegaly without pleural effusion.": {"cardiomegaly": "positive", "pleural_effusion": "negative"},
    "The lungs are clear.": {"consolidation": "negative"},
}


@pytest.mark.parametrize("sentence", list(SENTENCES))
def test_sentence_labels(sentence: str) -> None:
    expected = {finding: SENTENCES[sentence].get(finding, "absent") for finding in FINDINGS}
    labels = label_report(sentence)
    assert {finding: labels[finding] for finding in FINDINGS} == expected
    has_positive = "positive" in expected.values()
    assert labels["no_finding"] == ("negative" if has_positive else "positive")


def test_a_report_takes_positive_over_uncertain_over_negative() -> None:
    report = (
        "Possible small pneumothorax. No effusion. Small right pneumothorax is again seen. Effusion may be present."
    )
    labels = label_report(report)
    assert labels["pneumothorax"] == "positive"
    assert labels["pleural_effusion"] == "uncertain"
    assert labels["no_finding"] == "negative"


@pytest.mark.parametrize(
    "report,attributes",
    [
        ("Small left pleural effusion.", {"pleural_effusion": {"side": "left"}}),
        ("There is a 1 cm nodule in the right upper lobe.", {"nodule": {"side": "right", "lobe": "right upper lobe"}}),
        ("Bilateral pleural effusions.", {"pleural_effusion": {"side": "bilateral"}}),
        ("Right effusion. Left effusion.", {"pleural_effusion": {"side": "bilateral"}}),
        ("Opacity in the lingula.", {"consolidation": {"side": "left", "lobe": "lingula"}}),
        ("No left pleural effusion.", {}),  # negative findings carry no attributes
        (
            "No focal consolidation, but there is a small right effusion.",
            {"pleural_effusion": {"side": "right"}},
        ),
    ],
)
def test_side_and_lobe_attributes(report: str, attributes: dict[str, dict[str, str]]) -> None:
    assert report_attributes(report) == attributes


@dataclass(frozen=True)
class ReportPair:
    """A generated report, its reference report, and the positive labels each should get."""

    generated: str
    reference: str
    generated_positive: frozenset[str]
    reference_positive: frozenset[str]


@pytest.fixture()
def three_reports() -> tuple[ReportPair, ...]:
    return (
        ReportPair(
            "Heart size is enlarged. No pleural effusion. Small pneumothorax.",
            "Cardiomegaly. Small left pleural effusion.",
            frozenset({"cardiomegaly", "pneumothorax"}),
            frozenset({"cardiomegaly", "pleural_effusion"}),
        ),
        ReportPair(
            "Possible right pneumothorax.",  # uncertain counts as negative, so this report has no finding
            "No pneumothorax. The heart is normal in size.",
            frozenset({"no_finding"}),
            frozenset({"no_finding"}),
        ),
        ReportPair(
            "Right upper lobe consolidation. Nodule in the right upper lobe.",
            "There is a 1 cm nodule in the right upper lobe. No consolidation.",
            frozenset({"consolidation", "nodule"}),
            frozenset({"nodule"}),
        ),
    )


def test_clinical_efficacy_by_hand(three_reports: tuple[ReportPair, ...]) -> None:
    for pair in three_reports:
        assert {k for k, v in label_report(pair.generated).items() if v == "positive"} == pair.generated_positive
        assert {k for k, v in label_report(pair.reference).items() if v == "positive"} == pair.reference_positive
    metric = ClinicalEfficacy()
    metric.update([p.generated for p in three_reports[:2]], [p.reference for p in three_reports[:2]])
    metric.update([three_reports[2].generated], [three_reports[2].reference])
    values = {name: value.item() for name, value in metric.compute().items()}
    # True positives: cardiomegaly (1), no_finding (2), nodule (3) = 3.
    # False positives: pneumothorax (1), consolidation (3) = 2.  False negatives: pleural_effusion (1) = 1.
    expected = {"ce_precision": 3 / 5, "ce_recall": 3 / 4, "ce_f1": 2 * 3 / (2 * 3 + 2 + 1)}
    expected |= {f"ce_f1/{label}": 0.0 for label in LABELS}
    expected |= {"ce_f1/cardiomegaly": 1.0, "ce_f1/no_finding": 1.0, "ce_f1/nodule": 1.0}
    assert values == pytest.approx(expected)


def test_clinical_efficacy_of_references_against_themselves_is_perfect(three_reports: tuple[ReportPair, ...]) -> None:
    metric = ClinicalEfficacy()
    references = [p.reference for p in three_reports]
    metric.update(references, references)
    values = metric.compute()
    assert values["ce_f1"].item() == 1.0 and values["ce_precision"].item() == 1.0


@pytest.mark.parametrize(
    "predictions,references,field",
    [
        (["No effusion."], [], "references"),
        ([None], ["No effusion."], r"predictions\[0\]"),
        (["a"], [3], r"references\[0\]"),
    ],
)
def test_malformed_input_names_the_field(predictions: list, references: list, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ClinicalEfficacy().update(predictions, references)
