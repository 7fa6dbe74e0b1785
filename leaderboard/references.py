"""Published reference results, shown beside measured ones but never ranked with them.

Values are in the same units as records: fractions for accuracy, F1, WER and CER
(0.856 for 85.6%). Sources are quoted from shared/data/README.md ("Published reference
results") and the papers or repositories it names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class Reference:
    """One published result: a model's metrics on a task's benchmark split."""

    task: str
    benchmark: str
    split: str
    model: str
    metrics: Mapping[str, float] = field(hash=False)
    source: str = ""

    def __post_init__(self) -> None:
        """Freeze `metrics` (a read-only copy) so a Reference is truly immutable."""
        object.__setattr__(self, "metrics", MappingProxyType(dict(self.metrics)))


_GLUE = "GLUE paper, Wang et al. 2018, Table (dev); via shared/data/README.md"
_KIM = "Kim 2014, Table 2 (SST-2 test)"
_MEVF = "aioz-ai/MICCAI19-MedVQA README"
_RN_PAPER = "Santoro et al. 2017 §5.3: above 94% on both"

REFERENCES: tuple[Reference, ...] = (
    Reference("sentiment", "sst2", "dev", "BiLSTM+attention", {"accuracy": 0.856}, _GLUE),
    Reference(
        "sentiment", "sst2", "dev", "BiLSTM+ELMo+Attn (GLUE best non-pretrained)",
        {"accuracy": 0.904}, _GLUE,
    ),
    Reference(
        "sentiment", "sst2", "dev", "BERT-base", {"accuracy": 0.923},
        "reported 92.3–93.5; via shared/data/README.md",
    ),
    Reference("sentiment", "sst2", "test", "Kim 2014 CNN-rand", {"accuracy": 0.835}, _KIM),
    Reference("sentiment", "sst2", "test", "Kim 2014 CNN-static", {"accuracy": 0.868}, _KIM),
    Reference("sentiment", "sst2", "test", "Kim 2014 CNN-multichannel", {"accuracy": 0.871}, _KIM),
    Reference(
        "asr", "an4", "test", "ESPnet Transformer (GPU, full train set)",
        {"wer": 0.074, "cer": 0.036}, "espnet egs2/an4/asr1 README",
    ),
    Reference(
        "asr", "fsdd", "test", "small CNN / ResNet18 on mel spectrograms",
        {"digit_accuracy": 0.97},
        "various; no official leaderboard, split differs (reported ~92–97%)",
    ),
    Reference(
        "vqa", "vqa-rad-mevf", "test", "MEVF+SAN",
        {"closed_accuracy": 0.741, "open_accuracy": 0.407}, _MEVF,
    ),
    Reference(
        "vqa", "vqa-rad-mevf", "test", "MEVF+BAN",
        {"closed_accuracy": 0.751, "open_accuracy": 0.439}, _MEVF,
    ),
    Reference(
        "vqa", "sort-of-clevr", "test", "Relation Network (Santoro et al. 2017)",
        {"relational_accuracy": 0.94, "nonrelational_accuracy": 0.94}, _RN_PAPER,
    ),
    Reference(
        "vqa", "sort-of-clevr", "test", "CNN+MLP (Santoro et al. 2017)",
        {"relational_accuracy": 0.63}, "Santoro et al. 2017",
    ),
    Reference(
        "vqa", "sort-of-clevr", "test", "RN, kimhc6028 PyTorch reimplementation",
        {"relational_accuracy": 0.89, "nonrelational_accuracy": 0.99},
        "kimhc6028/relational-networks README",
    ),
)


def normalise_name(name: str) -> str:
    """Compare benchmark and task names loosely: case and '_' versus '-' do not matter."""
    return name.strip().lower().replace("_", "-")


def references_for(
    task: str,
    benchmark: str,
    references: tuple[Reference, ...] = REFERENCES,
) -> list[Reference]:
    """Return the references of `task` on `benchmark` (all splits), in table order.

    Names are matched by `normalise_name`, so "vqa_rad_mevf" finds the "vqa-rad-mevf" entries.
    """
    wanted = (normalise_name(task), normalise_name(benchmark))
    return [
        ref for ref in references
        if (normalise_name(ref.task), normalise_name(ref.benchmark)) == wanted
    ]
