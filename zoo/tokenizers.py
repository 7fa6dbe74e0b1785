"""Offline tokenizers sharing one interface.

Every tokenizer has `pad_id`, `bos_id`, `eos_id`, `vocab_size`, `encode` (no
special tokens), `decode` (skips pad/bos, stops at the first eos), `to_dict`
(JSON-serialisable, with a "kind") and `batch_encode` (right-padded tensors).
`tokenizer_from_dict` rebuilds any of them.
"""

from __future__ import annotations

import collections
import re
from typing import Any, Iterable, Sequence

import torch
import whisper.tokenizer

_WORD_PATTERN = re.compile(r"[\w']+|[^\w\s]")
_SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")


class _Tokenizer:
    """Shared special-token handling and batching; subclasses map text <-> ids."""

    pad_id: int
    bos_id: int
    eos_id: int
    vocab_size: int

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def _decode_plain(self, ids: list[int]) -> str:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def decode(self, ids: Sequence[int]) -> str:
        """Text of `ids`, skipping pad/bos and stopping at the first eos."""
        plain = []
        for i in (int(x) for x in ids):
            if i == self.eos_id:
                break
            if i < 0 or i >= self.vocab_size:
                raise ValueError(f"token id {i} outside vocabulary of size {self.vocab_size}")
            if i not in (self.pad_id, self.bos_id):
                plain.append(i)
        return self._decode_plain(plain)

    def batch_encode(self, texts: Sequence[str], max_length: int, add_bos: bool = False,
                     add_eos: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode and right-pad `texts`.

        Returns ids (B, T) long and mask (B, T) bool (True at real tokens), with T
        the longest sequence after truncation to `max_length`. Truncation keeps
        the eos token when `add_eos`.
        """
        if max_length < max(1, int(add_bos) + int(add_eos)):
            raise ValueError(f"max_length={max_length} is too small for the special tokens")
        rows = [self._with_specials(self.encode(t), max_length, add_bos, add_eos)
                for t in texts]
        longest = max((len(r) for r in rows), default=0)
        ids = torch.full((len(rows), longest), self.pad_id, dtype=torch.long)  # (B, T)
        mask = torch.zeros((len(rows), longest), dtype=torch.bool)  # (B, T)
        for row, seq in enumerate(rows):
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = True
        return ids, mask

    def _with_specials(self, ids: list[int], max_length: int, add_bos: bool,
                       add_eos: bool) -> list[int]:
        body_length = max_length - int(add_bos) - int(add_eos)
        return [self.bos_id] * int(add_bos) + ids[:body_length] + [self.eos_id] * int(add_eos)


class ByteTokenizer(_Tokenizer):
    """UTF-8 bytes: 0 pad, 1 bos, 2 eos, 3 unk, byte b -> b + 4."""

    OFFSET = len(_SPECIALS)

    def __init__(self) -> None:
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = range(self.OFFSET)
        self.vocab_size = 256 + self.OFFSET

    def encode(self, text: str) -> list[int]:
        return [b + self.OFFSET for b in text.encode("utf-8")]

    def _decode_plain(self, ids: list[int]) -> str:
        data = bytes(i - self.OFFSET for i in ids if i >= self.OFFSET)
        return data.decode("utf-8", errors="replace")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "byte"}


class WordTokenizer(_Tokenizer):
    """Word/punctuation vocabulary: 0 pad, 1 bos, 2 eos, 3 unk, then words."""

    def __init__(self, vocab: Sequence[str], lowercase: bool = True) -> None:
        if tuple(vocab[: len(_SPECIALS)]) != _SPECIALS:
            raise ValueError(f"vocab must start with the special tokens {_SPECIALS}")
        if len(set(vocab)) != len(vocab):
            raise ValueError("vocab has duplicate entries")
        self.vocab = list(vocab)
        self.lowercase = lowercase
        self._ids = {word: i for i, word in enumerate(self.vocab)}
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = range(len(_SPECIALS))
        self.vocab_size = len(self.vocab)

    @classmethod
    def train(cls, texts: Iterable[str], min_freq: int = 1, max_size: int | None = None,
              lowercase: bool = True) -> WordTokenizer:
        """Vocabulary of words seen >= `min_freq` times, most frequent first
        (ties alphabetical); `max_size` caps the total including specials."""
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size < len(_SPECIALS):
            raise ValueError(f"max_size must be >= {len(_SPECIALS)}, got {max_size}")
        counts = collections.Counter(
            word for text in texts for word in _split(text, lowercase))
        words = sorted((w for w, c in counts.items() if c >= min_freq and w not in _SPECIALS),
                       key=lambda w: (-counts[w], w))
        if max_size is not None:
            words = words[: max_size - len(_SPECIALS)]
        return cls(list(_SPECIALS) + words, lowercase=lowercase)

    def encode(self, text: str) -> list[int]:
        return [self._ids.get(w, self.unk_id) for w in _split(text, self.lowercase)]

    def _decode_plain(self, ids: list[int]) -> str:
        return " ".join(self.vocab[i] for i in ids)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "word", "vocab": list(self.vocab), "lowercase": self.lowercase}


def _split(text: str, lowercase: bool) -> list[str]:
    return _WORD_PATTERN.findall(text.lower() if lowercase else text)


class WhisperBPETokenizer(_Tokenizer):
    """GPT-2 byte-level BPE from the whisper package (offline).

    eos is `<|endoftext|>`; pad and bos are two extra ids after the encoding's
    vocabulary, so vocab_size = n_vocab + 2.
    """

    def __init__(self, encoding: str = "gpt2") -> None:
        self.encoding_name = encoding
        self._encoding = whisper.tokenizer.get_encoding(encoding)
        n_vocab = self._encoding.n_vocab
        self.eos_id = self._encoding.eot_token
        self.pad_id, self.bos_id = n_vocab, n_vocab + 1
        self.vocab_size = n_vocab + 2

    def encode(self, text: str) -> list[int]:
        return self._encoding.encode_ordinary(text)

    def _decode_plain(self, ids: list[int]) -> str:
        return self._encoding.decode(ids)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "whisper_bpe", "encoding": self.encoding_name}


def tokenizer_from_dict(d: dict[str, Any]) -> _Tokenizer:
    """Rebuild a tokenizer from its `to_dict()` output."""
    kind = d.get("kind")
    if kind == "byte":
        return ByteTokenizer()
    if kind == "word":
        return WordTokenizer(d["vocab"], lowercase=d.get("lowercase", True))
    if kind == "whisper_bpe":
        return WhisperBPETokenizer(d.get("encoding", "gpt2"))
    raise ValueError(f"unknown tokenizer kind {kind!r}; known: byte, word, whisper_bpe")
