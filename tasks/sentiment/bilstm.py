"""Reference models trained by the same harness as the shared backbone, for side-by-side rows.

``BiLSTMClassifier`` is the seed article's sentiment model: word embedding → bidirectional LSTM
encoder → a second bidirectional LSTM → dense softmax over the classes.
Shapes: B batch, T tokens, E embedding width, H hidden size per direction, C classes.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class BiLSTMClassifier(nn.Module):
    """Two stacked bidirectional LSTMs over word embeddings, then a dense layer (logits; softmax in the loss)."""

    def __init__(self, vocab_size: int, num_classes: int, pad_id: int = 0, embed_dim: int = 128,
                 hidden_size: int = 128, dropout: float = 0.3) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.encoder = nn.LSTM(embed_dim, hidden_size, batch_first=True, bidirectional=True)
        self.second = nn.LSTM(2 * hidden_size, hidden_size, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * hidden_size, num_classes)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids, mask (B, T) → logits (B, C); padding (mask False) is packed away, never read."""
        lengths = mask.sum(1).clamp(min=1).cpu()
        x = self.dropout(self.embedding(ids))  # (B, T, E)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        hidden, _ = self.encoder(packed)
        hidden, _ = pad_packed_sequence(hidden, batch_first=True)  # (B, T', 2H)
        packed = pack_padded_sequence(self.dropout(hidden), lengths, batch_first=True, enforce_sorted=False)
        _, (final, _) = self.second(packed)  # final: (2, B, H), forward and backward directions
        features = torch.cat([final[0], final[1]], dim=-1)  # (B, 2H)
        return self.classifier(self.dropout(features))
