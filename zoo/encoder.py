"""Fusion encoder: one Transformer over the concatenated tokens of all modalities.

Shapes:
    B batch, P image patches, N audio positions, T text tokens,
    S = P + N + T fused length (only the modalities present), D width.
    Masks are bool with True = real token.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo.config import ModelConfig
from zoo.layers import EncoderBlock

# Fixed fusion order; the index is also the modality-type embedding id.
MODALITIES = ("image", "audio", "text")


class FusionEncoder(nn.Module):
    """Adds a learned modality-type embedding to each part, concatenates the parts
    in the order image | audio | text, and runs pre-norm encoder blocks."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.type_embedding = nn.Embedding(len(MODALITIES), config.width)
        self.blocks = nn.ModuleList(
            EncoderBlock(config.width, config.num_heads, config.mlp_width, config.dropout)
            for _ in range(config.num_encoder_layers))
        self.norm = nn.LayerNorm(config.width)

    def forward(self, parts: list[tuple[str, Tensor, Tensor]],
                segments: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """parts: (modality, tokens (B, N_i, D), mask (B, N_i)) in any order.

        ``segments`` (B, S) long, optional: a segment id per fused token; 0 is shared context (e.g. the image)
        that every token sees, and a token of segment k > 0 sees only segment 0 and segment k (so one sequence
        holds several independent questions about one image). Shared tokens see only shared tokens.
        Returns fused tokens (B, S, D) and mask (B, S).
        """
        x, mask = self._fuse(parts)
        if segments is not None:
            attend = segment_mask(segments, mask)
        else:  # no mask at all when every token is real: SDPA's unmasked kernels are faster
            attend = None if bool(mask.all()) else mask
        for block in self.blocks:
            x = block(x, attend)
        return self.norm(x), mask

    def _fuse(self, parts: list[tuple[str, Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        if not parts:
            raise ValueError("FusionEncoder needs at least one modality")
        names = [name for name, _, _ in parts]
        unknown = sorted(set(names) - set(MODALITIES))
        if unknown:
            raise ValueError(f"unknown modalities {unknown}; known: {MODALITIES}")
        if len(set(names)) != len(names):
            raise ValueError(f"modality given twice: {names}")
        if len({tokens.shape[0] for _, tokens, _ in parts}) != 1:
            raise ValueError("all modalities must have the same batch size")
        ordered = sorted(parts, key=lambda part: MODALITIES.index(part[0]))
        tokens, masks = [], []
        for name, part_tokens, part_mask in ordered:
            type_vector = self.type_embedding.weight[MODALITIES.index(name)]  # (D,)
            tokens.append(part_tokens + type_vector)  # (B, N_i, D)
            masks.append(part_mask)
        return torch.cat(tokens, dim=1), torch.cat(masks, dim=1)  # (B, S, D), (B, S)


def segment_mask(segments: Tensor, mask: Tensor) -> Tensor:
    """(B, S) segment ids and (B, S) real-token mask -> (B, S, S) bool, True where query i may attend key j."""
    if segments.shape != mask.shape:
        raise ValueError(f"segments must have the fused shape {tuple(mask.shape)}, got {tuple(segments.shape)}")
    keys = segments[:, None, :]  # (B, 1, S)
    same = (keys == 0) | (keys == segments[:, :, None])  # (B, S, S)
    return same & mask[:, None, :]
