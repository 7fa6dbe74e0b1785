"""Caption metrics as torchmetrics ``Metric`` objects: CIDEr-D, BLEU-1..4, ROUGE-L and all three at once.

Every metric takes ``update(predictions, references, ids=None)``: ``predictions`` one caption per image,
``references`` a non-empty list of captions per image, ``ids`` optional example ids (repeated ids count once,
see ``tasks.metrics.gather``). Captions are tokenised with ``coco_tokenize`` (``tokenize=False``: split on
whitespace, for captions that are already tokenised). ``compute`` scores the whole gathered corpus, because
CIDEr-D's document frequencies and BLEU's counts are corpus statistics: the value is not a mean of batch values.

No Java and no pycocoevalcap: the scores are ``tasks.metrics.caption_scores``, parity-tested against
pycocoevalcap 1.2.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import torch

from tasks.metrics.caption_scores import bleu_scores, cider_d_scores, rouge_l_scores
from tasks.metrics.gather import RecordMetric, as_tensor, check_lengths
from tasks.metrics.text import coco_tokenize

CaptionPair = tuple[list[str], list[list[str]]]  # (candidate tokens, reference token lists)


class CaptionMetric(RecordMetric):
    """Base of the caption metrics: keeps one (candidate tokens, reference tokens) record per image."""

    def __init__(self, tokenize: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tokenize = tokenize

    def update(
        self, predictions: Sequence[str], references: Sequence[Sequence[str]], ids: Sequence[Hashable] | None = None
    ) -> None:
        """Add one image per prediction; ``ValueError`` naming the field on malformed input."""
        if isinstance(predictions, str):
            raise ValueError("predictions must be a list of captions, got a single string")
        check_lengths("references", references, len(predictions))
        pairs: list[CaptionPair] = []
        for position, (prediction, refs) in enumerate(zip(predictions, references, strict=True)):
            if not isinstance(prediction, str):
                raise ValueError(f"predictions[{position}] must be a string, got {type(prediction).__name__}")
            if isinstance(refs, str) or len(refs) == 0 or not all(isinstance(r, str) for r in refs):
                raise ValueError(f"references[{position}] must be a non-empty list of strings, got {refs!r}")
            pairs.append((self._tokens(prediction), [self._tokens(ref) for ref in refs]))
        self.add_records(pairs, ids)

    def _tokens(self, caption: str) -> list[str]:
        """coco tokens of ``caption`` (or its whitespace split when ``tokenize`` is off)."""
        return coco_tokenize(caption) if self.tokenize else caption.split()

    def corpus(self) -> tuple[list[list[str]], list[list[list[str]]]]:
        """The gathered (candidates, references) token lists, one entry per unique image."""
        pairs = self.synced_records()
        return [candidate for candidate, _ in pairs], [refs for _, refs in pairs]


class CiderD(CaptionMetric):
    """CIDEr-D (n-grams up to ``n``, Gaussian length penalty ``sigma``), as pycocoevalcap's ``Cider``."""

    def __init__(self, n: int = 4, sigma: float = 6.0, tokenize: bool = True, **kwargs: Any) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        super().__init__(tokenize=tokenize, **kwargs)
        self.n = n
        self.sigma = sigma

    def per_example(self) -> list[float]:
        """CIDEr-D of every unique image, in the order the images were added."""
        candidates, references = self.corpus()
        return cider_d_scores(candidates, references, self.n, self.sigma)

    def compute(self) -> torch.Tensor:
        """Corpus CIDEr-D: the mean of the per-image scores (0 for an empty corpus)."""
        scores = self.per_example()
        return as_tensor(sum(scores) / len(scores) if scores else 0.0)


class Bleu(CaptionMetric):
    """Corpus BLEU-1..``n`` with the "closest" reference length, as pycocoevalcap's ``Bleu``."""

    def __init__(self, n: int = 4, tokenize: bool = True, **kwargs: Any) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        super().__init__(tokenize=tokenize, **kwargs)
        self.n = n

    def compute(self) -> dict[str, torch.Tensor]:
        """``{"bleu1": ..., "bleu<n>": ...}``."""
        candidates, references = self.corpus()
        scores = bleu_scores(candidates, references, self.n)
        return {f"bleu{k + 1}": as_tensor(score) for k, score in enumerate(scores)}


class RougeL(CaptionMetric):
    """ROUGE-L (LCS F-measure with ``beta``, max over references, mean over images), as pycocoevalcap's ``Rouge``."""

    def __init__(self, beta: float = 1.2, tokenize: bool = True, **kwargs: Any) -> None:
        if beta <= 0:
            raise ValueError(f"beta must be positive, got {beta}")
        super().__init__(tokenize=tokenize, **kwargs)
        self.beta = beta

    def per_example(self) -> list[float]:
        """ROUGE-L of every unique image, in the order the images were added."""
        candidates, references = self.corpus()
        return rouge_l_scores(candidates, references, self.beta)

    def compute(self) -> torch.Tensor:
        """Mean ROUGE-L over images (0 for an empty corpus)."""
        scores = self.per_example()
        return as_tensor(sum(scores) / len(scores) if scores else 0.0)


class CaptionMetrics(CaptionMetric):
    """CIDEr-D, BLEU-1..4 and ROUGE-L from one record list (tokenised once, gathered once).

    ``compute`` gives ``{"cider_d", "bleu1", "bleu2", "bleu3", "bleu4", "rouge_l"}``; ``per_example`` gives
    the CIDEr-D of every image, for error analysis.
    """

    def per_example(self) -> list[float]:
        """CIDEr-D of every unique image, in the order the images were added."""
        candidates, references = self.corpus()
        return cider_d_scores(candidates, references)

    def compute(self) -> dict[str, torch.Tensor]:
        """All caption scores over the gathered corpus (zeros for an empty corpus)."""
        candidates, references = self.corpus()
        if not candidates:
            names = ("cider_d", "bleu1", "bleu2", "bleu3", "bleu4", "rouge_l")
            return {name: as_tensor(0.0) for name in names}
        cider = cider_d_scores(candidates, references)
        rouge = rouge_l_scores(candidates, references)
        values = {"cider_d": sum(cider) / len(cider)}
        values.update({f"bleu{k + 1}": s for k, s in enumerate(bleu_scores(candidates, references, 4))})
        values["rouge_l"] = sum(rouge) / len(rouge)
        return {name: as_tensor(value) for name, value in values.items()}
