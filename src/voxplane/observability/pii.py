"""Caller PII in free text: found by pattern, replaced by typed placeholders.

One set of detectors for everything voxplane keeps: transcripts stored under
``pii_policy: redact``, the caller and called numbers of a call record, and every string
that goes to a log. Pure and stdlib only, so that the control plane and the log formatter
can both import it.

What is detected (and what is not) — ``docs/control-plane.md`` states the same:

``[email]``
    Written addresses (``ann.lee+x@mail.example.com``) and spoken ones as speech to text
    writes them: ``ann dot lee at example dot com``, ``ann at example.com``, when the
    address ends in a common top-level domain (``_TLDS``). The user part of a ``sip:``
    URI is left alone. A website said after "at" ("order at shop dot com") is redacted too.
``[card]``
    13–19 digits that pass the Luhn check, in one run (see below).
``[ssn]``
    A US social security number written ``123-45-6789`` or ``123 45 6789`` whose parts
    are valid (area not 000, 666 or 9xx; group not 00; serial not 0000). No other national
    id has a pattern of its own: all-digit ids of 7 digits or more are ``[number]``.
``[phone]``
    A run with a leading ``+`` and 7–15 digits (E.164 with any separators), a North
    American number (``(415) 555-0123``, ``415-555-0123``, ``1 415 555 0123``,
    ``555-0123``), or a national number with a trunk ``0`` in groups
    (``020 7946 0958``) or an international ``00`` prefix.
``[number]``
    Any other run of 7 digits or more: account and policy numbers, other national ids,
    unseparated phone numbers, Luhn-invalid card-length numbers.

A *run* is digits, and the spoken digit words zero/oh/one…nine, joined by single spaces,
hyphens or parentheses; single digits may also be joined by commas (``4, 2, 7, 1``). Dates
(``2026-11-30``, ``11 30 2026``), times (``10:30``), decimals and dotted numbers
(``192.168.0.1``, ``1,250,000``) are separate short runs and stay. Runs of 6 digits or
fewer stay: PINs, ZIP codes, card last-four, 4-digit patient numbers. Not detected:
numbers said as tens or with multipliers ("forty two", "double five"), names, street
addresses, and anything split across two turns.
"""

from __future__ import annotations

import re

CARD = "[card]"
SSN = "[ssn]"
EMAIL = "[email]"
PHONE = "[phone]"
NUMBER = "[number]"
MIN_DIGITS = 7
"""Shorter runs stay: dates, times, amounts, PINs and the like are not worth losing."""
MASK = "•"
MAX_RUN_UNITS = 64
"""A longer run is taken in pieces (each still redacted but for a tail of at most 6
digits), so that no single match holds the interpreter for long on a hostile input."""

_DIGIT_WORDS = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_WORD = rf"\b(?i:{'|'.join(_DIGIT_WORDS)})\b"
# digits not glued to letters or underscores (ids), nor part of a time, a decimal or an
# amount (10:30, 3.25, 1,250,000); a "+" leads unless it joins two numbers (1+2)
_DIGITS = r"(?:(?<![\w+])\+)?(?<!\w)(?<!\d[:.,])\d+(?!\w)(?![:.,]\d)"
_SINGLE = rf"(?:(?<!\w)(?<!\d[:.])\d(?!\w)(?![:.]\d)|{_WORD})"
_UNIT = rf"(?:{_SINGLE}(?:,[ \t]?{_SINGLE}){{1,{MAX_RUN_UNITS}}}|{_DIGITS}|{_WORD})"
_SEPARATOR = r"(?:[ \t]?[-–][ \t]?|[ \t]?\)[ \t]?|[ \t]?\([ \t]?|[ \t])"
_RUN = re.compile(rf"(?:\([ \t]?)?{_UNIT}(?:{_SEPARATOR}{_UNIT}){{0,{MAX_RUN_UNITS}}}")
_PARTS = re.compile(r"\+?\d+|[A-Za-z]+")

_TLDS = (
    "com|org|net|edu|gov|mil|int|io|co|us|uk|ca|au|de|fr|es|it|nl|be|ch|at|se|no|dk|ie|in|"
    "info|biz|me"
)
# Every repeat is bounded, so that no text makes these patterns backtrack for long.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_WRITTEN_EMAIL = (
    rf"(?<![\w.%+-])(?<!sip:)(?<!sips:)[A-Za-z0-9][\w.%+-]{{0,63}}@{_LABEL}(?:\.{_LABEL}){{0,8}}"
    r"\.[A-Za-z]{2,24}\b"
)
_SPOKEN_DOT = r"(?:[ \t]+dot[ \t]+|\.)"
_SPOKEN_WORD = r"[a-z0-9][\w-]{0,63}"
_SPOKEN_EMAIL = (
    rf"(?i:(?<![\w.-]){_SPOKEN_WORD}(?:{_SPOKEN_DOT}{_SPOKEN_WORD}){{0,4}}[ \t]+at[ \t]+"
    rf"{_SPOKEN_WORD}(?:{_SPOKEN_DOT}{_SPOKEN_WORD}){{0,4}}?{_SPOKEN_DOT}(?:{_TLDS})\b)"
)
_EMAIL = re.compile(f"{_WRITTEN_EMAIL}|{_SPOKEN_EMAIL}")
# Cheap tests that skip the patterns above for most strings: a log line's ids, a turn
# without numbers. Each is true whenever its pattern could match.
_SPOKEN_AT = re.compile(r"[ \t][Aa][Tt][ \t]")
_LOOSE_DIGITS = re.compile(r"\d(?<!\w\d)\d*(?!\w)")  # digits not glued to a word
_ANY_DIGIT_WORD = re.compile("|".join(_DIGIT_WORDS))


