"""CTC decoding for the asr task's CTC head: best-path (greedy) and prefix beam search over the head's
per-frame log-probabilities, and the exact CTC log-likelihood of given transcripts (for joint CTC/attention
rescoring in ``tasks/asr/__init__.py``).

Conventions: ``log_probs`` is (T, V) or (B, T, V) log-softmax output, ``lengths`` the real frames of each row,
``blank`` the blank id (the asr task uses the tokenizer's pad id). Token sequences are lists of ids without
blanks, bos or eos.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

NEG_INF = float("-inf")


def _logaddexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    high, low = (a, b) if a > b else (b, a)
    return high + math.log1p(math.exp(low - high))


def best_path(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int) -> list[list[int]]:
    """Greedy CTC decoding of a batch (B, T, V): the most likely label per frame, repeats merged, blanks dropped."""
    best = log_probs.argmax(-1).tolist()  # (B, T)
    out = []
    for row, length in zip(best, lengths.tolist(), strict=True):
        tokens, previous = [], None
        for label in row[:length]:
            if label != previous and label != blank:
                tokens.append(label)
            previous = label
        out.append(tokens)
    return out


def prefix_beam_search(log_probs: torch.Tensor, blank: int, beam: int, top_k: int = 8) -> list[tuple[list[int], float]]:
    """CTC prefix beam search over one utterance's (T, V) log-probabilities -> up to ``beam`` (tokens, log p),
    most likely first. Each prefix keeps the probability of its paths ending in a blank and in its last label,
    so "a a" (blank between) and "a" (repeat merged) stay apart; each frame extends by its ``top_k`` labels."""
    if log_probs.dim() != 2:
        raise ValueError(f"log_probs must be (T, V), got shape {tuple(log_probs.shape)}")
    k = min(top_k, log_probs.shape[1])
    top_values, top_labels = (t.tolist() for t in log_probs.topk(k, dim=-1))
    frames = log_probs[:, blank].tolist()
    beams: dict[tuple[int, ...], list[float]] = {(): [0.0, NEG_INF]}  # prefix -> [log p blank-ending, label-ending]
    for values, labels, blank_lp in zip(top_values, top_labels, frames, strict=True):
        grown: dict[tuple[int, ...], list[float]] = {}
        for prefix, (p_blank, p_label) in beams.items():
            total = _logaddexp(p_blank, p_label)
            here = grown.setdefault(prefix, [NEG_INF, NEG_INF])
            here[0] = _logaddexp(here[0], total + blank_lp)
            last = prefix[-1] if prefix else None
            for value, label in zip(values, labels, strict=True):
                if label == blank:
                    continue
                extended = grown.setdefault(prefix + (label,), [NEG_INF, NEG_INF])
                if label == last:  # a repeat extends only across a blank; without one it merges into prefix
                    extended[1] = _logaddexp(extended[1], p_blank + value)
                    here[1] = _logaddexp(here[1], p_label + value)
                else:
                    extended[1] = _logaddexp(extended[1], total + value)
        ranked = sorted(((prefix, scores) for prefix, scores in grown.items() if max(scores) > NEG_INF),
                        key=lambda item: _logaddexp(*item[1]), reverse=True)  # a repeat after no blank: p = 0
        beams = dict(ranked[:beam])  # most likely first
    return [(list(prefix), _logaddexp(*scores)) for prefix, scores in beams.items()]


def sequence_log_likelihood(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int,
                            sequences: Sequence[Sequence[int]]) -> torch.Tensor:
    """Exact log p_ctc(sequence | frames) for each row: log_probs (B, T, V), lengths (B,), one sequence per row ->
    (B,). A sequence that no alignment can produce in the row's frames gets -inf."""
    if len(sequences) != log_probs.shape[0]:
        raise ValueError(f"{len(sequences)} sequences for {log_probs.shape[0]} rows")
    target_lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    targets = torch.tensor([t for s in sequences for t in s], dtype=torch.long)
    nll = F.ctc_loss(log_probs.float().transpose(0, 1), targets, lengths.long().cpu(), target_lengths, blank=blank,
                     reduction="none", zero_infinity=False)
    return -nll
