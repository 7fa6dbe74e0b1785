"""COCO caption tokenisation without Java.

coco-caption runs Stanford CoreNLP's ``PTBTokenizer -preserveLines -lowerCase`` over every caption and then drops
the tokens ``'' ' `` ` -LRB- -RRB- -LCB- -RCB- . ? ! , : - -- ... ;``. ``coco_tokenize`` reproduces that
output for caption-like English with these rules, applied in order:

1. lower-case; newlines and tabs become spaces; curly quotes become ``'``/``"``, the ellipsis character becomes
   ``...``, en and em dashes become ``--``;
2. dropped everywhere: double quotes (PTB's ````/''`` tokens), brackets ``( ) [ ] { }`` (PTB's ``-LRB-`` and
   friends), runs of two or more dots (``...``), runs of two or more hyphens (``--``), ``?``, ``!`` and ``;``;
3. ``,`` and ``:`` are dropped unless they sit between two digits (``1,000`` and ``10:30`` stay one token);
4. each remaining word is split PTB-style: a leading ``$``/``#`` becomes its own token, a trailing ``%`` too;
   a trailing ``.`` is dropped unless the word is an acronym (``u.s.``, ``e.g.``) or an abbreviation in
   ``ABBREVIATIONS``; quote marks (``'`` and a backtick) at either end of a word are dropped (``dogs'`` → ``dogs``);
   the clitics ``n't 's 'm 'd 'll 're 've`` become separate tokens (``don't`` → ``do n't``,
   ``can't`` → ``ca n't``, ``man's`` → ``man 's``) and ``cannot`` becomes ``can not``;
5. tokens that are a lone ``-`` or ``'`` are dropped. Hyphenated words (``black-and-white``), numbers with
   a decimal point (``3.5``), ``&``, ``/`` and ``*`` inside words are kept unchanged.

Known differences from the Java tool, all rare in captions: PTB's ``americanize`` spelling map, its ``\\/``
escape of slashes, and its context-dependent abbreviation rules are not reproduced. The Java pipeline
lower-cases ``-LRB-`` to ``-lrb-`` before coco's case-sensitive filter, so it keeps bracket tokens that the
filter meant to drop; here brackets are always dropped, as the filter intends.
"""

from __future__ import annotations

import re

ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "etc", "mt", "ft", "inc", "ltd"})
CLITICS = ("n't", "'s", "'m", "'d", "'ll", "'re", "'ve")

_CHARACTER_MAP = str.maketrans(
    {
        "\n": " ",
        "\t": " ",
        "\r": " ",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
        "\u2013": "--",
        "\u2014": "--",
    }
)
_ALWAYS_DROPPED = re.compile(r"[\"()\[\]{}?!;]|\.{2,}|-{2,}")
_COMMA_OR_COLON_OUTSIDE_NUMBERS = re.compile(r"(?<!\d)[,:]|[,:](?!\d)")
_ACRONYM = re.compile(r"^(?:[a-z]\.)+$")
_QUOTE_MARKS = "'`"
_DROPPED_TOKENS = frozenset({"-", "'", "`", "''", "``"})


def coco_tokenize(text: str) -> list[str]:
    """Lower-cased caption tokens with punctuation removed, as coco-caption's PTBTokenizer step gives them.

    ``coco_tokenize("A man's dog, running.")`` is ``["a", "man", "'s", "dog", "running"]``.
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a string, got {type(text).__name__}")
    cleaned = text.lower().translate(_CHARACTER_MAP)
    cleaned = _ALWAYS_DROPPED.sub(" ", cleaned)
    cleaned = _COMMA_OR_COLON_OUTSIDE_NUMBERS.sub(" ", cleaned)
    tokens: list[str] = []
    for word in cleaned.split():
        tokens.extend(_split_word(word))
    return [t for t in tokens if t and t not in _DROPPED_TOKENS]


def _split_word(word: str) -> list[str]:
    """PTB-style split of one whitespace-separated word (rule 4 of the module docstring)."""
    leading: list[str] = []
    while word and word[0] in "$#":
        leading.append(word[0])
        word = word[1:]
    while word and word[0] in _QUOTE_MARKS and not _is_clitic(word):
        word = word[1:]
    trailing: list[str] = []
    while word:
        if word[-1] == "%":
            trailing.insert(0, "%")
            word = word[:-1]
        elif word[-1] in _QUOTE_MARKS:
            word = word[:-1]
        elif word[-1] == "." and not _keeps_final_period(word):
            word = word[:-1]
        else:
            break
    return leading + _split_clitic(word) + trailing


def _is_clitic(word: str) -> bool:
    """True for a word that is itself a clitic such as ``'s`` (its apostrophe is not a quote mark)."""
    return word in CLITICS


def _keeps_final_period(word: str) -> bool:
    """True when the final period belongs to the word: acronyms (``u.s.``) and known abbreviations."""
    return bool(_ACRONYM.match(word)) or word[:-1] in ABBREVIATIONS


def _split_clitic(word: str) -> list[str]:
    """``don't`` → ``["do", "n't"]``, ``man's`` → ``["man", "'s"]``, ``cannot`` → ``["can", "not"]``."""
    if word == "cannot":
        return ["can", "not"]
    for clitic in CLITICS:
        if word.endswith(clitic) and len(word) > len(clitic):
            return [word[: -len(clitic)], clitic]
    return [word]
