"""``zoo fit | validate | test | predict``: fine-tune one task on your data through Lightning's ``LightningCLI``.

``--task NAME`` (or ``task:`` in a ``--config`` file) is read first and picks the task's model and data classes
(``Model`` and ``Data`` of ``tasks/<task>/finetune.py``); everything else is ``LightningCLI``: every Trainer flag
(``--trainer.devices``, ``--trainer.precision``, ``--trainer.max_steps``, ...), ``--model.*``, ``--data.*``,
``--config file.yaml``, ``--print_config``, ``--ckpt_path`` (a file, or ``last``: ``<checkpoint dir>/last.ckpt``).
Added to Lightning's: ``--checkpoint.dirpath`` / ``--checkpoint.every_n_steps`` (``LastCheckpoint``: ``last.ckpt`` in
``<trainer.default_root_dir>/checkpoints`` at each epoch's end and every 50 steps inside an epoch, with the data
position and RNG states, so a fit killed at any point resumes exactly with ``--ckpt_path last``) and ``--output``
(predict: the predictions JSONL; default ``predictions.jsonl`` in the checkpoint's run folder).

The model's tokenizer and label set (``model.data_info``) come from the training data in ``fit``; with a
``--ckpt_path`` file, every model argument comes from the checkpoint (loaded with ``weights_only=True`` and checked
to be of this task), so ``validate``/``test``/``predict`` encode and decode exactly as training did. A ``zoo bench``
checkpoint works too. User errors print one line ``zoo: error: ...`` and exit 2 (``ZOO_DEBUG=1``: traceback).
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

from benchmarks.console import say
from benchmarks.errors import USER_ERRORS, report
from benchmarks.interrupts import Interrupted, as_interrupted
from benchmarks.run import check_writable
from tasks.core.resume import ResumePoint
from tasks.metrics.gather import gather_rows

WEIGHT_ARGS = ("init_from", "image_checkpoint", "audio_checkpoint")  # starting points: unused when resuming
# Config fields that may differ from the checkpoint in validate/test/predict: how text is decoded, what is scored
EVAL_OPTIONS = ("decoding", "num_beams", "ctc_decoding", "ctc_decoding_weight", "clinical")


CONFIG_GROUPS = ("--trainer", "--model", "--data", "--checkpoint")  # each also takes a YAML file (or inline YAML)


def task_from_argv(argv: Sequence[str]) -> str:
    """The task named by ``--task NAME`` / ``--task=NAME``, else by ``task:`` in the last ``--config`` file.

    Every config file (``--config``/``-c``, and ``--trainer``/``--model``/``--data``/``--checkpoint`` given a file
    path) is read here first, so a missing or malformed one is a one-line error naming it, with or without
    ``--task``."""
    from tasks import TASKS
    from tasks.core.inputs import load_yaml

    given: dict[str, list[str]] = {"--task": [], "--config": [], "-c": [], **{g: [] for g in CONFIG_GROUPS}}
    for i, arg in enumerate(argv):
        for flag, values in given.items():
            if arg.startswith(flag + "="):
                values.append(arg.split("=", 1)[1])
            elif arg == flag and i + 1 < len(argv):
                values.append(argv[i + 1])
    configs = [load_yaml(path) for path in given["--config"] + given["-c"]]
    for value in (v for g in CONFIG_GROUPS for v in given[g]):
        if Path(value).is_file() or value.endswith((".yaml", ".yml")):  # else inline YAML, which jsonargparse parses
            load_yaml(value)
    named = [c["task"] for c in configs if isinstance(c, dict) and isinstance(c.get("task"), str)]
    name = (given["--task"] or named or [None])[-1]
    if name is None:
        raise ValueError(f"give --task NAME (one of {', '.join(TASKS)}) or a --config file with task: NAME")
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r} (known: {', '.join(TASKS)})")
    return name


class _SaveConfig(SaveConfigCallback):
    """Lightning's config.yaml, at the run's root (``trainer.default_root_dir``) rather than in the logger's version
    folder, and without ``model.data_info`` (the vocabulary belongs to the checkpoint, and the saved config should
    run again on other data)."""

    def __init__(self, parser: LightningArgumentParser, config: Any, *args: Any, **kwargs: Any) -> None:
        config = copy.deepcopy(config)
        config.model.data_info = None
        super().__init__(parser, config, *args, **kwargs)
        self.path: Path | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.already_saved:
            return
        self.path = Path(trainer.default_root_dir) / self.config_filename
        if trainer.is_global_zero:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.parser.save(self.config, str(self.path), skip_none=False, overwrite=True, multifile=self.multifile)
        self.already_saved = trainer.strategy.broadcast(True)


class LastCheckpoint(ResumePoint):
    """``last.ckpt``, what ``--ckpt_path last`` resumes: written at each epoch's end (after validation) and every
    ``every_n_steps`` optimizer steps inside an epoch, atomically, with the train loader's position and the RNG
    states (``tasks.core.resume``), so a fit killed at any point continues exactly as if it had not stopped."""

    def __init__(self, dirpath: str | None = None, every_n_steps: int = 50) -> None:
        """Where and how often ``last.ckpt`` is written.

        Args:
            dirpath: the folder of last.ckpt (default: <trainer.default_root_dir>/checkpoints).
            every_n_steps: also write last.ckpt every this many optimizer steps inside an epoch (0: at epoch ends only).
        """
        super().__init__(Path(dirpath or "checkpoints") / "last.ckpt", every_n_steps)
        self.dirpath = dirpath

    def setup(self, trainer: pl.Trainer, module: pl.LightningModule, stage: str) -> None:
        if self.dirpath is None:
            self.path = Path(trainer.default_root_dir) / "checkpoints" / "last.ckpt"


def write_rows(rows: list[dict], path: Path, what: str, is_global_zero: bool) -> int:
    """Write every process's ``rows``, the first of each id, to the JSONL ``path`` (by rank 0, atomically); returns
    how many. A full disk or a read-only folder leaves no partial file and is one ``ValueError`` line."""
    unique = gather_rows(rows)
    if not is_global_zero:
        return len(unique)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in unique), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise ValueError(f"{path}: cannot write the {what} ({error.strerror or error})") from None
    return len(unique)


class PredictionsWriter(pl.Callback):
    """Collects ``predict_step`` rows and writes them, once per id, to a JSONL file (rank 0, atomically)."""

    def __init__(self, path: Path) -> None:
        self.path, self.rows, self.written = path, [], 0

    def on_predict_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, outputs: Any, batch: Any,
                             batch_idx: int, dataloader_idx: int = 0) -> None:
        self.rows.extend(outputs)

    def on_predict_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.written = write_rows(self.rows, self.path, "predictions", trainer.is_global_zero)

    def on_predict_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.is_global_zero:  # after the progress bar has closed its line
            say(f"zoo: wrote {self.written} predictions to {self.path}")


class TestPredictionsWriter(pl.Callback):
    """``zoo test``: every test example's row (``id``, ``prediction``, ``reference``, ``score``: the example's own
    metric), as ``zoo bench`` keeps them, in a JSONL file (rank 0, atomically)."""

    def __init__(self, path: Path) -> None:
        self.path, self.written = path, 0

    def on_test_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        rows = [{**row, "id": str(row["id"]), "score": float(row["score"])} for row in module.predictions]
        self.written = write_rows(rows, self.path, "test predictions", trainer.is_global_zero)

    def on_test_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            say(f"zoo: wrote {self.written} test predictions to {self.path}")


class ZooCLI(LightningCLI):
    """``LightningCLI`` for one task: checkpoint hyper-parameters loaded safely, ``data_info`` filled in."""

    current: ZooCLI | None = None  # the one being built or run: an interruption asks its trainer where it stopped

    def __init__(self, task: str, *args: Any, print_resolved: Any = None, **kwargs: Any) -> None:
        """``print_resolved``: a stream to print the resolved config to instead of running (``--print_config``)."""
        self.task, self._data, self.print_resolved = task, None, print_resolved
        ZooCLI.current = self
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--task", default=self.task, help="the task (read before parsing: give it on the "
                                                             "command line or as task: in the --config file)")
        parser.add_argument("--output", default=None, help="predict: the predictions JSONL (default: "
                                                           "predictions.jsonl in the checkpoint's run folder); "
                                                           "test: the per-example test rows (default: "
                                                           "test_predictions.jsonl there)")
        parser.add_lightning_class_args(LastCheckpoint, "checkpoint")
        parser.set_defaults({"trainer.default_root_dir": f"runs/finetune/{self.task}",
                             "trainer.enable_checkpointing": False})  # LastCheckpoint writes last.ckpt
        notes = (inspect.getdoc(self.model_class) or "").partition("\n\n")[2]
        if notes:  # the task model's docstring beyond its first line: what --help ends with
            parser.epilog = f"{self.task}: {notes}"

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        super().parse_arguments(parser, args)
        sub = self.config[self.config.subcommand]
        if sub.task != self.task:
            raise ValueError(f"--task {self.task} was read first, but the config says task: {sub.task}")
        if sub.ckpt_path == "last":
            last = self.checkpoint_dir(sub) / "last.ckpt"
            if last.is_file():
                sub.ckpt_path = str(last)
            elif self.config.subcommand == "fit":  # nothing to resume yet: start from the beginning
                print(f"zoo: no {last} yet: fit starts from the beginning", file=sys.stderr)
                sub.ckpt_path = None
            else:
                raise FileNotFoundError(f"{last}: no last checkpoint to {self.config.subcommand}")

    @staticmethod
    def checkpoint_dir(sub: Any) -> Path:
        return Path(sub.checkpoint.dirpath or Path(sub.trainer.default_root_dir) / "checkpoints")

    def _parse_ckpt_path(self) -> None:
        """Replaces Lightning's: load with ``weights_only=True`` (``tasks.core.checkpoints``), check the task, and take
        every model argument from the checkpoint (a ``zoo bench`` checkpoint: its Config as ``options``)."""
        from tasks.core.checkpoints import load_checkpoint

        sub = self.config[self.config.subcommand]
        if not sub.ckpt_path:
            return
        checkpoint = load_checkpoint(sub.ckpt_path, expected_task=self.task)
        hparams = dict(checkpoint["hyper_parameters"])
        saved_config = dict(hparams["config"])
        if "data_info" not in hparams:  # a `zoo bench` checkpoint: the Config and the data's vocabulary
            info = {k: hparams[k] for k in ("tokenizer", "labels", "answers", "feature_stats") if k in hparams}
            hparams = {"preset": "smoke", "options": hparams["config"],
                       "data_info": json.dumps({"task": self.task, **info})}
        model = {**{k: None for k in ("backbone", "options", "lr", "head_lr", "freeze")},
                 **{k: v for k, v in hparams.items() if k not in ("task", "config", "_instantiator")},
                 **dict.fromkeys(WEIGHT_ARGS)}
        if self.config.subcommand != "fit":  # resuming a fit takes the checkpoint's model as it is
            model["options"] = self._evaluation_options(sub.model, model, saved_config, Path(sub.ckpt_path))
        self.config = self.parser.parse_object({self.config.subcommand: {"model": model}}, self.config)

    def _evaluation_options(self, given: Any, saved: dict, config: dict, path: Path) -> dict | None:
        """The checkpoint's ``options`` with the evaluation settings given here (``EVAL_OPTIONS``: decoding and
        the like), said in one line; any other model setting given here that differs from the checkpoint is a
        ``ValueError`` naming the flag (sizes and the tokenizer are the checkpoint's), or, for a training-only
        setting, a note that it is not used."""
        from tasks.core.sizing import merge_options

        defaults = {n: p.default for n, p in inspect.signature(self.model_class.__init__).parameters.items()}
        options = dict(saved.get("options") or {})
        changed = []
        for name, value in dict(given.get("options") or {}).items():
            if name in EVAL_OPTIONS:
                base = config.get(name)
                merged = merge_options({name: base}, {name: value})[name]  # decoding: only the keys given
                if merged != base:
                    options[name] = merged
                    changed.append(f"{name} {_differences(base, merged)}")
            elif name not in config:
                raise ValueError(f"--model.options: unknown {self.task} Config field {name!r}")
            elif _plain(value) != _plain(config[name]):
                raise ValueError(f"--model.options {name}: {value!r} here, {config[name]!r} in {path}; sizes, the "
                                 "tokenizer and other model settings come from the checkpoint (only "
                                 f"{', '.join(EVAL_OPTIONS)} may change for evaluation)")
        sizes = _backbone_sizes(config)
        for name, value in dict(given.get("backbone") or {}).items():
            if name not in sizes:
                raise ValueError(f"--model.backbone: unknown zoo.ModelConfig field {name!r}")
            if _plain(value) != _plain(sizes[name]):
                raise ValueError(f"--model.backbone {name}: {value!r} here, {sizes[name]!r} in {path}; "
                                 "the backbone's sizes come from the checkpoint")
        preset = given.get("preset")
        if preset not in (defaults.get("preset"), saved.get("preset"), config.get("preset")):
            raise ValueError(f"--model.preset {preset}: {path} was trained from preset {saved.get('preset')!r}; "
                             "the model comes from the checkpoint")
        unused = [f"--model.{n}" for n in ("lr", "head_lr", "freeze", *WEIGHT_ARGS)
                  if given.get(n) not in (defaults.get(n), saved.get(n), None, [])]
        if unused:
            say(f"zoo: {', '.join(unused)}: training settings, not used by {self.config.subcommand}", sys.stderr)
        if changed:
            say(f"zoo: {self.config.subcommand} with the checkpoint's model; changed here: {'; '.join(changed)}")
        return options or None

    def before_instantiate_classes(self) -> None:
        """Fit (or evaluate without a checkpoint): build ``model.data_info`` from the training data."""
        from tasks.core.adapter import tokenizer_of
        from tasks.core.finetune import build_config
        from tasks.core.sizing import describe, merge_options

        sub = self.config[self.subcommand]
        if sub.model.data_info:
            return
        m = sub.model
        config = build_config(self.task, m.preset, m.backbone, m.options, m.lr, m.audio_checkpoint)
        self._data = self.datamodule_class(**sub.data.as_dict())
        info = self._data.data_info(config)
        if info["source"] == "own":  # sizes measured from your data, under what the config and flags set
            given = dict(m.options or {})
            measured = self._data.adapter.own_data_options(config, self._data.load(config)["train"],
                                                           tokenizer_of(info))
            if describe(measured, given):
                say(f"zoo: sized from your train split: {describe(measured, given)} (set any with --model.options)")
            sub.model.options = merge_options(measured, given) or None
            build_config(self.task, m.preset, m.backbone, sub.model.options, m.lr, m.audio_checkpoint)
        sub.model.data_info = json.dumps(info)

    def instantiate_classes(self) -> None:
        super().instantiate_classes()
        if self._data is not None:
            self.datamodule = self._data  # the instance that already read the data
        sub = self.config[self.subcommand]
        if self.subcommand in ("predict", "test"):
            name = "predictions.jsonl" if self.subcommand == "predict" else "test_predictions.jsonl"
            output = self.predictions_path(sub, name)
            if output.is_dir():
                raise ValueError(f"--output {output} is a folder; give a file name such as {output}/{name}")
            check_writable(output.parent, "--output folder")  # before running, not after
            writer = PredictionsWriter if self.subcommand == "predict" else TestPredictionsWriter
            self.trainer.callbacks.append(writer(output))

    def _run_subcommand(self, subcommand: str) -> None:
        if self.print_resolved:
            print(self.resolved_config(subcommand), end="", file=self.print_resolved)
            return
        super()._run_subcommand(subcommand)
        if subcommand == "fit" and self.trainer.is_global_zero:
            point = next((c for c in self.trainer.callbacks if isinstance(c, ResumePoint)), None)
            saved = next((c.path for c in self.trainer.callbacks if isinstance(c, _SaveConfig)), None)
            where = [f"checkpoint {point.path}" if point is not None and point.path.is_file() else None,
                     f"config {saved}" if saved is not None and saved.is_file() else None]
            say(f"zoo: fit done: {'; '.join(w for w in where if w) or 'nothing saved'}")

    def resolved_config(self, subcommand: str) -> str:
        """The subcommand's config as YAML with the model's resolved settings (preset, measured sizes, config file,
        flags) written out in ``model.backbone``, ``model.options`` and ``model.lr``: what ``--print_config`` shows."""
        from tasks.core.contract import config_to_dict

        config = self.config[subcommand].clone()
        resolved = config_to_dict(self.model.config)
        config.model.backbone = resolved.pop("model")
        config.model.lr = resolved.pop("optim")["lr"]
        config.model.options = {k: v for k, v in resolved.items() if k not in ("benchmark", "data_dir", "preset")}
        config.model.data_info = None
        return self._subcommand_parsers[subcommand].dump(config, skip_none=False)

    @staticmethod
    def predictions_path(sub: Any, name: str = "predictions.jsonl") -> Path:
        if sub.output:
            return Path(sub.output)
        if sub.ckpt_path:
            folder = Path(sub.ckpt_path).parent
            return (folder.parent if folder.name == "checkpoints" else folder) / name
        return Path(sub.trainer.default_root_dir) / name


def _list_option(argv: Sequence[str], flag: str) -> list[str]:
    """``FLAG A B C`` (argparse's nargs style) as ``FLAG=["A", "B", "C"]``, the list syntax jsonargparse reads."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] != flag:
            out.append(argv[i])
            i += 1
            continue
        values = []
        while i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            values.append(argv[i + 1])
            i += 1
        single_list = len(values) == 1 and values[0].lstrip().startswith("[")  # already jsonargparse's syntax
        out.append(f"{flag}={values[0] if single_list else json.dumps(values)}")
        i += 1
    return out


def main(argv: Sequence[str]) -> int:
    """Run ``argv`` (``[SUBCOMMAND, ...]``); 0 on success, 2 on a user error (one line on stderr)."""
    from tasks import get_finetune

    warnings.filterwarnings("ignore", message=r".*LightningCLI's args parameter is intended.*")
    # Lightning's default logger is the CSV one when TensorBoard is missing, which is what zoo wants: nothing to do
    warnings.filterwarnings("ignore", message=r".*`tensorboardX` has been removed as a dependency.*")
    if argv and argv[0] != "fit":  # training callbacks (Timer, ...) in a checkpoint do not matter to evaluation
        warnings.filterwarnings("ignore", message=r".*callbacks used to create the checkpoint need to be provided.*")
    os.environ.setdefault("JSONARGPARSE_DEPRECATION_WARNINGS", "off")  # Lightning 2.6 calls deprecated helpers
    try:
        task = task_from_argv(argv[1:])
        finetune = get_finetune(task)
        # --print_config: read the data and build the model first, so that it shows the sizes measured from the data
        resolved = "--print_config" in argv and "--help" not in argv and "-h" not in argv
        args = [a for a in argv if not (resolved and a == "--print_config")]
        out = sys.stdout if resolved else None
        with contextlib.redirect_stdout(sys.stderr) if resolved else contextlib.nullcontext():  # stdout: YAML only
            ZooCLI(task, finetune.Model, finetune.Data, args=_list_option(args, "--data.predict"),
                   print_resolved=out, seed_everything_default=0,
                   save_config_callback=_SaveConfig, save_config_kwargs={"overwrite": True},
                   auto_configure_optimizers=False, parser_kwargs={"prog": "zoo"})
        return 0
    except USER_ERRORS as error:
        return report(error)
    except KeyboardInterrupt as error:  # SIGINT or SIGTERM (benchmarks.interrupts): where it stopped
        raise _where_stopped(as_interrupted(error)) from None
    except SystemExit as done:  # --help, --print_config, a parse error jsonargparse has printed; or Lightning's
        interrupted = as_interrupted(done)  # exit after SIGTERM (which would be status 0) or Ctrl-C
        if interrupted is not None:
            raise _where_stopped(interrupted) from None
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 2)
    finally:
        ZooCLI.current = None


def _where_stopped(error: Interrupted) -> Interrupted:
    """``error`` with the step, stage and last checkpoint of the interrupted trainer, when there was one."""
    trainer = getattr(ZooCLI.current, "trainer", None)
    if trainer is None:
        return error
    point = next((c for c in trainer.callbacks if isinstance(c, ResumePoint)), None)
    saved = point is not None and point.saved_step is not None and point.path.is_file()  # by this run, or loaded
    stage = {"fit": "training", "validate": "validating", "test": "testing", "predict": "predicting"}.get(
        trainer.state.fn.value if trainer.state.fn else "")
    return Interrupted(error.signum, int(trainer.global_step), stage, point.path if saved else None,
                       point.saved_step if saved else None)


def _plain(value: Any) -> Any:
    """``value`` with tuples as lists, as a checkpoint's saved config holds them."""
    return json.loads(json.dumps(value))


def _differences(before: Any, after: Any) -> str:
    """``a 3 → 1, b 2 → 4`` for two dicts, else ``before → after``."""
    if isinstance(before, dict) and isinstance(after, dict):
        return ", ".join(f"{k} {before.get(k)} → {after[k]}" for k in after if after[k] != before.get(k))
    return f"{before} → {after}"


def _backbone_sizes(config: dict) -> dict[str, Any]:
    """Every ``zoo.ModelConfig`` field of a saved task config: its size preset's, with its ``model`` overrides."""
    import zoo.config

    base = zoo.config.PRESETS.get(config.get("preset"), zoo.config.ModelConfig())
    return {**zoo.config.config_to_dict(base), **dict(config.get("model") or {})}
