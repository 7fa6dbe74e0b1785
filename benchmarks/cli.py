"""The ``zoo`` command: ``bench``, ``reproduce``, ``score``, ``models``, ``leaderboard``; and ``fit``, ``validate``,
``test``, ``predict`` (fine-tuning on your data; handed to ``benchmarks/lightning_cli.py``).

User errors (unknown names or record ids, a missing data dir or predictions file, bad data, a record
that cannot be re-run) print one line ``zoo: error: ...`` and exit 2; set ``ZOO_DEBUG=1`` to see the
traceback instead. SIGINT (Ctrl-C) and SIGTERM print one line ``zoo: interrupted by SIG... at step N ...`` saying how
to continue, and exit 130 and 143 (``benchmarks.interrupts``); an interrupted run writes no record.

Records and runs go to the user's workspace, ``$ZOO_HOME`` or ``./zoo-runs`` (``records/``, ``runs/``); the published
leaderboard (``leaderboard/records``) is only read, and written only when named with ``--records-dir``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import interrupts
from benchmarks.console import say
from benchmarks.errors import USER_ERRORS, report
from leaderboard.store import PUBLISHED_DIR, locate_record, user_records_dir, user_runs_dir

FINETUNE_COMMANDS = {"fit": "fine-tune a task on your data", "validate": "validate a fine-tuned checkpoint",
                     "test": "test a fine-tuned checkpoint", "predict": "write predictions JSONL for new inputs"}
RECIPE_HELP = "smoke (tiny preset, seconds), quick (one to two minutes per task on 2 CPU cores), " \
              "standard (the leaderboard recipe on CPU), gpu (larger preset, longer schedule)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo", description="Multimodal task zoo: benchmarks and leaderboard.")
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="train a task with a fixed recipe and seed, test it, append a record",
                           description="Train TASK on a benchmark with a recipe, one run per seed; each run "
                                       "checkpoints every epoch and ends by appending a validated record.")
    bench.add_argument("task", nargs="?", help="task name (see `zoo models` for the list); omit with --suite")
    bench.add_argument("--suite", choices=["builtin"], help="run every task's built-in (generated) benchmark")
    bench.add_argument("--multitask", action="store_true", help="with --suite builtin: train one backbone on every "
                       "task at once (one batch of one task a step) and write one record per task, model "
                       "zoo-SIZE-multitask")
    bench.add_argument("--benchmark", help="benchmark name (default: the task's built-in one)")
    bench.add_argument("--recipe", default="quick", help=RECIPE_HELP + " (default: quick)")
    bench.add_argument("--seeds", type=int, nargs="+", default=[0], help="one run per seed (default: 0)")
    bench.add_argument("--model", default="zoo", help="zoo (the shared backbone, default) or a reference model "
                       "the task offers: bilstm (sentiment), whisper (asr), majority (captioning, med_report, vqa: "
                       "the most frequent train answer, no training)")
    bench.add_argument("--data-dir", help="local copy of a real dataset, or hub:OWNER/NAME when online")
    bench.add_argument("--accelerator", default="auto", help="cpu, cuda or auto (default)")
    bench.add_argument("--devices", type=int, default=1, help="devices per node (default 1)")
    bench.add_argument("--num-nodes", type=int, default=1, help="nodes (Lightning SLURM/torchrun; default 1)")
    bench.add_argument("--strategy", default="auto", help="auto, ddp or fsdp")
    bench.add_argument("--precision", default="32-true", help="32-true (default), bf16-mixed, 16-mixed")
    bench.add_argument("--compile", action="store_true", help="torch.compile the model's Transformer blocks "
                       "(same outputs; CPU needs a C compiler)")
    bench.add_argument("--resume", action="store_true", help="continue the newest unfinished run of the same "
                       "task, benchmark, recipe, model and seed that no process is running (its folder's "
                       "checkpoints/last.ckpt, also one saved mid-epoch; the others are named); the metrics equal "
                       "an uninterrupted run's; a checkpoint of another task or config is an error")
    bench.add_argument("--checkpoint-every", type=int, default=50, metavar="STEPS",
                       help="also write last.ckpt every STEPS training steps inside an epoch (default 50; 0: only at "
                            "epoch ends)")
    bench.add_argument("--records-dir", type=Path, default=None, help="where the record is appended and its "
                       "test predictions written (predictions/<record id>.jsonl); default $ZOO_HOME/records, else "
                       "./zoo-runs/records; the published leaderboard only when named: "
                       "--records-dir leaderboard/records")
    bench.add_argument("--runs-dir", type=Path, default=None, help="checkpoints and logs go here, one folder "
                       "per run: TASK/BENCHMARK/RECIPE/MODEL-sSEED/UTCTIME-HEX (default $ZOO_HOME/runs, else "
                       "./zoo-runs/runs)")
    bench.add_argument("--init-from", metavar="CKPT|RECORD_ID", help="transfer: start the model from a zoo "
                       "checkpoint (zoo bench or zoo fit, any task) or from the run of a record (its run folder "
                       "must still be in --runs-dir), group by group where shapes, tokenizer and labels fit (the "
                       "log names what loaded and why not; nothing fitting is an error); the record names the start "
                       "and its model becomes MODEL←TASK@SHA6, a leaderboard row of its own")
    bench.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    bench.add_argument("--check-batches", action="store_true", help="debug: check every batch against the batch "
                       "vocabulary (tasks/core/batch.py); a key, dtype or shape outside it is a one-line error")
    _add_reproduce(sub)
    _add_score(sub)
    from benchmarks.perf import add_parser as _add_perf  # zoo perf (benchmarks/perf.py)
    _add_perf(sub)
    sub.add_parser("models", help="list every backbone preset with its parameter count, and the tasks")
    for name, what in FINETUNE_COMMANDS.items():  # listed here for --help; parsed by LightningCLI
        sub.add_parser(name, add_help=False, help=f"{what} (LightningCLI: zoo {name} --task NAME --help)")
    board = sub.add_parser("leaderboard", help="print the published leaderboard with your records beside it "
                                               "(marked yours); render pages with --out/--html-out; or --check",
                           description="Print a summary of the published records (leaderboard/records) and your "
                                       "own ($ZOO_HOME/records, else ./zoo-runs/records), your rows marked "
                                       "'yours'; write the Markdown and static HTML page (tables, SVG charts, a "
                                       "gallery of test predictions) only to --out/--html-out. With --records-dir, "
                                       "that folder alone; naming leaderboard/records regenerates the published "
                                       "leaderboard/README.md and index.html. With --check, write nothing and "
                                       "validate the records instead.")
    board.add_argument("--records-dir", type=Path, default=None, help="read only this folder (default: the "
                       "published records and yours; --check: the published records)")
    board.add_argument("--out", type=Path, default=None, help="markdown output (default: none, or "
                       "leaderboard/README.md when --records-dir is leaderboard/records)")
    board.add_argument("--html-out", type=Path, default=None, help="HTML output (default: none, or "
                       "leaderboard/index.html when --records-dir is leaderboard/records)")
    board.add_argument("--check", action="store_true",
                       help="write nothing: validate every record and predictions file (exists, parses, unique "
                            "ids, one row per test example, metrics recomputed exactly) and print each problem "
                            "as path:line: problem; exit 1 if there is any")
    return parser


def _add_reproduce(sub: argparse._SubParsersAction) -> None:
    reproduce = sub.add_parser(
        "reproduce", help="re-run what a record describes and compare its metrics within a tolerance",
        description="Re-run the record's task version, benchmark, recipe, model, full config, seed, precision "
                    "and devices into a temporary records dir (the leaderboard is not touched), then print "
                    "recorded vs new value per metric. Tolerance: exact when package versions, device and "
                    "precision equal the record's; else 2 x the sample std over the recorded seeds of the "
                    "same configuration, but at least the default: 0.02 absolute for fraction metrics "
                    "(accuracy, F1, WER, ...) and 5% relative for others (the default alone with fewer "
                    "than 2 seeds). Exit 0: every metric within tolerance; 1: some are not (named); "
                    "2: cannot reproduce (other task version, data fingerprint mismatch, missing data "
                    "dir, unknown record id, a transfer record's start checkpoint missing or changed).")
    reproduce.add_argument("record_id", metavar="RECORD_ID", help="id of the record to reproduce")
    reproduce.add_argument("--seeds", type=int, nargs="+", help="reproduce the records of the same "
                           "configuration (task, benchmark, recipe, model, config hash) with these seeds")
    reproduce.add_argument("--records-dir", type=Path, default=None, help="where the record is (default: your "
                           "records, $ZOO_HOME/records else ./zoo-runs/records, then leaderboard/records); never "
                           "written")
    reproduce.add_argument("--data-dir", help="the dataset's local copy (real benchmarks), when it is not under "
                           "the data root; its fingerprint must still match the record's")
    reproduce.add_argument("--data-root", help="the folder that holds your datasets (default: $ZOO_DATA); the "
                           "record's data is looked up as ROOT/<recorded data_dir>, then ROOT/<benchmark>")
    reproduce.add_argument("--init-from", metavar="CKPT|RECORD_ID", help="a transfer record's start, when it is "
                           "not at its recorded place in the runs dir: the checkpoint file (or the record whose run "
                           "ended with it); its sha256 must equal the record's")
    reproduce.add_argument("--runs-dir", type=Path, default=None, help="where a transfer record's start checkpoint "
                           "is looked up (init_from.checkpoint is relative to it; default $ZOO_HOME/runs, else "
                           "./zoo-runs/runs); the rerun itself runs in a temporary folder")


def _add_score(sub: argparse._SubParsersAction) -> None:
    score = sub.add_parser(
        "score", help="recompute a run's metrics from its predictions file and compare with its record",
        description="Recompute the test metrics from a predictions JSONL file with the task's "
                    "score_predictions and print them beside the metrics of the record whose id is the "
                    "file name's stem. Exit 0 if exactly equal, 1 if not, 2 on a missing or bad file.")
    score.add_argument("predictions", metavar="PREDICTIONS_FILE", type=Path,
                       help="a <records dir>/predictions/<record id>.jsonl file")
    score.add_argument("--records-dir", type=Path, default=None, help="where the record is (default: the "
                       "folder above the file's predictions/ folder, else leaderboard/records)")
    score.add_argument("--task", help="the task to score with; needed only when no record has the file's id "
                                      "(then nothing is compared and the exit status is 0)")


def _bench(args: argparse.Namespace) -> int:
    from benchmarks.definitions import check_recipe, get_benchmark
    from benchmarks.run import RunOptions, resolve_start, run_benchmark
    from tasks import TASKS, get_task

    check_recipe(args.recipe)
    records_dir = args.records_dir if args.records_dir is not None else user_records_dir()
    runs_dir = args.runs_dir if args.runs_dir is not None else user_runs_dir()
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
    start = None
    if args.init_from:
        if args.suite:
            raise ValueError("--init-from starts the runs of one task: give a task, not --suite")
        start = resolve_start(args.init_from, _records_dirs(records_dir), runs_dir)
    if args.multitask:
        return _bench_multitask(args, records_dir, runs_dir)
    records = []
    for task, benchmark in jobs:
        for seed in args.seeds:
            options = RunOptions(task=task, benchmark=benchmark, recipe=args.recipe, seed=seed,
                                 data_dir=args.data_dir, model=args.model, accelerator=args.accelerator,
                                 devices=args.devices, num_nodes=args.num_nodes, strategy=args.strategy,
                                 precision=args.precision, resume=args.resume, records_dir=records_dir,
                                 checkpoint_every_n_steps=args.checkpoint_every, compile=args.compile,
                                 runs_dir=runs_dir, progress_bar=not args.no_progress,
                                 check_batches=args.check_batches, init_from=start)
            record = run_benchmark(options)
            records.append(record)
            if _is_global_zero():  # under DDP every process returns the record; rank 0 wrote it
                metrics = ", ".join(f"{k}={v:.4f}" for k, v in record["metrics"].items())
                print(f"[zoo] {record['id']}: {metrics} ({record['wall_seconds']:.0f} s)", flush=True)
    if _is_global_zero():
        _print_table(records_dir, {(r["task"], r["benchmark"]) for r in records})
    return 0


def _bench_multitask(args: argparse.Namespace, records_dir: Path, runs_dir: Path) -> int:
    """``--suite builtin --multitask``: one multi-task run per seed, one record per task."""
    from benchmarks.multitask import run_multitask
    from benchmarks.run import RunOptions

    if not args.suite or args.init_from or args.model != "zoo":
        raise ValueError("--multitask trains one backbone on every built-in benchmark: give --suite builtin, and "
                         "no --init-from or --model")
    keys = set()
    for seed in args.seeds:
        options = RunOptions(task="multitask", recipe=args.recipe, seed=seed, accelerator=args.accelerator,
                             devices=args.devices, num_nodes=args.num_nodes, strategy=args.strategy,
                             precision=args.precision, resume=args.resume, records_dir=records_dir,
                             checkpoint_every_n_steps=args.checkpoint_every, runs_dir=runs_dir,
                             progress_bar=not args.no_progress)
        for record in run_multitask(options):
            keys.add((record["task"], record["benchmark"]))
            if _is_global_zero():
                metrics = ", ".join(f"{k}={v:.4f}" for k, v in record["metrics"].items())
                print(f"[zoo] {record['id']}: {metrics} ({record['wall_seconds']:.0f} s for the whole run)",
                      flush=True)
    if _is_global_zero():
        _print_table(records_dir, keys)
    return 0


def _records_dirs(first: Path) -> list[Path]:
    """Where a RECORD_ID start is looked up: `first`, then your records, then the published ones (each once)."""
    dirs: list[Path] = []
    for directory in (first, user_records_dir(), PUBLISHED_DIR):
        if all(Path(directory).resolve() != Path(d).resolve() for d in dirs):
            dirs.append(Path(directory))
    return dirs


def _is_global_zero() -> bool:
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def _print_table(records_dir: Path, keys: set[tuple[str, str]]) -> None:
    """The table of the benchmarks just run: the published rows and the records of `records_dir`, marked yours."""
    from leaderboard.render import load_board, render_table_text

    board = load_board(PUBLISHED_DIR, records_dir)
    rows = [r for r in board.records if (r["task"], r["benchmark"]) in keys]
    print(render_table_text(rows, board.yours))


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
        print(f"  {name:<11} v{spec.version}  benchmarks {', '.join(spec.benchmark_names)}; "
              f"primary {spec.primary_metric} ({direction} is better); models {', '.join(spec.models)}")
    return 0


def _leaderboard(args: argparse.Namespace) -> int:
    """Print published + your records (or one --records-dir); write pages only where asked (see the parser)."""
    from leaderboard.html import write_board
    from leaderboard.render import load_board, render_table_text
    from leaderboard.store import is_published

    if args.check:
        return _check(args.records_dir if args.records_dir is not None else PUBLISHED_DIR)
    readme, page = args.out, args.html_out
    if args.records_dir is None:
        board = load_board(PUBLISHED_DIR, user_records_dir())
    else:
        board = load_board(args.records_dir, None)
        if is_published(args.records_dir):  # regenerating the published pages is asked for by naming the folder
            readme = readme or PUBLISHED_DIR.parent / "README.md"
            page = page or PUBLISHED_DIR.parent / "index.html"
    write_board(board, readme, page)
    print(render_table_text(board.records, board.yours))
    return 0


def _check(records_dir: Path) -> int:
    from benchmarks.scoring import check_leaderboard

    if not records_dir.is_dir():
        raise FileNotFoundError(f"{records_dir}: records dir not found")
    count, problems = check_leaderboard(records_dir)
    for problem in problems:
        print(problem)
    files = len(list((records_dir / "predictions").glob("*.jsonl")))
    verdict = f"{len(problems)} problem(s)" if problems else "no problems"
    print(f"checked {count} valid record(s) and {files} predictions file(s) in {records_dir}: {verdict}")
    return 1 if problems else 0


def _reproduce(args: argparse.Namespace) -> int:
    from benchmarks.reproduce import reproduce

    if args.data_dir and not args.data_dir.startswith("hub:") and not Path(args.data_dir).is_dir():
        raise FileNotFoundError(f"{args.data_dir}: data dir not found")
    records_dir = args.records_dir
    if records_dir is None:  # the user's own records first, then the published leaderboard
        records_dir = locate_record(args.record_id, [user_records_dir(), PUBLISHED_DIR])
    return reproduce(args.record_id, records_dir, seeds=args.seeds, data_dir=args.data_dir,
                     data_root=args.data_root, init_from=args.init_from,
                     runs_dir=args.runs_dir if args.runs_dir is not None else user_runs_dir(),
                     start_records=_records_dirs(records_dir))


def _score(args: argparse.Namespace) -> int:
    from benchmarks.scoring import score_file

    return score_file(args.predictions, records_dir=args.records_dir, task=args.task)


def _quiet_third_party() -> None:
    """Hide Lightning's advertising tips, its "Received SIGTERM" line (the zoo command prints its own, with the step),
    a torch-internal deprecation warning and Lightning's warning that an epoch has fewer batches than the CSV log's
    10-step interval (the log counts steps across epochs) from run output."""
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    logging.getLogger("lightning.pytorch.trainer.connectors.signal_connector").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    warnings.filterwarnings("ignore", message=r".*smaller than the logging interval.*")


class _MessageLines(logging.StreamHandler):
    """Bare message lines: below WARNING on the ``sys.stdout``, from WARNING on the ``sys.stderr`` of the moment."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))
        self._warning = False

    def emit(self, record: logging.LogRecord) -> None:
        self._warning = record.levelno >= logging.WARNING
        try:
            say(self.format(record), self.stream)  # on a line of its own while a progress bar is drawn
        except Exception:  # noqa: BLE001 - logging's own contract: report, never raise
            self.handleError(record)

    @property
    def stream(self) -> Any:
        return sys.stderr if self._warning else sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:  # logging.StreamHandler assigns it in __init__
        pass


