"""``/v1/agents``: the agent document as in YAML files; every update is a new version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from voxplane.agents.schema import AgentConfig
from voxplane.api import problems
from voxplane.api.deps import PageDep, PlatformDep, PrincipalDep
from voxplane.services.agents import AgentService
from voxplane.services.schemas import AgentPublic, AgentVersionPublic, PageOf

router = APIRouter(prefix="/agents", tags=["agents"], responses=problems.AUTHENTICATED)
NOT_FOUND = problems.responses(404)
YAML = "application/yaml"
_YAML_BODY = {
    "requestBody": {
        "required": True,
        "content": {YAML: {"schema": {"type": "string", "description": "An agent YAML file"}}},
    }
}


@router.get("", summary="List agents")
async def list_agents(
    platform: PlatformDep, who: PrincipalDep, page: PageDep, name: str | None = None
) -> PageOf[AgentPublic]:
    return await platform.agents.list(who, page.cursor, page.limit, name)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create an agent (version 1)")
async def create_agent(body: AgentConfig, platform: PlatformDep, who: PrincipalDep) -> AgentPublic:
    return await platform.agents.create(who, body)


@router.post(
    "/import",
    status_code=status.HTTP_201_CREATED,
    summary="Create an agent from a YAML file",
    openapi_extra=_YAML_BODY,
)
async def import_agent(request: Request, platform: PlatformDep, who: PrincipalDep) -> AgentPublic:
    who.require("agents:write")
    return await platform.agents.create(who, AgentService.parse_yaml(await request.body()))


@router.get(
    "/{agent_id}",
    summary="Get an agent at its current version",
    response_model=AgentPublic,
    responses=NOT_FOUND,
)
async def get_agent(
    agent_id: str, platform: PlatformDep, who: PrincipalDep, response: Response
) -> Response:
    # The hottest read: the body comes serialized from the service (same bytes as an
    # AgentPublic); returning a Response skips FastAPI's re-validation and serialization,
    # and with it the merge of the dependencies' headers, done here.
    body = await platform.agents.get_json(who, agent_id)
    ready = Response(body, media_type="application/json")
    ready.headers.raw.extend(response.headers.raw)
    return ready


@router.put(
    "/{agent_id}",
    summary="Replace the document: creates the next version",
    responses=NOT_FOUND,
)
async def update_agent(
    agent_id: str, body: AgentConfig, platform: PlatformDep, who: PrincipalDep
) -> AgentPublic:
    return await platform.agents.update(who, agent_id, body)


@router.put(
    "/{agent_id}/yaml",
    summary="Replace the document from a YAML file",
    openapi_extra=_YAML_BODY,
    responses=NOT_FOUND,
)
async def update_agent_yaml(
    agent_id: str, request: Request, platform: PlatformDep, who: PrincipalDep
) -> AgentPublic:
    who.require("agents:write")
    config = AgentService.parse_yaml(await request.body())
    return await platform.agents.update(who, agent_id, config)


@router.get(
    "/{agent_id}/yaml",
    summary="Export the current document as YAML",
    response_class=Response,
    responses={200: {"content": {YAML: {"schema": {"type": "string"}}}}, **NOT_FOUND},
)
async def export_agent(agent_id: str, platform: PlatformDep, who: PrincipalDep) -> Response:
    return Response(await platform.agents.export_yaml(who, agent_id), media_type=YAML)


@router.delete(
    "/{agent_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an agent",
    responses=NOT_FOUND,
)
async def delete_agent(agent_id: str, platform: PlatformDep, who: PrincipalDep) -> None:
    await platform.agents.delete(who, agent_id)


@router.get(
    "/{agent_id}/versions",
    summary="List an agent's versions, newest first",
    responses=NOT_FOUND,
)
async def list_versions(
    agent_id: str, platform: PlatformDep, who: PrincipalDep, page: PageDep
) -> PageOf[AgentVersionPublic]:
    return await platform.agents.versions(who, agent_id, page.cursor, page.limit)


@router.get(
    "/{agent_id}/versions/{version}", summary="Get one version of an agent", responses=NOT_FOUND
)
async def get_version(
    agent_id: str,
    version: Annotated[int, Path(ge=1, le=1_000_000)],
    platform: PlatformDep,
    who: PrincipalDep,
) -> AgentVersionPublic:
    return await platform.agents.version(who, agent_id, version)
