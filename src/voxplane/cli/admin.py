"""``voxplane admin``: platform-admin tasks run directly against the database."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from pydantic import ValidationError

from voxplane.cli.common import add_store_options, settings_from
from voxplane.errors import ConfigError, ConflictError
from voxplane.services.platform import open_platform
from voxplane.services.schemas import TenantCreate
from voxplane.settings import Settings


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("admin", help="platform administration (tenants)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (
        ("bootstrap", "create the first tenant, its owner and an API key"),
        ("create-tenant", "create another tenant, its owner and an API key"),
    ):
        action = actions.add_parser(name, help=text, description=text + "; prints JSON")
        action.add_argument("--tenant", required=True, help="tenant name")
        action.add_argument("--email", required=True, help="the owner's email")
        action.add_argument(
            "--password",
            help="the new owner's password (≥ 8 chars); leave it out when --email already"
            " has an account (it keeps its own)",
        )
        add_store_options(action)
        action.set_defaults(handler=run, first=name == "bootstrap")


def run(args: argparse.Namespace) -> int:
    try:
        body = TenantCreate(name=args.tenant, email=args.email, password=args.password)
    except ValidationError as error:
        problem = error.errors()[0]
        field = ".".join(str(p) for p in problem["loc"])
        raise ConfigError(f"--{field}: {problem['msg']}") from error
    result = asyncio.run(_create(settings_from(args), body, first=args.first))
    print(json.dumps(result))
    return 0


async def _create(settings: Settings, body: TenantCreate, *, first: bool) -> dict[str, str]:
    async with open_platform(settings) as platform:
        if first and (await platform.tenants.list(None, 1)).items:
            raise ConflictError(
                "already bootstrapped: add tenants with `voxplane admin create-tenant`"
            )
        created = await platform.tenants.create(body, actor="cli")
        return created.model_dump()
