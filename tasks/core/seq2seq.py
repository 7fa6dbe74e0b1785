"""Pieces shared by the tasks that generate text (captioning, med_report, asr, generative vqa).

Composition, not inheritance: a task's ``Module`` calls these from its ``step`` (``seq2seq_task`` builds the
image-to-text Module and DataModule of captioning and med_report from them).
Shapes: B batch, T target tokens (with bos/eos), V vocabulary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

import zoo
from tasks.core.contract import optional_field


@dataclass(frozen=True)
class Decoding:
    """Decoding settings; recorded in every config so a number names how it was decoded.

    The repetition controls and sampling (``zoo.generation``) are optional fields: left out of a record while
    neutral, so the configs (and hashes) of runs without them stay as they were. ``no_repeat_ngram_size`` n > 0
    bans a token that would repeat an n-gram of the generated text; ``repetition_penalty`` > 1 lowers the logit
    of every token already generated; ``do_sample`` (num_beams 1 only) samples from softmax(logits /
    ``temperature``) within the nucleus of mass ``top_p``, reproducibly for a given ``seed``.
    """

    num_beams: int = 3
    max_new_tokens: int = 48
    length_penalty: float = 1.0
    no_repeat_ngram_size: int = optional_field(0)  # 0: off
    repetition_penalty: float = optional_field(1.0)  # 1.0: off
    do_sample: bool = optional_field(False)
    temperature: float = optional_field(1.0)  # sampling only
    top_p: float = optional_field(1.0)  # sampling only; 1.0: the whole vocabulary
    seed: int = optional_field(0)  # sampling only

    def __post_init__(self) -> None:
        if self.num_beams < 1 or self.max_new_tokens < 1:
            raise ValueError("decoding.num_beams and decoding.max_new_tokens must be at least 1")
        if not isinstance(self.no_repeat_ngram_size, int) or self.no_repeat_ngram_size < 0:
            raise ValueError(f"decoding.no_repeat_ngram_size must be an integer >= 0, got {self.no_repeat_ngram_size}")
        if not self.repetition_penalty > 0:
            raise ValueError(f"decoding.repetition_penalty must be > 0, got {self.repetition_penalty}")
        if not isinstance(self.do_sample, bool):
            raise ValueError(f"decoding.do_sample must be true or false, got {self.do_sample!r}")
        if not self.temperature > 0:
            raise ValueError(f"decoding.temperature must be > 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"decoding.top_p must be in (0, 1], got {self.top_p}")
        if not isinstance(self.seed, int):
            raise ValueError(f"decoding.seed must be an integer, got {self.seed!r}")
        if self.do_sample and self.num_beams != 1:
            raise ValueError(f"decoding.do_sample needs decoding.num_beams 1, got {self.num_beams}")
        for name in SAMPLING_FIELDS:
            if not self.do_sample and getattr(self, name) != NEUTRAL[name]:
                raise ValueError(f"decoding.{name} applies only with decoding.do_sample true")

    def controls(self) -> dict[str, Any]:
        """The repetition and sampling keyword arguments of ``zoo.MultimodalModel.generate`` that are set away
        from neutral: empty by default, so a model whose ``generate`` has no such arguments still decodes."""
        return {name: getattr(self, name) for name, neutral in NEUTRAL.items() if getattr(self, name) != neutral}


NEUTRAL: dict[str, Any] = {"no_repeat_ngram_size": 0, "repetition_penalty": 1.0, "do_sample": False,
                           "temperature": 1.0, "top_p": 1.0, "seed": 0}  # the controls' off values
SAMPLING_FIELDS = ("temperature", "top_p", "seed")


def encode_targets(tokenizer: Any, texts: Sequence[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets with bos and eos: ids (B, T) and mask (B, T), for teacher forcing."""
    return tokenizer.batch_encode(list(texts), max_length=max_length, add_bos=True, add_eos=True)


