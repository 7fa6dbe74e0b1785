"""Batched greedy, sampled and beam-search decoding for `zoo.decoder.TextDecoder`.

Repetition controls (HF transformers semantics), applied to the next-token logits of every row (greedy,
sampling) or beam (beam search, each beam against its own prefix) before the choice:

* ``no_repeat_ngram_size`` n > 0: a token that would complete an n-gram already present in the row's
  generated prefix gets -inf.
* ``repetition_penalty`` p != 1: every token id already in the generated prefix has a positive logit
  divided by p and a negative one multiplied by p (CTRL).

The generated prefix excludes bos: bos is never generated, and counting it would penalise eos wherever a
tokenizer shares one id for both. Sampling (``do_sample``, greedy search only) draws from
softmax(logits / ``temperature``) restricted to the nucleus of mass ``top_p``, with a generator seeded by
``seed`` once per call, so the same inputs (the same batch) and seed give the same ids. At their neutral
values (0, 1.0, False) the controls cost nothing: the code path is the plain arg-max / beam search.

Shapes:
    B batch, K beams, R rows (B or B*K), S memory length, D width, V vocabulary,
    L generated length (<= max_new_tokens, bos excluded), t prefix length so far.
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


def check_controls(no_repeat_ngram_size: int = 0, repetition_penalty: float = 1.0, temperature: float = 1.0,
                   top_p: float = 1.0) -> None:
    """One-line ``ValueError`` naming the first control out of its range."""
    if no_repeat_ngram_size < 0:
        raise ValueError(f"no_repeat_ngram_size must be >= 0 (0 = off), got {no_repeat_ngram_size}")
    if not repetition_penalty > 0:
        raise ValueError(f"repetition_penalty must be > 0 (1.0 = off), got {repetition_penalty}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def penalise_repeats(logits: Tensor, generated: Tensor, no_repeat_ngram_size: int,
                     repetition_penalty: float) -> Tensor:
    """Next-token logits (R, V) after the repetition controls, given each row's generated prefix (R, t)
    without bos; returns a new float tensor (R, V).

    A row whose every token would be banned keeps its logits: with a real eos id this cannot happen, since a
    live prefix holds no eos.
    """
    logits = logits.float()
    if generated.shape[1] == 0:
        return logits
    if repetition_penalty != 1.0:
        seen = logits.gather(1, generated)  # (R, t)
        seen = torch.where(seen > 0, seen / repetition_penalty, seen * repetition_penalty)
        logits = logits.scatter(1, generated, seen)  # a repeated id writes the same value twice
    if no_repeat_ngram_size > 0:
        banned = _banned_ngram_tokens(generated, no_repeat_ngram_size, logits.shape[-1])  # (R, V)
        banned &= ~banned.all(dim=-1, keepdim=True)
        logits = logits.masked_fill(banned, float("-inf"))
    return logits


def _banned_ngram_tokens(generated: Tensor, n: int, vocab: int) -> Tensor:
    """(R, V) True where the token after generated (R, t) would repeat one of its n-grams."""
    rows, length = generated.shape
    banned = torch.zeros(rows, vocab, dtype=torch.bool, device=generated.device)
    if length < n:  # fewer than n tokens hold no complete n-gram
        return banned
    windows = generated.unfold(1, n, 1)  # (R, t - n + 1, n) every n-gram so far
    tail = generated[:, length - n + 1:]  # (R, n - 1) the n-gram the next token would complete
    match = (windows[..., :-1] == tail[:, None, :]).all(dim=-1)  # (R, t - n + 1)
    row, window = match.nonzero(as_tuple=True)
    banned[row, windows[row, window, -1]] = True
    return banned


def _sample(logits: Tensor, temperature: float, top_p: float, generator: torch.Generator) -> Tensor:
    """One token per row (R,) drawn from softmax(logits (R, V) / temperature) within the nucleus: the
    smallest set of most likely tokens whose mass reaches top_p (always at least the most likely one)."""
    probs = torch.softmax(logits.float() / temperature, dim=-1)  # (R, V)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)  # (R, V)
        before = sorted_probs.cumsum(dim=-1) - sorted_probs  # mass of the tokens ranked above each one
        sorted_probs = sorted_probs.masked_fill(before >= top_p, 0.0)
        probs = torch.zeros_like(probs).scatter(1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


@torch.no_grad()
def greedy_search(decoder: TextDecoder, memory: Tensor, memory_mask: Tensor, bos_id: int,
                  eos_id: int, pad_id: int, max_new_tokens: int,
                  use_cache: bool = True, no_repeat_ngram_size: int = 0,
                  repetition_penalty: float = 1.0, do_sample: bool = False,
                  temperature: float = 1.0, top_p: float = 1.0, seed: int = 0) -> Tensor:
    """Arg-max decoding (or sampling, with do_sample) from memory (B, S, D), memory_mask (B, S).

    Returns generated ids (B, L) without bos; positions after eos hold pad_id;
    stops as soon as every row has produced eos. The repetition controls and the
    sampling settings are described in the module docstring; temperature, top_p
    and seed only act with do_sample.
    """
    _check_budget(decoder, max_new_tokens)
    check_controls(no_repeat_ngram_size, repetition_penalty, temperature, top_p)
    controlled = no_repeat_ngram_size > 0 or repetition_penalty != 1.0
    generator = None
    if do_sample:
        generator = torch.Generator(device=memory.device)
        generator.manual_seed(seed)
    batch = memory.shape[0]
    stepper = _Stepper(decoder, memory, memory_mask, use_cache)
    prefix = torch.full((batch, 1), bos_id, dtype=torch.long, device=memory.device)  # (B, 1)
    finished = torch.zeros(batch, dtype=torch.bool, device=memory.device)  # (B,)
    for _ in range(max_new_tokens):
        logits = stepper.next_logits(prefix)  # (B, V)
        if controlled:
            logits = penalise_repeats(logits, prefix[:, 1:], no_repeat_ngram_size, repetition_penalty)
        if generator is not None:
            next_ids = _sample(logits, temperature, top_p, generator)  # (B,)
        else:
            next_ids = logits.argmax(dim=-1)  # (B,)
        next_ids = next_ids.masked_fill(finished, pad_id)
        prefix = torch.cat([prefix, next_ids[:, None]], dim=1)  # (B, t + 1)
        finished |= next_ids == eos_id
        if finished.all():
            break
    return prefix[:, 1:]


@torch.no_grad()
def beam_search(decoder: TextDecoder, memory: Tensor, memory_mask: Tensor, bos_id: int,
                eos_id: int, pad_id: int, max_new_tokens: int, num_beams: int = 4,
                length_penalty: float = 1.0, use_cache: bool = True,
                no_repeat_ngram_size: int = 0, repetition_penalty: float = 1.0) -> Tensor:
    """Beam search from memory (B, S, D), memory_mask (B, S); returns (B, L).

    Every example keeps `num_beams` hypotheses. A finished hypothesis stays in
    its beam (extended by pad at no cost, its length frozen) and competes with
    the live ones on score = sum of log-probs / length ** length_penalty.
    Returns the best hypothesis per example without bos, pad after eos.
    With num_beams=1 this is exactly greedy search.

    The repetition controls act on each beam's logits against its own prefix
    before log_softmax, so a hypothesis is scored by the modified distribution
    (as HF transformers does): a penalised continuation is both less likely to
    be chosen and costs its beam in the ranking.
    """
    _check_budget(decoder, max_new_tokens)
    if num_beams < 1:
        raise ValueError(f"num_beams must be >= 1, got {num_beams}")
    check_controls(no_repeat_ngram_size, repetition_penalty)
    controlled = no_repeat_ngram_size > 0 or repetition_penalty != 1.0
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
        logits = stepper.next_logits(prefix)  # (B*K, V)
        if controlled:
            logits = penalise_repeats(logits, prefix[:, 1:], no_repeat_ngram_size, repetition_penalty)
        log_probs = F.log_softmax(logits.float(), dim=-1)  # (B*K, V)
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
