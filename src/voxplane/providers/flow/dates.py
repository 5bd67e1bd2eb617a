"""Date and time extractors. They never read the clock: "tomorrow" stays "tomorrow".

Dates come out as ``"Monday"``, ``"next Monday"``, ``"tomorrow"``, ``"March 3"``,
``"the 15th"`` or ``"Monday, March 3"``; times as ``"10:30"`` or ``"2:30 PM"``.
"""

from __future__ import annotations

import re

from voxplane.providers.flow.intents import word_similarity
from voxplane.providers.flow.text import tokens, words_to_numbers

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = (
    "january", "february", "march", "april", "may", "june", "july",
    "august", "september", "october", "november", "december",
)  # fmt: skip
_ABBREVIATIONS = {
    "mon": "monday", "tue": "tuesday", "tues": "tuesday", "wed": "wednesday",
    "weds": "wednesday", "thu": "thursday", "thur": "thursday", "thurs": "thursday",
    "fri": "friday", "jan": "january", "feb": "february", "apr": "april", "jun": "june",
    "jul": "july", "aug": "august", "sep": "september", "sept": "september",
    "oct": "october", "nov": "november", "dec": "december",
}  # fmt: skip
_ORDINALS = {
    "first": "one", "second": "two", "third": "three", "fourth": "four", "fifth": "five",
    "sixth": "six", "seventh": "seven", "eighth": "eight", "ninth": "nine", "tenth": "ten",
    "eleventh": "eleven", "twelfth": "twelve", "thirteenth": "thirteen",
    "fourteenth": "fourteen", "fifteenth": "fifteen", "sixteenth": "sixteen",
    "seventeenth": "seventeen", "eighteenth": "eighteen", "nineteenth": "nineteen",
    "twentieth": "twenty", "thirtieth": "thirty",
}  # fmt: skip
_SUFFIXES = frozenset({"st", "nd", "rd", "th"})
_RELATIVE = (("day after tomorrow", "the day after tomorrow"), ("tomorrow", "tomorrow"))
_TODAY = frozenset({"today", "tonight"})
_PM_WORDS = frozenset({"pm", "afternoon", "evening", "tonight", "night"})
_AM_WORDS = frozenset({"am", "morning"})


def extract_date(text: str) -> str | None:
    """A day, as said: weekday, relative day, month and day, or "the 15th"."""
    words = _date_words(text)
    joined = " ".join(words)
    for phrase, value in _RELATIVE:
        if re.search(rf"\b{phrase}\b", joined):
            return value
    if any(w in _TODAY for w in words):
        return "today"
    weekday = _weekday(words)
    month, day = _month_day(words)
    if month and day:
        prefix = f"{weekday}, " if weekday else ""
        return f"{prefix}{month} {day}"
    if day:
        return f"{weekday} the {_ordinal(day)}" if weekday else f"the {_ordinal(day)}"
    return weekday


def extract_time(text: str) -> str | None:
    """A clock time: ``"10:00 AM"``, ``"10:30"``, ``"2:30 PM"``, ``"12:00 PM"`` (noon)."""
    words = words_to_numbers(tokens(text))
    if "noon" in words or "midday" in words:
        return "12:00 PM"
    if "midnight" in words:
        return "12:00 AM"
    meridiem = "PM" if _PM_WORDS & set(words) else "AM" if _AM_WORDS & set(words) else None
    found = _clock(words) or _relative_clock(words) or _hour_minute(words) or _bare_hour(words)
    if found is None:
        return None
    hour, minute = found
    if hour > 12 or hour == 0:
        hour, meridiem = (hour - 12 if hour > 12 else 12), ("PM" if hour >= 12 else "AM")
    suffix = f" {meridiem}" if meridiem else ""
    return f"{hour}:{minute:02d}{suffix}"


def _date_words(text: str) -> list[str]:
    raw: list[str] = []
    for w in tokens(text):
        if w in _ORDINALS:
            raw += [_ORDINALS[w], "th"]
        else:
            raw.append(_ABBREVIATIONS.get(w, w))
    return words_to_numbers(raw)


def _fuzzy_pick(word: str, names: tuple[str, ...]) -> str | None:
    if len(word) < 5:
        return word if word in names else None
    scored = [(word_similarity(word, n), n) for n in names]
    score, name = max(scored)
    return name if score > 0 else None


def _weekday(words: list[str]) -> str | None:
    for i, w in enumerate(words):
        day = _fuzzy_pick(w, WEEKDAYS)
        if day:
            nxt = i > 0 and words[i - 1] == "next"
            return f"next {day.title()}" if nxt else day.title()
    return None


