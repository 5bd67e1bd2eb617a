"""Keyset pagination shared by the repositories: newest first, an opaque cursor."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    Select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from voxplane.errors import InvalidError
from voxplane.store.ids import has_shape
from voxplane.store.models import (
    Base,
)

Row = TypeVar("Row", bound=Base)


@dataclass(frozen=True, slots=True)
class Page(Generic[Row]):
    items: Sequence[Row]
    next_cursor: str | None


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise InvalidError("not a cursor from this API", field="cursor") from error


def cursor_id(value: str) -> str:
    """``value`` when it is shaped like a row id, as the ids our cursors hold are."""
    prefix = value.partition("_")[0]
    if not (prefix.isalpha() and has_shape(value, prefix)):
        raise InvalidError("not a cursor from this API", field="cursor")
    return value


async def page_by_id(
    session: AsyncSession, query: Select[Row], id_column: Any, cursor: str | None, limit: int
) -> Page[Row]:
    """Newest first by id (ids are time-ordered); the cursor is the last id returned."""
    if cursor is not None:
        query = query.where(id_column < cursor_id(decode_cursor(cursor)))
    rows = (await session.scalars(query.order_by(id_column.desc()).limit(limit + 1))).all()
    more = len(rows) > limit
    items = rows[:limit]
    return Page(items, encode_cursor(str(items[-1].id)) if more else None)  # type: ignore[attr-defined]
