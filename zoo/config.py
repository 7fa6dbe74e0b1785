"""Model configuration: a frozen, validated dataclass plus named size presets.

A zero in `vocab_size`, `image_size`, `num_mel_bins` or `num_classes` means the
matching part (text embedder and decoder, image embedder, audio embedder,
classification head) is not built. Presets only fix the Transformer size; tasks
fill in the modality fields with `preset(name, **overrides)`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

POOLS = ("mean", "first")
IMAGE_STEMS = ("patch", "conv", "coordconv")
INITS = ("normal", "xavier")
AUDIO_STRIDES = (2, 4)


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of `zoo.model.MultimodalModel`."""

    width: int = 256
    num_heads: int = 4
    num_encoder_layers: int = 4
    num_decoder_layers: int = 2  # 0 = no decoder; ignored when vocab_size == 0
    mlp_ratio: float = 4.0
    dropout: float = 0.1
    vocab_size: int = 0  # 0 = no text embedder and no decoder
    text_input: bool = True  # False: the encoder reads no text (the decoder alone uses the vocabulary)
    max_text_positions: int = 256
    text_conv_kernel: int = 0  # > 0: a residual 1-D conv over text tokens (local n-gram features), odd
    image_size: int = 0  # 0 = no image embedder
    patch_size: int = 8
    image_channels: int = 3
    image_stem: str = "patch"  # "patch": linear patches (ViT); "conv": 4 stride-2 3x3 convs + x/y coordinates;
    # "coordconv": "conv" whose first conv also sees each pixel's x/y
    num_mel_bins: int = 0  # 0 = no audio embedder
    max_audio_frames: int = 3000  # log-mel frames in; ceil(max / audio_stride) positions out
    audio_stride: int = 2  # log-mel frames per audio position: 2 (whisper's stem) or 4 (a third stride-2 conv)
    num_classes: int = 0  # 0 = no classification head
    pool: str = "mean"  # "mean": masked mean over fused tokens; "first": first token
    tie_text_embeddings: bool = False  # share encoder text and decoder token embeddings
    init: str = "normal"  # Linear weights: "normal" N(0, 0.02) (GPT-2/BERT); "xavier" uniform (fan-in/out scaled)

    def __post_init__(self) -> None:
        for name in ("width", "num_heads", "num_encoder_layers", "max_text_positions",
                     "patch_size", "image_channels", "max_audio_frames"):
            _check_int(self, name, minimum=1)
        for name in ("num_decoder_layers", "vocab_size", "image_size", "num_mel_bins",
                     "num_classes"):
            _check_int(self, name, minimum=0)
        _check_int(self, "text_conv_kernel", minimum=0)
        if self.text_conv_kernel % 2 == 0 and self.text_conv_kernel > 0:
            raise ValueError(f"text_conv_kernel must be odd (or 0), got {self.text_conv_kernel}")
        if self.width % self.num_heads != 0:
            raise ValueError(f"width ({self.width}) must be divisible by "
                             f"num_heads ({self.num_heads})")
        if self.num_mel_bins > 0 and self.width % 2 != 0:
            raise ValueError(f"width ({self.width}) must be even for sinusoidal audio positions")
        if not isinstance(self.mlp_ratio, (int, float)) or self.mlp_ratio <= 0:
            raise ValueError(f"mlp_ratio must be a positive number, got {self.mlp_ratio!r}")
        if not isinstance(self.dropout, (int, float)) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.image_size % self.patch_size != 0:
            raise ValueError(f"image_size ({self.image_size}) must be a multiple of "
                             f"patch_size ({self.patch_size})")
        if self.image_stem not in IMAGE_STEMS:
            raise ValueError(f"image_stem must be one of {IMAGE_STEMS}, got {self.image_stem!r}")
        if self.audio_stride not in AUDIO_STRIDES:
            raise ValueError(f"audio_stride must be one of {AUDIO_STRIDES}, got {self.audio_stride!r}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        if self.pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {self.pool!r}")
        if not isinstance(self.tie_text_embeddings, bool):
            raise ValueError(f"tie_text_embeddings must be a bool, "
                             f"got {self.tie_text_embeddings!r}")
        if self.tie_text_embeddings and self.vocab_size == 0:
            raise ValueError("tie_text_embeddings=True needs vocab_size > 0")

    @property
    def has_decoder(self) -> bool:
        """True when the config asks for a text decoder (needs a vocabulary)."""
        return self.vocab_size > 0 and self.num_decoder_layers > 0

    @property
    def mlp_width(self) -> int:
        """Hidden width of the MLP blocks."""
        return int(self.width * self.mlp_ratio)


def _check_int(cfg: ModelConfig, name: str, minimum: int) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


PRESETS: dict[str, ModelConfig] = {
    "tiny": ModelConfig(width=32, num_heads=2, num_encoder_layers=1,
                        num_decoder_layers=1, dropout=0.0),
    "small": ModelConfig(width=256, num_heads=4, num_encoder_layers=4,
                         num_decoder_layers=2),
    "base": ModelConfig(width=512, num_heads=8, num_encoder_layers=8,
                        num_decoder_layers=6),
    "large": ModelConfig(width=1024, num_heads=16, num_encoder_layers=24,
                         num_decoder_layers=12),
}

_FIELDS = tuple(f.name for f in dataclasses.fields(ModelConfig))


def preset(name: str, **overrides: Any) -> ModelConfig:
    """Return the preset `name` with `overrides` applied (validated again)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {sorted(PRESETS)}")
    _check_keys(overrides)
    return dataclasses.replace(PRESETS[name], **overrides)


def config_to_dict(cfg: ModelConfig) -> dict[str, Any]:
    """JSON-serialisable dict of every field of `cfg`."""
    return dataclasses.asdict(cfg)


def config_from_dict(d: dict[str, Any]) -> ModelConfig:
    """Inverse of `config_to_dict`; missing fields take their defaults."""
    _check_keys(d)
    return ModelConfig(**d)


def _check_keys(d: dict[str, Any]) -> None:
    unknown = sorted(set(d) - set(_FIELDS))
    if unknown:
        raise ValueError(f"unknown ModelConfig field(s) {unknown}; known: {list(_FIELDS)}")
