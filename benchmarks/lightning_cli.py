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

from benchmarks.errors import USER_ERRORS, report
from benchmarks.interrupts import Interrupted, as_interrupted
from benchmarks.run import check_writable
from tasks.core.resume import ResumePoint
from tasks.metrics.gather import gather_rows

WEIGHT_ARGS = ("init_from", "image_checkpoint", "audio_checkpoint")  # starting points: unused when resuming


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
    """Lightning's config.yaml, without ``model.data_info`` (the vocabulary belongs to the checkpoint, and the
    saved config should run again on other data)."""

    def __init__(self, parser: LightningArgumentParser, config: Any, *args: Any, **kwargs: Any) -> None:
        config = copy.deepcopy(config)
        config.model.data_info = None
        super().__init__(parser, config, *args, **kwargs)


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


class PredictionsWriter(pl.Callback):
    """Collects ``predict_step`` rows and writes them, once per id, to a JSONL file (rank 0, atomically)."""

    def __init__(self, path: Path) -> None:
        self.path, self.rows = path, []

    def on_predict_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, outputs: Any, batch: Any,
                             batch_idx: int, dataloader_idx: int = 0) -> None:
        self.rows.extend(outputs)

    def on_predict_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        unique = gather_rows(self.rows)  # every process's rows, the first of each id
        if trainer.is_global_zero:
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in unique), encoding="utf-8")
                os.replace(tmp, self.path)
            except OSError as error:  # a full disk or a read-only folder: no partial file, one line
                tmp.unlink(missing_ok=True)
                raise ValueError(f"{self.path}: cannot write the predictions ({error.strerror or error})") from None
            print(f"zoo: wrote {len(unique)} predictions to {self.path}")


class ZooCLI(LightningCLI):
    """``LightningCLI`` for one task: checkpoint hyper-parameters loaded safely, ``data_info`` filled in."""

    current: ZooCLI | None = None  # the one being built or run: an interruption asks its trainer where it stopped

    def __init__(self, task: str, *args: Any, **kwargs: Any) -> None:
        self.task, self._data = task, None
        ZooCLI.current = self
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--task", default=self.task, help="the task (read before parsing: give it on the "
                                                             "command line or as task: in the --config file)")
        parser.add_argument("--output", default=None, help="predict: the predictions JSONL (default: "
                                                           "predictions.jsonl in the checkpoint's run folder)")
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
        if "data_info" not in hparams:  # a `zoo bench` checkpoint: the Config and the data's vocabulary
            info = {k: hparams[k] for k in ("tokenizer", "labels", "answers", "feature_stats") if k in hparams}
            hparams = {"preset": "smoke", "options": hparams["config"],
                       "data_info": json.dumps({"task": self.task, **info})}
        model = {**{k: None for k in ("backbone", "options", "lr", "head_lr", "freeze")},
                 **{k: v for k, v in hparams.items() if k not in ("task", "config", "_instantiator")},
                 **dict.fromkeys(WEIGHT_ARGS)}
        self.config = self.parser.parse_object({self.config.subcommand: {"model": model}}, self.config)

    def before_instantiate_classes(self) -> None:
        """Fit (or evaluate without a checkpoint): build ``model.data_info`` from the training data."""
        from tasks.core.finetune import build_config

        sub = self.config[self.subcommand]
        if sub.model.data_info:
            return
        m = sub.model
        config = build_config(self.task, m.preset, m.backbone, m.options, m.lr, m.audio_checkpoint)
        self._data = self.datamodule_class(**sub.data.as_dict())
        sub.model.data_info = json.dumps(self._data.data_info(config))

    def instantiate_classes(self) -> None:
        super().instantiate_classes()
        if self._data is not None:
            self.datamodule = self._data  # the instance that already read the data
        sub = self.config[self.subcommand]
        if self.subcommand == "predict":
            output = self.predictions_path(sub)
            if output.is_dir():
                raise ValueError(f"--output {output} is a folder; give a file name such as {output}/predictions.jsonl")
            check_writable(output.parent, "--output folder")  # before predicting, not after
            self.trainer.callbacks.append(PredictionsWriter(output))

    @staticmethod
    def predictions_path(sub: Any) -> Path:
        if sub.output:
            return Path(sub.output)
        if sub.ckpt_path:
            folder = Path(sub.ckpt_path).parent
            return (folder.parent if folder.name == "checkpoints" else folder) / "predictions.jsonl"
        return Path(sub.trainer.default_root_dir) / "predictions.jsonl"


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
    os.environ.setdefault("JSONARGPARSE_DEPRECATION_WARNINGS", "off")  # Lightning 2.6 calls deprecated helpers
    try:
        task = task_from_argv(argv[1:])
        finetune = get_finetune(task)
        ZooCLI(task, finetune.Model, finetune.Data, args=_list_option(argv, "--data.predict"),
               seed_everything_default=0,
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
