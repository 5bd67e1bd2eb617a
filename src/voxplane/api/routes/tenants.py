"""``/v1/tenants`` (platform admin) and ``/v1/tenant`` (a tenant's own settings)."""

from __future__ import annotations

from fastapi import APIRouter, status

from voxplane.api import problems
from voxplane.api.deps import AdminDep, PageDep, PlatformDep, PrincipalDep
from voxplane.services.schemas import (
    PageOf,
    TenantBootstrap,
    TenantCreate,
    TenantPublic,
    TenantUpdate,
)

router = APIRouter(tags=["tenants"])


@router.post(
    "/tenants",
    status_code=status.HTTP_201_CREATED,
    summary="Create a tenant (platform admin)",
    responses=problems.responses(401, 409, 422, 429),
)
async def create_tenant(body: TenantCreate, platform: PlatformDep, _: AdminDep) -> TenantBootstrap:
    return await platform.tenants.create(body)


@router.get(
    "/tenants", summary="List tenants (platform admin)", responses=problems.responses(401, 422, 429)
)
async def list_tenants(platform: PlatformDep, page: PageDep, _: AdminDep) -> PageOf[TenantPublic]:
    return await platform.tenants.list(page.cursor, page.limit)


@router.get(
    "/tenants/{tenant_id}",
    summary="Get a tenant (platform admin)",
    responses=problems.responses(401, 404, 422, 429),
)
async def get_tenant(tenant_id: str, platform: PlatformDep, _: AdminDep) -> TenantPublic:
    return await platform.tenants.get(tenant_id)


@router.patch(
    "/tenants/{tenant_id}",
    summary="Change a tenant's limits or status (platform admin)",
    responses=problems.responses(401, 404, 422, 429),
)
async def update_tenant(
    tenant_id: str, body: TenantUpdate, platform: PlatformDep, _: AdminDep
) -> TenantPublic:
    tenant = await platform.tenants.update(tenant_id, body)
    platform.auth.forget_tenant(tenant_id)
    return tenant


@router.get(
    "/tenant",
    summary="The caller's tenant: limits, quotas, retention, PII policy",
    responses=problems.AUTHENTICATED,
)
async def own_tenant(platform: PlatformDep, who: PrincipalDep) -> TenantPublic:
    who.require("tenant:read")
    return await platform.tenants.get(who.tenant_id)
