"""Task heads on top of the fused encoder output.

Shapes:
    B batch, S fused length, D width, K classes. Masks are bool, True = real.
"""

from __future__ import annotations

from torch import Tensor, nn

from zoo.config import POOLS


class ClassificationHead(nn.Module):
    """Pool the fused tokens -> LayerNorm -> dropout -> Linear."""

    def __init__(self, width: int, num_classes: int, dropout: float, pool: str = "mean"):
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
        self.pool = pool
        self.norm = nn.LayerNorm(width)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, tokens: Tensor, mask: Tensor) -> Tensor:
        """tokens (B, S, D), mask (B, S) -> logits (B, K)."""
        if self.pool == "first":
            pooled = tokens[:, 0]  # (B, D)
        else:
            weights = mask.to(tokens.dtype).unsqueeze(-1)  # (B, S, 1)
            count = weights.sum(dim=1).clamp(min=1.0)  # (B, 1); 0 real tokens -> zeros
            pooled = (tokens * weights).sum(dim=1) / count  # (B, D)
        return self.project(pooled)

    def project(self, pooled: Tensor) -> Tensor:
        """Already pooled vectors (..., D) -> logits (..., K)."""
        return self.fc(self.drop(self.norm(pooled)))
