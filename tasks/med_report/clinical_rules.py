"""The vocabulary of the chest radiograph report labeler (``tasks.med_report.clinical``): findings, cues, scope.

All patterns are regular expressions over lower-cased text, matched on word boundaries. A small, readable
subset of CheXpert-labeler-style rules (Irvin et al. 2019) with NegEx / NegBio scope ends, not a port of them.
"""

from __future__ import annotations

import re

FINDINGS = ("cardiomegaly", "pleural_effusion", "nodule", "pneumothorax", "consolidation")
NO_FINDING = "no_finding"
LABELS = (*FINDINGS, NO_FINDING)

_DEGREE = r"(?:mildly|moderately|severely|markedly|slightly|massively|minimally|significantly)"
_SIZE_ADVERB = rf"(?: {_DEGREE}(?: (?:to|or) {_DEGREE})?)?"  # "mildly to moderately"
_HEART = r"(?:heart size|cardiac size|heart|cardiac silhouette|cardiac shadow)"
_VERB = r"(?: is| are| appears?| remains?| was| seems?| looks?)?(?: again| still| now| also| persistently)?"
# Heart-size subjects a normal wording may start with ("heart size and pulmonary vascularity", ...).
_HEART_SUBJECT = (rf"(?:{_HEART}|cardio[- ]?mediastinal (?:silhouette|contours?|size)"
                  r"|cardiac and mediastinal (?:silhouettes?|contours?)|heart and mediastinum)"
                  r"(?: and (?:the )?(?:pulmonary |mediastinal |hilar )?(?:vascularity|vasculature|contours?|hila"
                  r"|mediastinum|silhouette|great vessels))?")
_OPACITY = r"(?:opacit(?:y|ies)|opacification)"
# Opacities named for something other than airspace disease (point 2 of issue 25).
_NOT_AIRSPACE = (r"(?:interstitial|reticular|reticulonodular|linear|streaky|strand-?like|plate-?like|band-?like"
                 r"|discoid|atelectatic|fibrotic|scarring|scar|subsegmental|pleural-based|pleural)")
_RELATION = (r"(?:consistent with|compatible with|in keeping with|most likely|likely|probably|representing"
             r"|represents?|reflecting|reflects?|due to|from|suggesting|suggestive of|(?:may|could|likely) "
             r"(?:represent|reflect)|favoring)")
_NOT_AIRSPACE_CAUSE = r"(?:atelectasis|atelectatic|scar|scarring|fibrosis|fibrotic|interstitial|edema)"
_OR_INFECTION = r"(?:,? (?:or|versus|vs|and) (?:[\w-]+ )?(?:pneumonia|infection|consolidation|aspiration|infiltrate))"

# Phrases that mention a finding; cues around them decide positive / negative / uncertain.
MENTIONS: dict[str, tuple[str, ...]] = {
    "cardiomegaly": (
        r"cardiomegaly",
        r"enlarged (?:cardiac silhouette|heart(?: size)?|cardiac size|cardiac shadow)",
        r"enlargement of the (?:cardiac silhouette|heart|cardiac shadow)",
        r"(?:cardiac|heart|cardiac silhouette) enlargement",
        rf"{_HEART}{_VERB}{_SIZE_ADVERB} (?:enlarged|large|increased)",
    ),
    "pleural_effusion": (
        r"(?<!pericardial )(?:pleural )?effusions?",
        r"pleural fluid",
        r"hydrothorax",
    ),
    "nodule": (
        r"nodules?",
        r"nodular (?:opacit(?:y|ies)|densit(?:y|ies))",
        r"mass(?:es)?(?! effect)",  # "mass effect" is displacement, not a mass
    ),
    "pneumothorax": (
        r"(?:hydro)?pneumothora(?:x|ces)",
        r"collapsed lung",
    ),
    "consolidation": (
        r"consolidations?",
        r"consolidative opacit(?:y|ies)",
        r"(?:airspace|air space|alveolar) (?:disease|opacit(?:y|ies)|consolidation)",
        _OPACITY,
        r"infiltrates?",
    ),
}

# Phrases that look like a mention but are none: they shadow the mentions they overlap (longest match wins).
NOT_MENTIONS = (
    rf"{_NOT_AIRSPACE}(?: (?!(?:airspace|air|alveolar|and|or)(?![\w-]))[\w-]+)? {_OPACITY}",
    rf"{_OPACITY}(?: (?!(?:and|or|with|but|no)(?![\w-]))[\w-]+){{0,6}}?,? {_RELATION} (?:[\w-]+ ){{0,2}}?"
    rf"{_NOT_AIRSPACE_CAUSE}(?!{_OR_INFECTION})",
)

# Phrases that state the finding is absent by describing the normal appearance.
NORMAL_MENTIONS: dict[str, tuple[str, ...]] = {
    "cardiomegaly": (
        rf"{_HEART_SUBJECT}{_VERB}(?: of)? (?:normal|within normal limits|unremarkable"
        r"|not (?:significantly |substantially |markedly |appreciably )?(?:enlarged|increased))",
        r"normal(?:-sized| sized)? (?:heart|cardiac)(?: size)?",
        r"normal (?:cardiac|cardiomediastinal) silhouette",
    ),
    "pleural_effusion": (
        r"costophrenic (?:angles?|sulci)(?: are| is| remain)? (?:sharp|clear|preserved)",
        r"sharp costophrenic (?:angles?|sulci)",
        r"pleural spaces?(?: are| is| remain| appear)? (?:clear|normal|unremarkable)",
    ),
    "pneumothorax": (
        r"pleural spaces?(?: are| is| remain| appear)? (?:clear|normal|unremarkable)",
    ),
    "consolidation": (
        r"(?:both |the )?(?:right |left )?lungs?(?: are| is| remain| appears?)?(?: (?:well|fully)[- ]"
        r"(?:expanded|inflated|aerated) and)? clear(?! of)",  # "clear of consolidation" is a negation cue
        r"clear lungs?",
    ),
}

