"""Cut the brain's streaming text into sentences, so TTS starts before the brain finishes."""

from __future__ import annotations

import re

_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "a.m", "p.m", "no"}
)
_INITIALS = re.compile(r"(?:[^\W\d_]\.)*[^\W\d_]")
"""Single letters with dots between them ("J", "U.S", "e.g"); the final dot is the match."""
_END = re.compile(r"[.!?…]+[\"')\]]*(?=\s)")


class SentenceChunker:
    """Accumulates text chunks and returns whole sentences as soon as they are complete.

    A sentence ends at ``.``, ``!``, ``?`` or ``…`` followed by whitespace, except after
    common abbreviations ("Dr.", "a.m.") and inside numbers ("3.5"). Sentences shorter than
    ``min_chars`` are joined to the next, so TTS never speaks a lone "Okay." with a gap.
    The first sentence may also be cut at a comma once it is longer than
    ``first_clause_chars``, to get the first audio out sooner.
    """

    def __init__(self, min_chars: int = 12, first_clause_chars: int = 60) -> None:
        self._buffer = ""
        self._min_chars = min_chars
        self._first_clause_chars = first_clause_chars
        self._emitted = 0

    def push(self, text: str) -> list[str]:
        """Add text; return the sentences it completed."""
        self._buffer += text
        out: list[str] = []
        while (cut := self._next_cut()) is not None:
            sentence, self._buffer = self._buffer[:cut].strip(), self._buffer[cut:].lstrip()
            if sentence:
                out.append(sentence)
                self._emitted += 1
        return out

    def flush(self) -> list[str]:
        """The text left over at the end of the brain's answer."""
        rest, self._buffer = self._buffer.strip(), ""
        return [rest] if rest else []

    def _next_cut(self) -> int | None:
        start = 0
        while (match := _END.search(self._buffer, start)) is not None:
            end = match.end()
            if end >= self._min_chars and not self._is_abbreviation(match.start()):
                return end
            start = end
        if self._emitted == 0 and len(self._buffer) > self._first_clause_chars:
            comma = self._buffer.find(", ", max(self._min_chars, 20))
            if comma > 0:
                return comma + 1
        return None

    def _is_abbreviation(self, dot: int) -> bool:
        if self._buffer[dot] != ".":
            return False  # "Plan B!" ends a sentence; only a dot can abbreviate
        words = self._buffer[:dot].split()
        word = words[-1].lower().rstrip(".") if words else ""
        return word in _ABBREVIATIONS or _INITIALS.fullmatch(word) is not None
