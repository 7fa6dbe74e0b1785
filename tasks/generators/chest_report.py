"""Radiology reports and indications for chest-phantom films, written from the findings alone.

A report states every finding: present ones with their side/lobe and grade, absent ones as an
explicit negative. Each sentence is wholly positive or wholly negative (a negative sentence may
negate two findings: "No pleural effusion or pneumothorax."), so a sentence-level labeler with
negation cues ("no", "not", "without", "normal", "clear") reads the ground truth back. Order:
heart, mediastinum, lungs, pleura, bones, then for a normal film sometimes an impression line.
"""

from __future__ import annotations

import random

FINDINGS: tuple[str, ...] = ("cardiomegaly", "effusion", "nodule", "pneumothorax", "consolidation")
ADVERBS: dict[str, str] = {"mild": "mildly", "moderate": "moderately", "marked": "markedly"}
NEGATIVES: dict[str, tuple[str, ...]] = {
    "cardiomegaly": ("The heart size is normal.", "Heart size is within normal limits.",
                     "Normal cardiac silhouette.", "The cardiac silhouette is not enlarged.", "No cardiomegaly."),
    "effusion": ("No pleural effusion.", "There is no pleural effusion.", "No pleural effusions are seen.",
                 "The costophrenic angles are sharp, without pleural effusion."),
    "pneumothorax": ("No pneumothorax.", "There is no pneumothorax.", "No evidence of pneumothorax."),
    "consolidation": ("No focal consolidation.", "There is no focal airspace consolidation.",
                      "No consolidation is seen."),
    "nodule": ("No pulmonary nodules.", "No suspicious pulmonary nodule or mass.", "No nodules are identified."),
}
PAIRED_NEGATIVES: dict[tuple[str, str], tuple[str, ...]] = {
    ("effusion", "pneumothorax"): ("No pleural effusion or pneumothorax.",
                                   "There is no pleural effusion or pneumothorax.",
                                   "No pneumothorax or pleural effusion is seen."),
    ("consolidation", "nodule"): ("No focal consolidation or pulmonary nodule.",
                                  "The lungs are clear, without focal consolidation or nodules.",
                                  "There is no focal consolidation, nodule or mass."),
}
MEDIASTINUM: tuple[str, ...] = ("The mediastinal contours are within normal limits.",
                                "Mediastinal silhouette is unremarkable.", "The hila are unremarkable.")
BONES: tuple[str, ...] = ("No acute osseous abnormality.", "The visualized osseous structures are unremarkable.",
                          "No acute bony abnormality.")
IMPRESSIONS: tuple[str, ...] = ("No acute cardiopulmonary abnormality.", "No acute cardiopulmonary process.")
INDICATIONS: tuple[str, ...] = ("Cough.", "Shortness of breath.", "Chest pain.", "Fever.", "Dyspnea.",
                                "Pre-operative evaluation.", "Follow-up.", "Routine examination.")
SUGGESTIVE: dict[str, tuple[str, ...]] = {
    "cardiomegaly": ("Shortness of breath.", "Lower extremity swelling.", "History of heart failure."),
    "effusion": ("Shortness of breath.", "Dyspnea on exertion.", "Decreased breath sounds."),
    "nodule": ("History of smoking.", "Weight loss.", "Follow-up."),
    "pneumothorax": ("Sudden chest pain.", "Chest pain after trauma.", "Shortness of breath."),
    "consolidation": ("Fever and cough.", "Productive cough.", "Cough."),
}


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def describe_positive(rng: random.Random, finding: str, attrs: dict) -> str:
    """One sentence stating a present finding with its grade and side/lobe."""
    if finding == "cardiomegaly":
        grade = attrs["severity"]
        return rng.choice((f"{_cap(grade)} cardiomegaly.", f"The heart is {ADVERBS[grade]} enlarged.",
                           f"{_cap(grade)} enlargement of the cardiac silhouette.",
                           f"The cardiac silhouette is {ADVERBS[grade]} enlarged, consistent with cardiomegaly."))
    if finding == "effusion":
        size, side = attrs["size"], attrs["side"]
        if side == "bilateral":
            return rng.choice((f"{_cap(size)} bilateral pleural effusions.",
                               f"There are {size} bilateral pleural effusions blunting both costophrenic angles."))
        return rng.choice((f"{_cap(size)} {side} pleural effusion.",
                           f"There is a {size} {side} pleural effusion with blunting of the {side} costophrenic angle.",
                           f"Blunting of the {side} costophrenic angle, consistent with a {size} {side} "
                           "pleural effusion."))
    if finding == "pneumothorax":
        size, side = attrs["size"], attrs["side"]
        return rng.choice((f"{_cap(size)} {side} pneumothorax.",
                           f"There is a {size} {side} pneumothorax with a visible pleural line.",
                           f"A {size} {side} apical pneumothorax is present."))
    lobe = f"{attrs['lobe']} lobe"
    if finding == "nodule":
        return rng.choice((f"There is a small nodule in the {lobe}.", f"A {lobe} pulmonary nodule.",
                           f"A well-circumscribed nodular opacity is seen in the {lobe}."))
    if finding == "consolidation":
        return rng.choice((f"Patchy consolidation in the {lobe}.", f"There is airspace consolidation in the {lobe}.",
                           f"Focal airspace opacity in the {lobe}, consistent with consolidation."))
    raise ValueError(f"unknown finding {finding!r}")


def _pleura_or_lungs(rng: random.Random, findings: dict[str, dict], pair: tuple[str, str]) -> list[str]:
    """Sentences for two related findings; both absent may share one negative sentence."""
    absent = [name for name in pair if not findings[name]["present"]]
    if len(absent) == 2 and rng.random() < 0.6:
        return [rng.choice(PAIRED_NEGATIVES[tuple(sorted(pair))])]
    return [describe_positive(rng, name, findings[name]) if findings[name]["present"]
            else rng.choice(NEGATIVES[name]) for name in pair]


def write_report(rng: random.Random, findings: dict[str, dict]) -> str:
    """The findings paragraph: heart, mediastinum, lungs, pleura, bones (+ impression when normal)."""
    cardio = findings["cardiomegaly"]
    sentences = [describe_positive(rng, "cardiomegaly", cardio) if cardio["present"]
                 else rng.choice(NEGATIVES["cardiomegaly"])]
    if rng.random() < 0.5:
        sentences.append(rng.choice(MEDIASTINUM))
    lungs = ("consolidation", "nodule") if rng.random() < 0.5 else ("nodule", "consolidation")
    sentences += _pleura_or_lungs(rng, findings, lungs)
    sentences += _pleura_or_lungs(rng, findings, ("effusion", "pneumothorax"))
    if rng.random() < 0.4:
        sentences.append(rng.choice(BONES))
    if not any(f["present"] for f in findings.values()) and rng.random() < 0.5:
        sentences.append(rng.choice(IMPRESSIONS))
    return " ".join(sentences)


def write_indication(rng: random.Random, findings: dict[str, dict]) -> str:
    """A one-line indication; half the time suggested by a present finding."""
    present = [name for name in FINDINGS if findings[name]["present"]]
    if present and rng.random() < 0.5:
        return rng.choice(SUGGESTIVE[rng.choice(present)])
    return rng.choice(INDICATIONS)
