"""Pretrained starting points for ``zoo fit``'s ``--model.init_from``: a zoo checkpoint, whisper weights or a timm ViT.

``resolve`` dispatches by prefix (``whisper:NAME``, ``timm:NAME``: downloaded by the library when online, read from
its cache when not) or else by the file's content: a whisper checkpoint (``{"dims", "model_state_dict"}`` as openai
ships it, or a bare whisper state dict), a timm state dict (``.safetensors`` or a torch file with keys such as
``patch_embed.proj.weight``), or a Lightning checkpoint with ``hyper_parameters`` (zoo; ``FineTune.load_backbone``).
Files are read with ``torch.load(weights_only=True)`` or ``safetensors.torch.load_file``: no pickled code runs.

``load_timm`` copies a timm ViT into the zoo's ViT image embedder and fusion encoder where shapes fit:
``patch_embed.proj`` → ``image.patch_embed.proj`` (RGB weights summed for a one-channel model), ``pos_embed`` →
``image.pos_embed`` (class/register-token positions dropped, the grid resized by bicubic interpolation when it
differs), ``blocks.i.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}`` → ``encoder.blocks.i.{attn_norm,
attn.qkv, attn.proj, mlp_norm, mlp.fc, mlp.proj}`` (both fuse q, k, v in that order; a LayerScale ``ls1/ls2.gamma``
is folded into the projection it scales), ``norm`` → ``encoder.norm``; the image modality-type embedding is zeroed
once blocks are loaded, so on an image alone the encoder computes the ViT's blocks (without its class token; timm's
LayerNorm eps is 1e-6, ours 1e-5). The head count is not in a timm file: the model's ``num_heads`` must match it.

Whisper weights go to the asr task only (``tasks.asr.whisper_reference``): the whole model for ``arch: whisper``
(built at the file's dimensions), the audio stem and encoder for ``arch: zoo``. Every loader returns a report
(``FineTune.init_report``) and logs which of our tensors came from which file tensors and what was not used and why.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn


LOG = logging.getLogger("tasks.core.finetune")
WHISPER, TIMM = "whisper:", "timm:"
TIMM_KEYS = ("patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "pos_embed")


@dataclass
class Source:
    """Resolved ``init_from``: ``kind`` zoo, whisper or timm; ``file`` the local file (None: timm's model in memory);
    ``state`` and ``dims`` for whisper/timm (``dims``: whisper's ModelDimensions as a dict, or timm's head count)."""

    spec: str
    kind: str
    file: Path | None = None
    state: dict[str, Tensor] = field(default_factory=dict)
    dims: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How logs and errors name it: the name given, with the file when a name was resolved to one."""
        return self.spec if self.file is None or str(self.file) == self.spec else f"{self.spec} ({self.file})"


def offline_flag() -> bool:
    """True when ``HF_HUB_OFFLINE`` asks for no downloads."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in ("", "0", "false", "no", "off")


def cannot_download(spec: str, hint: str, error: BaseException | None = None) -> ValueError:
    """The one-line error for a name whose weights cannot be fetched here."""
    why = "offline: HF_HUB_OFFLINE=1 / no network"
    if error is not None:
        why += f"; {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return ValueError(f"{spec}: cannot download ({why.rstrip(': ')}); download it where you are online, then pass "
                      f"the file: --model.init_from {hint}")


def whisper_file(spec: str) -> Path:
    """The local whisper checkpoint of ``whisper:NAME``: whisper's cache file (download only when online)."""
    import whisper

    name = spec[len(WHISPER):]
    if name not in whisper._MODELS:
        raise ValueError(f"model.init_from {spec}: unknown whisper model {name!r} "
                         f"(known: {', '.join(whisper.available_models())})")
    root = Path(os.getenv("XDG_CACHE_HOME", Path.home() / ".cache")) / "whisper"
    url = whisper._MODELS[name]
    hint = f"{root / Path(url).name}"
    if offline_flag() and not (root / Path(url).name).is_file():
        raise cannot_download(spec, hint)
    try:
        return Path(whisper._download(url, str(root), in_memory=False))
    except Exception as error:  # URLError, socket errors, a checksum mismatch after a cut download
        raise cannot_download(spec, hint, error) from None


def timm_state(spec: str) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """State dict and head count of ``timm:NAME`` (``timm.create_model(NAME, pretrained=True)``, from the hub's cache
    when offline)."""
    import timm
    from timm.models import get_pretrained_cfg

    name = spec[len(TIMM):]
    if not timm.is_model(name.split(".")[0]):
        raise ValueError(f"model.init_from {spec}: unknown timm model {name!r}")
    cfg = get_pretrained_cfg(name)
    hub = getattr(cfg, "hf_hub_id", None) or name
    hint = (f"~/.cache/huggingface/hub/models--{hub.replace('/', '--')}/snapshots/*/model.safetensors")
    try:
        model = timm.create_model(name, pretrained=True)
    except Exception as error:  # LocalEntryNotFoundError when HF_HUB_OFFLINE=1, connection errors otherwise
        raise cannot_download(spec, hint, error) from None
    blocks = getattr(model, "blocks", None)
    heads = getattr(getattr(blocks[0], "attn", None), "num_heads", None) if blocks else None
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, {"num_heads": heads}


def _is_timm(state: Any) -> bool:
    return isinstance(state, dict) and any(key in state for key in TIMM_KEYS)


def read_file(spec: str, flag: str = "model.init_from") -> Source:
    """Classify a local weights file by content (whisper, timm or zoo) and read the whisper/timm tensors."""
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ValueError(f"{flag} {spec}: file not found")
    with open(path, "rb") as handle:
        head = handle.read(16)
    if path.suffix == ".safetensors" or (len(head) >= 9 and head[8:9] == b"{"):  # safetensors: 8-byte size + JSON
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as error:
            raise ValueError(f"{flag} {spec}: cannot read as safetensors ({type(error).__name__}: "
                             f"{str(error).splitlines()[0] if str(error) else ''})") from None
        if not _is_timm(state):
            raise ValueError(f"{flag} {spec}: a safetensors file without timm ViT keys ({', '.join(TIMM_KEYS)})")
        return Source(spec, "timm", path, state)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickled objects (refused), truncated files: let the zoo reader name the problem
        from tasks.core.checkpoints import load_checkpoint

        load_checkpoint(path)
        raise ValueError(f"{flag} {spec}: cannot read ({type(error).__name__})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{flag} {spec}: not a weights file (a {type(data).__name__}, not a dict)")
    if "hyper_parameters" in data and "state_dict" in data:
        return Source(spec, "zoo", path)
    if "dims" in data and isinstance(data.get("model_state_dict"), dict) or "encoder.conv1.weight" in data:
        return Source(spec, "whisper", path, dict(data.get("model_state_dict", data)), dict(data.get("dims") or {}))
    for wrapper in ("state_dict", "model"):
        if isinstance(data.get(wrapper), dict) and _is_timm(data[wrapper]):
            data = data[wrapper]
    if _is_timm(data):
        return Source(spec, "timm", path, {k: v for k, v in data.items() if isinstance(v, Tensor)})
    raise ValueError(f"{flag} {spec}: not a zoo checkpoint, a whisper checkpoint ({{dims, model_state_dict}}) or a "
                     f"timm ViT state dict ({', '.join(TIMM_KEYS)})")


def resolve(spec: str, flag: str = "model.init_from") -> Source:
    """``whisper:NAME`` / ``timm:NAME`` through their libraries, else a local file classified by content."""
    if spec.startswith(WHISPER):
        path = whisper_file(spec)
        source = read_file(str(path), flag)
        if source.kind != "whisper":
            raise ValueError(f"{flag} {spec}: {path} is not a whisper checkpoint")
        return Source(spec, "whisper", path, source.state, source.dims)
    if spec.startswith(TIMM):
        state, dims = timm_state(spec)
        return Source(spec, "timm", None, state, dims)
    return read_file(spec, flag)


# ------------------------------------------------------------------ timm ViT
def timm_block_names(index: int) -> dict[str, str]:
    """timm block ``index``'s tensors → the zoo encoder block's (relative to the model's ``net``)."""
    pairs = {"norm1": "attn_norm", "attn.qkv": "attn.qkv", "attn.proj": "attn.proj", "norm2": "mlp_norm",
             "mlp.fc1": "mlp.fc", "mlp.fc2": "mlp.proj"}
    return {f"blocks.{index}.{theirs}.{p}": f"encoder.blocks.{index}.{ours}.{p}"
            for theirs, ours in pairs.items() for p in ("weight", "bias")}


def load_timm(net: nn.Module, source: Source, blocks: bool = True, flag: str = "model.init_from",
              prefix: str = "net.") -> dict[str, Any]:
    """Copy a timm ViT into ``net.image`` (and with ``blocks`` the fusion encoder) where shapes fit; logs it.

    Returns ``{"kind", "source", "loaded": {our key: file key (transform)}, "not_used": {file key: why},
    "zeroed": [...]}``, our keys with ``prefix`` (the task module's state-dict names); a ValueError when nothing
    fits."""
    image = getattr(net, "image", None)
    if image is None or not hasattr(image, "timm_updates"):
        raise ValueError(f"{flag} {source.spec}: this model has no ViT image embedder (timm weights need "
                         f"image_stem: patch)")
    state, own = source.state, net.state_dict()
    updates, loaded, not_used = image.timm_updates(state)
    updates = {f"image.{k}": v for k, v in updates.items()}
    loaded = {f"image.{k}": v for k, v in loaded.items()}  # keys of ``net`` here, of the task module in the report
    zeroed: list[str] = []
    layers = len(getattr(getattr(net, "encoder", None), "blocks", []))
    heads = source.dims.get("num_heads")
    ours_heads = getattr(getattr(net, "config", None), "num_heads", None)
    if blocks and heads is not None and ours_heads is not None and heads != ours_heads:
        raise ValueError(f"{flag} {source.spec}: the ViT has {heads} heads, this model {ours_heads}; set "
                         f"--model.backbone {{num_heads: {heads}}} to load its blocks")
    for key in state:
        if key in not_used or key.startswith("patch_embed.") or key == "pos_embed":
            continue
        match = re.match(r"blocks\.(\d+)\.(.+)$", key)
        if not blocks:
            not_used[key] = "image tower only (model.image_checkpoint)"
        elif match and int(match.group(1)) >= layers:
            not_used[key] = f"no counterpart (this encoder has {layers} blocks)"
        elif match and match.group(2) in ("ls1.gamma", "ls2.gamma"):
            continue  # folded into attn.proj / mlp.fc2 below
        elif match:
            ours = timm_block_names(int(match.group(1))).get(key)
            if ours is None:
                not_used[key] = "no counterpart"
                continue
            value, how = state[key], ""
            gamma = {"attn.proj": "ls1.gamma", "mlp.fc2": "ls2.gamma"}.get(match.group(2).rsplit(".", 1)[0])
            if gamma and f"blocks.{match.group(1)}.{gamma}" in state:
                scale = state[f"blocks.{match.group(1)}.{gamma}"]
                value, how = value * (scale[:, None] if value.ndim == 2 else scale), f" x {gamma}"
            if tuple(own[ours].shape) != tuple(value.shape):
                not_used[key] = f"shape {tuple(value.shape)}, ours {ours} {tuple(own[ours].shape)}"
            else:
                updates[ours], loaded[ours] = value, key + how
        elif key in ("norm.weight", "norm.bias") and "encoder.norm.weight" in own:
            ours = f"encoder.{key}"
            if not blocks or own[ours].shape != state[key].shape:
                not_used[key] = f"shape {tuple(state[key].shape)}, ours {ours} {tuple(own[ours].shape)}"
            else:
                updates[ours], loaded[ours] = state[key], key
        else:
            not_used[key] = "no counterpart"
    for key in [k for k in loaded if k.startswith("encoder.blocks.") and k.endswith("attn.qkv.weight")]:
        bias = key[:-len("weight")] + "bias"
        if bias not in updates:  # qkv_bias=False in timm
            updates[bias] = torch.zeros_like(own[bias])
            zeroed.append(bias)
    if not updates:
        width = state.get("patch_embed.proj.weight", torch.empty(0)).shape[:1]
        raise ValueError(f"{flag} {source.spec}: no tensor fits this model (the ViT's width {tuple(width)}, ours "
                         f"{own['image.pos_embed'].shape[-1]}; set --model.backbone {{width: ...}} to match)")
    if any(k.startswith("encoder.blocks.") for k in updates) and "encoder.type_embedding.weight" in own:
        from zoo.encoder import MODALITIES

        type_embedding = own["encoder.type_embedding.weight"].clone()
        type_embedding[MODALITIES.index("image")] = 0.0
        updates["encoder.type_embedding.weight"] = type_embedding
        zeroed.append("encoder.type_embedding.weight[image]")
    net.load_state_dict(updates, strict=False)
    report = {"kind": "timm", "source": source.label, "loaded": {prefix + k: v for k, v in loaded.items()},
              "not_used": not_used, "zeroed": [prefix + k for k in zeroed]}
    log_report(report)
    return report


# ------------------------------------------------------------------ whisper
def load_whisper(module: nn.Module, source: Source, flag: str = "model.init_from") -> dict[str, Any]:
    """Copy whisper weights into an asr task module: the whole model into ``WhisperASR`` (built at the file's
    dimensions beforehand: ``FineTune``), else the audio stem and encoder of the zoo backbone where shapes fit.

    Returns ``{"kind", "source", "loaded": {our state-dict key: file key}, "not_used": {file key: why}, "zeroed"}``."""
    from tasks.asr.whisper_reference import WhisperASR, load_whisper_state, load_zoo_audio_state
    from zoo.tokenizers import WhisperBPETokenizer

    net = getattr(module, "net", None)
    if isinstance(net, WhisperASR):
        shared = isinstance(getattr(module, "tokenizer", None), WhisperBPETokenizer)
        report, prefix = load_whisper_state(net, source.state, shared_vocabulary=shared), "net.whisper."
        if not report["loaded"]:
            raise ValueError(f"{flag} {source.label}: no whisper tensor fits this model")
    elif net is not None and getattr(net, "audio", None) is not None:
        report, prefix = load_zoo_audio_state(net, source.dims, source.state, f"{flag} {source.label}"), "net."
    else:
        raise ValueError(f"{flag} {source.label}: whisper weights need an audio model (the asr task)")
    report = {"kind": "whisper", "source": source.label, **report,
              "loaded": {prefix + k: v for k, v in report["loaded"].items()},
              "zeroed": [prefix + k for k in report.get("zeroed", [])]}
    log_report(report)
    return report


# ------------------------------------------------------------------ reports
def _indexed(name: str) -> tuple[str, int | None]:
    """``encoder.blocks.3.mlp.fc.weight`` → (``encoder.blocks.{}.mlp.fc.weight``, 3); no index: (name, None)."""
    match = re.search(r"\.(\d+)\.", name)
    return (name, None) if match is None else (name[:match.start()] + ".{}." + name[match.end():], int(match.group(1)))


def _runs(indices: list[int]) -> str:
    """[0, 1, 2, 5] → ``{0-2,5}``; one index → ``3``."""
    if len(indices) == 1:
        return str(indices[0])
    runs, start = [], indices[0]
    for a, b in zip(indices, [*indices[1:], None]):
        if b != a + 1:
            runs.append(str(a) if start == a else f"{start}-{a}")
            start = b
    return "{" + ",".join(runs) + "}"


def summarise(pairs: list[tuple[str, str]]) -> list[str]:
    """(name, detail) pairs with the same block-index pattern merged: ``blocks.{0-3}.norm1.weight: ...``."""
    groups: dict[tuple[str, str], list[int]] = {}
    for name, detail in pairs:
        pattern, index = _indexed(name)
        detail_pattern, detail_index = _indexed(detail)
        if index is None or detail_index not in (None, index):
            pattern, detail_pattern, index = name, detail, None
        elif detail_index is None:
            detail_pattern = detail
        groups.setdefault((pattern, detail_pattern), [])
        if index is not None:
            groups[(pattern, detail_pattern)].append(index)
    lines = []
    for (pattern, detail), indices in groups.items():
        runs = _runs(sorted(indices)) if indices else ""
        lines.append(f"{pattern.replace('{}', runs)}: {detail.replace('{}', runs)}" if indices else
                     f"{pattern}: {detail}")
    return lines


def log_report(report: dict[str, Any], prefix: str = "") -> None:
    """Log a whisper/timm report: a summary line, which of our tensors came from which file tensors, and which file
    tensors were not used and why (block indices merged)."""
    loaded, not_used = report["loaded"], report["not_used"]
    LOG.info(f"zoo: init from {report['source']} ({report['kind']} weights): initialised {len(loaded)} tensors, "
             f"{len(not_used)} file tensors not used"
             + (f"; zeroed {', '.join(report['zeroed'])}" if report.get("zeroed") else "")
             + (f"; {report['note']}" if report.get("note") else ""))
    for line in summarise([(prefix + ours, theirs) for ours, theirs in loaded.items()]):
        LOG.info(f"zoo:   loaded {line.replace(': ', ' <- ', 1)}")
    for line in summarise(list(not_used.items())):
        LOG.info(f"zoo:   not used {line}")
