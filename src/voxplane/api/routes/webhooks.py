"""``/v1/webhooks``: where a tenant's events are delivered, signed, and the delivery log."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from voxplane.api import problems
from voxplane.api.deps import PageDep, PlatformDep, PrincipalDep
from voxplane.services.schemas import (
    PageOf,
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryPublic,
    WebhookPublic,
    WebhookRotate,
    WebhookUpdate,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=problems.AUTHENTICATED)
NOT_FOUND = problems.responses(404)


@router.get("", summary="List webhook endpoints")
async def list_webhooks(
    platform: PlatformDep, who: PrincipalDep, page: PageDep
) -> PageOf[WebhookPublic]:
    return await platform.webhooks.list(who, page.cursor, page.limit)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Add an endpoint; its signing secret is shown once",
)
async def create_webhook(
    body: WebhookCreate, platform: PlatformDep, who: PrincipalDep
) -> WebhookCreated:
    return await platform.webhooks.create(who, body)


@router.get("/{webhook_id}", summary="Get a webhook endpoint", responses=NOT_FOUND)
async def get_webhook(webhook_id: str, platform: PlatformDep, who: PrincipalDep) -> WebhookPublic:
    return await platform.webhooks.get(who, webhook_id)


@router.patch(
    "/{webhook_id}", summary="Change an endpoint's URL, events or state", responses=NOT_FOUND
)
async def update_webhook(
    webhook_id: str, body: WebhookUpdate, platform: PlatformDep, who: PrincipalDep
) -> WebhookPublic:
    return await platform.webhooks.update(who, webhook_id, body)


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove an endpoint and its delivery log",
    responses=NOT_FOUND,
)
async def delete_webhook(webhook_id: str, platform: PlatformDep, who: PrincipalDep) -> None:
    await platform.webhooks.delete(who, webhook_id)


@router.post(
    "/{webhook_id}/rotate-secret",
    summary="A new signing secret (shown once); the old one signs too during the overlap",
    responses=NOT_FOUND,
)
async def rotate_webhook_secret(
    webhook_id: str, platform: PlatformDep, who: PrincipalDep, body: WebhookRotate | None = None
) -> WebhookCreated:
    return await platform.webhooks.rotate(who, webhook_id, body or WebhookRotate())


@router.get(
    "/{webhook_id}/deliveries",
    summary="The delivery log: each event sent, its attempts and response codes",
    responses=NOT_FOUND,
)
async def list_deliveries(
    webhook_id: str,
    platform: PlatformDep,
    who: PrincipalDep,
    page: PageDep,
    status: Annotated[Literal["pending", "delivered", "dead"] | None, Query()] = None,
) -> PageOf[WebhookDeliveryPublic]:
    return await platform.webhooks.deliveries(who, webhook_id, page.cursor, page.limit, status)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a delivery again now (a dead one too), with a fresh retry window",
    responses=NOT_FOUND,
)
async def replay_delivery(
    webhook_id: str, delivery_id: str, platform: PlatformDep, who: PrincipalDep
) -> WebhookDeliveryPublic:
    return await platform.webhooks.replay(who, webhook_id, delivery_id)
