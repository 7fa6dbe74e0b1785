"""The multi-task run's one word vocabulary, and a transfer start that brings its structure and words along: a run
``--init-from`` a checkpoint of its own task takes the start's backbone, image grid and tokenizer kind, and its
word vocabulary begins with the start's words, so the token-indexed rows load too."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest
import torch

import zoo
from benchmarks.cli import main
from benchmarks.run import RunOptions, resolve_start
from tasks import get_task
from tasks import multitask as mt
from tasks.core.checkpoints import load_checkpoint
from tasks.core.transfer import adopt_start, extend_vocabulary, fit_rows, start_settings
from tests.runs import two_step_run


def test_the_shared_vocabulary_is_every_task_vocabulary_once_in_order() -> None:
    config = mt.preset("smoke", ("captioning", "vqa"))
    _, datamodules, modules = mt.build(config)
    shared = datamodules["captioning"].tokenizer
    assert shared is datamodules["vqa"].tokenizer and isinstance(shared, zoo.WordTokenizer)
    own = {name: get_task(name).DataModule(mt.task_config(config, name)) for name in ("captioning", "vqa")}
    for dm in own.values():
        dm.setup("fit")
    first, second = own["captioning"].tokenizer.vocab, own["vqa"].tokenizer.vocab
    assert shared.vocab[: len(first)] == first
    assert shared.vocab[len(first):] == [w for w in second if w not in first] != []
    assert modules["vqa"].net.text.token.weight.shape[0] == shared.vocab_size


def test_bpe_stays_available_and_a_tokenizer_kind_is_checked() -> None:
    config = dataclasses.replace(mt.preset("smoke", ("sentiment",)), tokenizer="bpe")
    assert mt.task_config(config, "sentiment").tokenizer == "bpe"
    assert isinstance(mt.shared_tokenizer(config, []), zoo.WhisperBPETokenizer)
    with pytest.raises(ValueError, match="tokenizer: must be 'word' or 'bpe'"):
        mt.Config(tokenizer="char")
    with pytest.raises(ValueError, match="a task built a ByteTokenizer"):
        mt.shared_tokenizer(mt.Config(), [zoo.ByteTokenizer()])


def test_asr_word_tokenizer_is_the_normalised_train_words() -> None:
    task = get_task("asr")
    config = dataclasses.replace(task.tiny(), tokenizer="word")
    tokenizer = task.build_tokenizer(config, ["Three Oh", "seven, three"])
    assert tokenizer.vocab[4:] == ["3", "0", "7"]  # the normaliser's digits, most frequent first
    assert tokenizer.decode(tokenizer.encode("7 3")) == "7 3"
    with pytest.raises(ValueError, match="tokenizer: must be one of char, bpe, word"):
        dataclasses.replace(config, tokenizer="bytes")


def test_fit_rows_keeps_the_start_rows_in_their_ids() -> None:
    theirs, ours = torch.ones(5, 3), torch.zeros(7, 3)
    fitted = fit_rows(theirs, ours, (5, 7))
    assert torch.equal(fitted[:5], theirs) and torch.equal(fitted[5:], ours[5:])
    assert fit_rows(theirs, ours, None) is None and fit_rows(theirs, torch.zeros(7, 4), (5, 7)) is None
    assert fit_rows(theirs, torch.zeros(5, 3), None) is theirs


def test_extend_vocabulary_puts_the_start_words_first() -> None:
    own = zoo.WordTokenizer.train(["new words and old"])
    start = zoo.WordTokenizer.train(["old words"]).to_dict()
    extended = extend_vocabulary(own, start)
    assert extended.vocab[: len(start["vocab"])] == start["vocab"]
    assert set(extended.vocab) == set(own.vocab) | set(start["vocab"])
    assert len(set(extended.vocab)) == len(extended.vocab)
    assert extend_vocabulary(own, zoo.ByteTokenizer().to_dict()) is own
    assert extend_vocabulary(zoo.ByteTokenizer(), start).to_dict() == zoo.ByteTokenizer().to_dict()


def _sst2_folder(root: Path) -> Path:
    """An SST-2 folder (train.tsv, dev.tsv) with words the built-in reviews do not have."""
    rng = random.Random(0)
    good, bad = ["a luminous gem", "utterly delightful"], ["a soggy slog", "insufferably dreary"]
    rows = [f"{rng.choice(good)}\t1" for _ in range(600)] + [f"{rng.choice(bad)}\t0" for _ in range(600)]
    rng.shuffle(rows)
    root.mkdir()
    (root / "train.tsv").write_text("sentence\tlabel\n" + "\n".join(rows) + "\n")
    (root / "dev.tsv").write_text("sentence\tlabel\n" + "\n".join(rows[:9]) + "\n")
    return root


def test_a_run_from_a_multitask_checkpoint_takes_its_structure_and_words(tmp_path: Path) -> None:
    from benchmarks.multitask import run_multitask

    preset = mt.preset

    def short(recipe: str, tasks: tuple[str, ...] = mt.TASKS) -> mt.Config:
        config = preset(recipe, tasks)
        return dataclasses.replace(config, optim=dataclasses.replace(config.optim, max_steps=2))

    mt.preset, records, runs = short, tmp_path / "records", tmp_path / "runs"
    try:
        run_multitask(RunOptions(task="multitask", recipe="smoke", records_dir=records, runs_dir=runs,
                                 progress_bar=False), ("sentiment", "vqa"))
    finally:
        mt.preset = preset
    checkpoint = next(runs.glob("multitask/smoke/*/*/checkpoints/last.ckpt"))
    settings, start_tokenizer = start_settings(checkpoint, "sentiment")
    assert settings["model"]["width"] == mt.BACKBONES["smoke"]["width"] and settings["tokenizer"] == "word"
    assert start_settings(checkpoint, "captioning") == ({}, None)  # no captioning part: no structure taken
    scratch = get_task("sentiment").PRESETS["smoke"]("sst2", "zoo")
    assert adopt_start(scratch, settings).model == {**scratch.model, **settings["model"]}

    record = two_step_run("sentiment", records, runs, data_dir=str(_sst2_folder(tmp_path / "sst2")),
                          benchmark="sst2", init_from=resolve_start(str(checkpoint), [records], runs))
    assert record["init_from"]["loaded"] == ["text", "encoder", "head"]
    assert record["config"]["model"]["width"] == mt.BACKBONES["smoke"]["width"]
    run = load_checkpoint(next(runs.glob("sentiment/sst2/smoke/*/*/checkpoints/last.ckpt")))
    vocab = run["hyper_parameters"]["tokenizer"]["vocab"]
    assert vocab[: len(start_tokenizer["vocab"])] == start_tokenizer["vocab"] and "luminous" in vocab
    assert "luminous" not in start_tokenizer["vocab"]

    reviews = tmp_path / "reviews.csv"  # zoo fit from the same checkpoint: its structure and words too
    reviews.write_text("text,label\n" + "".join(f"a luminous gem,1\nsoggy and {i},0\n" for i in range(12)))
    assert main(["fit", "--task", "sentiment", "--data.path", str(reviews), "--model.init_from", str(checkpoint),
                 "--trainer.max_steps", "1", "--trainer.default_root_dir", str(tmp_path / "fit"),
                 "--trainer.enable_progress_bar", "false", "--trainer.logger", "false"]) == 0
    fitted = load_checkpoint(tmp_path / "fit" / "checkpoints" / "last.ckpt")["hyper_parameters"]
    assert fitted["backbone"]["width"] == mt.BACKBONES["smoke"]["width"]
    vocab = json.loads(fitted["data_info"])["tokenizer"]["vocab"]
    assert vocab[: len(start_tokenizer["vocab"])] == start_tokenizer["vocab"] and "soggy" in vocab
