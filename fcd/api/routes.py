"""Every route set of the management API, in one list the daemon hands to ``create_app``."""

from __future__ import annotations

from quart import Blueprint, Response

from fcd.api import (
    account,
    aliases,
    async_configs,
    code,
    custom_domains,
    functions,
    invocation_logs,
    layers,
    provision,
    services,
    tags,
    triggers,
    versions,
)
from fcd.api.context import ApiContext

health = Blueprint("health", __name__)


@health.get("/healthz")
async def healthz() -> Response:
    """Unauthenticated liveness probe for systemd, load balancers and tests."""
    return Response(b'{"status":"ok"}', content_type="application/json")


def blueprints(context: ApiContext) -> list[Blueprint]:
    """The route sets, each a resource module's ``routes``."""
    return [
        health,
        services.routes,
        functions.routes,
        layers.routes,
        code.routes,
        provision.routes,
        async_configs.routes,
        account.routes,
        versions.routes,
        aliases.routes,
        triggers.routes,
        custom_domains.routes,
        tags.routes,
        invocation_logs.routes,
    ]
