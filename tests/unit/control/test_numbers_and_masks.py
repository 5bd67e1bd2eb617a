"""Pure helpers of the control plane: E.164 numbers and ids (masks: observability/test_pii)."""

from __future__ import annotations

import pytest

from voxplane.errors import InvalidError
from voxplane.services.numbers import normalize_e164
from voxplane.store.ids import first_id, has_shape, new_id


@pytest.mark.parametrize(
    ("given_text", "expected"),
    [
        ("+15550100", "+15550100"),  # the example: a possible local-only number
        ("+1 415 555 0123", "+14155550123"),
        ("+44 20 7183 8750", "+442071838750"),
        ("+1 (415) 555-0123", "+14155550123"),
    ],
)
def test_numbers_are_normalised_to_e164(given_text: str, expected: str) -> None:
    assert normalize_e164(given_text) == expected


@pytest.mark.parametrize(
    "bad", ["4155550123", "+", "+1", "+999 1234", "+1 415 555 0123 4567 89", "tel:+14155550123", ""]
)
def test_impossible_numbers_are_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(InvalidError) as raised:
        normalize_e164(bad)
    assert raised.value.field == "number"


@pytest.mark.parametrize("emergency", ["+1911", "+44999", "+44112", "+49112"])
def test_emergency_numbers_never_route_to_an_agent(emergency: str) -> None:
    with pytest.raises(InvalidError):
        normalize_e164(emergency)


def test_ids_sort_by_creation_time_and_have_their_shape() -> None:
    ids = [new_id("agt", now_ms=ms) for ms in (1, 2, 1_000, 1_700_000_000_000)]
    assert ids == sorted(ids)
    assert all(has_shape(i, "agt") for i in ids)
    assert not has_shape(ids[0], "num")
    assert not has_shape("agt_short", "agt")


def test_first_id_of_a_millisecond_is_below_every_id_made_in_it() -> None:
    made = [new_id("aud", now_ms=5) for _ in range(20)]
    assert all(first_id("aud", 5) <= i < first_id("aud", 6) for i in made)
    assert has_shape(first_id("aud", 0), "aud")
    assert first_id("aud", -3) == first_id("aud", 0)
