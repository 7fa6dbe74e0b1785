"""Modality embedders: each turns raw inputs into (tokens (B, N, D), mask (B, N)).

Shapes:
    B batch, T text tokens, C image channels, H/W image height/width,
    P patches, M mel bins, F audio frames (log-mel, 100 per second),
    N = ceil(F / s) audio positions (s the audio stride, 2 or 4), D width, V vocabulary.
    Masks are bool with True = real token.
"""

from __future__ import annotations

import collections
import math
from pathlib import Path

import torch
import torch.nn.functional as F
import whisper.audio
from timm.layers import PatchEmbed
from torch import Tensor, nn

from zoo.config import AUDIO_STRIDES

# how a timm ViT's position grid is resized (as timm's own resample_abs_pos_embed)
POS_EMBED_MODE = {"mode": "bicubic", "align_corners": False, "antialias": True}


class TextEmbedder(nn.Module):
    """Token embedding (optionally + a residual 1-D conv over neighbouring tokens) plus learned positions.

    The conv gives the fusion encoder local n-gram features, which helps small models trained
    from scratch on little text; padded tokens are zeroed before it, so they never leak into real ones.
    """

    def __init__(self, vocab_size: int, width: int, max_positions: int, dropout: float,
                 conv_kernel: int = 0):
        super().__init__()
        self.max_positions = max_positions
        self.token = nn.Embedding(vocab_size, width)
        self.conv = nn.Conv1d(width, width, conv_kernel, padding=conv_kernel // 2) if conv_kernel else None
        self.position = nn.Embedding(max_positions, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, ids: Tensor, mask: Tensor | None = None,
                positions: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """ids (B, T) long, mask (B, T) bool, positions (B, T) long (default 0..T-1) -> tokens (B, T, D), mask."""
        b, t = ids.shape
        if positions is None:
            if t > self.max_positions:
                raise ValueError(f"text length {t} exceeds max_text_positions={self.max_positions}")
            positions = torch.arange(t, device=ids.device)  # (T,)
        elif positions.numel() and int(positions.max()) >= self.max_positions:
            raise ValueError(f"text position {int(positions.max())} exceeds max_text_positions={self.max_positions}")
        if mask is None:
            mask = torch.ones(b, t, dtype=torch.bool, device=ids.device)
        tokens = self.token(ids)  # (B, T, D)
        if self.conv is not None:
            local = self.conv((tokens * mask.unsqueeze(-1)).transpose(1, 2))  # (B, D, T)
            tokens = tokens + F.gelu(local).transpose(1, 2)  # (B, T, D)
        tokens = tokens + self.position(positions)  # (B, T, D)
        return self.drop(tokens), mask


class ImageEmbedder(nn.Module):
    """Non-overlapping patches (timm `PatchEmbed`) plus learned positions."""

    def __init__(self, image_size: int, patch_size: int, channels: int, width: int,
                 dropout: float):
        super().__init__()
        self.patch_embed = PatchEmbed(img_size=image_size, patch_size=patch_size,
                                      in_chans=channels, embed_dim=width)
        num_patches = self.patch_embed.num_patches
        self.pos_embed = nn.Parameter(torch.empty(1, num_patches, width))  # (1, P, D)
        nn.init.normal_(self.pos_embed, std=0.02)
        self.drop = nn.Dropout(dropout)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """images (B, C, H, W) float -> tokens (B, P, D), mask (B, P) all True."""
        expected = (self.patch_embed.proj.in_channels, *self.patch_embed.img_size)
        if tuple(images.shape[1:]) != expected:
            raise ValueError(f"images must be (B, {expected[0]}, {expected[1]}, {expected[2]}), "
                             f"got {tuple(images.shape)}")
        tokens = self.drop(self.patch_embed(images) + self.pos_embed)  # (B, P, D)
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        return tokens, mask

    def timm_updates(self, state: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, str], dict[str, str]]:
        """Our tensors from a timm ViT state dict: ``patch_embed.proj.*`` (RGB weights summed for a one-channel
        embedder) and ``pos_embed`` (class/register-token positions dropped, the grid resized by bicubic
        interpolation when it differs: ``resize_pos_embed``).

        Returns (updates {our key: tensor}, {our key: file key and transform}, {file key: why not used}) for the
        file's ``patch_embed.*`` and ``pos_embed`` keys; nothing is copied here."""
        own = self.state_dict()
        updates: dict[str, Tensor] = {}
        loaded: dict[str, str] = {}
        not_used: dict[str, str] = {}
        for key, value in state.items():
            if key.startswith("patch_embed."):
                how = ""
                if key == "patch_embed.proj.weight" and value.ndim == 4 and value.shape[1] == 3 \
                        and own[key].shape[1] == 1:
                    value, how = value.sum(dim=1, keepdim=True), " (RGB summed)"
                if key in own and own[key].shape == value.shape:
                    updates[key], loaded[key] = value, key + how
                else:
                    not_used[key] = (f"shape {tuple(value.shape)}, ours image.{key} {tuple(own[key].shape)}"
                                     if key in own else "no counterpart")
            elif key == "pos_embed":
                try:
                    grid, side = pos_embed_grid(value, state)
                except ValueError as error:
                    not_used[key] = str(error)
                    continue
                new_side = math.isqrt(own[key].shape[1])
                if grid.shape[-1] != own[key].shape[-1]:
                    not_used[key] = f"width {grid.shape[-1]}, ours {own[key].shape[-1]}"
                    continue
                prefix = value.shape[1] - side * side
                how = f" (first {prefix} position(s) dropped)" if prefix else ""
                if side != new_side:
                    how += f" (grid {side}x{side} resized to {new_side}x{new_side})"
                updates[key], loaded[key] = resize_pos_embed(grid, side, new_side), key + how
        return updates, loaded, not_used

    def load_timm_checkpoint(self, path: str | Path) -> dict[str, list[str]]:
        """Copy `patch_embed.*` and `pos_embed` (see :meth:`timm_updates`) from a local timm ViT state-dict file
        (a torch file read with ``weights_only=True``, or ``.safetensors``).

        Returns {"loaded": our keys set, "skipped": checkpoint keys unused}.
        """
        if str(path).endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
        for wrapper in ("state_dict", "model"):
            if isinstance(state.get(wrapper), dict):
                state = state[wrapper]
        updates, _, _ = self.timm_updates(state)
        self.load_state_dict(updates, strict=False)
        return {"loaded": sorted(updates), "skipped": sorted(set(state) - set(updates))}


def pos_embed_grid(value: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, int]:
    """A timm ``pos_embed`` (1, prefix + G*G, D) without its class/register-token positions: (1, G*G, D) and G."""
    length = value.shape[1]
    prefix = ("cls_token" in state) + (state["reg_token"].shape[1] if "reg_token" in state else 0)
    if math.isqrt(length - prefix) ** 2 != length - prefix and math.isqrt(length) ** 2 == length:
        prefix = 0  # no_embed_class: the positions cover the patches only
    side = math.isqrt(length - prefix)
    if side * side != length - prefix:
        raise ValueError(f"pos_embed of length {length} is not a square grid after {prefix} prefix token(s)")
    return value[:, prefix:], side


def resize_pos_embed(grid: Tensor, side: int, new_side: int) -> Tensor:
    """(1, side*side, D) → (1, new_side*new_side, D) by interpolating the grid (``POS_EMBED_MODE``)."""
    if side == new_side:
        return grid
    width = grid.shape[-1]
    image = grid.reshape(1, side, side, width).permute(0, 3, 1, 2).float()  # (1, D, G, G)
    image = F.interpolate(image, size=(new_side, new_side), **POS_EMBED_MODE)
    return image.permute(0, 2, 3, 1).reshape(1, new_side * new_side, width).to(grid.dtype)


def conv_stem_grid(image_size: int, layers: int = 4) -> int:
    """Side of the token grid after `layers` stride-2 3x3 convs with padding 1 (75 -> 5, 224 -> 14)."""
    for _ in range(layers):
        image_size = (image_size - 1) // 2 + 1
    return image_size


class ConvImageEmbedder(nn.Module):
    """A small CNN stem for object-centric scenes: 4 stride-2 3x3 convs (BatchNorm, ReLU), then each grid cell's
    features plus its (x, y) centre in [-1, 1] are projected to the width, with learned positions.

    The relation-network recipe for Sort-of-CLEVR (docs/sort-of-clevr.md): a cell sees a whole small object, so
    attention relates objects rather than pieces of them.

    BatchNorm's running statistics (an exponential average over past steps, each with older weights) are not
    good enough here: with them the same weights lost almost all their counting accuracy on Sort-of-CLEVR
    (docs/recipes/vqa.md). So the embedder keeps its last ``calibration_batches`` training inputs and
    :meth:`recalibrate` recomputes the statistics from them with the current weights ("precise BN", as
    ``torch.optim.swa_utils.update_bn``); the task module calls it after an epoch's last training step (or
    the run's, at ``max_steps``) and before a validation inside an epoch, so validation, the test after fit and
    the epoch's checkpoint use them. A run resumed fewer than ``calibration_batches`` steps before an epoch's end
    keeps fewer inputs, so its evaluation statistics differ slightly (training does not: running statistics are
    unused in training). GroupNorm needs no statistics but learned far more slowly here.

    ``coord_input=True`` (``image_stem="coordconv"``) also feeds the stem two input channels holding each pixel's
    (x, y) in [-1, 1] (CoordConv, Liu et al. 2018), so a cell's features can say where inside the cell its object
    lies, which the cell centre alone cannot; it raises Sort-of-CLEVR's relational accuracy (docs/recipes/vqa.md).
    """

    calibration_batches = 32  # training batches kept for :meth:`recalibrate` (the inputs, not in the state dict)

    def __init__(self, image_size: int, channels: int, width: int, dropout: float, stem_channels: int = 32,
                 coord_input: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        first = channels + 2 if coord_input else channels
        for index in range(4):
            layers += [nn.Conv2d(first if index == 0 else stem_channels, stem_channels, 3, stride=2, padding=1),
                       nn.BatchNorm2d(stem_channels), nn.ReLU()]
        self.stem = nn.Sequential(*layers)
        self.image_size, self.channels = image_size, channels
        grid = conv_stem_grid(image_size)
        axis = torch.linspace(-1.0, 1.0, grid)
        ys, xs = torch.meshgrid(axis, axis, indexing="ij")
        self.register_buffer("coords", torch.stack([xs, ys], dim=-1).reshape(1, grid * grid, 2), persistent=False)
        self.coord_input = coord_input
        if coord_input:
            pixels = torch.linspace(-1.0, 1.0, image_size)
            py, px = torch.meshgrid(pixels, pixels, indexing="ij")
            self.register_buffer("pixel_coords", torch.stack([px, py])[None], persistent=False)  # (1, 2, H, W)
        self.proj = nn.Linear(stem_channels + 2, width)
        self.pos_embed = nn.Parameter(torch.empty(1, grid * grid, width))  # (1, P, D)
        nn.init.normal_(self.pos_embed, std=0.02)
        self.drop = nn.Dropout(dropout)
        self.recent: collections.deque[Tensor] = collections.deque(maxlen=self.calibration_batches)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """images (B, C, H, W) float -> tokens (B, P, D), mask (B, P) all True."""
        expected = (self.channels, self.image_size, self.image_size)
        if tuple(images.shape[1:]) != expected:
            raise ValueError(f"images must be (B, {expected[0]}, {expected[1]}, {expected[2]}), "
                             f"got {tuple(images.shape)}")
        if self.training and torch.is_grad_enabled():
            self.recent.append(images.detach())
        cells = self.stem(self._stem_input(images)).flatten(2).transpose(1, 2)  # (B, P, C')
        coords = self.coords.expand(cells.shape[0], -1, -1).to(cells.dtype)  # (B, P, 2)
        tokens = self.drop(self.proj(torch.cat([cells, coords], dim=-1)) + self.pos_embed)  # (B, P, D)
        return tokens, torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)

    def _stem_input(self, images: Tensor) -> Tensor:
        """images (B, C, H, W) -> the stem's input: (B, C + 2, H, W) with pixel coordinates, else unchanged."""
        if not self.coord_input:
            return images
        coords = self.pixel_coords.expand(images.shape[0], -1, -1, -1).to(images.dtype)
        return torch.cat([images, coords], dim=1)

    @torch.no_grad()
    def recalibrate(self) -> list[Tensor]:
        """Recompute the stem's BatchNorm running mean and variance as the plain average over the kept training
        batches, with the current weights; the running statistics (buffers) it set, or [] when no batch is kept
        (nothing changes then)."""
        if not self.recent:
            return []
        norms = [m for m in self.stem if isinstance(m, nn.BatchNorm2d)]
        momenta, training = [norm.momentum for norm in norms], self.stem.training
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # None: cumulative average over the batches below
        self.stem.train()
        for images in self.recent:
            self.stem(self._stem_input(images))
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
        self.stem.train(training)
        return [buffer for norm in norms for buffer in (norm.running_mean, norm.running_var)]


class AudioEmbedder(nn.Module):
    """Whisper-style stem: two Conv1d + GELU (the second with stride 2), with ``stride=4`` a third stride-2
    Conv1d + GELU, plus fixed sinusoidal positions.

    Padded frames are zeroed before each convolution, so real positions see
    exactly what they would see if the padding were absent (the convs' own zero
    padding), and appending padded frames changes no real output. Stride 4 (25 positions a second) quarters
    the encoder's attention cost on long utterances.
    """

    def __init__(self, num_mel_bins: int, width: int, max_frames: int, dropout: float, stride: int = 2):
        super().__init__()
        if stride not in AUDIO_STRIDES:
            raise ValueError(f"audio stride must be one of {AUDIO_STRIDES}, got {stride!r}")
        self.max_frames, self.stride = max_frames, stride
        self.conv1 = nn.Conv1d(num_mel_bins, width, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(width, width, kernel_size=3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(width, width, kernel_size=3, stride=2, padding=1) if stride == 4 else None
        positions = sinusoids(math.ceil(max_frames / stride), width)  # (ceil(F_max / stride), D)
        self.register_buffer("positions", positions, persistent=False)
        self.drop = nn.Dropout(dropout)

    def forward(self, mel: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """mel (B, M, F), mask (B, F) -> tokens (B, N, D), mask (B, N), N = ceil(F / stride).

        Output position n is real iff its centre input frame stride × n is real.
        """
        b, _, f = mel.shape
        if f > self.max_frames:
            raise ValueError(f"audio has {f} frames, more than max_audio_frames={self.max_frames}")
        if mask is None:
            mask = torch.ones(b, f, dtype=torch.bool, device=mel.device)
        keep = mask[:, None, :].to(mel.dtype)  # (B, 1, F)
        x = F.gelu(self.conv1(mel * keep)) * keep  # (B, D, F)
        x = F.gelu(self.conv2(x))  # (B, D, ceil(F / 2))
        if self.conv3 is not None:
            x = F.gelu(self.conv3(x * keep[:, :, ::2]))  # (B, D, ceil(F / 4))
        tokens = x.transpose(1, 2) + self.positions[: x.shape[2]]  # (B, N, D)
        return self.drop(tokens), mask[:, ::self.stride]


def sinusoids(length: int, width: int, max_timescale: float = 10000.0) -> Tensor:
    """Fixed sin/cos position table (length, width), as in the Transformer paper."""
    assert width % 2 == 0, "sinusoidal positions need an even width"
    half = width // 2
    inv_timescales = torch.exp(-math.log(max_timescale) * torch.arange(half) / max(half - 1, 1))
    angles = torch.arange(length)[:, None] * inv_timescales[None, :]  # (length, D/2)
    return torch.cat([angles.sin(), angles.cos()], dim=1)  # (length, D)


def log_mel(waveform: Tensor, num_mel_bins: int = 80) -> Tensor:
    """Whisper log-mel spectrogram of a 16 kHz mono waveform (N,) -> (M, F).

    No padding to 30 s: F = N // 160 frames (100 per second).
    """
    if waveform.dim() != 1:
        raise ValueError(f"waveform must be 1-D (N,), got shape {tuple(waveform.shape)}")
    if num_mel_bins not in (80, 128):
        raise ValueError(f"num_mel_bins must be 80 or 128 (whisper filters), got {num_mel_bins}")
    return whisper.audio.log_mel_spectrogram(waveform.float(), n_mels=num_mel_bins)