def show_library_messages() -> None:
    """Show the tasks' and the run folders' log messages as bare lines: INFO (test samples, what a checkpoint loaded,
    which run --resume continues) on stdout, warnings on stderr. Library code only logs; here it becomes output."""
    for name in ("tasks", "benchmarks.run_folders"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        if not any(isinstance(h, _MessageLines) for h in logger.handlers):
            logger.addHandler(_MessageLines())


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    previous = interrupts.install()
    try:
        return _main(argv)
    except KeyboardInterrupt as error:  # SIGINT or SIGTERM, also during start-up (interrupts.Interrupted)
        interrupted = interrupts.as_interrupted(error)
        command = argv[0] if argv else ""
        return interrupts.report(interrupted, _interrupted_what(command, interrupted))
    except SystemExit as error:  # Lightning's exits after SIGTERM (code None) or Ctrl-C (1)
        interrupted = interrupts.as_interrupted(error)
        if interrupted is None:
            raise
        return interrupts.report(interrupted, _interrupted_what(argv[0] if argv else "", interrupted))
    finally:
        interrupts.restore(previous)


def _interrupted_what(command: str, error: interrupts.Interrupted) -> str:
    """The rest of the interruption line: where the run stopped and how to continue it."""
    if command == "reproduce":  # the rerun's checkpoints were in a temporary folder, now removed
        return f"{error.where(checkpoint=False)} of the rerun: no verdict; run the same command again"
    where = error.where()
    if command == "fit":
        again = "the same command with --ckpt_path last" if error.checkpoint else "the same command"
        return f"{where}; run {again} to continue"
    if command == "bench":
        again = "the same command with --resume" if error.checkpoint else "the same command"
        return f"{where}; no record written; run {again} to continue"
    return where


def _main(argv: list[str]) -> int:
    show_library_messages()
    if argv and argv[0] in FINETUNE_COMMANDS:  # Lightning's own CLI parses these (benchmarks/lightning_cli.py)
        from benchmarks.lightning_cli import main as lightning_main

        _quiet_third_party()
        return lightning_main(argv)
    args = _parser().parse_args(argv)
    _quiet_third_party()
    try:
        if args.command == "bench":
            return _bench(args)
        if args.command == "reproduce":
            return _reproduce(args)
        if args.command == "score":
            return _score(args)
        if args.command == "perf":
            from benchmarks.perf import run as run_perf

            return run_perf(args)
        if args.command == "models":
            return _models()
        return _leaderboard(args)
    except USER_ERRORS as error:
        return report(error)


if __name__ == "__main__":
    sys.exit(main())