def _day_number(words: list[str], i: int) -> int | None:
    if 0 <= i < len(words) and words[i].isdecimal() and 1 <= int(words[i]) <= 31:
        return int(words[i])
    return None


def _month_day(words: list[str]) -> tuple[str | None, int | None]:
    month: str | None = None
    day: int | None = None
    for i, w in enumerate(words):
        name = _fuzzy_pick(w, MONTHS)
        if name is None:
            continue
        # "march 3", "march the 3rd", "3rd of march", "the 3rd march"
        near = [i + 1, i + 2] if words[i + 1 : i + 2] == ["the"] else [i + 1]
        near += [i - 2, i - 3] if words[i - 1 : i] == ["of"] and i >= 1 else [i - 1]
        for j in near:
            if j >= 0 and (number := _day_number(words, j)) is not None:
                month, day = name.title(), number
                break
        if day is None and name != "may":
            month = name.title()
        if day:
            break
    if day is None:
        for i, w in enumerate(words):
            if w in _SUFFIXES and (number := _day_number(words, i - 1)) is not None:
                day = number
    return month, day


def _ordinal(day: int) -> str:
    if 11 <= day % 100 <= 13:
        return f"{day}th"
    return f"{day}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th') }"


def _clock(words: list[str]) -> tuple[int, int] | None:
    for w in words:
        m = re.fullmatch(r"(\d{1,2}):(\d{2})", w)
        if m and int(m.group(1)) <= 23 and int(m.group(2)) <= 59:
            return int(m.group(1)), int(m.group(2))
        m = re.fullmatch(r"(\d{1,2})(\d{2})", w)
        if m and 1 <= int(m.group(1)) <= 12 and int(m.group(2)) <= 59:
            return int(m.group(1)), int(m.group(2))
    return None


def _relative_clock(words: list[str]) -> tuple[int, int] | None:
    """ "half past two", "quarter to three", "twenty past four", "half two"."""
    for i, w in enumerate(words):
        if w not in ("past", "after", "to", "til", "till", "before") or i == 0:
            continue
        hour = _hour_at(words, i + 1)
        if hour is None:
            continue
        before = words[i - 1] if words[i - 1] != "minutes" or i < 2 else words[i - 2]
        minutes = {"half": 30, "quarter": 15}.get(before)
        # multiples of five only: "2 to 4" is a range, "five to three" a time
        if minutes is None and before.isdecimal() and int(before) in range(5, 31, 5):
            minutes = int(before)
        if minutes is None:
            continue
        if w in ("past", "after"):
            return hour, minutes
        return (hour - 1 if hour > 1 else 12), 60 - minutes
    for i, w in enumerate(words[:-1]):
        if w == "half" and (hour := _hour_at(words, i + 1)) is not None:
            return hour, 30
    return None


def _hour_at(words: list[str], i: int) -> int | None:
    if 0 <= i < len(words) and words[i].isdecimal() and 0 <= int(words[i]) <= 23:
        return int(words[i])
    return None


def _hour_minute(words: list[str]) -> tuple[int, int] | None:
    """Hour then minutes: "ten thirty" → 10 30; "three oh five" → 3 0 5."""
    for i in range(len(words) - 1):
        hour = _hour_at(words, i)
        if hour is None or hour == 0 or words[i + 1 : i + 2] == ["th"]:
            continue
        nxt = words[i + 1]
        if nxt == "0" and i + 2 < len(words) and re.fullmatch(r"[1-9]", words[i + 2]):
            return hour, int(words[i + 2])
        if nxt.isdecimal() and 10 <= int(nxt) <= 59 and words[i + 2 : i + 3] not in (["th"],):
            return hour, int(nxt)
    return None


def _bare_hour(words: list[str]) -> tuple[int, int] | None:
    """Hour alone: "10 am", "at 3", "ten o'clock", or the only hour in a short answer."""
    candidates: list[int] = []
    for i in range(len(words)):
        hour = _hour_at(words, i)
        if hour is None or (i + 1 < len(words) and words[i + 1] in _SUFFIXES):
            continue
        after = words[i + 1] if i + 1 < len(words) else ""
        if after in ("am", "pm", "oclock") or (i > 0 and words[i - 1] in ("at", "around")):
            return hour, 0
        candidates.append(hour)
    if len(candidates) == 1 and len(words) <= 4 and 1 <= candidates[0] <= 12:
        return candidates[0], 0
    return None
