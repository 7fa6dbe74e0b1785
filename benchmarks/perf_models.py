"""Side-by-side model timings for ``zoo perf``: our ASR encoder-decoder vs whisper's, our image tower vs timm's
ViT, cached vs uncached generation, and bf16 model FLOPs utilisation on CUDA.

Every comparison builds both models at equal dimensions on one device, feeds them the same tensors, warms each up
and takes the median of ``repeats`` timed calls. Shapes: B batch, M mel bins, F frames, T tokens, V vocabulary,
C channels, H/W image size, P patches, D width.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import zoo
from tasks.asr.whisper_reference import dimensions

NUM_MEL_BINS = 80
# Dense bf16 tensor-core peak FLOP/s by device-name fragment (first match wins); --peak-tflops overrides.
PEAK_BF16_FLOPS = (("H200", 989e12), ("H100 PCIe", 756e12), ("H100", 989e12), ("H800", 989e12), ("A100", 312e12),
                   ("A800", 312e12), ("L40S", 362e12), ("L40", 181e12), ("L4", 121e12), ("A10", 125e12),
                   ("B200", 2250e12))


@dataclass(frozen=True)
class Sizes:
    """Workload sizes of one ``zoo perf`` run."""

    batch: int = 8  # utterances per ASR training step
    frames: int = 400  # log-mel frames (4 s)
    target_tokens: int = 24
    vocab: int = 260  # the char (byte) tokenizer's vocabulary
    image_batch: int = 16
    image_size: int = 64
    patch_size: int = 8
    gen_batch: int = 4
    gen_tokens: int = 64
    warmup: int = 2
    repeats: int = 9  # timed calls per model comparison
    gen_repeats: int = 3  # timed calls per generation mode (uncached beam search is slow)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn: Callable[[], object], warmup: int, repeats: int, device: torch.device) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` untimed ones (CUDA synchronised)."""
    return median_pair(fn, None, warmup, repeats, device)[0]


def median_pair(first: Callable[[], object], second: Callable[[], object] | None, warmup: int, repeats: int,
                device: torch.device) -> tuple[float, float]:
    """Median wall times of two workloads timed alternately (first, second, first, ...), so that load from other
    processes falls on both alike; ``second=None`` times ``first`` alone (its time is returned twice)."""
    fns = [first] if second is None else [first, second]
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, bucket in zip(fns, times):
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            bucket.append(time.perf_counter() - start)
    medians = [statistics.median(bucket) for bucket in times]
    return medians[0], medians[-1]


def asr_config(preset: str, sizes: Sizes) -> zoo.ModelConfig:
    """Our ASR model's config as ``tasks/asr/`` builds it (the encoder reads no text), dropout 0 (whisper has
    none)."""
    return zoo.preset(preset, num_mel_bins=NUM_MEL_BINS, vocab_size=sizes.vocab, num_classes=0, dropout=0.0,
                      text_input=False, max_text_positions=max(sizes.target_tokens, sizes.gen_tokens + 1),
                      max_audio_frames=sizes.frames)


def our_asr(cfg: zoo.ModelConfig) -> zoo.MultimodalModel:
    return zoo.MultimodalModel(cfg)


def asr_batch(sizes: Sizes, device: torch.device, seed: int = 0) -> dict[str, Tensor]:
    """A log-mel batch (B, M, F) with its all-real mask and bos-led token targets (B, T)."""
    g = torch.Generator().manual_seed(seed)
    mel = torch.randn(sizes.batch, NUM_MEL_BINS, sizes.frames, generator=g)
    target = torch.randint(3, sizes.vocab, (sizes.batch, sizes.target_tokens), generator=g)
    target[:, 0] = 1
    batch = {"audio": mel, "audio_mask": torch.ones(sizes.batch, sizes.frames, dtype=torch.bool), "target": target}
    return {k: v.to(device) for k, v in batch.items()}


