"""Transformer building blocks: attention (with KV cache), MLP, encoder/decoder blocks.

Shapes:
    B batch, Tq queries, Tk keys, H heads, Dh head width (D / H), D width.
    Masks are bool with True = real token (may be attended to).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class AttentionCache:
    """Keys and values of one attention module, (B, H, Tk, Dh) each, or None."""

    key: Tensor | None = None
    value: Tensor | None = None

    def reorder(self, indices: Tensor) -> None:
        """Select batch rows `indices` (B',) long, e.g. surviving beams."""
        if self.key is not None and self.value is not None:
            self.key = self.key.index_select(0, indices)
            self.value = self.value.index_select(0, indices)


def attention_mask(key_mask: Tensor | None, causal: bool, num_queries: int, num_keys: int,
                   device: torch.device) -> Tensor | None:
    """Boolean SDPA mask (B or 1, 1, Tq, Tk), True = may attend; None if unmasked.

    Causal masking aligns the queries with the last `num_queries` keys (the
    earlier keys come from a cache). A query that would see no key at all (its
    row is fully padded) is allowed to see every key instead, so SDPA never
    returns NaN; such outputs belong to padding and are ignored downstream.
    """
    mask = None
    if key_mask is not None:
        # (B, Tk) real keys -> (B, 1, 1, Tk); (B, Tq, Tk) per-query masks (segments) -> (B, 1, Tq, Tk)
        mask = key_mask[:, None, None, :] if key_mask.dim() == 2 else key_mask[:, None]
    if causal and num_queries > 1:
        causal_mask = torch.ones(num_queries, num_keys, dtype=torch.bool, device=device)
        causal_mask = causal_mask.tril(num_keys - num_queries)  # (Tq, Tk)
        mask = causal_mask if mask is None else mask & causal_mask  # (B, 1, Tq, Tk)
    if mask is not None:
        mask = mask | ~mask.any(dim=-1, keepdim=True)
    return mask


class Attention(nn.Module):
    """Multi-head attention through `F.scaled_dot_product_attention`.

    Self-attention projects q, k, v with one fused Linear; cross-attention
    projects q from the queries and a fused k, v from the memory.
    """

    def __init__(self, width: int, num_heads: int, dropout: float, cross: bool = False):
        super().__init__()
        assert width % num_heads == 0, "width must be divisible by num_heads"
        self.num_heads = num_heads
        self.head_dim = width // num_heads
        self.dropout = dropout
        self.cross = cross
        if cross:
            self.q = nn.Linear(width, width)
            self.kv = nn.Linear(width, 2 * width)
        else:
            self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: Tensor, memory: Tensor | None = None, key_mask: Tensor | None = None,
                causal: bool = False, cache: AttentionCache | None = None) -> Tensor:
        """Attend from x (B, Tq, D) to itself or to memory (B, Tk, D); returns (B, Tq, D).

        `key_mask` (B, Tk) marks real keys (for self-attention with a cache it
        must cover the cached keys too). With a `cache`, self-attention appends
        the new keys/values and cross-attention computes the memory's once.
        """
        q, k, v = self._project(x, memory, cache)
        use_is_causal = causal and key_mask is None and cache is None
        mask = None if use_is_causal else attention_mask(
            key_mask, causal, q.shape[2], k.shape[2], q.device)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=use_is_causal,
            dropout_p=self.dropout if self.training else 0.0)  # (B, H, Tq, Dh)
        b, _, tq, _ = out.shape
        out = out.transpose(1, 2).reshape(b, tq, -1)  # (B, Tq, D)
        return self.proj(out)

    def _project(self, x: Tensor, memory: Tensor | None,
                 cache: AttentionCache | None) -> tuple[Tensor, Tensor, Tensor]:
        if self.cross:
            if memory is None:
                raise ValueError("cross-attention needs a memory tensor")
            q = self._heads(self.q(x))
            if cache is not None and cache.key is not None:
                return q, cache.key, cache.value
            k, v = (self._heads(t) for t in self.kv(memory).chunk(2, dim=-1))
        else:
            q, k, v = (self._heads(t) for t in self.qkv(x).chunk(3, dim=-1))
            if cache is not None and cache.key is not None:
                k = torch.cat([cache.key, k], dim=2)  # (B, H, Tcache + Tq, Dh)
                v = torch.cat([cache.value, v], dim=2)  # (B, H, Tcache + Tq, Dh)
        if cache is not None:
            cache.key, cache.value = k, v
        return q, k, v

    def _heads(self, t: Tensor) -> Tensor:
        b, n, _ = t.shape
        return t.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, N, Dh)


class MLP(nn.Module):
    """Position-wise Linear -> GELU -> Linear -> dropout."""

    def __init__(self, width: int, hidden: int, dropout: float):
        super().__init__()
        self.fc = nn.Linear(width, hidden)
        self.proj = nn.Linear(hidden, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, N, D) -> (B, N, D)."""
        return self.drop(self.proj(F.gelu(self.fc(x))))


class EncoderBlock(nn.Module):
    """Pre-norm residual block: self-attention over real tokens, then MLP."""

    def __init__(self, width: int, num_heads: int, mlp_width: int, dropout: float):
        super().__init__()
        self.attn_norm = nn.LayerNorm(width)
        self.attn = Attention(width, num_heads, dropout)
        self.mlp_norm = nn.LayerNorm(width)
        self.mlp = MLP(width, mlp_width, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """x (B, S, D), mask (B, S) True = real, or (B, S, S) True = query may see key -> (B, S, D)."""
        x = x + self.drop(self.attn(self.attn_norm(x), key_mask=mask))
        return x + self.mlp(self.mlp_norm(x))


class DecoderBlock(nn.Module):
    """Pre-norm residual block: causal self-attention, cross-attention, MLP."""

    def __init__(self, width: int, num_heads: int, mlp_width: int, dropout: float):
        super().__init__()
        self.self_norm = nn.LayerNorm(width)
        self.self_attn = Attention(width, num_heads, dropout)
        self.cross_norm = nn.LayerNorm(width)
        self.cross_attn = Attention(width, num_heads, dropout, cross=True)
        self.mlp_norm = nn.LayerNorm(width)
        self.mlp = MLP(width, mlp_width, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, memory: Tensor, memory_mask: Tensor | None = None,
                cache: tuple[AttentionCache, AttentionCache] | None = None) -> Tensor:
        """x (B, T, D), memory (B, S, D), memory_mask (B, S) -> (B, T, D).

        `cache` is (self-attention cache, cross-attention cache) of this layer.
        """
        self_cache, cross_cache = cache if cache is not None else (None, None)
        x = x + self.drop(self.self_attn(self.self_norm(x), causal=True, cache=self_cache))
        x = x + self.drop(self.cross_attn(self.cross_norm(x), memory, key_mask=memory_mask,
                                          cache=cross_cache))
        return x + self.mlp(self.mlp_norm(x))
