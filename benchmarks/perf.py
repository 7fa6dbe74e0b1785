"""``zoo perf``: speed and memory of the backbone measured side by side with reference implementations.

In one process, with warm-up and medians over repeats (``benchmarks/perf_models.py``, ``benchmarks/perf_tasks.py``):
(a) our ASR encoder-decoder's training step vs ``whisper.model.Whisper`` at equal dimensions, same batch;
(b) our image tower's forward+backward vs timm's ``VisionTransformer`` at equal dimensions (no class token);
(c) decoding tokens/s with the KV cache vs without, greedy and 4 beams, 64 new tokens (encoder output computed
    once);
(d) per task, train samples/s of the DataModule alone vs the model's training step;
(e) peak memory: process RSS (``ru_maxrss``) and, on CUDA, ``torch.cuda.max_memory_allocated``.
On CUDA it also reports the bf16 model FLOPs utilisation of a ``base`` preset training step. Prints a table of
ratios against their targets; ``--json PATH`` writes every number. Timings are never asserted by the tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import resource
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# Sizes (``perf_models.Sizes`` fields) other than the CPU defaults; torch is imported only by ``run``.
QUICK_SIZES = {"batch": 2, "frames": 40, "target_tokens": 8, "image_batch": 2, "image_size": 32, "patch_size": 8,
               "gen_batch": 2, "gen_tokens": 8, "warmup": 1, "repeats": 1, "gen_repeats": 1}
CUDA_SIZES = {"batch": 32, "frames": 1000, "target_tokens": 64, "image_batch": 64, "image_size": 224,
              "patch_size": 16, "gen_batch": 16}
MFU_SIZES = {"batch": 64, "frames": 1000, "target_tokens": 128, "warmup": 3, "repeats": 5}
# (name, JSON path to the value, comparison, target)
TARGETS = [("train step ours/whisper", ("asr_vs_whisper", "ratio"), "<=", 1.0),
           ("image fwd+bwd ours/timm", ("image_vs_timm", "ratio"), "<=", 1.05),
           ("greedy cached/uncached", ("generation", "greedy", "speedup"), ">=", 3.0),
           ("beam4 cached/uncached", ("generation", "beam4", "speedup"), None, None)]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``zoo perf`` on the ``zoo`` command's sub-parsers."""
    perf = sub.add_parser("perf", help="time our models side by side with whisper, timm and the input pipelines",
                          description="Time, side by side with warm-up and medians: (a) our ASR train step vs "
                                      "whisper's model at equal dimensions; (b) our image tower vs timm's ViT; (c) "
                                      "generation with vs without the KV cache; (d) each task's input pipeline vs "
                                      "its model step; (e) peak memory; on CUDA, bf16 MFU of a base-preset step. "
                                      "Prints the ratios against their targets.")
    perf.add_argument("--preset", default="small", help="backbone preset of (a)-(c) (default small)")
    perf.add_argument("--recipe", default="quick", help="task recipe whose model and batch size (d) times "
                      "(default quick; data at the smoke size)")
    perf.add_argument("--json", type=Path, dest="json_path", metavar="PATH", help="write every number here")
    perf.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="default: cuda if present")
    perf.add_argument("--repeats", type=int, default=None, help="timed repeats per model comparison (default 9)")
    perf.add_argument("--peak-tflops", type=float, default=None,
                      help="the device's dense bf16 peak in TFLOP/s for the MFU figure (default: a built-in table "
                           "by GPU name: A100 312, H100/H200 989, L4 121, ...)")
    perf.add_argument("--tasks", nargs="+", default=None, help="tasks of (d) (default: all)")
    perf.add_argument("--quick", action="store_true", help=argparse.SUPPRESS)  # tiny sizes, for the tests


