"""Range headers (RFC 9110 §14.1.2) over a body of 1000 bytes."""

from __future__ import annotations

import pytest

from voxplane.api.ranges import RangeNotSatisfiable, parse_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-99", (0, 100)),
        ("bytes=100-", (100, 1000)),
        ("bytes=-10", (990, 1000)),
        ("bytes=-5000", (0, 1000)),
        ("bytes=990-5000", (990, 1000)),
        ("bytes=0-0", (0, 1)),
        ("bytes=0-1,5-6", None),  # several ranges: the whole body (allowed by the RFC)
        ("items=0-1", None),
        ("bytes=a-b", None),
    ],
)
def test_ranges_that_are_served(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5-1", "bytes=-0", "bytes=-"])
def test_ranges_that_cannot_be(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 1000)


def test_nothing_is_satisfiable_in_an_empty_body() -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=-1", 0)
