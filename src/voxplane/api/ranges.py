"""HTTP range requests (RFC 9110 §14) over a body of known size: one range per request."""

from __future__ import annotations

import re

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class RangeNotSatisfiable(ValueError):
    """The range cannot be served from a body of this size (HTTP 416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` (end exclusive) that a ``Range`` header asks for, or None for the
    whole body (no header, or a form we do not serve: a multi-range or another unit,
    which RFC 9110 lets a server ignore). Raises :class:`RangeNotSatisfiable`."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        raise RangeNotSatisfiable("an empty range")
    if not first:  # the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable("a zero-length suffix")
        return max(0, size - length), size
    start = int(first)
    end = size if not last else min(size, int(last) + 1)
    if start >= size or (last and int(last) < start):
        raise RangeNotSatisfiable(f"bytes {header} of {size}")
    return start, end
