"""A provider error cuts the answer short, never the call."""

from __future__ import annotations

from collections.abc import AsyncIterator

from _pipeline_harness import run_call, say

from voxplane.errors import ProviderError
from voxplane.media.frame import AudioFrame, Pcm16
from voxplane.providers.base import BrainEvent, SttHint, TextChunk, Transcript
from voxplane.testing.fakes import ScriptedBrain, ScriptedSTT, ScriptedTTS


class FailingOnceBrain(ScriptedBrain):
    """Its first answer breaks off with a provider error; later ones work."""

    async def respond(self, user_text: str) -> AsyncIterator[BrainEvent]:
        if not self.received:
            self.received.append(user_text)
            yield TextChunk("Let me check that for you. One")
            raise ProviderError("the language model went away")
        async for event in super().respond(user_text):
            yield event


class BrokenTTS(ScriptedTTS):
    """Fails on any sentence starting with "Then"."""

    async def synthesize(self, text: str) -> AsyncIterator[AudioFrame]:
        if text.startswith("Then"):
            raise ProviderError("the voice crashed")
        async for frame in super().synthesize(text):
            yield frame


def test_brain_error_ends_the_answer_not_the_call() -> None:
    brain = FailingOnceBrain("Hello.", ["", "Sure."])
    c = run_call([say(0, 800), say(1, 600)], ["First.", "Second."], brain)
    assert c.result.ended_by == "caller_hangup"
    assert "Let me check that for you." in c.texts("agent")  # said before the error
    assert c.texts()[-2:] == ["Second.", "Sure."]
    assert c.result.provider_errors == {"brain": 1}  # counted in the call's record
    assert not c.leftover


def test_tts_error_keeps_what_was_synthesized() -> None:
    brain = ScriptedBrain("Hello.", ["First part is fine. Then it breaks.", "Sure."])
    c = run_call([say(0, 800), say(1, 600)], ["First.", "Second."], brain, tts=BrokenTTS())
    assert c.texts() == ["Hello.", "First.", "First part is fine.", "Second.", "Sure."]
    assert not c.agent(1).interrupted
    assert c.result.provider_errors == {"tts": 1}
    assert not c.leftover


class FlakyTTS(ScriptedTTS):
    """Fails once, retryably, on the first sentence starting with "Then"."""

    def __init__(self, *, retryable: bool) -> None:
        super().__init__()
        self.failures = 0
        self._retryable = retryable

    async def synthesize(self, text: str) -> AsyncIterator[AudioFrame]:
        if text.startswith("Then") and not self.failures:
            self.failures += 1
            raise ProviderError("the voice timed out", retryable=self._retryable)
        async for frame in super().synthesize(text):
            yield frame


def test_a_retryable_tts_error_is_retried_once_and_the_answer_is_whole() -> None:
    brain = ScriptedBrain("Hello.", ["First part is fine. Then it works.", "Sure."])
    tts = FlakyTTS(retryable=True)
    c = run_call([say(0, 800), say(1, 600)], ["First.", "Second."], brain, tts=tts)
    assert tts.failures == 1
    assert "First part is fine. Then it works." in c.texts("agent")
    assert c.result.provider_errors == {}


def test_an_error_that_is_not_retryable_is_not_retried() -> None:
    brain = ScriptedBrain("Hello.", ["First part is fine. Then it works.", "Sure."])
    tts = FlakyTTS(retryable=False)
    c = run_call([say(0, 800), say(1, 600)], ["First.", "Second."], brain, tts=tts)
    assert "First part is fine." in c.texts("agent")
    assert "Then it works." not in " ".join(c.texts("agent"))
    assert c.result.provider_errors == {"tts": 1}


class DownSTT(ScriptedSTT):
    async def recognize(self, samples: Pcm16, hint: SttHint | None = None) -> Transcript:
        self.calls.append((len(samples) / 16, hint))
        raise ProviderError("recognizer unreachable", retryable=True)


def test_a_failed_transcription_is_counted_not_silently_empty() -> None:
    brain = ScriptedBrain("Hello.", ["Sure."])
    stt = DownSTT(["First."])
    c = run_call([say(0, 800)], brain=brain, stt=stt)
    assert c.result.provider_errors == {"stt": 1}
    assert len(stt.calls) == 2  # retried once: the error said it may be retried
    assert brain.received == []
    assert not c.leftover
