"""Autoregressive text decoder with cross-attention to the fused encoder output.

Shapes:
    B batch, T target tokens, S fused memory length, D width, V vocabulary,
    H heads, L cached length, Dh head width.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo.config import ModelConfig
from zoo.layers import AttentionCache, DecoderBlock


class KVCache:
    """Keys/values of every decoder layer for incremental decoding.

    `layers[i]` is (self-attention cache, cross-attention cache) of layer i;
    self-attention keys grow by the new tokens each step, cross-attention keys
    are computed from the memory on the first step and reused.
    """

    def __init__(self, num_layers: int):
        assert num_layers > 0, "a decoder has at least one layer"
        self.layers = [(AttentionCache(), AttentionCache()) for _ in range(num_layers)]

    @property
    def length(self) -> int:
        """Number of target positions already cached (L)."""
        key = self.layers[0][0].key  # (B, H, L, Dh)
        return 0 if key is None else key.shape[2]

    def reorder(self, beam_indices: Tensor, cross: bool = True) -> None:
        """Keep batch rows `beam_indices` (B',) long, in that order (beam search).

        `cross=False` leaves the cross-attention keys/values as they are: right when
        every row moves to a row with the same memory (beams of one example).
        """
        for self_cache, cross_cache in self.layers:
            self_cache.reorder(beam_indices)
            if cross:
                cross_cache.reorder(beam_indices)


class TextDecoder(nn.Module):
    """Token + learned position embeddings, decoder blocks, final LayerNorm, and
    output logits through the (tied) token embedding."""

    def __init__(self, config: ModelConfig, token_embedding: nn.Embedding | None = None):
        super().__init__()
        if not config.has_decoder:
            raise ValueError("TextDecoder needs vocab_size > 0 and num_decoder_layers > 0")
        if token_embedding is None:
            token_embedding = nn.Embedding(config.vocab_size, config.width)
        elif tuple(token_embedding.weight.shape) != (config.vocab_size, config.width):
            raise ValueError("shared token_embedding must be (vocab_size, width)")
        self.max_positions = config.max_text_positions
        self.token = token_embedding
        self.position = nn.Embedding(config.max_text_positions, config.width)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            DecoderBlock(config.width, config.num_heads, config.mlp_width, config.dropout)
            for _ in range(config.num_decoder_layers))
        self.norm = nn.LayerNorm(config.width)

    def new_cache(self) -> KVCache:
        """An empty cache sized for this decoder."""
        return KVCache(len(self.blocks))

    def forward(self, tokens: Tensor, memory: Tensor, memory_mask: Tensor | None = None,
                cache: KVCache | None = None) -> Tensor:
        """tokens (B, T) long, memory (B, S, D), memory_mask (B, S) -> logits (B, T, V).

        With a `cache`, `tokens` are only the new positions; their position ids
        continue from `cache.length` and the cache is extended in place.
        """
        start = 0 if cache is None else cache.length
        end = start + tokens.shape[1]
        if end > self.max_positions:
            raise ValueError(f"decoder length {end} exceeds max_text_positions="
                             f"{self.max_positions}")
        positions = torch.arange(start, end, device=tokens.device)  # (T,)
        x = self.drop(self.token(tokens) + self.position(positions))  # (B, T, D)
        for i, block in enumerate(self.blocks):
            x = block(x, memory, memory_mask, None if cache is None else cache.layers[i])
        x = self.norm(x)
        return x @ self.token.weight.T  # (B, T, V)
