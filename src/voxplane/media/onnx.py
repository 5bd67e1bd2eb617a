"""onnxruntime session options for models that share the CPU with Whisper.

By default an onnxruntime session starts one thread per core and keeps them spinning for
a while after each run, waiting for the next one: on a 2-core machine Silero and Piper
would burn the cores Whisper's encoder needs between their own short runs. Every local
onnxruntime model here runs one op at a time on the thread that calls it, and its pool
threads (if any) sleep instead of spinning.
"""

from __future__ import annotations

from typing import Any


def quiet_session_options(onnxruntime: Any) -> Any:
    """``SessionOptions``: one intra-op and one inter-op thread, no spin-waiting."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 4
    return options
