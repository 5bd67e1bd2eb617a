"""Slot extractors: one per gather type, each returning a normalised value or None.

They read Whisper-style transcripts ("My number is 4, 2, 7, 1.", "Yeah, that's right.")
and tolerate its usual mistakes where the expected answer makes them unambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from voxplane.agents.flow import Gather
from voxplane.providers.flow.dates import extract_date, extract_time
from voxplane.providers.flow.intents import word_similarity
from voxplane.providers.flow.text import normalize, tokens, words_to_numbers, wordset
from voxplane.providers.turn_end import trails_off

_DIGIT_FILLERS = frozenset({"and", "uh", "um", "er", "dash", "hyphen", "then", "space"})
_DIGIT_JOINERS = _DIGIT_FILLERS | {"oh", "o"}
"""A digit string stopping on one of these goes on ("four two and", "five five oh")."""

_NEGATIVE_PHRASES = (
    "no", "nope", "nah", "not", "never", "wrong", "incorrect", "negative", "cancel",
    "do not", "not really", "no thanks", "no thank you", "not right", "not correct",
)  # fmt: skip
_AFFIRMATIVE_PHRASES = (
    "yes", "yeah", "yep", "yup", "yea", "yah", "ya", "sure", "correct", "right",
    "absolutely", "definitely", "certainly", "ok", "okay", "alright", "all right",
    "affirmative", "please do", "go ahead", "sounds good", "of course", "perfect",
    "exactly", "indeed", "uh huh", "mhm", "that is it", "it is", "i am", "i do", "great",
    "no problem", "not a problem", "no worries", "why not", "please", "i think so",
    "i believe so",
)  # fmt: skip
"""Checked before the negatives, so "no problem" and "why not" mean yes."""
_UNSURE_PHRASES = ("not sure", "do not know", "maybe", "no idea", "unsure")

_NAME_PREFIXES = (
    "my name is", "the name is", "name is", "my names", "name", "this is", "it is",
    "i am", "call me", "put it under", "under the name", "under", "its", "im",
)  # fmt: skip
_NAME_FILLERS = wordset(
    "uh um er hmm oh yes yeah yep sure ok okay well so hi hello hey please thanks thank "
    "you mr mrs ms miss dr doctor just the a"
)
_NOT_NAME = wordset(
    "what when where why how who which is are do does did can could would will should want "
    "need like book appointment not no know sure help speak talk person hours open "
    "of in on at for to and with about my your i me we have has had"
)
_NAME_STOP = frozenset(
    {"and", "please", "thanks", "thank", "but", "so", "for", "from", "calling", "speaking", "here"}
)
MAX_NAME_WORDS = 4
CHOICE_MIN_SCORE = 80.0
_TITLES = {"doctor": "dr", "mister": "mr", "missus": "mrs", "miss": "ms"}
_TITLE_WORDS = frozenset({"dr", "mr", "mrs", "ms", "prof"})


def extract_digits(
    text: str, min_length: int | None = None, max_length: int | None = None
) -> str | None:
    """Digits the caller read out, e.g. ``"four two seven one"`` → ``"4271"``.

    All digit runs are joined; when that breaks the length limits each run is tried
    alone (the last one that fits wins), so "I have 2 kids, it's 4271" still works. A
    leading "Oh," may be an interjection rather than a zero; it is dropped if that fits.
    """
    said = tokens(text.replace("-", " "))
    attempts = [said, said[1:]] if said[:1] in (["oh"], ["o"]) else [said]
    for words in attempts:
        runs = _digit_runs(words_to_numbers(words, digits_context=True))
        for candidate in ["".join(runs), *reversed(runs)]:
            if candidate and (min_length or 1) <= len(candidate) <= (max_length or 32):
                return candidate
    return None


def digits_complete(text: str, min_length: int | None, max_length: int | None) -> bool | None:
    """Whether a digit string the caller is reading out is finished; None when ``text``
    holds no digits at all (then it is not a digit string, and other rules decide).

    Fewer digits than ``min_length`` is unfinished. Short of ``max_length``, so is a
    string that stops on a joining word ("four two and", "four two oh") or trails off
    with a comma, a dash or an ellipsis (speech-to-text's mark of a pause after a group).
    """
    said = tokens(text.replace("-", " "))
    count = sum(len(run) for run in _digit_runs(words_to_numbers(said, digits_context=True)))
    if count == 0:
        return None
    if min_length is not None and count < min_length:
        return False
    if max_length is not None and count >= max_length:
        return True
    return said[-1] not in _DIGIT_JOINERS and not trails_off(text)


def _digit_runs(words: list[str]) -> list[str]:
    runs: list[str] = []
    current = ""
    for w in words:
        if w.isdecimal():
            current += w
        elif w not in _DIGIT_FILLERS and current:
            runs.append(current)
            current = ""
    return [*runs, current] if current else runs


def extract_yes_no(text: str) -> str | None:
    """``"yes"``, ``"no"`` or None (unclear). Negation beats affirmation."""
    t = f" {normalize(text)} "
    if any(f" {p} " in t for p in _UNSURE_PHRASES):
        return None
    for phrase in ("no problem", "not a problem", "no worries", "why not"):
        t = t.replace(f" {phrase} ", " yes ")
    if any(f" {p} " in t for p in _NEGATIVE_PHRASES):
        return "no"
    if any(f" {p} " in t for p in _AFFIRMATIVE_PHRASES):
        return "yes"
    return None


def extract_name(text: str, choices: tuple[str, ...] = ()) -> str | None:
    """A person's name, title-cased, at most four words; from ``choices`` when given."""
    if choices:
        return _pick_choice(text, choices)
    words = _name_words(text)
    after = _after_prefix(words)
    candidate = after if after is not None else words
    if after is None and any(w in _NOT_NAME for w in candidate):
        return None
    if after is None and (extract_date(text) or extract_time(text)):
        return None  # "Next Tuesday, please" answers another question
    kept: list[str] = []
    for w in candidate:
        if w in _NAME_STOP and kept:
            break
        if w not in _NAME_FILLERS and w not in _NOT_NAME:
            kept.append(w)
    if after is None and len(kept) > MAX_NAME_WORDS:
        return None  # a sentence, not a name
    if not kept or any(c.isdecimal() for w in kept for c in w):
        return None
    return " ".join(_title(w) for w in kept[:MAX_NAME_WORDS])


def has_name_prefix(text: str) -> bool:
    """True when the caller introduced a name ("my name is ...", "this is ...")."""
    return _after_prefix(_name_words(text)) not in (None, [])


def extract_free_text(text: str) -> str | None:
    """Anything said, stripped; None for silence or punctuation only."""
    stripped = text.strip()
    return stripped if normalize(stripped) else None


def extract(gather: Gather, text: str) -> str | None:
    """The value ``text`` gives for ``gather``, or None when it does not give one."""
    extractors: dict[str, Callable[[str], str | None]] = {
        "digits": lambda t: extract_digits(t, gather.min_length, gather.max_length),
        "yes_no": extract_yes_no,
        "name": lambda t: extract_name(t, gather.choices),
        "date": extract_date,
        "time": extract_time,
        "free_text": extract_free_text,
    }
    return extractors[gather.type](text)


def _pick_choice(text: str, choices: tuple[str, ...]) -> str | None:
    """The choice whose words the caller said (fuzzily); titles like "Dr" do not count."""
    said = [_TITLES.get(w, w) for w in tokens(text)]
    best: tuple[float, str] | None = None
    for choice in choices:
        words = [_TITLES.get(w, w) for w in tokens(choice)]
        content = [w for w in words if w not in _TITLE_WORDS] or words
        if not content:
            continue
        score = sum(max((word_similarity(c, s) for s in said), default=0.0) for c in content)
        score /= len(content)
        if score >= CHOICE_MIN_SCORE and (best is None or score > best[0]):
            best = (score, choice)
    return best[1] if best else None


def _name_words(text: str) -> list[str]:
    # keep "O'Brien" and "Mary-Jane" whole: shield the marks from normalize()
    t = normalize(text.replace("\u2019", "'").replace("-", " qqhq ").replace("'", "qqaq"))
    t = t.replace(" qqhq ", "-").replace("qqhq", "-").replace("qqaq", "'")
    t = re.sub(r"\b(it|that|name)'?s\b", r"\1 is", t)
    t = re.sub(r"\bi'?m\b", "i am", t)
    return [w.strip("'-") for w in t.split() if w.strip("'-")]


def _after_prefix(words: list[str]) -> list[str] | None:
    joined = " ".join(words)
    best: int | None = None
    for prefix in _NAME_PREFIXES:
        for m in re.finditer(rf"\b{re.escape(prefix)}\b", joined):
            end = len(joined[: m.end()].split())
            best = end if best is None else max(best, end)
    return None if best is None else words[best:]


def _title(word: str) -> str:
    return "-".join(p.capitalize() if "'" not in p else p.title() for p in word.split("-"))
