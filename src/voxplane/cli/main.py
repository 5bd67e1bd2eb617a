"""The ``voxplane`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from voxplane import __version__
from voxplane.cli import admin, db, serve, talk
from voxplane.errors import VoxplaneError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voxplane", description="Self-hostable platform for real-time voice AI agents."
    )
    parser.add_argument("--version", action="version", version=f"voxplane {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve.add_parser(commands)
    admin.add_parser(commands)
    db.add_parser(commands)
    talk.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except VoxplaneError as error:
        print(f"voxplane: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("voxplane: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
