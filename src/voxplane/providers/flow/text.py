"""Text normalisation for transcripts: lower case, no punctuation, number words as digits.

Pure functions; everything downstream (intents, slots, FAQ) sees text through these.
"""

from __future__ import annotations

import re
import unicodedata

_CONTRACTIONS = {
    "won't": "will not",
    "can't": "can not",
    "cannot": "can not",
    "shan't": "shall not",
    "ain't": "is not",
    "i'm": "i am",
    "it's": "it is",
    "that's": "that is",
    "what's": "what is",
    "there's": "there is",
    "here's": "here is",
    "he's": "he is",
    "she's": "she is",
    "let's": "let us",
    "o'clock": "oclock",
}
_SUFFIXES = {"n't": " not", "'re": " are", "'ll": " will", "'ve": " have", "'d": " would"}
_CONTRACTION_RE = re.compile(r"\b(" + "|".join(re.escape(c) for c in _CONTRACTIONS) + r")\b")
_SUFFIX_RE = re.compile(r"(?<=[a-z])(n't|'re|'ll|'ve|'d)\b")

UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
}  # fmt: skip
TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
ZERO_WORDS = frozenset({"oh", "o", "nought", "nil"})
"""Said for zero when reading out digits ("four oh one"); only zero next to other numbers."""
DIGIT_HOMOPHONES = {
    "to": "2", "too": "2", "tu": "2", "for": "4", "fore": "4", "won": "1",
    "ate": "8", "tree": "3", "sicks": "6", "nein": "9", "fiv": "5",
}  # fmt: skip
"""Whisper mishearings of digit words, trusted only where digits are expected."""
_REPEATS = {"double": 2, "triple": 3}


def wordset(words: str) -> frozenset[str]:
    """A set of words written as one space-separated string (compact word lists)."""
    return frozenset(words.split())


def normalize(text: str) -> str:
    """Lower-case ``text``, expand common contractions and drop punctuation.

    Keeps ``2:30`` (a colon between digits) and joins ``4,271`` into ``4271``;
    ``p.m.`` becomes ``pm``.
    """
    t = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'").replace("\u2018", "'")
    t = re.sub(r"\b([ap])\.\s?m\b\.?", r"\1m", t)
    t = re.sub(r"(?<=\d)([ap]m)\b", r" \1", t)  # "10:30am" -> "10:30 am"
    t = _CONTRACTION_RE.sub(lambda m: _CONTRACTIONS[m.group(1)], t)
    t = _SUFFIX_RE.sub(lambda m: _SUFFIXES[m.group(1)], t)
    t = re.sub(r"(?<=\d)[,](?=\d{3}\b)", "", t)
    t = re.sub(r"(?<=\d)\.(?=\d\d\b)", ":", t)  # "2.30 pm" -> "2:30 pm"
    t = re.sub(r"(?<=\d)(st|nd|rd|th)\b", r" \1", t)  # "3rd" -> "3 rd"
    t = re.sub(r"(?<!\d):|:(?!\d)", " ", t)
    t = re.sub(r"[^\w\s:']|_", " ", t).replace("'", "")
    return " ".join(t.split())


def tokens(text: str) -> list[str]:
    """Normalised words of ``text``."""
    return normalize(text).split()


def is_number_word(token: str) -> bool:
    """True for ``7``, ``seven``, ``seventeen``, ``seventy``."""
    return token.isdecimal() or token in UNITS or token in TEENS or token in TENS


def words_to_numbers(words: list[str], *, digits_context: bool = False) -> list[str]:
    """Replace runs of number words by digit strings, one token per spoken number.

    ``four two seven one`` → ``4 2 7 1``; ``twenty three`` → ``23``; ``forty two seventy
    one`` → ``42 71``; ``double five`` → ``5 5``; ``one hundred and five`` → ``105``.
    With ``digits_context`` (a digits question was asked) Whisper's homophones count too:
    ``for to won`` → ``4 2 1``.
    """
    words = _zeros_and_homophones(words, digits_context)
    out: list[str] = []
    value: int | None = None  # the number being built
    last = ""  # kind of the last number word: unit | teen | tens | scale
    i = 0
    while i < len(words):
        w = words[i]
        kind = _kind(w)
        if w in _REPEATS and i + 1 < len(words) and _kind(words[i + 1]) in ("unit", "digits"):
            value = _flush(out, value)
            out += [_digit_string(words[i + 1])] * _REPEATS[w]
            i += 2
            continue
        if w == "and" and last == "scale" and i + 1 < len(words) and _kind(words[i + 1]):
            i += 1
            continue
        if kind is None or kind == "digits":
            value = _flush(out, value)
            out.append(w)
            last = ""
        elif kind == "scale" and value is not None and last != "scale":
            value *= 100 if w == "hundred" else 1000
            last = "scale"
        elif kind == "scale":
            value = _flush(out, value)
            out.append(w)
            last = ""
        elif kind == "unit" and value is not None and last in ("tens", "scale"):
            value += UNITS[w]
            last = "unit"
        elif kind in ("teen", "tens") and value is not None and last == "scale":
            value += TEENS.get(w) or TENS[w]
            last = kind
        else:
            value = _flush(out, value)
            value = UNITS.get(w, TEENS.get(w, TENS.get(w)))
            last = kind
        i += 1
    _flush(out, value)
    return out


def _zeros_and_homophones(words: list[str], digits_context: bool) -> list[str]:
    numeric = [is_number_word(w) for w in words]
    result = list(words)
    for i, w in enumerate(words):
        near = (i > 0 and numeric[i - 1]) or (i + 1 < len(words) and numeric[i + 1])
        if w in ZERO_WORDS and (near or (digits_context and len(words) == 1)):
            result[i] = "zero"
        elif digits_context and w in DIGIT_HOMOPHONES and (near or _near_homophone(words, i)):
            result[i] = DIGIT_HOMOPHONES[w]
    return result


def _near_homophone(words: list[str], i: int) -> bool:
    around = [words[j] for j in (i - 1, i + 1) if 0 <= j < len(words)]
    return any(w in DIGIT_HOMOPHONES or w in ZERO_WORDS or is_number_word(w) for w in around)


def _kind(word: str) -> str | None:
    if word.isdecimal():
        return "digits"
    if word in UNITS:
        return "unit"
    if word in TEENS:
        return "teen"
    if word in TENS:
        return "tens"
    if word in ("hundred", "thousand"):
        return "scale"
    return None


def _digit_string(word: str) -> str:
    return word if word.isdecimal() else str(UNITS[word])


def _flush(out: list[str], value: int | None) -> int | None:
    """Emit the number being built; returns the new (empty) value."""
    if value is not None:
        out.append(str(value))
    return None