def _train_step(model: nn.Module, logits_of: Callable[[Tensor], Tensor], target: Tensor,
                autocast: bool = False) -> Callable[[], None]:
    """One AdamW training step (forward, next-token cross-entropy, backward, update) as a closure."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(target.device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = logits_of(target[:, :-1])  # (B, T-1, V)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), target[:, 1:].reshape(-1))
        loss.backward()
        optimizer.step()
    return step


def asr_steps(preset: str, sizes: Sizes, device: torch.device, autocast: bool = False
              ) -> tuple[nn.Module, Callable[[], None], nn.Module, Callable[[], None]]:
    """(ours, our step, whisper, whisper's step) on the same batch; whisper gets ``dimensions(cfg)``."""
    from whisper.model import Whisper

    cfg = asr_config(preset, sizes)
    batch = asr_batch(sizes, device)
    ours = our_asr(cfg).to(device)
    theirs = Whisper(dimensions(cfg)).to(device)
    inputs = {"audio": batch["audio"], "audio_mask": batch["audio_mask"]}
    our_step = _train_step(ours, lambda t: ours.decoder_logits(inputs, t), batch["target"], autocast)
    their_step = _train_step(theirs, lambda t: theirs.decoder(t, theirs.encoder(batch["audio"])), batch["target"],
                             autocast)
    return ours, our_step, theirs, their_step


def asr_vs_whisper(preset: str, sizes: Sizes, device: torch.device) -> dict:
    """(a) Training step seconds of our encoder-decoder and of ``whisper.model.Whisper``, equal dimensions."""
    ours, our_step, theirs, their_step = asr_steps(preset, sizes, device)
    ours_s, theirs_s = median_pair(our_step, their_step, sizes.warmup, sizes.repeats, device)
    return {"ours_seconds": ours_s, "whisper_seconds": theirs_s, "ratio": ours_s / theirs_s,
            "ours_parameters": ours.num_parameters(), "whisper_parameters": sum(p.numel() for p in theirs.parameters()),
            "batch": sizes.batch, "frames": sizes.frames, "target_tokens": sizes.target_tokens}


def image_vs_timm(preset: str, sizes: Sizes, device: torch.device) -> dict:
    """(b) Forward+backward seconds of our image tower (patch embedder + fusion encoder) vs timm's ViT."""
    from timm.models.vision_transformer import VisionTransformer

    cfg = zoo.preset(preset, image_size=sizes.image_size, patch_size=sizes.patch_size, vocab_size=0,
                     num_classes=0, dropout=0.0)
    ours = zoo.MultimodalModel(cfg).to(device).train()
    theirs = VisionTransformer(img_size=sizes.image_size, patch_size=sizes.patch_size, in_chans=cfg.image_channels,
                               num_classes=0, global_pool="", embed_dim=cfg.width, depth=cfg.num_encoder_layers,
                               num_heads=cfg.num_heads, mlp_ratio=cfg.mlp_ratio, class_token=False).to(device).train()
    images = torch.randn(sizes.image_batch, cfg.image_channels, sizes.image_size, sizes.image_size,
                         generator=torch.Generator().manual_seed(1)).to(device)

    def run(features: Callable[[Tensor], Tensor], model: nn.Module) -> Callable[[], None]:
        def fwd_bwd() -> None:
            model.zero_grad(set_to_none=True)
            features(images).float().pow(2).mean().backward()  # (B, P, D) -> scalar
        return fwd_bwd

    ours_s, theirs_s = median_pair(run(lambda x: ours.encode({"image": x})[0], ours),
                                   run(theirs.forward_features, theirs), sizes.warmup, sizes.repeats, device)
    return {"ours_seconds": ours_s, "timm_seconds": theirs_s, "ratio": ours_s / theirs_s,
            "tokens": (sizes.image_size // sizes.patch_size) ** 2, "batch": sizes.image_batch}


def generation(preset: str, sizes: Sizes, device: torch.device) -> dict:
    """(c) Decoding tokens/s of greedy and 4-beam search with and without the KV cache, exactly ``gen_tokens`` new
    tokens each (eos is set to an id the model cannot emit), and whether both paths chose the same tokens. The
    encoder output is computed once beforehand: the cache changes only the decoding."""
    cfg = asr_config(preset, sizes)
    net = our_asr(cfg).to(device).eval()
    batch = asr_batch(dataclasses.replace(sizes, batch=sizes.gen_batch), device, seed=2)
    with torch.no_grad():
        memory, memory_mask = net.encode({"audio": batch["audio"], "audio_mask": batch["audio_mask"]})
    out: dict = {"new_tokens": sizes.gen_tokens, "batch": sizes.gen_batch}
    for name, beams in (("greedy", 1), ("beam4", 4)):
        def gen(cached: bool, beams: int = beams) -> Tensor:
            common = {"bos_id": 1, "eos_id": -1, "pad_id": 0, "max_new_tokens": sizes.gen_tokens, "use_cache": cached}
            if beams == 1:
                return zoo.greedy_search(net.decoder, memory, memory_mask, **common)
            return zoo.beam_search(net.decoder, memory, memory_mask, num_beams=beams, **common)
        same = bool(torch.equal(gen(True), gen(False)))
        cached_s, uncached_s = median_pair(lambda: gen(True), lambda: gen(False), 0, sizes.gen_repeats, device)
        tokens = sizes.gen_batch * sizes.gen_tokens
        out[name] = {"cached_tokens_per_second": tokens / cached_s, "uncached_tokens_per_second": tokens / uncached_s,
                     "speedup": uncached_s / cached_s, "identical_tokens": same}
    return out


def peak_bf16_flops(device: torch.device, override_tflops: float | None = None) -> float | None:
    """The device's dense bf16 peak in FLOP/s: the override, else the table entry for its name, else None."""
    if override_tflops is not None:
        return override_tflops * 1e12
    name = torch.cuda.get_device_name(device)
    return next((flops for fragment, flops in PEAK_BF16_FLOPS if fragment in name), None)


def mfu(sizes: Sizes, device: torch.device, override_tflops: float | None = None, preset: str = "base") -> dict:
    """bf16-autocast training step of our ASR encoder-decoder at ``preset``: FLOPs counted by torch's
    ``FlopCounterMode`` over one step, divided by the median step time and the device's peak."""
    from torch.utils.flop_counter import FlopCounterMode

    _, step, _, _ = asr_steps(preset, sizes, device, autocast=True)
    step()
    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    seconds = median_seconds(step, sizes.warmup, sizes.repeats, device)
    peak = peak_bf16_flops(device, override_tflops)
    return {"preset": preset, "device": torch.cuda.get_device_name(device), "step_seconds": seconds,
            "flops_per_step": flops, "achieved_tflops": flops / seconds / 1e12,
            "peak_tflops": None if peak is None else peak / 1e12,
            "mfu": None if peak is None else flops / seconds / peak,
            "batch": sizes.batch, "frames": sizes.frames, "target_tokens": sizes.target_tokens}
