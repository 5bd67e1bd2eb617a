"""Cut the brain's streaming text into the pieces TTS speaks, so that audio starts before
the brain finishes, and the first audio of a reply comes from its first clause."""

from __future__ import annotations

import re

_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "a.m", "p.m", "no"}
)
_INITIALS = re.compile(r"(?:[^\W\d_]\.)*[^\W\d_]")
"""Single letters with dots between them ("J", "U.S", "e.g"); the final dot is the match."""
_END = re.compile(r"[.!?…]+[\"')\]]*(?=\s)")
_CLAUSE = re.compile(r"(?:[,;:](?=\s)|(?<=\s)[-–—](?=\s)|[–—])")
"""A clause boundary: a comma, semicolon or colon before a space ("1,000" and "10:30" are
not), a dash between spaces, or an en or em dash; the cut is after the mark."""

MIN_CLAUSE_CHARS = 20
"""The first clause is spoken alone only when it is at least this long (about four words):
a lone "Sorry," or "Okay, so" sounds clipped."""
MIN_REST_CHARS = 16
"""...and when what follows it in the sentence is at least this long, so the sentence does
not end in a fragment ("..., thanks.")."""


class SentenceChunker:
    """Accumulates text chunks and returns the pieces to speak as soon as they are complete.

    A sentence ends at ``.``, ``!``, ``?`` or ``…`` followed by whitespace, except after
    common abbreviations ("Dr.", "a.m.") and inside numbers ("3.5"). Sentences shorter than
    ``min_chars`` are joined to the next, so TTS never speaks a lone "Okay." with a gap.

    The first piece of a reply is its first clause when that clause is long enough: cut
    after a comma, semicolon, colon or dash once at least ``min_clause_chars`` have come
    before it and ``min_rest_chars`` of the same sentence after it (seen, while streaming),
    so the first audio is synthesized from a few words, not a whole sentence. Later pieces
    are whole sentences: they are synthesized while the first plays.
    """

    def __init__(
        self,
        min_chars: int = 12,
        min_clause_chars: int = MIN_CLAUSE_CHARS,
        min_rest_chars: int = MIN_REST_CHARS,
    ) -> None:
        self._buffer = ""
        self._min_chars = min_chars
        self._min_clause = min_clause_chars
        self._min_rest = min_rest_chars
        self._emitted = 0

    def push(self, text: str) -> list[str]:
        """Add text; return the pieces it completed."""
        self._buffer += text
        out: list[str] = []
        while (cut := self._next_cut()) is not None:
            piece, self._buffer = self._buffer[:cut].strip(), self._buffer[cut:].lstrip()
            if piece:
                out.append(piece)
                self._emitted += 1
        return out

    def flush(self) -> list[str]:
        """The text left over at the end of the brain's answer."""
        rest, self._buffer = self._buffer.strip(), ""
        return [rest] if rest else []

    def _next_cut(self) -> int | None:
        end = self._sentence_end()
        if self._emitted == 0:
            clause = self._clause_end(len(self._buffer) if end is None else end)
            if clause is not None:
                return clause
        return end

    def _sentence_end(self) -> int | None:
        start = 0
        while (match := _END.search(self._buffer, start)) is not None:
            end = match.end()
            if end >= self._min_chars and not self._is_abbreviation(match.start()):
                return end
            start = end
        return None

    def _clause_end(self, limit: int) -> int | None:
        """The end of the first clause long enough to speak alone, within ``limit``."""
        for match in _CLAUSE.finditer(self._buffer, 0, limit):
            cut = match.end()
            if len(self._buffer[:cut].strip()) < self._min_clause:
                continue
            if len(self._buffer[cut:limit].strip()) >= self._min_rest:
                return cut
            return None  # a later boundary leaves even less after it
        return None

    def _is_abbreviation(self, dot: int) -> bool:
        if self._buffer[dot] != ".":
            return False  # "Plan B!" ends a sentence; only a dot can abbreviate
        words = self._buffer[:dot].split()
        word = words[-1].lower().rstrip(".") if words else ""
        return word in _ABBREVIATIONS or _INITIALS.fullmatch(word) is not None


def spoken_pieces(text: str) -> list[str]:
    """The pieces a reply given whole (a flow's line, a reprompt) is spoken in: the texts
    TTS is asked for, hence the phrase cache's keys for it."""
    chunker = SentenceChunker()
    return chunker.push(text) + chunker.flush()