# Negation cues before a mention (the nearest one before it in its scope decides).
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
# Cues after a mention, read only when no cue precedes it in its scope.
POST_NEGATION = (
    r"(?:has|have) resolved",
    r"(?:has |have )?cleared",
    r"(?:is |are )?(?:not|no longer) (?:seen|identified|present|visualized|visible|appreciated)",
    r"(?:is |are |was |were )?absent",
    r"(?:is |are |was |were |has been |have been )(?:ruled out|excluded)",
)
_CANNOT = r"(?:cannot|can not|can't|could not|couldn't)"
_FULLY = r"(?:completely |entirely |totally |definitely |fully )?"
# Uncertainty cues before a mention reach forward ("possible effusion", "cannot rule out a pneumothorax").
UNCERTAINTY = (
    rf"{_CANNOT} {_FULLY}(?:exclude|rule out)",
    r"rule out",
    r"to exclude",
    r"may",
    r"might",
    r"could",
    r"possible",
    r"possibly",
    r"probable",
    r"probably",
    r"likely",
    r"unlikely",
    r"suspected",
    r"suggests?",
    r"suggestive of",
    r"suggesting",
    r"questionable",
    r"concerning for",
    r"concern for",
    r"suspicious for",
    r"worrisome for",
    r"equivocal",
    r"borderline",
    r"differential",
)
# Uncertainty cues after a mention: only predicates of it ("effusion cannot be excluded", "is likely.").
POST_UNCERTAINTY = (
    rf"(?:{_CANNOT}|may not|not) (?:be )?{_FULLY}(?:excluded|ruled out)",
    r"(?:may|might|could)(?: also| still)? be (?:present|seen|noted|identified|visualized|developing)",
    r"(?:is|are|was|were|appears?|seems?)(?: also| most| more| very)? (?:likely|probable|possible|suspected"
    r"|questionable|questioned|equivocal|uncertain)(?: present)?(?= *(?:$|,))",
)
# Cues that reach both ways: "resolved effusion", "effusion resolved"; "consolidation versus atelectasis".
BOTH_WAYS_NEGATION = (r"resolved",)
BOTH_WAYS_UNCERTAINTY = (r"versus", r"vs")
# These report a finding although they contain a negation cue: "no change in the effusion", "partially
# resolved", and a finding "not seen on the lateral view" (seen on one view is reported, as in CheXpert).
PSEUDO_NEGATION = (
    r"(?:no|without) (?:significant |substantial |interval )?(?:change|increase|decrease|worsening|improvement)",
    r"not (?:significantly )?changed",
    r"(?:partial|incomplete|near(?:ly)?[- ]complete|almost complete|near[- ]total)(?: interval)? resolution of",
    r"(?:has |have )?(?:partially|incompletely|not(?: yet| completely| fully| entirely)?) resolved",
    r"(?:is |are )?(?:not|no longer) (?:seen|identified|visualized|visible|appreciated|evident) on the "
    r"(?:lateral|frontal|pa|ap|oblique) (?:view|projection|radiograph|image|film)s?",
)

# A cue reaches to the end of its clause at most; ";", ":" and these words end a clause.
CLAUSE_BREAK_WORDS = (r"but", r"however", r"although", r"though", r"whereas", r"except", r"and there (?:is|are)")
# Inside a clause a cue's scope also ends at "with", "which", or a comma / "and" that starts a new finding with
# its own modifier ("no pneumothorax, small effusion"); a bare list ("no effusion, pneumothorax") keeps it.
_MODIFIER = (r"(?:a|an|the|there|this|mild|mildly|moderate|moderately|severe|severely|small|large|tiny|trace"
             r"|minimal|marked|markedly|massive|new|newly|increased|increasing|decreased|decreasing|enlarging"
             r"|worsening|improved|improving|persistent|persistently|stable|unchanged|residual|known|chronic"
             r"|slight|slightly|\d[\d.]*)")
SCOPE_BREAK = re.compile(
    r"(?<![\w-])(?:(?<!consistent )(?<!compatible )(?<!keeping )with|which)(?![\w-])"
    rf"|(?:,(?: and)?|(?<![\w-])and) (?={_MODIFIER}(?![\w-]))"
)

SIDES = (r"left", r"right", r"bilateral(?:ly)?", r"both", r"bibasilar", r"bibasal")
LOBES = (r"(?:right|left) (?:upper|middle|lower) lobes?", r"lingula(?:r)?")


def compile_words(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One regex matching any of ``patterns`` as whole words (alternatives tried longest-pattern first)."""
    ordered = sorted(patterns, key=len, reverse=True)
    return re.compile(r"(?<![\w-])(?:" + "|".join(ordered) + r")(?![\w-])")
