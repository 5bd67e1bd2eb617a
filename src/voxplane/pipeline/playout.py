"""Track which part of the agent's answer the caller has heard."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class _Sentence:
    text: str
    audio_ms: float = 0.0
    complete: bool = False


class PlayoutTracker:
    """Maps milliseconds of audio played out to the text the caller heard.

    Sentence boundaries are exact (each sentence's audio length is known); inside the
    sentence being played when the caller cut in, words are counted in proportion to the
    audio played, rounded down, so the transcript never claims more than was heard.
    """

    def __init__(self) -> None:
        self._sentences: list[_Sentence] = []

    def add_sentence(self, text: str) -> None:
        self._sentences.append(_Sentence(text))

    def add_audio(self, ms: float) -> None:
        """Audio for the newest sentence (TTS may deliver it in several chunks)."""
        self._sentences[-1].audio_ms += ms

    def add_sound(self, ms: float) -> None:
        """Audio with no words (keypad tones): it takes playout time, it adds no text."""
        self._sentences.append(_Sentence("", ms, complete=True))

    def heard(self, played_ms: float) -> str:
        """The text covered by the first ``played_ms`` of audio."""
        parts: list[str] = []
        remaining = played_ms
        for sentence in self._sentences:
            if sentence.audio_ms <= 0:
                break
            if remaining >= sentence.audio_ms - 1e-6:
                if sentence.text:
                    parts.append(sentence.text)
                remaining -= sentence.audio_ms
                continue
            if remaining > 0 and sentence.audio_ms > 0:
                words = sentence.text.split()
                count = int(len(words) * remaining / sentence.audio_ms)
                if count:
                    parts.append(" ".join(words[:count]))
            break
        return " ".join(parts)

    @property
    def full_text(self) -> str:
        return " ".join(s.text for s in self._sentences if s.text)

    @property
    def total_ms(self) -> float:
        return sum(s.audio_ms for s in self._sentences)
