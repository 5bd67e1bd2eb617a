"""A provider error cuts the answer short, never the call."""

from __future__ import annotations

from collections.abc import AsyncIterator

from _pipeline_harness import run_call, say

from voxplane.errors import ProviderError
from voxplane.media.frame import AudioFrame
from voxplane.providers.base import BrainEvent, TextChunk
from voxplane.testing.fakes import ScriptedBrain, ScriptedTTS


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
    assert not c.leftover


def test_tts_error_keeps_what_was_synthesized() -> None:
    brain = ScriptedBrain("Hello.", ["First part is fine. Then it breaks.", "Sure."])
    c = run_call([say(0, 800), say(1, 600)], ["First.", "Second."], brain, tts=BrokenTTS())
    assert c.texts() == ["Hello.", "First.", "First part is fine.", "Second.", "Sure."]
    assert not c.agent(1).interrupted
    assert not c.leftover
