"""The vocabulary of the chest radiograph report labeler (``tasks.med_report.clinical``): findings, cues, scope.

All patterns are regular expressions over lower-cased text, matched on word boundaries. A small, readable
subset of CheXpert-labeler-style rules (Irvin et al. 2019), not a port of it.
"""

from __future__ import annotations

import re

FINDINGS = ("cardiomegaly", "pleural_effusion", "nodule", "pneumothorax", "consolidation")
NO_FINDING = "no_finding"
LABELS = (*FINDINGS, NO_FINDING)

_SIZE_ADVERB = r"(?: mildly| moderately| severely| markedly| slightly| massively)?"
_HEART = r"(?:heart size|cardiac size|heart|cardiac silhouette)"
_VERB = r"(?: is| are| appears| remains| was)?"

# Phrases that mention a finding; cues around them decide positive / negative / uncertain.
MENTIONS: dict[str, tuple[str, ...]] = {
    "cardiomegaly": (
        r"cardiomegaly",
        r"enlarged (?:cardiac silhouette|heart(?: size)?|cardiac size)",
        r"enlargement of the (?:cardiac silhouette|heart)",
        r"cardiac enlargement",
        rf"{_HEART}{_VERB}{_SIZE_ADVERB} enlarged",
    ),
    "pleural_effusion": (
        r"(?<!pericardial )(?:pleural )?effusions?",
        r"pleural fluid",
        r"hydrothorax",
    ),
    "nodule": (
        r"nodules?",
        r"nodular (?:opacit(?:y|ies)|densit(?:y|ies))",
        r"mass(?:es)?",
    ),
    "pneumothorax": (
        r"(?:hydro)?pneumothora(?:x|ces)",
        r"collapsed lung",
    ),
    "consolidation": (
        r"consolidations?",
        r"consolidative opacit(?:y|ies)",
        r"(?:airspace|air space|alveolar) (?:disease|opacit(?:y|ies)|consolidation)",
        r"opacit(?:y|ies)",
        r"opacification",
        r"infiltrates?",
    ),
}

# Phrases that state the finding is absent by describing the normal appearance.
NORMAL_MENTIONS: dict[str, tuple[str, ...]] = {
    "cardiomegaly": (
        rf"(?:{_HEART}|cardiomediastinal silhouette){_VERB} (?:not enlarged|normal(?: in size)?|within normal limits"
        r"|unremarkable)",
        r"normal(?:-sized| sized)? (?:heart|cardiac)(?: size)?",
        r"normal (?:cardiac|cardiomediastinal) silhouette",
    ),
    "pleural_effusion": (
        r"costophrenic (?:angles?|sulci)(?: are| is| remain)? (?:sharp|clear|preserved)",
        r"sharp costophrenic (?:angles?|sulci)",
    ),
}

# Cues before a mention (the nearest one before it in the clause decides).
PRE_NEGATION = (
    r"no evidence of",
    r"negative for",
    r"free of",
    r"clear of",
    r"without",
    r"absence of",
    r"resolution of",
    r"no",
    r"not",
)
# Cues after a mention (the nearest one after it decides, when no cue precedes the mention).
POST_NEGATION = (
    r"(?:has |have )?resolved",
    r"(?:has |have )?cleared",
    r"(?:is |are )?(?:not|no longer) (?:seen|identified|present|visualized|visible|appreciated)",
    r"(?:is |are |was |were )?absent",
)
# Uncertainty cues work in both directions.
UNCERTAINTY = (
    r"(?:cannot|can not|could not) be (?:excluded|ruled out)",
    r"not (?:be )?(?:excluded|ruled out)",
    r"cannot exclude",
    r"may",
    r"might",
    r"could",
    r"possible",
    r"possibly",
    r"probable",
    r"probably",
    r"likely",
    r"unlikely",
    r"suggests?",
    r"suggestive of",
    r"suggesting",
    r"questionable",
    r"concerning for",
    r"concern for",
    r"equivocal",
    r"borderline",
    r"versus",
    r"differential",
)
# "No change in the effusion" reports an effusion: these shield a mention from the negation cues they contain.
PSEUDO_NEGATION = (
    r"(?:no|without) (?:significant |substantial |interval )?(?:change|increase|decrease|worsening|improvement)",
    r"not (?:significantly )?changed",
)

# A negation or uncertainty cue reaches to the end of its clause; ";", ":" and these words end a clause.
CLAUSE_BREAK_WORDS = (r"but", r"however", r"although", r"though", r"whereas", r"except", r"and there (?:is|are)")

SIDES = (r"left", r"right", r"bilateral(?:ly)?", r"both", r"bibasilar", r"bibasal")
LOBES = (r"(?:right|left) (?:upper|middle|lower) lobes?", r"lingula(?:r)?")


def compile_words(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One regex matching any of ``patterns`` as whole words (alternatives tried longest-pattern first)."""
    ordered = sorted(patterns, key=len, reverse=True)
    return re.compile(r"(?<![\w-])(?:" + "|".join(ordered) + r")(?![\w-])")
