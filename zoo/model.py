"""The shared multimodal backbone: embedders -> fusion encoder -> decoder / head.

Shapes:
    B batch, C channels, H/W image height/width, M mel bins, F audio frames,
    T text tokens, S fused length, D width, V vocabulary, K classes,
    L generated length.
    Masks are bool with True = real token.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import Tensor, nn

from zoo.config import ModelConfig, config_from_dict, config_to_dict
from zoo.decoder import TextDecoder
from zoo.embedders import AudioEmbedder, ConvImageEmbedder, ImageEmbedder, TextEmbedder
from zoo.encoder import FusionEncoder
from zoo.generation import beam_search, greedy_search
from zoo.heads import ClassificationHead


class MultimodalModel(nn.Module):
    """Builds only the parts `config` asks for (see `ModelConfig`).

    Batch keys: "image" (B, C, H, W) float; "audio" (B, M, F) log-mel float with
    optional "audio_mask" (B, F); "text" (B, T) long with optional "text_mask"
    (B, T). Other keys are ignored; missing masks mean all tokens are real.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        c = config
        self.config = c
        self.text = (TextEmbedder(c.vocab_size, c.width, c.max_text_positions, c.dropout,
                                  conv_kernel=c.text_conv_kernel)
                     if c.vocab_size > 0 else None)
        self.image = (None if c.image_size == 0 else
                      ConvImageEmbedder(c.image_size, c.image_channels, c.width, c.dropout,
                                        coord_input=c.image_stem == "coordconv")
                      if c.image_stem in ("conv", "coordconv") else
                      ImageEmbedder(c.image_size, c.patch_size, c.image_channels, c.width, c.dropout))
        self.audio = (AudioEmbedder(c.num_mel_bins, c.width, c.max_audio_frames, c.dropout, c.audio_stride)
                      if c.num_mel_bins > 0 else None)
        self.encoder = FusionEncoder(c)
        self.decoder = None
        if c.has_decoder:
            shared = self.text.token if c.tie_text_embeddings else None
            self.decoder = TextDecoder(c, token_embedding=shared)
        self.head = (ClassificationHead(c.width, c.num_classes, c.dropout, c.pool)
                     if c.num_classes > 0 else None)
        self.apply(lambda module: _init_weights(module, c.init))
        if not c.text_input:  # built and initialised first, so every other weight starts as with a text input
            self.text = None

    def embed(self, name: str, *args: Any, **kwargs: Any) -> tuple[Tensor, Tensor]:
        """One modality's embedder: ``embed("image", images)`` -> (B, P, D), (B, P); ``embed("audio", mel,
        mask)`` -> (B, F', D), (B, F'); ``embed("text", ids, mask, positions=None)`` -> (B, T, D), (B, T)."""
        return self._embedder(name)(*args, **kwargs)

    def fuse(self, parts: list[tuple[str, Tensor, Tensor]], segments: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Fuse already-embedded parts ``(modality, tokens (B, N, D), mask (B, N))`` -> (B, S, D), (B, S);
        ``segments`` (B, S) restricts attention to tokens of the same segment or of segment 0."""
        return self.encoder(parts, segments)

    def project(self, pooled: Tensor) -> Tensor:
        """Class logits (N, K) from already-pooled fused vectors (N, D)."""
        if self.head is None:
            raise ValueError("this model has no classification head (num_classes=0)")
        return self.head.project(pooled)

    @torch.no_grad()
    def recalibrate(self) -> list[Tensor]:
        """Recompute running normalisation statistics from recent training inputs with the current weights
        (the conv image stem's BatchNorm); returns the buffers it set, [] when there are none."""
        return self.image.recalibrate() if isinstance(self.image, ConvImageEmbedder) else []

    def encode(self, inputs: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Embed and fuse the modalities present in `inputs` -> (B, S, D), (B, S)."""
        parts = []
        if "image" in inputs:
            tokens, mask = self._embedder("image")(inputs["image"])
            parts.append(("image", tokens, mask))
        if "audio" in inputs:
            tokens, mask = self._embedder("audio")(inputs["audio"], inputs.get("audio_mask"))
            parts.append(("audio", tokens, mask))
        segments = inputs.get("text_segments")  # (B, T): question k of a packed sequence, 0 = padding
        if "text" in inputs:
            tokens, mask = self._embedder("text")(inputs["text"], inputs.get("text_mask"),
                                                  positions=None if segments is None else segment_positions(segments))
            parts.append(("text", tokens, mask))
        if not parts:
            raise ValueError(f"inputs need at least one of 'image', 'audio', 'text'; "
                             f"got keys {sorted(inputs)}")
        if segments is not None:  # other modalities are the shared context (segment 0); text comes last
            if "text" not in inputs:
                raise ValueError("text_segments needs 'text'")
            shared = sum(tokens.shape[1] for name, tokens, _ in parts if name != "text")
            segments = torch.cat([segments.new_zeros(segments.shape[0], shared), segments], dim=1)
        return self.encoder(parts, segments)

    def classify(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """Class logits (B, K) from the pooled fused tokens."""
        if self.head is None:
            raise ValueError("this model has no classification head (num_classes=0)")
        return self.head(*self.encode(inputs))

    def decoder_logits(self, inputs: Mapping[str, Tensor], target_in: Tensor) -> Tensor:
        """Teacher-forced next-token logits (B, T, V) for target_in (B, T) long."""
        return self.decode(target_in, *self.encode(inputs))

    def decode(self, target_in: Tensor, memory: Tensor, memory_mask: Tensor | None = None) -> Tensor:
        """Teacher-forced next-token logits (B, T, V) for target_in (B, T) long over an already-encoded
        memory (B, S, D) with its mask (B, S)."""
        return self._require_decoder()(target_in, memory, memory_mask)

    @torch.no_grad()
    def generate(self, inputs: Mapping[str, Tensor], bos_id: int, eos_id: int, pad_id: int,
                 max_new_tokens: int = 32, num_beams: int = 1, length_penalty: float = 1.0,
                 use_cache: bool = True, no_repeat_ngram_size: int = 0, repetition_penalty: float = 1.0,
                 do_sample: bool = False, temperature: float = 1.0, top_p: float = 1.0,
                 seed: int = 0) -> Tensor:
        """Generated ids (B, L) without bos, pad after eos; greedy (or sampled, with do_sample) if
        num_beams == 1, beam search otherwise. The repetition controls apply to both searches
        (``zoo.generation``); sampling needs num_beams == 1. Neutral defaults leave the search as it was."""
        if do_sample and num_beams != 1:
            raise ValueError(f"do_sample needs num_beams == 1 (sampling replaces beam search), got {num_beams}")
        decoder = self._require_decoder()
        memory, memory_mask = self.encode(inputs)
        controls = {"no_repeat_ngram_size": no_repeat_ngram_size, "repetition_penalty": repetition_penalty}
        if num_beams == 1:
            return greedy_search(decoder, memory, memory_mask, bos_id, eos_id, pad_id,
                                 max_new_tokens, use_cache=use_cache, do_sample=do_sample,
                                 temperature=temperature, top_p=top_p, seed=seed, **controls)
        return beam_search(decoder, memory, memory_mask, bos_id, eos_id, pad_id,
                           max_new_tokens, num_beams=num_beams,
                           length_penalty=length_penalty, use_cache=use_cache, **controls)

    def num_parameters(self) -> int:
        """Number of distinct parameter elements (a tied embedding counts once)."""
        return sum(p.numel() for p in self.parameters())

    def checkpoint(self) -> dict[str, Any]:
        """{"config": JSON-able dict, "state_dict": tensors}; see `from_checkpoint`."""
        return {"config": config_to_dict(self.config), "state_dict": self.state_dict()}

    @classmethod
    def from_checkpoint(cls, d: Mapping[str, Any]) -> MultimodalModel:
        """Rebuild a model saved with `checkpoint()` (strict state-dict load)."""
        model = cls(config_from_dict(dict(d["config"])))
        model.load_state_dict(d["state_dict"])
        return model

    def _embedder(self, name: str) -> nn.Module:
        module = getattr(self, name)
        if module is None:
            field = {"image": "image_size", "audio": "num_mel_bins", "text": "vocab_size"}[name]
            raise ValueError(f"inputs contain {name!r} but the config has no {name} "
                             f"embedder ({field}=0)")
        return module

    def _require_decoder(self) -> TextDecoder:
        if self.decoder is None:
            raise ValueError("this model has no decoder (needs vocab_size > 0 and "
                             "num_decoder_layers > 0)")
        return self.decoder


def _init_weights(module: nn.Module, init: str = "normal") -> None:
    """normal(0, 0.02) for Embedding weights and (``init="normal"``) Linear weights, Xavier-uniform Linear weights
    with ``init="xavier"``; zeros for Linear biases.

    Xavier keeps a small model's attention logits away from zero at the start, which matters when a token must
    learn to pick one object out of an image (measured on Sort-of-CLEVR: docs/recipes/vqa.md).
    """
    if isinstance(module, nn.Linear) and init == "xavier":
        nn.init.xavier_uniform_(module.weight)
    elif isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def count_parameters(cfg: ModelConfig) -> int:
    """Parameter count of `MultimodalModel(cfg)`, built on the meta device (no memory)."""
    with torch.device("meta"):
        return MultimodalModel(cfg).num_parameters()


def segment_positions(segments: Tensor) -> Tensor:
    """(B, T) segment ids -> (B, T) position of each token within its segment (packed questions restart at 0;
    padding, segment 0, gets position 0)."""
    index = torch.arange(segments.shape[1], device=segments.device).expand_as(segments)  # (B, T)
    starts = torch.ones_like(segments, dtype=torch.bool)
    starts[:, 1:] = segments[:, 1:] != segments[:, :-1]
    first = torch.cummax(torch.where(starts, index, torch.zeros_like(index)), dim=1).values  # (B, T)
    return torch.where(segments > 0, index - first, torch.zeros_like(index))  # padding (segment 0) at 0
