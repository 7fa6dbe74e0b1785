"""The ``zoo`` command: ``bench``, ``models``, ``leaderboard``.

User errors (unknown names, a missing data dir, bad data) print one line ``zoo: error: ...`` and exit 2;
set ``ZOO_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from leaderboard.store import DEFAULT_DIR

RECIPE_HELP = "smoke (tiny preset, seconds), quick (about a minute per task on 2 CPU cores), " \
              "standard (the leaderboard recipe on CPU), gpu (larger preset, longer schedule)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo", description="Multimodal task zoo: benchmarks and leaderboard.")
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="train a task with a fixed recipe and seed, test it, append a record",
                           description="Train TASK on a benchmark with a recipe, one run per seed; each run "
                                       "checkpoints every epoch and ends by appending a validated record.")
    bench.add_argument("task", nargs="?", help="task name (see `zoo models` for the list); omit with --suite")
    bench.add_argument("--suite", choices=["builtin"], help="run every task's built-in (generated) benchmark")
    bench.add_argument("--benchmark", help="benchmark name (default: the task's built-in one)")
    bench.add_argument("--recipe", default="quick", help=RECIPE_HELP + " (default: quick)")
    bench.add_argument("--seeds", type=int, nargs="+", default=[0], help="one run per seed (default: 0)")
    bench.add_argument("--model", default="zoo", help="zoo (the shared backbone, default) or a reference model "
                                                      "the task offers, e.g. bilstm for sentiment")
    bench.add_argument("--data-dir", help="local copy of a real dataset, or hub:OWNER/NAME when online")
    bench.add_argument("--accelerator", default="auto", help="cpu, cuda or auto (default)")
    bench.add_argument("--devices", type=int, default=1, help="devices per node (default 1)")
    bench.add_argument("--num-nodes", type=int, default=1, help="nodes (Lightning SLURM/torchrun; default 1)")
    bench.add_argument("--strategy", default="auto", help="auto, ddp or fsdp")
    bench.add_argument("--precision", default="32-true", help="32-true (default), bf16-mixed, 16-mixed")
    bench.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    bench.add_argument("--records-dir", type=Path, default=DEFAULT_DIR, help="where records are appended")
    bench.add_argument("--runs-dir", type=Path, default=Path("runs"), help="checkpoints go here (default runs/)")
    bench.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sub.add_parser("models", help="list every backbone preset with its parameter count, and the tasks")
    board = sub.add_parser("leaderboard", help="render leaderboard/README.md from the records and print it")
    board.add_argument("--records-dir", type=Path, default=DEFAULT_DIR)
    board.add_argument("--out", type=Path, default=None, help="markdown output (default leaderboard/README.md)")
    return parser


def _bench(args: argparse.Namespace) -> int:
    from benchmarks.definitions import check_recipe, get_benchmark
    from benchmarks.run import RunOptions, run_benchmark
    from tasks import TASKS, get_task

    check_recipe(args.recipe)
    if args.suite:
        if args.task or args.benchmark or args.data_dir:
            raise ValueError("--suite builtin runs every task's built-in benchmark: give no task, --benchmark "
                             "or --data-dir")
        jobs = [(name, get_benchmark(name, None).name) for name in TASKS]
    elif not args.task:
        raise ValueError("give a task name or --suite builtin")
    else:
        get_task(args.task)
        jobs = [(args.task, get_benchmark(args.task, args.benchmark).name)]
    if args.data_dir and not args.data_dir.startswith("hub:") and not Path(args.data_dir).is_dir():
        raise FileNotFoundError(f"{args.data_dir}: data dir not found")
    records = []
    for task, benchmark in jobs:
        for seed in args.seeds:
            options = RunOptions(task=task, benchmark=benchmark, recipe=args.recipe, seed=seed,
                                 data_dir=args.data_dir, model=args.model, accelerator=args.accelerator,
                                 devices=args.devices, num_nodes=args.num_nodes, strategy=args.strategy,
                                 precision=args.precision, resume=args.resume, records_dir=args.records_dir,
                                 runs_dir=args.runs_dir, progress_bar=not args.no_progress)
            record = run_benchmark(options)
            records.append(record)
            metrics = ", ".join(f"{k}={v:.4f}" for k, v in record["metrics"].items())
            print(f"[zoo] {record['id']}: {metrics} ({record['wall_seconds']:.0f} s)", flush=True)
    _print_table(args.records_dir, {(r["task"], r["benchmark"]) for r in records})
    return 0


def _print_table(records_dir: Path, keys: set[tuple[str, str]]) -> None:
    from leaderboard.render import render_table_text
    from leaderboard.store import read_records

    rows = [r for r in read_records(records_dir) if (r["task"], r["benchmark"]) in keys]
    print(render_table_text(rows))


def _models() -> int:
    from tasks import TASKS
    from zoo import PRESETS, count_parameters, preset

    print("backbone presets (text + image 224/16 + audio 80 mels + decoder, GPT-2 BPE vocabulary):")
    for name in PRESETS:
        cfg = preset(name, vocab_size=50259, image_size=224, patch_size=16, num_mel_bins=80, num_classes=2)
        print(f"  {name:<6} width {cfg.width:>4}  layers {cfg.num_encoder_layers:>2}+{cfg.num_decoder_layers:<2}"
              f"  heads {cfg.num_heads:>2}  parameters {count_parameters(cfg):>12,}")
    print("tasks:")
    for name, task in TASKS.items():
        spec = task.SPEC
        direction = "higher" if spec.higher_is_better else "lower"
        print(f"  {name:<11} v{spec.version}  benchmarks {', '.join(spec.benchmarks)}; "
              f"primary {spec.primary_metric} ({direction} is better); models {', '.join(spec.models)}")
    return 0


def _leaderboard(args: argparse.Namespace) -> int:
    from leaderboard.render import render_table_text, write_readme
    from leaderboard.store import read_records

    kwargs = {"out": args.out} if args.out else {}
    write_readme(args.records_dir, **kwargs)
    print(render_table_text(read_records(args.records_dir)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "bench":
            return _bench(args)
        if args.command == "models":
            return _models()
        return _leaderboard(args)
    except (ValueError, FileNotFoundError, FloatingPointError) as error:
        if os.environ.get("ZOO_DEBUG"):
            raise
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"zoo: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