def run(args: argparse.Namespace) -> int:
    """Measure everything, print the table, write ``--json``; returns the exit status (0)."""
    import torch

    import zoo
    from benchmarks import perf_models, perf_tasks
    from benchmarks.definitions import check_recipe
    from benchmarks.perf_models import Sizes
    from tasks import TASKS

    started = time.perf_counter()
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    sizes = Sizes(**(QUICK_SIZES if args.quick else CUDA_SIZES if device.type == "cuda" else {}))
    if args.repeats is not None:
        if args.repeats < 1:
            raise ValueError(f"--repeats must be at least 1, got {args.repeats}")
        sizes = dataclasses.replace(sizes, repeats=args.repeats)
    names = args.tasks or list(TASKS)
    unknown = sorted(set(names) - set(TASKS))
    if unknown:
        raise ValueError(f"--tasks: unknown {', '.join(unknown)} (known: {', '.join(TASKS)})")
    recipe = "smoke" if args.quick else args.recipe
    check_recipe(recipe)
    zoo.preset(args.preset)  # a one-line error for an unknown preset, before anything is timed
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    result: dict = {"preset": args.preset, "recipe": recipe, "device": _device_name(device),
                    "threads": torch.get_num_threads(), "torch": torch.__version__, "sizes": dataclasses.asdict(sizes)}
    print(f"zoo perf: preset {args.preset} on {result['device']}", flush=True)
    result["asr_vs_whisper"] = perf_models.asr_vs_whisper(args.preset, sizes, device)
    result["image_vs_timm"] = perf_models.image_vs_timm(args.preset, sizes, device)
    result["generation"] = perf_models.generation(args.preset, sizes, device)
    batches, repeats = (2, 1) if args.quick else (8, 3)
    result["tasks"] = {name: perf_tasks.task_throughput(name, recipe, device, batches, repeats) for name in names}
    result["mfu"] = None
    if device.type == "cuda":
        mfu_sizes = Sizes(**{**MFU_SIZES, **({"repeats": args.repeats} if args.repeats else {})})
        result["mfu"] = perf_models.mfu(mfu_sizes, device, args.peak_tflops, preset="base")
    result["memory"] = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                        "cuda_peak_allocated_mb": (torch.cuda.max_memory_allocated(device) / 2**20
                                                   if device.type == "cuda" else None)}
    result["checks"] = checks(result)
    result["wall_seconds"] = time.perf_counter() - started
    print(format_table(result))
    if args.json_path is not None:
        args.json_path.parent.mkdir(parents=True, exist_ok=True)
        args.json_path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json_path}")
    return 0


def checks(result: dict) -> list[dict]:
    """Every ratio with its target and whether it meets it (``ok`` is None where there is no target)."""
    rows = []
    for name, path, op, target in TARGETS:
        value = result
        for key in path:
            value = value[key]
        rows.append(_check(name, value, op, target))
    for task, numbers in result["tasks"].items():
        rows.append(_check(f"{task} pipeline/model", numbers["ratio"], ">=", 3.0))
    return rows


def _check(name: str, value: float, op: str | None, target: float | None) -> dict:
    ok = None if op is None else value <= target if op == "<=" else value >= target
    return {"name": name, "value": value, "op": op, "target": target, "ok": ok}


def format_table(result: dict) -> str:
    """The human-readable summary: absolute numbers, then each ratio against its target."""
    a, b, g = result["asr_vs_whisper"], result["image_vs_timm"], result["generation"]
    lines = [f"(a) train step: ours {a['ours_seconds'] * 1e3:.1f} ms, whisper {a['whisper_seconds'] * 1e3:.1f} ms "
             f"(batch {a['batch']}, {a['frames']} frames, {a['target_tokens']} tokens)",
             f"(b) image fwd+bwd: ours {b['ours_seconds'] * 1e3:.1f} ms, timm ViT {b['timm_seconds'] * 1e3:.1f} ms "
             f"(batch {b['batch']}, {b['tokens']} patches)"]
    for mode in ("greedy", "beam4"):
        lines.append(f"(c) {mode}: {g[mode]['cached_tokens_per_second']:.0f} tokens/s cached, "
                     f"{g[mode]['uncached_tokens_per_second']:.0f} uncached, same tokens: "
                     f"{g[mode]['identical_tokens']}")
    for task, t in result["tasks"].items():
        lines.append(f"(d) {task:<11} pipeline {t['pipeline_samples_per_second']:9.0f} samples/s, "
                     f"model step {t['model_samples_per_second']:7.1f} samples/s")
    memory = result["memory"]
    cuda = memory["cuda_peak_allocated_mb"]
    lines.append(f"(e) peak RSS {memory['peak_rss_mb']:.0f} MB" + (f", CUDA peak allocated {cuda:.0f} MB"
                                                                     if cuda is not None else ""))
    mfu = result["mfu"]
    if mfu is not None:
        share = "unknown peak (pass --peak-tflops)" if mfu["mfu"] is None else f"MFU {mfu['mfu']:.1%}"
        lines.append(f"bf16 {mfu['preset']} train step on {mfu['device']}: {mfu['achieved_tflops']:.1f} TFLOP/s, "
                     f"{share}")
    lines.append(f"{'comparison':<26}{'ratio':>8}  target  meets")
    for row in result["checks"]:
        target = "" if row["op"] is None else f"{row['op']} {row['target']:g}"
        verdict = "-" if row["ok"] is None else "yes" if row["ok"] else "NO"
        lines.append(f"{row['name']:<26}{row['value']:8.2f}  {target:<6}  {verdict}")
    return "\n".join(lines)


def _device_name(device: torch.device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    from benchmarks.environment import cpu_name

    return f"{cpu_name() or platform.machine()} ({torch.get_num_threads()} threads)"
