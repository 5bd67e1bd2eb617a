"""``voxplane db``: schema migrations (run at start only in embedded mode)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from voxplane.cli.common import add_store_options, settings_from
from voxplane.store import migrate
from voxplane.store.db import Database


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("db", help="database schema migrations")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    upgrade = actions.add_parser("upgrade", help="migrate up (default: to the latest)")
    upgrade.add_argument("--revision", default="head")
    downgrade = actions.add_parser("downgrade", help="migrate down to a revision")
    downgrade.add_argument("--revision", required=True, help="target revision, or 'base'")
    current = actions.add_parser("current", help="print the schema revision")
    for action in (upgrade, downgrade, current):
        add_store_options(action)
        action.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    return asyncio.run(_run(args.action, getattr(args, "revision", None), settings.database))


async def _run(action: str, revision: str | None, url: str) -> int:
    database = Database(url)
    try:
        if action == "upgrade":
            await migrate.upgrade(database, revision or "head")
        elif action == "downgrade":
            await migrate.downgrade(database, revision or "base")
        print(f"schema at {await migrate.current(database) or 'base'} (latest {migrate.head()})")
    finally:
        await database.aclose()
    return 0
