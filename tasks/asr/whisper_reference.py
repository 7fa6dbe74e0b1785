"""The asr task's reference model (openai-whisper's own encoder-decoder) and initialisation from whisper checkpoints.

``WhisperASR`` wraps ``whisper.model.Whisper(ModelDimensions)`` sized like a zoo preset (``dimensions``) behind
the interface the task's ``Module`` uses for the shared backbone: ``encode(inputs) -> (memory, mask)``,
``decode(tokens, memory, mask) -> logits``, ``decoder_logits`` and ``generate`` (zoo's greedy and beam search
over a view of whisper's decoder, without a KV cache: whisper's cache works through forward hooks).

Whisper's encoder takes exactly ``2 * n_audio_ctx`` frames, so ``encode`` fills padded frames and pads every
utterance to that length with the log-mel value of digital silence: the utterance's maximum − 2, which is what
whisper's own zero padding becomes after its scaling (floor at max − 8 in log10 units, then ``(x + 4) / 4``).
(With ``feature_norm="train"`` the task hands it normalised features and the same rule applies to those.)
Its decoder attends to that padding, as whisper does; the returned mask marks real positions (for CTC).

``init_whisper`` and ``init_zoo_audio`` copy a local whisper checkpoint (``{"dims", "model_state_dict"}`` as
openai ships them, or a bare state dict; ``torch.load(weights_only=True)``) into either model.

Shapes: B batch, M mel bins, F frames, N audio positions, D width, T tokens, V vocabulary.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from whisper.model import ModelDimensions, Whisper

import zoo
from zoo.encoder import MODALITIES


def dimensions(config: zoo.ModelConfig) -> ModelDimensions:
    """Whisper dimensions of the same size as a zoo model config (width, heads, layers, vocabulary, lengths)."""
    return ModelDimensions(
        n_mels=config.num_mel_bins, n_audio_ctx=math.ceil(config.max_audio_frames / 2),
        n_audio_state=config.width, n_audio_head=config.num_heads, n_audio_layer=config.num_encoder_layers,
        n_vocab=config.vocab_size, n_text_ctx=config.max_text_positions, n_text_state=config.width,
        n_text_head=config.num_heads, n_text_layer=config.num_decoder_layers)


class _DecoderView:
    """What ``zoo.generation`` needs of a decoder: ``max_positions`` and ``(tokens, memory, mask, cache) -> logits``."""

    def __init__(self, decoder: nn.Module) -> None:
        self.decoder = decoder
        self.max_positions = decoder.positional_embedding.shape[0]

    def __call__(self, tokens: Tensor, memory: Tensor, memory_mask: Tensor | None = None,
                 cache: Any = None) -> Tensor:
        """tokens (B, T), memory (B, N, D) -> logits (B, T, V); whisper attends to every memory position."""
        if cache is not None:
            raise ValueError("WhisperASR decodes without a KV cache (use_cache=False)")
        return self.decoder(tokens, memory)


class WhisperASR(nn.Module):
    """openai-whisper's model, initialised like the zoo (normal(0, 0.02) weights, zero biases)."""

    def __init__(self, dims: ModelDimensions) -> None:
        super().__init__()
        self.whisper = Whisper(dims)
        self.num_frames = 2 * dims.n_audio_ctx
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.whisper.decoder.positional_embedding, std=0.02)  # whisper leaves it empty

    @property
    def decoder(self) -> _DecoderView:
        return _DecoderView(self.whisper.decoder)

    def encode(self, inputs: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """audio (B, M, F), audio_mask (B, F) -> memory (B, N, D), real positions (B, N); N = num_frames / 2."""
        mel = inputs["audio"]
        b, _, f = mel.shape
        if f > self.num_frames:
            raise ValueError(f"audio has {f} frames, more than whisper's fixed {self.num_frames} (n_audio_ctx x 2)")
        mask = inputs.get("audio_mask")
        mask = torch.ones(b, f, dtype=torch.bool, device=mel.device) if mask is None else mask
        silence = mel.masked_fill(~mask[:, None, :], float("-inf")).amax(dim=(1, 2)) - 2.0  # (B,)
        mel = torch.where(mask[:, None, :], mel, silence[:, None, None])  # (B, M, F)
        mel = torch.cat([mel, silence[:, None, None].expand(b, mel.shape[1], self.num_frames - f)], dim=2)
        real = F.pad(mask, (0, self.num_frames - f), value=False)[:, ::2]  # (B, N)
        return self.whisper.encoder(mel), real

    def decoder_logits(self, inputs: Mapping[str, Tensor], target_in: Tensor) -> Tensor:
        """Teacher-forced logits (B, T, V)."""
        return self.decode(target_in, *self.encode(inputs))

    def decode(self, target_in: Tensor, memory: Tensor, memory_mask: Tensor | None = None) -> Tensor:
        """Teacher-forced logits (B, T, V) over an already-encoded memory (B, N, D); whisper attends to every
        memory position."""
        return self.decoder(target_in, memory, memory_mask)

    @torch.no_grad()
    def generate(self, inputs: Mapping[str, Tensor], bos_id: int, eos_id: int, pad_id: int,
                 max_new_tokens: int = 32, num_beams: int = 1, length_penalty: float = 1.0,
                 **controls: Any) -> Tensor:
        """Generated ids (B, L) without bos, pad after eos (zoo's greedy / beam search, with the repetition controls
        and sampling options of ``zoo.generation``)."""
        memory, mask = self.encode(inputs)
        if num_beams == 1:
            return zoo.greedy_search(self.decoder, memory, mask, bos_id, eos_id, pad_id, max_new_tokens,
                                     use_cache=False, **controls)
        return zoo.beam_search(self.decoder, memory, mask, bos_id, eos_id, pad_id, max_new_tokens,
                               num_beams=num_beams, length_penalty=length_penalty, use_cache=False, **controls)


def read_checkpoint(path: str | Path) -> tuple[dict[str, Any] | None, dict[str, Tensor]]:
    """``(dims or None, state dict)`` of a local whisper checkpoint file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: whisper checkpoint not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle errors, unsafe globals, truncated zip
        raise ValueError(f"{path}: cannot read as a checkpoint ({type(error).__name__}: {error})".splitlines()[0]) \
            from None
    state = data.get("model_state_dict", data) if isinstance(data, dict) else None
    if not isinstance(state, dict) or "encoder.conv1.weight" not in state:
        raise ValueError(f"{path}: not a whisper checkpoint (no model_state_dict with encoder.conv1.weight)")
    return data.get("dims"), state


ARCH_DIMS = {"width": "n_audio_state", "num_heads": "n_audio_head", "num_encoder_layers": "n_audio_layer",
             "num_decoder_layers": "n_text_layer"}  # zoo.ModelConfig field -> whisper dimension


def architecture(dims: Mapping[str, Any], where: str) -> dict[str, int]:
    """The zoo.ModelConfig overrides (``ARCH_DIMS``) that build ``WhisperASR`` at a checkpoint's dimensions; a
    ValueError naming ``where`` when the file cannot be built here (mel bins, unequal audio/text width or heads)."""
    if dims.get("n_mels", 80) != 80:
        raise ValueError(f"{where}: whisper has {dims.get('n_mels')} mel bins, the asr task computes 80")
    if (dims.get("n_text_state"), dims.get("n_text_head")) != (dims.get("n_audio_state"), dims.get("n_audio_head")):
        raise ValueError(f"{where}: whisper's text and audio sides differ in width or heads; WhisperASR ties them")
    return {ours: int(dims[theirs]) for ours, theirs in ARCH_DIMS.items()}


def load_whisper_state(model: WhisperASR, state: Mapping[str, Tensor],
                       shared_vocabulary: bool = False) -> dict[str, Any]:
    """Copy every whisper tensor that fits; longer positional tables are cut to our lengths, and with
    ``shared_vocabulary`` (a tokenizer whose ids are whisper's: bpe) the first rows of a larger token table are taken.

    Returns ``{"loaded": {our key: file key}, "not_used": {file key: why}}`` (keys of ``model.whisper``)."""
    own = model.whisper.state_dict()
    updates, loaded, not_used = {}, {}, {}
    for key, value in state.items():
        how = ""
        if key not in own:
            not_used[key] = "no counterpart"
            continue
        rows = own[key].shape[0]
        if key.endswith("positional_embedding") and value.shape[1:] == own[key].shape[1:] and value.shape[0] > rows:
            value, how = value[:rows], f" (first {rows} positions)"
        elif key == "decoder.token_embedding.weight" and value.shape[1:] == own[key].shape[1:] \
                and value.shape[0] > rows and shared_vocabulary:
            value, how = value[:rows], f" (first {rows} tokens)"
        if own[key].shape == value.shape:
            updates[key], loaded[key] = value, key + how
        elif key == "decoder.token_embedding.weight" and value.shape[1:] == own[key].shape[1:]:
            not_used[key] = f"vocabulary {value.shape[0]}, ours {rows} (another tokenizer: tokenizer bpe shares it)"
        else:
            not_used[key] = f"shape {tuple(value.shape)}, ours {tuple(own[key].shape)}"
    model.whisper.load_state_dict(updates, strict=False)
    return {"loaded": loaded, "not_used": not_used}


def init_whisper(model: WhisperASR, path: str | Path) -> dict[str, list[str]]:
    """Copy every tensor that fits (positional tables cut to our lengths); returns ``{"loaded", "skipped"}``."""
    _, state = read_checkpoint(path)
    report = load_whisper_state(model, state)
    return {"loaded": sorted(report["loaded"]), "skipped": sorted(report["not_used"])}


def _zoo_audio_names(num_layers: int) -> dict[str, str]:
    """Whisper encoder key → zoo key, for the tensors copied one to one."""
    names = {f"encoder.{conv}.{p}": f"audio.{conv}.{p}" for conv in ("conv1", "conv2") for p in ("weight", "bias")}
    names |= {f"encoder.ln_post.{p}": f"encoder.norm.{p}" for p in ("weight", "bias")}
    for i in range(num_layers):
        pairs = {"attn_ln": "attn_norm", "attn.out": "attn.proj", "mlp_ln": "mlp_norm", "mlp.0": "mlp.fc",
                 "mlp.2": "mlp.proj"}
        names |= {f"encoder.blocks.{i}.{theirs}.{p}": f"encoder.blocks.{i}.{ours}.{p}"
                  for theirs, ours in pairs.items() for p in ("weight", "bias")}
    return names


def load_zoo_audio_state(net: zoo.MultimodalModel, dims: Mapping[str, Any] | None, state: Mapping[str, Tensor],
                         where: str) -> dict[str, Any]:
    """Initialise the zoo's audio stem and fusion encoder from a whisper checkpoint's audio encoder where shapes fit.

    Whisper's separate q, k (no bias), v projections become the fused ``qkv``; the audio modality-type
    embedding is zeroed, so on audio alone the zoo encoder then computes whisper's encoder function. Returns
    ``{"loaded": {our key: file key}, "not_used": {file key: why}, "zeroed": [...]}`` (keys of ``net``); a
    ValueError naming ``where`` and both sizes when the heads differ or nothing fits.
    """
    config = net.config
    if dims and dims.get("n_audio_head") != config.num_heads:
        raise ValueError(f"{where}: whisper has {dims.get('n_audio_head')} audio heads (width "
                         f"{dims.get('n_audio_state')}), the zoo model {config.num_heads} (width {config.width}); "
                         f"set the model's num_heads and width to match")
    own = net.state_dict()
    names = _zoo_audio_names(config.num_encoder_layers)
    updates, loaded, not_used, used = {}, {}, {}, set()
    for theirs, ours in names.items():
        if theirs in state and ours in own:
            if own[ours].shape == state[theirs].shape:
                updates[ours], loaded[ours] = state[theirs], theirs
                used.add(theirs)
            else:
                not_used[theirs] = f"shape {tuple(state[theirs].shape)}, ours {ours} {tuple(own[ours].shape)}"
    for i in range(config.num_encoder_layers):
        theirs, ours = f"encoder.blocks.{i}.attn.", f"encoder.blocks.{i}.attn.qkv."
        parts = [f"{theirs}{n}.{p}" for n in ("query", "key", "value") for p in ("weight", "bias")]
        if not all(k in state for k in parts if k != f"{theirs}key.bias"):
            continue
        weight = torch.cat([state[f"{theirs}{n}.weight"] for n in ("query", "key", "value")])  # (3D, D)
        query_bias = state[f"{theirs}query.bias"]
        bias = torch.cat([query_bias, torch.zeros_like(query_bias), state[f"{theirs}value.bias"]])  # (3D,)
        if own[f"{ours}weight"].shape == weight.shape:
            updates |= {f"{ours}weight": weight, f"{ours}bias": bias}
            loaded[f"{ours}weight"] = f"{theirs}{{query,key,value}}.weight (concatenated)"
            loaded[f"{ours}bias"] = f"{theirs}{{query,value}}.bias (concatenated, key bias 0)"
            used |= set(parts) & set(state)
        else:
            not_used |= {k: f"shape {tuple(state[k].shape)}, ours {ours}weight {tuple(own[ours + 'weight'].shape)} "
                            f"/ 3" for k in parts if k in state}
    if not updates:
        raise ValueError(f"{where}: no whisper audio-encoder tensor fits this zoo model (whisper width "
                         f"{(dims or {}).get('n_audio_state', '?')}, ours {config.width}; mel bins)")
    for key in state:
        if key in used or key in not_used:
            continue
        if key == "encoder.positional_embedding":
            not_used[key] = "not needed: the zoo computes the same sinusoid table"
        elif key.startswith("decoder."):
            not_used[key] = "the zoo decoder is not whisper's (arch zoo)"
        elif re.match(r"encoder\.blocks\.(\d+)\.", key) and int(key.split(".")[2]) >= config.num_encoder_layers:
            not_used[key] = f"no counterpart (this encoder has {config.num_encoder_layers} blocks)"
        else:
            not_used[key] = "no counterpart"
    type_embedding = own["encoder.type_embedding.weight"].clone()
    type_embedding[MODALITIES.index("audio")] = 0.0
    updates["encoder.type_embedding.weight"] = type_embedding
    net.load_state_dict(updates, strict=False)
    return {"loaded": loaded, "not_used": not_used, "zeroed": ["encoder.type_embedding.weight[audio]"]}


def init_zoo_audio(net: zoo.MultimodalModel, path: str | Path) -> dict[str, list[str]]:
    """``load_zoo_audio_state`` from a local file; returns ``{"loaded": our keys, "skipped": file keys unused}``
    (the positional table counts as used: the zoo computes the same one)."""
    dims, state = read_checkpoint(path)
    report = load_zoo_audio_state(net, dims, state, str(path))
    skipped = [k for k, why in report["not_used"].items() if not why.startswith("not needed")]
    return {"loaded": sorted([*report["loaded"], "encoder.type_embedding.weight"]), "skipped": sorted(skipped)}