def redact_pii(text: str, *, mask_phones: bool = False) -> str:
    """``text`` with every detected item replaced by its placeholder (``[card]``…).

    With ``mask_phones`` a phone number keeps its country and area prefix and its last two
    digits instead (``+1415•••••99``), as logs show it. Idempotent.
    """
    if "@" in text or _SPOKEN_AT.search(text):
        text = _EMAIL.sub(EMAIL, text)
    if not _may_hold_a_run(text):
        return text
    return _RUN.sub(_masked_phone_run if mask_phones else _placeholder_run, text)


def mask_number(value: str | None) -> str | None:
    """A stored caller or called number: each run of 7 digits or more masked like a phone
    (``+14155550199`` → ``+1415•••••99``, ``sip:+4930123456789@pbx`` →
    ``sip:+4930•••••••89@pbx``); anything else in the value (``anonymous``) is kept."""
    if value is None or not _may_hold_a_run(value):
        return value
    return _RUN.sub(_mask_long_run, value)


def _may_hold_a_run(text: str) -> bool:
    """Whether ``text`` has at least :data:`MIN_DIGITS` digits outside words (``ten_01JD…``
    holds none) and digit words, counted generously: no run can be longer."""
    if len(text) < MIN_DIGITS:
        return False
    count = sum(map(len, _LOOSE_DIGITS.findall(text)))
    return count >= MIN_DIGITS or count + len(_ANY_DIGIT_WORD.findall(text.lower())) >= MIN_DIGITS


def classify(run: str) -> str | None:
    """The placeholder for one run of digits (as :data:`_RUN` finds them), or None."""
    groups = _groups(run)
    digits = "".join(groups)
    count = len(digits)
    if count < MIN_DIGITS:
        return None
    if run.lstrip("( \t").startswith("+"):
        return PHONE if count <= 15 else NUMBER
    if 13 <= count <= 19 and luhn_valid(digits):
        return CARD
    if [len(group) for group in groups] == [3, 2, 4] and _valid_ssn(digits):
        return SSN
    if _is_date(groups):
        return None
    return PHONE if _is_phone(groups, parenthesised="(" in run) else NUMBER


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn checksum (card numbers do)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _valid_ssn(digits: str) -> bool:
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in {"000", "666"} and area[0] != "9" and group != "00" and serial != "0000"


def _is_date(groups: list[str]) -> bool:
    """Year-month-day, month-day-year or day-month-year: three groups, a 4-digit year."""
    if len(groups) != 3:
        return False
    if len(groups[0]) == 4:
        first, second = int(groups[1]), int(groups[2])
    elif len(groups[2]) == 4 and len(groups[0]) <= 2 and len(groups[1]) <= 2:
        first, second = int(groups[0]), int(groups[1])
    else:
        return False
    return min(first, second) >= 1 and (
        (first <= 12 and second <= 31) or (second <= 12 and first <= 31)
    )


_NANP = ([3, 3, 4], [1, 3, 3, 4], [3, 4])


def _is_phone(groups: list[str], *, parenthesised: bool) -> bool:
    sizes = [len(group) for group in groups]
    count = sum(sizes)
    if parenthesised and count in (10, 11):
        return True  # (415) 555-0123, 1 (415) 555-0123
    if sizes in _NANP and (sizes[0] != 1 or groups[0] == "1"):
        return True
    if groups[0].startswith("00"):
        return 11 <= count <= 17  # 00 44 20 7946 0958: an international prefix
    return groups[0].startswith("0") and len(groups) >= 2 and 10 <= count <= 12


def _placeholder_run(match: re.Match[str]) -> str:
    return classify(match.group()) or match.group()


def _masked_phone_run(match: re.Match[str]) -> str:
    kind = classify(match.group())
    if kind == PHONE:
        return _mask(match.group())
    return kind or match.group()


def _mask_long_run(match: re.Match[str]) -> str:
    run = match.group()
    return _mask(run) if len("".join(_groups(run))) >= MIN_DIGITS else run


def _groups(run: str) -> list[str]:
    """The digit groups of a run, a spoken digit word being a group of one."""
    return [_DIGIT_WORDS.get(part.lower(), part).lstrip("+") for part in _PARTS.findall(run)]


def _mask(run: str) -> str:
    """A phone number with its separators dropped and at least five digits hidden; up to
    four leading digits (country and area code) and the last two stay, for debugging."""
    plus = "+" if run.lstrip("( \t").startswith("+") else ""
    digits = "".join(_groups(run))
    lead = max(0, min(4, len(digits) - 7))
    hidden = len(digits) - lead - 2
    return f"{plus}{digits[:lead]}{MASK * hidden}{digits[-2:]}"