def lm_loss(net: zoo.MultimodalModel, inputs: Mapping[str, torch.Tensor], target: torch.Tensor,
            target_mask: torch.Tensor, ff_weight: float = 0.0) -> torch.Tensor:
    """Mean next-token cross-entropy over real target positions (bos predicts the first token), plus
    ``ff_weight`` × ``ff_loss`` when ``ff_weight`` is not 0 (at 0 the term is not computed at all)."""
    logits = net.decoder_logits(inputs, target[:, :-1])  # (B, T-1, V)
    gold = target[:, 1:].masked_fill(~target_mask[:, 1:], -100)  # (B, T-1)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), gold.reshape(-1), ignore_index=-100)
    if ff_weight:
        loss = loss + ff_weight * ff_loss(logits, target[:, 1:], target_mask[:, 1:])
    return loss


def ff_loss(logits: torch.Tensor, gold: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The seed design's auxiliary term L_FF = (1/N) Σ log(1 + exp(−‖p − y‖²)) over the N real positions.

    ``logits`` (B, T-1, V), ``gold`` (B, T-1) token ids (any value at padded positions), ``mask`` (B, T-1) bool,
    true at real positions; p = softmax(logits), y = one-hot(gold). ‖p − y‖² = Σ_v p_v² − 2 p_gold + 1 (no
    (B, T-1, V) one-hot), computed in float32. The term falls as d = ‖p − y‖² grows (log(1 + e^−d) is
    decreasing), so minimising it pushes p away from the truth; it is 0 when there are no real positions.
    """
    probs = logits.float().softmax(dim=-1)  # (B, T-1, V)
    p_gold = probs.gather(-1, gold.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (B, T-1)
    distance = ((probs * probs).sum(-1) - 2 * p_gold + 1).clamp(min=0)  # ‖p − y‖² in [0, 2], (B, T-1)
    term = F.softplus(-distance)  # log(1 + exp(−d))
    weights = mask.to(term.dtype)
    return (term * weights).sum() / weights.sum().clamp(min=1)


def generate_texts(net: zoo.MultimodalModel, inputs: Mapping[str, torch.Tensor], tokenizer: Any,
                   decoding: Decoding) -> list[str]:
    """Decode a batch to strings with the model's decoder (greedy or sampled when num_beams == 1), with the
    decoding's repetition controls."""
    ids = net.generate(inputs, bos_id=tokenizer.bos_id, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id,
                       max_new_tokens=decoding.max_new_tokens, num_beams=decoding.num_beams,
                       length_penalty=decoding.length_penalty, **decoding.controls())
    return [tokenizer.decode(row) for row in ids.tolist()]


def modality_inputs(batch: Mapping[str, Any], keys: Sequence[str]) -> dict[str, torch.Tensor]:
    """The model inputs of a batch: only the given keys of the shared batch vocabulary."""
    return {key: batch[key] for key in keys if key in batch}


def sample_rows(ids: Sequence[str], predictions: Sequence[str], references: Sequence[Any],
                limit: int = 8) -> list[dict]:
    """A few (id, prediction, reference) rows to print beside the run and keep in the record."""
    rows = []
    for row_id, prediction, reference in list(zip(ids, predictions, references))[:limit]:
        ref = reference if isinstance(reference, str) else " | ".join(reference)
        rows.append({"id": str(row_id), "prediction": prediction, "reference": ref})
    return rows


def check_generation_config(config: Any, benchmarks: tuple[str, ...]) -> None:
    """The checks an image-to-text task's Config shares: ``decoding`` rebuilt from a record's dict, a known
    benchmark and tokenizer kind, and an image size that is a positive multiple of the patch size."""
    if isinstance(config.decoding, Mapping):  # rebuilt from a record's config
        object.__setattr__(config, "decoding", Decoding(**config.decoding))
    if config.benchmark not in benchmarks:
        raise ValueError(f"benchmark: unknown {config.benchmark!r}; known: {', '.join(benchmarks)}")
    if config.tokenizer not in ("word", "bpe", "byte"):
        raise ValueError(f"tokenizer: must be 'word', 'bpe' or 'byte', got {config.tokenizer!r}")
    if config.image_size < 1 or config.image_size % config.patch_size:
        raise ValueError(f"image_size ({config.image_size}) must be a positive multiple of patch_size "
                         f"({config.patch_size})")
