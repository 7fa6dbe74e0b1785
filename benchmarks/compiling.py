"""``zoo bench --compile``: ``torch.compile`` a task's network in place, block by block.

Each Transformer block (ours, whisper's, timm's) is compiled with ``nn.Module.compile``, which keeps the module,
its parameters and its state-dict keys as they are (checkpoints stay loadable without compile), and keeps the
Python around the blocks (modality fusion, beam search, the KV cache bookkeeping) eager. A network with no such
block (the BiLSTM reference) has each of its direct children compiled instead. Inductor on CPU needs a C compiler.
"""

from __future__ import annotations

import shutil

import torch
from torch import nn

from zoo.layers import DecoderBlock, EncoderBlock


def _block_types() -> tuple[type, ...]:
    types: list[type] = [EncoderBlock, DecoderBlock]
    try:
        from whisper.model import ResidualAttentionBlock
        types.append(ResidualAttentionBlock)
    except ImportError:  # whisper is optional for this purpose
        pass
    try:
        from timm.models.vision_transformer import Block
        types.append(Block)
    except ImportError:
        pass
    return tuple(types)


def compile_unavailable_reason(device_type: str = "cpu") -> str | None:
    """Why ``torch.compile`` cannot run here (no dynamo on this platform, no C compiler for CPU code), or None."""
    if not torch._dynamo.is_dynamo_supported():
        return f"torch.compile is not supported on this platform (torch {torch.__version__})"
    if device_type == "cpu" and not any(shutil.which(cc) for cc in ("gcc", "cc", "clang")):
        return "torch.compile on CPU needs a C compiler (gcc, cc or clang on PATH)"
    return None


def compile_model(net: nn.Module, device_type: str = "cpu") -> int:
    """Compile ``net``'s Transformer blocks in place; returns how many modules were compiled.

    Raises ``ValueError`` (one line) when ``torch.compile`` is unavailable here.
    """
    reason = compile_unavailable_reason(device_type)
    if reason is not None:
        raise ValueError(f"--compile: {reason}")
    blocks = [m for m in net.modules() if isinstance(m, _block_types())]
    if not blocks:
        blocks = [child for child in net.children() if any(True for _ in child.parameters())]
    for module in blocks:
        module.compile()
    return len(blocks)
