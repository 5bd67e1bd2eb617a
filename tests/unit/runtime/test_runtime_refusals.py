"""How each transport answers a call the runtime refused: the worker over its capacity is a
503 the caller may retry after ``Retry-After``; the other refusals keep their answers."""

from __future__ import annotations

from voxplane.errors import LimitError, UnavailableError
from voxplane.runtime import media_streams, sip
from voxplane.runtime.calls import CallRefused


def test_over_capacity_is_a_retryable_503_with_retry_after() -> None:
    refused = CallRefused("over_capacity", "this worker is at its capacity of 4 calls")
    assert (refused.sip_status, refused.sip_phrase) == (503, "Service Unavailable")
    assert refused.retryable and refused.retry_after_s == 5.0
    assert sip._retry_after(refused) == (("Retry-After", "5"),)
    dialled = sip._as_control_error(refused)  # an outbound call through the API
    assert isinstance(dialled, UnavailableError) and dialled.retry_after_s == 5.0
    webhook = media_streams.refusal(refused)  # Twilio then tries the number's fallback URL
    assert webhook.status_code == 503 and webhook.headers["Retry-After"] == "5"


def test_other_refusals_carry_no_retry_after() -> None:
    for reason in ("draining", "unavailable"):
        refused = CallRefused(reason, "no")
        assert refused.retry_after_s is None and sip._retry_after(refused) == ()
        assert "Retry-After" not in media_streams.refusal(refused).headers
    busy = sip._as_control_error(CallRefused("busy", "all slots taken"))
    assert isinstance(busy, LimitError) and busy.kind == "concurrent_calls"
