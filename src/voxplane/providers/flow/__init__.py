"""voxplane.providers.flow: the scripted conversation-flow brain.

``FlowEngine`` is the pure state machine; ``FlowBrain`` adapts it to the ``Brain``
interface. Text handling (``text``), intents, slot extractors, dates and the FAQ index are
small modules of their own.
"""

from voxplane.providers.flow.brain import FlowBrain
from voxplane.providers.flow.engine import FlowEngine, FlowReply

__all__ = ["FlowBrain", "FlowEngine", "FlowReply"]
