"""Batched greedy and beam-search decoding for `zoo.decoder.TextDecoder`.

Shapes:
    B batch, K beams, S memory length, D width, V vocabulary,
    L generated length (<= max_new_tokens, bos excluded).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.decoder import KVCache, TextDecoder


class _Stepper:
    """Feeds a growing prefix to the decoder, with or without a KV cache."""

    def __init__(self, decoder: TextDecoder, memory: Tensor, memory_mask: Tensor,
                 use_cache: bool):
        self.decoder = decoder
        self.memory = memory
        # An all-real memory needs no mask: attention then skips building one every step.
        self.memory_mask = None if bool(memory_mask.all()) else memory_mask
        self.cache: KVCache | None = decoder.new_cache() if use_cache else None

    def next_logits(self, prefix: Tensor) -> Tensor:
        """prefix (B, t) including bos -> logits of the next token (B, V)."""
        tokens = prefix if self.cache is None else prefix[:, self.cache.length:]
        return self.decoder(tokens, self.memory, self.memory_mask, self.cache)[:, -1]

    def reorder(self, indices: Tensor) -> None:
        """Follow the surviving beams (B*K,) in the self-attention cache. Rows only move between beams of
        the same example, which share one memory, so the cross-attention cache stays as it is."""
        if self.cache is not None:
            self.cache.reorder(indices, cross=False)


def _check_budget(decoder: TextDecoder, max_new_tokens: int) -> None:
    if not 0 <= max_new_tokens <= decoder.max_positions:
        raise ValueError(f"max_new_tokens must be in [0, max_text_positions="
                         f"{decoder.max_positions}], got {max_new_tokens}")


@torch.no_grad()
def greedy_search(decoder: TextDecoder, memory: Tensor, memory_mask: Tensor, bos_id: int,
                  eos_id: int, pad_id: int, max_new_tokens: int,
                  use_cache: bool = True) -> Tensor:
    """Arg-max decoding from memory (B, S, D), memory_mask (B, S).

    Returns generated ids (B, L) without bos; positions after eos hold pad_id;
    stops as soon as every row has produced eos.
    """
    _check_budget(decoder, max_new_tokens)
    batch = memory.shape[0]
    stepper = _Stepper(decoder, memory, memory_mask, use_cache)
    prefix = torch.full((batch, 1), bos_id, dtype=torch.long, device=memory.device)  # (B, 1)
    finished = torch.zeros(batch, dtype=torch.bool, device=memory.device)  # (B,)
    for _ in range(max_new_tokens):
        next_ids = stepper.next_logits(prefix).argmax(dim=-1)  # (B,)
        next_ids = next_ids.masked_fill(finished, pad_id)
        prefix = torch.cat([prefix, next_ids[:, None]], dim=1)  # (B, t + 1)
        finished |= next_ids == eos_id
        if finished.all():
            break
    return prefix[:, 1:]


@torch.no_grad()
def beam_search(decoder: TextDecoder, memory: Tensor, memory_mask: Tensor, bos_id: int,
                eos_id: int, pad_id: int, max_new_tokens: int, num_beams: int = 4,
                length_penalty: float = 1.0, use_cache: bool = True) -> Tensor:
    """Beam search from memory (B, S, D), memory_mask (B, S); returns (B, L).

    Every example keeps `num_beams` hypotheses. A finished hypothesis stays in
    its beam (extended by pad at no cost, its length frozen) and competes with
    the live ones on score = sum of log-probs / length ** length_penalty.
    Returns the best hypothesis per example without bos, pad after eos.
    With num_beams=1 this is exactly greedy search.
    """
    _check_budget(decoder, max_new_tokens)
    if num_beams < 1:
        raise ValueError(f"num_beams must be >= 1, got {num_beams}")
    batch, k = memory.shape[0], num_beams
    device = memory.device
    stepper = _Stepper(decoder, memory.repeat_interleave(k, dim=0),
                       memory_mask.repeat_interleave(k, dim=0), use_cache)
    prefix = torch.full((batch * k, 1), bos_id, dtype=torch.long, device=device)  # (B*K, 1)
    # Only beam 0 is alive at the start, so the first step does not pick duplicates.
    sums = torch.full((batch, k), float("-inf"), device=device)  # (B, K)
    sums[:, 0] = 0.0
    lengths = torch.zeros(batch, k, device=device)  # (B, K)
    finished = torch.zeros(batch, k, dtype=torch.bool, device=device)  # (B, K)
    offsets = torch.arange(batch, device=device)[:, None] * k  # (B, 1) first row of each example
    for _ in range(max_new_tokens):
        log_probs = F.log_softmax(stepper.next_logits(prefix).float(), dim=-1)  # (B*K, V)
        log_probs = _freeze_finished(log_probs, finished.view(-1), pad_id)
        beam, next_ids, sums, lengths = _select(log_probs, sums, lengths, finished,
                                                length_penalty)
        rows = (beam + offsets).view(-1)  # (B*K,) surviving rows of the flat batch
        finished = finished.view(-1)[rows].view(batch, k) | (next_ids == eos_id)
        prefix = torch.cat([prefix[rows], next_ids.view(-1, 1)], dim=1)  # (B*K, t + 1)
        stepper.reorder(rows)
        if finished.all():
            break
    best = _normalise(sums, lengths, length_penalty).argmax(dim=1) + offsets[:, 0]  # (B,)
    return prefix[best, 1:]


def _normalise(sums: Tensor, lengths: Tensor, length_penalty: float) -> Tensor:
    """Hypothesis score: summed log-prob / length ** length_penalty."""
    return sums / lengths.clamp(min=1.0) ** length_penalty


def _select(log_probs: Tensor, sums: Tensor, lengths: Tensor, finished: Tensor,
            length_penalty: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Top K of the K * V extensions of every example.

    log_probs (B*K, V); sums, lengths, finished (B, K). Returns the source beam,
    the new token, the new sums and the new lengths, each (B, K).
    """
    batch, k = sums.shape
    vocab = log_probs.shape[-1]
    cand_sums = (sums.view(-1, 1) + log_probs).view(batch, k * vocab)  # (B, K*V)
    cand_lengths = (lengths + (~finished).float()).repeat_interleave(vocab, dim=1)  # (B, K*V)
    top = _normalise(cand_sums, cand_lengths, length_penalty).topk(k, dim=1).indices  # (B, K)
    return top // vocab, top % vocab, cand_sums.gather(1, top), cand_lengths.gather(1, top)


def _freeze_finished(log_probs: Tensor, finished: Tensor, pad_id: int) -> Tensor:
    """Finished rows may only continue with pad, at log-prob 0 (score unchanged)."""
    frozen = torch.full_like(log_probs, float("-inf"))
    frozen[:, pad_id] = 0.0
    return torch.where(finished[:, None], frozen, log_probs)  # (B*K, V)
