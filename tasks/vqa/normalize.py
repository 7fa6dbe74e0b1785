"""Answer normalisers: the official VQA one (``normalize_vqa_answer``) and a plain one (``normalize_exact``).

``normalize_vqa_answer`` follows the VQA evaluation script (Antol et al. 2015; ``vqaEval.py``), written from
its description; it applies, in order:

1. newlines and tabs become spaces, outer whitespace is stripped;
2. punctuation (``processPunctuation``): each of ``; / [ ] " { } ( ) = + \\ _ - > < @ ` , ? !`` is deleted when
   it touches a space in the answer (``"a - b"``) or when the answer contains a comma between two digits
   (``"1,000"`` → ``"1000"``), and otherwise replaced by a space (``"yes!"`` → ``"yes "``). Then every period
   not followed by a digit is deleted (``"a dog."`` → ``"a dog"``, ``"2.5"`` kept). This is what the
   official regular expression does; the apostrophe is left alone;
3. digits and articles (``processDigitArticle``): lower-case, split on whitespace, number words ``none``,
   ``zero`` .. ``ten`` become digits, the articles ``a an the`` are dropped, and contractions written without
   their apostrophes get them back (``isnt`` → ``isn't``, ``youre`` → ``you're``), then words are joined
   with single spaces.

Two details of the official script are not copied: its 32-replacement cap on period deletion (answers are a few
words long) and two typos in its contraction table (it maps ``somebody'd`` to ``somebodyd``; its ``Im``/``Ive``
keys are capitalised and so never match). Contractions that are also ordinary words (``its``, ``were``,
``well``, ``hell``, ``id``) are not restored, as in the official table.
"""

from __future__ import annotations

import re

_PUNCTUATION = tuple(";/[]\"{}()=+\\_-><@`,?!")  # deleted or spaced, one mark at a time, in this order
_COMMA_BETWEEN_DIGITS = re.compile(r"\d,\d")
_PERIOD_NOT_BEFORE_DIGIT = re.compile(r"\.(?!\d)")
NUMBER_WORDS = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
ARTICLES = frozenset({"a", "an", "the"})
_CONTRACTED_FORMS = """
ain't aren't can't could've couldn't couldn't've didn't doesn't don't hadn't hadn't've hasn't haven't he'd he'd've
he's how'd how'll how's isn't it'd it'd've it'll ma'am mightn't mightn't've might've mustn't must've needn't not've
o'clock oughtn't 'ow's'at shan't she'd've should've shouldn't shouldn't've somebody'd've somebody'll somebody's
someone'd someone'd've someone'll someone's something'd something'd've something'll that's there'd there'd've
there're there's they'd they'd've they'll they're they've 'twas wasn't we'd've we've weren't what'll what're what's
what've when's where'd where's where've who'd who'd've who'll who's who've why'll why're why's won't would've
wouldn't wouldn't've y'all y'all'll y'all'd've you'd you'd've you'll you're you've
""".split()


def _missing_apostrophe_variants(form: str) -> list[str]:
    """``form`` with exactly one of its apostrophes removed: ``couldn't've`` → ``couldnt've``, ``couldn'tve``."""
    return [form[:i] + form[i + 1 :] for i, char in enumerate(form) if char == "'"]


CONTRACTIONS = {variant: form for form in _CONTRACTED_FORMS for variant in _missing_apostrophe_variants(form)}


def process_punctuation(text: str) -> str:
    """Step 2 of the module docstring: punctuation deleted or replaced by a space, periods not before a digit."""
    delete_all = _COMMA_BETWEEN_DIGITS.search(text) is not None
    out = text
    for mark in _PUNCTUATION:
        touches_space = f"{mark} " in text or f" {mark}" in text
        out = out.replace(mark, "" if touches_space or delete_all else " ")
    return _PERIOD_NOT_BEFORE_DIGIT.sub("", out)


def process_digits_and_articles(text: str) -> str:
    """Step 3 of the module docstring: number words to digits, articles dropped, apostrophes restored."""
    words = [NUMBER_WORDS.get(word, word) for word in text.lower().split()]
    return " ".join(CONTRACTIONS.get(word, word) for word in words if word not in ARTICLES)


def normalize_vqa_answer(answer: str) -> str:
    """The official VQA normalisation: ``"Two"`` → ``"2"``, ``"a dog."`` → ``"dog"``, ``"isnt"`` → ``"isn't"``."""
    if not isinstance(answer, str):
        raise ValueError(f"answer must be a string, got {type(answer).__name__}")
    return process_digits_and_articles(process_punctuation(clean_whitespace(answer)))


def clean_whitespace(answer: str) -> str:
    """Step 1 of the module docstring (the only step the official script applies to every answer)."""
    return answer.replace("\n", " ").replace("\t", " ").strip()


_TRAILING_PUNCTUATION = ".,;:!?\"'`"


def normalize_exact(answer: str) -> str:
    """Plain normaliser for closed vocabularies: lower-case, strip, drop trailing punctuation, collapse spaces.

    ``"  Left Lung. "`` → ``"left lung"``. Inner punctuation stays (``"t-cell"``, ``"2.5"``).
    """
    if not isinstance(answer, str):
        raise ValueError(f"answer must be a string, got {type(answer).__name__}")
    return " ".join(answer.lower().split()).rstrip(_TRAILING_PUNCTUATION).rstrip()
