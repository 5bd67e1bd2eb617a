"""Options every control-plane command shares, folded into one :class:`Settings`."""

from __future__ import annotations

import argparse
from pathlib import Path

from voxplane.settings import Settings, load_settings


def add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, help="where embedded state lives (env VOXPLANE_DATA_DIR)"
    )
    parser.add_argument(
        "--database-url", help="SQLAlchemy async URL (env VOXPLANE_DATABASE_URL); default SQLite"
    )
    parser.add_argument("--redis-url", help="Redis for limits and leases (env VOXPLANE_REDIS_URL)")


def settings_from(args: argparse.Namespace, **more: object) -> Settings:
    return load_settings(
        data_dir=args.data_dir, database_url=args.database_url, redis_url=args.redis_url, **more
    )
