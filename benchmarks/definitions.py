"""Benchmark definitions: a benchmark is a task × a dataset; a recipe (smoke, quick, standard, gpu)
is the task's preset of that name. ``builtin`` benchmarks are generated offline; the others read a
local copy (``--data-dir``) or a hub id (``--data-dir hub:OWNER/NAME``)."""

from __future__ import annotations

from dataclasses import dataclass

from tasks.base import RECIPES


@dataclass(frozen=True)
class Benchmark:
    name: str
    task: str
    split: str  # the split whose metrics the record reports
    builtin: bool  # generated offline: needs no data dir
    data_hint: str = ""  # what --data-dir should point at
    target: float | None = None  # time-to-target threshold for the primary metric on validation


BENCHMARKS: dict[str, Benchmark] = {
    "reviews": Benchmark("reviews", "sentiment", "test", builtin=True, target=0.9),
    "sst2": Benchmark("sst2", "sentiment", "dev", builtin=False,
                      data_hint="a GLUE SST-2 folder (train.tsv, dev.tsv) or hub:stanfordnlp/sst2", target=0.8),
    "tts-digits": Benchmark("tts-digits", "asr", "test", builtin=True, target=0.1),
    "fsdd": Benchmark("fsdd", "asr", "test", builtin=False,
                      data_hint="../shared/data/fsdd layout: recordings/{digit}_{speaker}_{index}.wav", target=0.1),
    "an4": Benchmark("an4", "asr", "test", builtin=False,
                     data_hint="../shared/data/an4 layout: etc/an4_{train,test}.{fileids,transcription}, "
                               "wav/<fileid>.sph", target=0.3),
    "librispeech": Benchmark("librispeech", "asr", "test", builtin=False,
                             data_hint="a LibriSpeech root (train-*/, dev-clean/, test-clean/ with "
                                       "{speaker}/{chapter}/*.flac + *.trans.txt) or hub:openslr/librispeech_asr",
                             target=0.3),
    "shapes-captions": Benchmark("shapes-captions", "captioning", "test", builtin=True, target=1.0),
    "coco-karpathy": Benchmark("coco-karpathy", "captioning", "test", builtin=False,
                               data_hint="a folder with Karpathy's dataset_coco.json and the COCO images "
                                         "(train2014/, val2014/), or a hub id", target=0.6),
    "flickr30k": Benchmark("flickr30k", "captioning", "test", builtin=False,
                           data_hint="a folder with Karpathy's dataset_flickr30k.json and images/, or a hub id",
                           target=0.4),
    "captions-folder": Benchmark("captions-folder", "captioning", "test", builtin=False,
                                 data_hint='an image folder with captions.jsonl lines {"image": relative path, '
                                           '"captions": [...], "split": train|val|test (optional)}, or a hub id',
                                 target=0.5),
    "chest-phantom": Benchmark("chest-phantom", "med_report", "test", builtin=True, target=0.3),
    "iu-xray": Benchmark("iu-xray", "med_report", "test", builtin=False,
                         data_hint="an R2Gen IU X-Ray folder: annotation.json (train/val/test lists of "
                                   "{id, report, image_path: [...]}) and images/", target=0.12),
    "mimic-cxr": Benchmark("mimic-cxr", "med_report", "test", builtin=False,
                           data_hint="a CSV (or a folder with one CSV) with columns image_path, report (or "
                                     "findings), split (train/validate/test); paths relative to the CSV",
                           target=0.08),
    "sort-of-clevr": Benchmark("sort-of-clevr", "vqa", "test", builtin=True, target=0.9),
    "vqa-rad": Benchmark("vqa-rad", "vqa", "test", builtin=False,
                         data_hint="the VQA-RAD OSF folder ('VQA_RAD Dataset Public.json', 'VQA_RAD Image Folder/'),"
                                   " official split, or hub:flaviagiammarino/vqa-rad", target=0.5),
    "vqa-rad-mevf": Benchmark("vqa-rad-mevf", "vqa", "test", builtin=False,
                              data_hint="the VQA-RAD OSF folder with mevf_split/ (trainset.json, testset.json): MEVF's"
                                        " protocol, same test questions; its train file holds templated rephrasings"
                                        " of 284 of them", target=0.5),
    "vqav2": Benchmark("vqav2", "vqa", "val", builtin=False,
                       data_hint="a folder with the official VQAv2 questions/annotations json and train2014/, val2014/"
                                 " images, or a hub id such as hub:HuggingFaceM4/VQAv2", target=0.5),
}


def get_benchmark(task: str, name: str | None) -> Benchmark:
    """The benchmark ``name`` of ``task`` (its built-in one when ``name`` is None)."""
    mine = [b for b in BENCHMARKS.values() if b.task == task]
    if name is None:
        return next(b for b in mine if b.builtin)
    for bench in mine:
        if bench.name == name:
            return bench
    raise ValueError(f"unknown benchmark {name!r} for task {task!r} (known: {', '.join(b.name for b in mine)})")


def check_recipe(name: str) -> str:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r} (known: {', '.join(RECIPES)})")
    return name
