"""Corpus-level caption scores on tokenised captions: CIDEr-D, BLEU-1..N and ROUGE-L.

Written from the metric definitions and matched, number for number, to coco-caption (pycocoevalcap 1.2); the
points where coco-caption's code fixes a detail that the papers leave open are kept and marked "as coco".

Inputs are ``candidates`` (one token list per image) and ``references`` (a list of token lists per image);
``tasks.metrics.text.coco_tokenize`` gives the tokens coco-caption uses.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

Tokens = Sequence[str]
NGram = tuple[str, ...]

BLEU_SMALL = 1e-9  # as coco: added to every denominator of BLEU
BLEU_TINY = 1e-15  # as coco: added to every numerator, so a zero count gives a tiny, not a zero, precision


def ngram_counts(tokens: Tokens, max_n: int) -> Counter[NGram]:
    """Counts of every 1..max_n-gram of ``tokens``."""
    counts: Counter[NGram] = Counter()
    for n in range(1, max_n + 1):
        counts.update(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return counts


def _check_corpus(candidates: Sequence[Tokens], references: Sequence[Sequence[Tokens]]) -> None:
    """``ValueError`` naming ``references`` when it does not give a non-empty list per candidate."""
    if len(candidates) != len(references):
        raise ValueError(f"references must hold {len(candidates)} lists (one per candidate), got {len(references)}")
    for position, refs in enumerate(references):
        if len(refs) == 0:
            raise ValueError(f"references[{position}] is empty; every image needs at least one reference")


# ---------------------------------------------------------------- CIDEr-D


def cider_d_scores(
    candidates: Sequence[Tokens], references: Sequence[Sequence[Tokens]], n: int = 4, sigma: float = 6.0
) -> list[float]:
    """CIDEr-D of every candidate (Vedantam et al. 2015, as coco-caption computes it).

    Document frequency df(g) is the number of images whose references contain the n-gram g, over the
    evaluated corpus; idf(g) = log(num_images) - log(max(1, df(g))). Per n-gram order, candidate and reference
    are tf-idf vectors; their similarity is sum_g min(c_g, r_g) * r_g / (|c| |r|) (the clipping of CIDEr-D),
    times the Gaussian length penalty exp(-delta² / (2 sigma²)). The score is 10 × the mean over orders of the
    mean over references. As coco, delta counts bigrams (len - 1), which differs from the word-length
    difference only for empty sentences, and a zero norm leaves the similarity unnormalised (it is then 0).
    """
    _check_corpus(candidates, references)
    if not candidates:
        return []
    ref_counts = [[ngram_counts(ref, n) for ref in refs] for refs in references]
    doc_freq: Counter[NGram] = Counter()
    for refs in ref_counts:
        doc_freq.update(set().union(*refs))
    log_num_images = math.log(float(len(candidates)))
    scores = []
    for candidate, refs, counts in zip(candidates, references, ref_counts, strict=True):
        cand_vec = _tfidf(ngram_counts(candidate, n), doc_freq, log_num_images, n)
        total = 0.0
        for ref, ref_count in zip(refs, counts, strict=True):
            ref_vec = _tfidf(ref_count, doc_freq, log_num_images, n)
            delta = float(_penalty_length(candidate, n) - _penalty_length(ref, n))
            penalty = math.exp(-(delta**2) / (2 * sigma**2))
            total += sum(_clipped_cosine(cand_vec[k], ref_vec[k]) * penalty for k in range(n)) / n
        scores.append(10.0 * total / len(refs))
    return scores


def _penalty_length(tokens: Tokens, n: int) -> int:
    """The length used by the Gaussian penalty: as coco, the number of bigrams (0 when n < 2)."""
    return max(0, len(tokens) - 1) if n >= 2 else 0


def _tfidf(counts: Counter[NGram], doc_freq: Counter[NGram], log_num_images: float, n: int) -> list[dict[NGram, float]]:
    """Per n-gram order (index k = order - 1), the tf-idf weight of every n-gram in ``counts``."""
    vectors: list[dict[NGram, float]] = [{} for _ in range(n)]
    for gram, term_freq in counts.items():
        idf = log_num_images - math.log(max(1.0, float(doc_freq[gram])))
        vectors[len(gram) - 1][gram] = float(term_freq) * idf
    return vectors


def _clipped_cosine(candidate: dict[NGram, float], reference: dict[NGram, float]) -> float:
    """sum_g min(c_g, r_g) * r_g / (|c| |r|); left unnormalised (then 0) when a norm is 0."""
    dot = 0.0
    for gram, weight in candidate.items():
        ref_weight = reference.get(gram, 0.0)
        dot += min(weight, ref_weight) * ref_weight
    cand_norm = math.sqrt(sum(w * w for w in candidate.values()))
    ref_norm = math.sqrt(sum(w * w for w in reference.values()))
    if cand_norm != 0.0 and ref_norm != 0.0:
        dot /= cand_norm * ref_norm
    return dot


# ---------------------------------------------------------------- BLEU


def bleu_scores(candidates: Sequence[Tokens], references: Sequence[Sequence[Tokens]], n: int = 4) -> list[float]:
    """Corpus BLEU-1..n (Papineni et al. 2002) as coco-caption computes it: ``[bleu1, ..., bleun]``.

    Clipped n-gram matches (each candidate n-gram counts at most as often as in its most generous reference)
    and candidate n-gram totals are summed over the corpus; BLEU-k is the geometric mean of the precisions of
    orders 1..k, with coco's smoothing constants ``(matches + 1e-15) / (total + 1e-9)``. The brevity penalty
    exp(1 - r/c) applies when c < r, where c is the total candidate length and r sums, per image, the length of
    the reference closest to the candidate's (ties go to the shorter), coco's "closest" option.
    """
    _check_corpus(candidates, references)
    matches = [0] * n
    totals = [0] * n
    candidate_length = 0
    reference_length = 0
    for candidate, refs in zip(candidates, references, strict=True):
        max_ref_counts: Counter[NGram] = Counter()
        for ref in refs:
            max_ref_counts |= ngram_counts(ref, n)  # Counter union keeps the maximum count
        for gram, count in ngram_counts(candidate, n).items():
            matches[len(gram) - 1] += min(count, max_ref_counts[gram])
        for k in range(n):
            totals[k] += max(0, len(candidate) - k)
        candidate_length += len(candidate)
        reference_length += min((abs(len(ref) - len(candidate)), len(ref)) for ref in refs)[1]
    scores = []
    product = 1.0
    for k in range(n):
        product *= (matches[k] + BLEU_TINY) / (totals[k] + BLEU_SMALL)
        scores.append(product ** (1.0 / (k + 1)))
    ratio = (candidate_length + BLEU_TINY) / (reference_length + BLEU_SMALL)
    if ratio < 1.0:
        scores = [score * math.exp(1.0 - 1.0 / ratio) for score in scores]
    return scores


# ---------------------------------------------------------------- ROUGE-L


def lcs_length(first: Tokens, second: Tokens) -> int:
    """Length of the longest common subsequence of two token sequences (dynamic programming, one row)."""
    previous = [0] * (len(second) + 1)
    for token in first:
        current = [0]
        for j, other in enumerate(second):
            current.append(previous[j] + 1 if token == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l_scores(
    candidates: Sequence[Tokens], references: Sequence[Sequence[Tokens]], beta: float = 1.2
) -> list[float]:
    """ROUGE-L of every candidate (Lin 2004) as coco-caption computes it.

    With P = max over references of LCS / len(candidate) and R = max over references of LCS / len(reference)
    (maxima taken separately, as coco), the score is (1 + beta²) P R / (R + beta² P), or 0 when P or R is 0.
    An empty candidate scores 0 and an empty reference has recall 0.
    """
    _check_corpus(candidates, references)
    scores = []
    for candidate, refs in zip(candidates, references, strict=True):
        lcs = [lcs_length(ref, candidate) for ref in refs]
        precision = max(common / len(candidate) for common in lcs) if candidate else 0.0
        recall = max(common / len(ref) if ref else 0.0 for common, ref in zip(lcs, refs, strict=True))
        if precision == 0.0 or recall == 0.0:
            scores.append(0.0)
        else:
            scores.append((1 + beta**2) * precision * recall / (recall + beta**2 * precision))
    return scores
